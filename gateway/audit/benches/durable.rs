//! Durable records per second through `AuditLog` (group commit), on SQLite
//! and the journal (on disk, `SECTORGATE_BENCH_DIR`, default /var/tmp) and
//! on PostgreSQL (`SECTORGATE_TEST_POSTGRES`), at 1, 16 and 256 concurrent
//! writers. Each writer appends and waits for durability, as a request does.
//!
//!     cargo bench -p sectorgate-audit --bench durable

#![allow(
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark: a failed setup step ends it"
)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod fixture;

fn durable_records(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let base = std::env::var("SECTORGATE_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".to_owned());
    let dir = tempfile::tempdir_in(base).expect("bench dir");
    let postgres = std::env::var("SECTORGATE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    let journal = format!("journal:{}", dir.path().join("journal").display());
    for (name, url) in [
        ("sqlite", sqlite),
        ("postgres", postgres),
        ("journal", journal),
    ] {
        let key = dir.path().join(format!("{name}.key"));
        let Some(log) = runtime.block_on(fixture::log(&url, &key)) else {
            continue;
        };
        let mut group = c.benchmark_group(format!("durable_records/{name}"));
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(2));
        group.measurement_time(Duration::from_secs(8));
        for (writers, each) in [(1u64, 16u64), (16, 16), (256, 4)] {
            group.throughput(Throughput::Elements(writers * each));
            group.bench_function(format!("{writers}_writers"), |b| {
                b.to_async(&runtime).iter_custom(|iterations| {
                    let log = log.clone();
                    async move {
                        let start = Instant::now();
                        for _ in 0..iterations {
                            let tasks: Vec<_> = (0..writers)
                                .map(|w| {
                                    let log = log.clone();
                                    tokio::spawn(async move {
                                        for i in 0..each {
                                            log.append(&fixture::decision(w * each + i))
                                                .await
                                                .expect("durable");
                                        }
                                    })
                                })
                                .collect();
                            for task in tasks {
                                task.await.expect("writer");
                            }
                        }
                        start.elapsed()
                    }
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, durable_records);
criterion_main!(benches);
