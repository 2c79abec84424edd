//! CPU per record on the request side: the canonical encoding and the leaf
//! hash of a typical decision and outcome record.
//!
//!     cargo bench -p sectorgate-audit --bench record

#![allow(missing_docs, reason = "a benchmark")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sectorgate_audit::{Decision, Direction, Entry, Outcome, Peer, ProfileRef};

fn decision() -> Entry {
    Entry::Decision(Decision {
        id: "056ec4f423986deb000000000001d030".to_owned(),
        ts: 1_764_288_000_000,
        profile: ProfileRef {
            id: "healthcare-tim-pro".to_owned(),
            revision: "healthcare-tim-pro@1.0.0".to_owned(),
        },
        direction: Direction::Inbound,
        endpoint: Some("client.send_message_event".to_owned()),
        action: "send_message_event".to_owned(),
        rule: "endpoint.allowed".to_owned(),
        verdict: "allow".to_owned(),
        peer: Peer::User {
            pseudonym: "2026-11-03:2d071d3ea38ce8afad91005506fe6047".to_owned(),
        },
        request_id: "1d2fc37ecec27c4d0000000000002640".to_owned(),
        trace_id: None,
    })
}

fn outcome() -> Entry {
    Entry::Outcome(Outcome {
        decision: "056ec4f423986deb000000000001d030".to_owned(),
        ts: 1_764_288_000_001,
        status: 200,
        upstream_status: Some(200),
        bytes_in: 700,
        bytes_out: 2,
        duration_ms: 0,
    })
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("record");
    for (name, entry) in [("decision", decision()), ("outcome", outcome())] {
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| black_box(&entry).encode());
        });
        group.bench_function(format!("leaf/{name}"), |b| {
            b.iter(|| tlog_tiles::record_hash(&black_box(&entry).encode()));
        });
    }
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
