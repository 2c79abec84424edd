//! A request is answered 2xx, or reaches the homeserver, only once its
//! decision is durable: against the real binary under load, with `/ready`
//! polled every few milliseconds (a readiness probe once shared a batch
//! with failed appends and stood in for their commit), while the audit
//! store fails: a trigger that refuses the log's commits (not the probe's
//! write), a SQLite file turned read-only and back, a PostgreSQL table
//! locked and released.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test steps: a failed step fails the test"
)]

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use sqlx::Connection;
use support::load::{Load, Seen};
use support::postgres::PrivatePostgres;
use support::upstream::{self, Upstream};
use support::{Gateway, GatewayOptions, http, runtime, wait_for};

/// How long `/ready` may take to answer, whatever the store does.
const READY_WITHIN: Duration = Duration::from_secs(2);

fn options(upstream: &Upstream) -> GatewayOptions {
    GatewayOptions {
        audit_extra: "checkpoint_every = 50\ncheckpoint_interval = \"1s\"\n".to_owned(),
        ..GatewayOptions::for_stand_in(&upstream.url, "base")
    }
}

/// Every request answered 2xx and every request the homeserver received
/// has its decision in the log, and the log verifies.
fn every_acknowledged_and_forwarded_request_is_recorded(
    gateway: &Gateway,
    upstream: &Upstream,
    seen: &Seen,
) {
    let recorded: HashSet<String> = gateway
        .audit_records()
        .into_iter()
        .map(|decision| decision.request_id)
        .collect();
    let unrecorded: Vec<&String> = seen
        .acknowledged
        .iter()
        .filter(|id| !recorded.contains(*id))
        .collect();
    assert!(
        unrecorded.is_empty(),
        "{} of {} requests answered 2xx have no decision record: {:?}",
        unrecorded.len(),
        seen.acknowledged.len(),
        &unrecorded[..unrecorded.len().min(5)]
    );
    let forwarded = forwarded_requests(upstream);
    let unrecorded: Vec<&String> = forwarded
        .iter()
        .filter(|id| !recorded.contains(*id))
        .collect();
    assert!(
        unrecorded.is_empty(),
        "{} of {} requests the homeserver received have no decision record: {:?}",
        unrecorded.len(),
        forwarded.len(),
        &unrecorded[..unrecorded.len().min(5)]
    );
    let (code, report) = gateway.audit_command(&["verify"]);
    assert_eq!(code, 0, "{report}");
}

/// The ids of the requests the gateway forwarded to `upstream` (its own
/// readiness probes of the homeserver carry none).
fn forwarded_requests(upstream: &Upstream) -> Vec<String> {
    upstream
        .received()
        .iter()
        .filter_map(|request| {
            request
                .header("x-request-id")
                .first()
                .map(|id| (*id).to_owned())
        })
        .collect()
}

/// `/ready`'s status, body and how long it took.
fn ready(gateway: &Gateway) -> (u16, serde_json::Value, Duration) {
    let started = Instant::now();
    let response = http()
        .get(format!("{}/ready", gateway.admin_url))
        .send()
        .expect("ready");
    let status = response.status().as_u16();
    let body = response.json().expect("ready is JSON");
    (status, body, started.elapsed())
}

fn sqlite(gateway: &Gateway) -> sqlx::SqliteConnection {
    let url = format!("sqlite://{}", gateway.audit_db.display());
    runtime()
        .block_on(sqlx::SqliteConnection::connect(&url))
        .expect("connect to the gateway's audit database")
}

fn execute(connection: &mut sqlx::SqliteConnection, sql: &'static str) {
    runtime()
        .block_on(sqlx::query(sql).execute(&mut *connection))
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

#[test]
fn appends_whose_commit_fails_are_refused_and_not_forwarded_while_ready_is_polled() {
    let upstream = upstream::start_recording();
    let gateway = Gateway::start(options(&upstream));
    let before = Load::start(&gateway, 2, 0);
    std::thread::sleep(Duration::from_millis(300));
    let before = before.stop();
    assert!(!before.acknowledged.is_empty(), "nothing passed at first");
    // The log's commits fail in the database; the probe's write does not.
    let mut database = sqlite(&gateway);
    execute(
        &mut database,
        "CREATE TRIGGER refuse_commits BEFORE INSERT ON audit_bundles \
         BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
    );
    let forwarded = forwarded_requests(&upstream).len();
    let load = Load::start(&gateway, 16, 4);
    std::thread::sleep(Duration::from_secs(3));
    let during = load.stop();
    assert!(during.refused > 100, "only {} refusals", during.refused);
    assert!(
        during.acknowledged.is_empty(),
        "{} requests were answered 2xx while no commit could succeed",
        during.acknowledged.len()
    );
    assert_eq!(
        forwarded_requests(&upstream).len(),
        forwarded,
        "requests were forwarded while no commit could succeed"
    );
    execute(&mut database, "DROP TRIGGER refuse_commits");
    let after = wait_for(Duration::from_secs(20), || {
        let load = Load::start(&gateway, 1, 0);
        std::thread::sleep(Duration::from_millis(200));
        let seen = load.stop();
        (!seen.acknowledged.is_empty()).then_some(seen)
    })
    .expect("the gateway recovers once commits succeed");
    let mut all = before;
    all.acknowledged.extend(after.acknowledged);
    every_acknowledged_and_forwarded_request_is_recorded(&gateway, &upstream, &all);
}

#[test]
fn under_load_and_polled_readiness_no_request_passes_unrecorded_while_sqlite_turns_read_only() {
    use std::os::unix::fs::PermissionsExt;
    let upstream = upstream::start_recording();
    let gateway = Gateway::start(GatewayOptions {
        unprivileged: true,
        ..options(&upstream)
    });
    let db = gateway.audit_db.clone();
    let mode = |mode| {
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    let load = Load::start(&gateway, 16, 4);
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(400));
        // Another process holds the database while its file turns
        // read-only: the gateway's writes time out, and the connections it
        // opens again are read-only until the file is writable again.
        let mut holder = sqlite(&gateway);
        execute(&mut holder, "BEGIN EXCLUSIVE");
        mode(0o444);
        std::thread::sleep(Duration::from_millis(500));
        execute(&mut holder, "ROLLBACK");
        runtime().block_on(holder.close()).expect("close");
        std::thread::sleep(Duration::from_millis(300));
        mode(0o644);
    }
    std::thread::sleep(Duration::from_millis(500));
    let seen = load.stop();
    assert!(seen.refused > 0, "the faults refused nothing");
    assert!(seen.unready > 0, "/ready never said 503");
    assert!(
        seen.acknowledged.len() > 100,
        "only {} passed",
        seen.acknowledged.len()
    );
    every_acknowledged_and_forwarded_request_is_recorded(&gateway, &upstream, &seen);
}

#[test]
fn under_load_and_polled_readiness_no_request_passes_unrecorded_while_postgres_is_locked() {
    let postgres = PrivatePostgres::start();
    let upstream = upstream::start_recording();
    let gateway = Gateway::start(GatewayOptions {
        audit_database: Some(postgres.url()),
        audit_origin: Some("locked.test/sectorgate".to_owned()),
        ..options(&upstream)
    });
    let load = Load::start(&gateway, 16, 4);
    let runtime = runtime();
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(400));
        let mut holder = runtime
            .block_on(sqlx::PgConnection::connect(&postgres.url()))
            .expect("connect");
        runtime.block_on(async {
            sqlx::query("BEGIN")
                .execute(&mut holder)
                .await
                .expect("begin");
            sqlx::query("LOCK TABLE audit_bundles IN ACCESS EXCLUSIVE MODE")
                .execute(&mut holder)
                .await
                .expect("lock");
        });
        std::thread::sleep(Duration::from_millis(300));
        let (status, body, took) = ready(&gateway);
        assert_eq!(status, 503, "ready while the log is locked: {body}");
        assert!(took < READY_WITHIN, "/ready took {took:?}: {body}");
        assert_eq!(body["audit_writable"], false, "{body}");
        let reason = body["audit_error"].as_str().unwrap_or_default();
        assert!(
            reason.contains("lock timeout") || reason.contains("wait for their records"),
            "/ready does not say why: {body}"
        );
        std::thread::sleep(Duration::from_millis(1200));
        runtime
            .block_on(sqlx::query("ROLLBACK").execute(&mut holder))
            .expect("unlock");
    }
    std::thread::sleep(Duration::from_millis(800));
    let seen = load.stop();
    assert!(seen.refused > 0, "the locks refused nothing");
    assert!(
        seen.acknowledged.len() > 100,
        "only {} passed",
        seen.acknowledged.len()
    );
    let (status, body, _) = ready(&gateway);
    assert_eq!(status, 200, "not ready after the locks: {body}");
    every_acknowledged_and_forwarded_request_is_recorded(&gateway, &upstream, &seen);
}
