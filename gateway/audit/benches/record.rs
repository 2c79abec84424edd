//! CPU per record on the request side: the canonical encoding and the leaf
//! hash of a typical decision and outcome record.
//!
//!     cargo bench -p sectorgate-audit --bench record

#![allow(missing_docs, reason = "a benchmark")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

mod fixture;

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("record");
    for (name, entry) in [
        ("decision", fixture::decision(1)),
        ("outcome", fixture::outcome(1)),
    ] {
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
