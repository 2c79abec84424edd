//! Durable records per second one journal writer sustains: commits of 1,
//! 64 and 512 typical records (a decision's canonical bytes), each with
//! its Merkle hashes one frame, written and `fdatasync`ed before the next,
//! on tmpfs (/dev/shm) and on disk (`SECTORGATE_BENCH_DIR`, default
//! /var/tmp). What a commit costs the log's writer, apart from the
//! hand-offs between requests and the writer.
//!
//!     cargo bench -p sectorgate-audit --bench journal

#![allow(
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark: a failed setup step ends it"
)]

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sectorgate_audit::Bundle;
use sectorgate_audit::journal::Journal;
use sectorgate_audit::journal::storage::Disk;
use sectorgate_audit::merkle::Frontier;
use tlog_tiles::record_hash;

mod fixture;

fn journal_commits(c: &mut Criterion) {
    let disk = std::env::var("SECTORGATE_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".to_owned());
    let record = fixture::decision(7).encode();
    for (place, base) in [("tmpfs", "/dev/shm".to_owned()), ("disk", disk)] {
        let dir = tempfile::tempdir_in(base).expect("bench dir");
        let origin = "bench.sectorgate/journal";
        let storage = Disk::new(dir.path()).expect("dir");
        let (mut journal, recovered) =
            Journal::open(storage, origin, sectorgate_audit::journal::SEGMENT_BYTES)
                .expect("journal");
        let mut frontier: Frontier = recovered.frontier;
        let mut group = c.benchmark_group(format!("journal/{place}"));
        group.sample_size(20);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(5));
        for records in [1usize, 64, 512] {
            group.throughput(Throughput::Elements(records as u64));
            group.bench_function(format!("{records}_records_a_commit"), |b| {
                b.iter(|| {
                    let mut bundle = Bundle::starting_at(frontier.size(), records, record.len());
                    for _ in 0..records {
                        bundle.add_record(1_764_288_000_000, &record);
                        frontier.push(record_hash(&record), |hash| bundle.add_hash(hash));
                    }
                    journal.append(&bundle, None).expect("durable");
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, journal_commits);
criterion_main!(benches);
