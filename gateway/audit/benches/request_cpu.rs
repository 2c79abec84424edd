//! The audit path's CPU per request, measured apart from the proxy: 32
//! requesters each append a decision (and wait until it is durable), then
//! an outcome (without waiting), as the record step does, with a fixed
//! amount of other work between them standing for the rest of the
//! gateway. The process's CPU time, less that work, divided by the requests,
//! is what the audit path costs each request: encoding and hashing both
//! records, the hand-off to the writer, the Merkle hashes, the commit.
//! Pinned to one core, like the gateway in `scripts/bench-proxy.sh`.
//!
//!     taskset -c 1 cargo bench -p sectorgate-audit --bench request_cpu
//!
//! `SECTORGATE_BENCH_WORK_US` (default 30) sets the other work per request,
//! `SECTORGATE_BENCH_SECONDS` (default 5) each run's length;
//! `SECTORGATE_TEST_POSTGRES` the PostgreSQL server;
//! `SECTORGATE_BENCH_ONLY` runs only the stores whose name holds it
//! (e.g. `journal`); `SECTORGATE_BENCH_ROUNDS` (default 1) measures each
//! store that many times, the stores taking turns, and prints the medians;
//! `SECTORGATE_BENCH_SEGMENT_BYTES` the journal's segment size (smaller
//! than the default 64 MiB, runs of a few seconds begin new segments).

#![allow(
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark: a failed setup step ends it"
)]

use std::time::{Duration, Instant};

use sectorgate_audit::AuditLog;

mod fixture;

/// The gateway's allocator, so that the audit path allocates as it does
/// there.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const REQUESTERS: u64 = 32;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// This process's user and system CPU time so far, in microseconds.
fn cpu_us() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11..13]
        .iter()
        .map(|field| field.parse::<f64>().expect("a tick count"))
        .sum();
    // Linux reports CPU time in clock ticks of 10 ms.
    ticks * 10_000.0
}

/// Work that takes a fixed amount of CPU, whatever the scheduler does.
fn work(iterations: u64) {
    let mut x = 1u64;
    for i in 0..iterations {
        x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
    }
    std::hint::black_box(x);
}

/// Iterations of [`work`] per microsecond of CPU.
fn calibrate() -> f64 {
    let iterations = 1_000_000_000;
    let before = cpu_us();
    work(iterations);
    iterations as f64 / (cpu_us() - before)
}

/// Requests served in `seconds` by [`REQUESTERS`] requesters.
async fn run(log: &AuditLog, seconds: u64, iterations: u64) -> u64 {
    let stop = Instant::now() + Duration::from_secs(seconds);
    let requesters: Vec<_> = (0..REQUESTERS)
        .map(|requester| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut served = 0;
                while Instant::now() < stop {
                    let i = requester << 40 | served;
                    work(iterations / 2);
                    log.append(&fixture::decision(i)).await.expect("durable");
                    tokio::task::yield_now().await;
                    work(iterations / 2);
                    log.append_later(&fixture::outcome(i));
                    tokio::task::yield_now().await;
                    served += 1;
                }
                served
            })
        })
        .collect();
    let mut served = 0;
    for requester in requesters {
        served += requester.await.expect("requester");
    }
    served
}

/// The stores measured, by name and URL: files in `tmpfs` and on `disk`.
fn targets(tmpfs: &std::path::Path, disk: &std::path::Path) -> [(&'static str, String); 5] {
    let segments = std::env::var("SECTORGATE_BENCH_SEGMENT_BYTES")
        .map(|bytes| format!("?segment_bytes={bytes}"))
        .unwrap_or_default();
    let postgres = std::env::var("SECTORGATE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    [
        (
            "sqlite on tmpfs",
            format!("sqlite://{}", tmpfs.join("a.db").display()),
        ),
        (
            "sqlite on disk",
            format!("sqlite://{}", disk.join("a.db").display()),
        ),
        ("postgres", postgres),
        (
            "journal on tmpfs",
            format!("journal:{}{segments}", tmpfs.join("journal").display()),
        ),
        (
            "journal on disk",
            format!("journal:{}{segments}", disk.join("journal").display()),
        ),
    ]
}

fn main() {
    let work_us = env_u64("SECTORGATE_BENCH_WORK_US", 30);
    let seconds = env_u64("SECTORGATE_BENCH_SECONDS", 5);
    let per_us = calibrate();
    let iterations = (work_us as f64 * per_us) as u64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let tmpfs = tempfile::tempdir_in("/dev/shm").expect("a directory on tmpfs");
    let disk = tempfile::tempdir_in("/var/tmp").expect("a directory on disk");
    let targets = targets(tmpfs.path(), disk.path());
    let rounds = env_u64("SECTORGATE_BENCH_ROUNDS", 1).max(1);
    println!(
        "{REQUESTERS} requesters, {work_us} us of other work per request, {seconds} s each, {rounds} round(s)"
    );
    let only = std::env::var("SECTORGATE_BENCH_ONLY").unwrap_or_default();
    let logs: Vec<(&str, AuditLog)> = targets
        .iter()
        .filter(|(name, _)| name.contains(&only))
        .filter_map(|(name, url)| {
            let key = tmpfs.path().join(format!("{name}.key").replace(' ', "-"));
            let log = runtime.block_on(fixture::log(url, &key))?;
            // Warm up: the first pages, the first checkpoint, the caches.
            runtime.block_on(run(&log, 1, iterations));
            Some((*name, log))
        })
        .collect();
    // Round after round, each store in turn, so that what the machine does
    // meanwhile falls on all of them alike.
    let mut measured: Vec<Vec<f64>> = vec![Vec::new(); logs.len()];
    for _ in 0..rounds {
        for ((name, log), runs) in logs.iter().zip(&mut measured) {
            let before = cpu_us();
            let served = runtime.block_on(run(log, seconds, iterations));
            let audit = (cpu_us() - before) / served as f64 - work_us as f64;
            println!(
                "{name:16} {:>9.0} requests/s   audit path {audit:5.2} us of CPU per request",
                served as f64 / seconds as f64
            );
            runs.push(audit);
        }
    }
    if rounds > 1 {
        for ((name, _), runs) in logs.iter().zip(&mut measured) {
            runs.sort_by(f64::total_cmp);
            println!(
                "{name:16} median audit path {:5.2} us of CPU per request",
                runs[runs.len() / 2]
            );
        }
    }
    for (_, log) in logs {
        let _ = runtime.block_on(log.close());
    }
}
