//! The audit log under faults, against the real binary: killed at random
//! moments under load (SQLite, PostgreSQL and the journal), a database that stops, turns
//! read-only or fills up. Every acknowledged request keeps its record, the
//! log verifies, nothing is forwarded while the log cannot be written, and
//! the gateway recovers by itself.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    reason = "test steps: a failed step fails the test; a scenario reads as one story"
)]

mod support;

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sectorgate_audit::Entry;
use support::load::Load;
use support::postgres::{PrivatePostgres, shared_url};
use support::upstream::{self, Upstream};
use support::{Gateway, GatewayOptions, http, wait_for};

fn options(upstream: &Upstream) -> GatewayOptions {
    GatewayOptions {
        audit_extra: "checkpoint_every = 50\ncheckpoint_interval = \"1s\"\n".to_owned(),
        ..GatewayOptions::for_stand_in(&upstream.url, "base")
    }
}

/// A small pseudo-random sequence (no need for more).
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        Self(seed)
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(from + self.0 % (to - from))
    }
}

/// Kills of `survives_kills`: at least this many, and more (up to
/// [`MOST_KILLS`]) until [`ENOUGH_ACKNOWLEDGED`] requests were answered 2xx,
/// as a slow machine answers fewer between two kills.
const KILLS: usize = 20;
const MOST_KILLS: usize = 60;
const ENOUGH_ACKNOWLEDGED: usize = 200;

/// Drives `gateway` with 16 clients and kills it at random moments, 20
/// times or more; every request answered 2xx must have its decision
/// recorded.
fn survives_kills(mut gateway: Gateway) {
    let mut acknowledged = Vec::new();
    let (mut refused, mut failed) = (0, 0);
    let mut jitter = Jitter::new();
    let mut round = 0;
    while round < KILLS || (acknowledged.len() <= ENOUGH_ACKNOWLEDGED && round < MOST_KILLS) {
        round += 1;
        let load = Load::start(&gateway, 16, 0);
        std::thread::sleep(jitter.millis(150, 900));
        gateway.kill();
        let seen = load.stop();
        acknowledged.extend(seen.acknowledged);
        (refused, failed) = (refused + seen.refused, failed + seen.failed);
        gateway.restart();
        // Ready: the log read back (the journal's at its first use), so
        // that the next round's load is not spent waiting for it.
        wait_for(Duration::from_secs(30), || {
            (ready(&gateway).0 == 200).then_some(())
        })
        .expect("ready after the restart");
        assert!(
            !acknowledged.is_empty() || round < 3,
            "no request succeeded ({refused} answered 503, {failed} failed otherwise)"
        );
    }
    let recorded: HashSet<String> = gateway
        .audit_records()
        .into_iter()
        .map(|decision| decision.request_id)
        .collect();
    assert!(
        acknowledged.len() > ENOUGH_ACKNOWLEDGED,
        "only {} requests in {round} rounds ({refused} answered 503, {failed} failed otherwise)",
        acknowledged.len()
    );
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !recorded.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged requests have no record",
        lost.len()
    );
    let (code, report) = gateway.audit_command(&["verify"]);
    assert_eq!(code, 0, "verify failed after the kills:\n{report}");
    assert!(report.contains("\"ok\": true"), "{report}");
}

#[test]
fn every_acknowledged_request_survives_kills_on_sqlite() {
    let upstream = upstream::start();
    survives_kills(Gateway::start(options(&upstream)));
}

/// The journal: a kill leaves at most a torn last frame, never
/// acknowledged, which the restart cuts.
#[test]
fn every_acknowledged_request_survives_kills_on_the_journal() {
    let upstream = upstream::start();
    let dir = tempfile::tempdir().expect("tempdir");
    survives_kills(Gateway::start(GatewayOptions {
        audit_database: Some(format!("journal:{}", dir.path().join("audit").display())),
        ..options(&upstream)
    }));
}

/// A journal changed behind the gateway's back (a byte of a frame in an
/// early segment) is damage, not a torn tail: after a restart every
/// request is refused and nothing forwarded, `/ready` names the segment,
/// and `audit verify` says the log does not verify.
#[test]
fn a_damaged_journal_refuses_every_request_and_says_where() {
    let upstream = upstream::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit");
    let mut gateway = Gateway::start(GatewayOptions {
        audit_database: Some(format!("journal:{}?segment_bytes=1024", audit.display())),
        ..options(&upstream)
    });
    for _ in 0..20 {
        assert_eq!(get(&gateway).0, 200);
    }
    assert!(gateway.terminate().success());
    let folder = std::fs::read_dir(&audit)
        .expect("the store")
        .find_map(|entry| entry.ok().filter(|entry| entry.path().is_dir()))
        .expect("the log's folder")
        .path();
    let mut segments: Vec<_> = std::fs::read_dir(&folder)
        .expect("the log's folder")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "journal"))
        .collect();
    segments.sort();
    assert!(segments.len() > 3, "{segments:?}");
    let mut bytes = std::fs::read(&segments[1]).expect("a segment");
    bytes[120] ^= 0x20;
    std::fs::write(&segments[1], bytes).expect("write");
    gateway.restart();
    let forwarded = upstream.hits();
    assert_eq!(get(&gateway).0, 503);
    assert_eq!(upstream.hits(), forwarded, "forwarded over a damaged log");
    let (status, body) = ready(&gateway);
    assert_eq!(status, 503, "{body}");
    let name = segments[1]
        .file_name()
        .and_then(|name| name.to_str())
        .expect("name");
    let reason = body["audit_error"].as_str().unwrap_or_default();
    assert!(
        reason.contains(name) && reason.contains("damaged"),
        "{body}"
    );
    let (code, report) = gateway.audit_command(&["verify"]);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("store_damaged"), "{report}");
}

/// Also the gateway on one thread (as on one core): a request that waits
/// on the audit log leaves that thread to the others.
#[test]
fn every_acknowledged_request_survives_kills_on_postgres() {
    let upstream = upstream::start();
    let origin = format!("kills.test/{:x}", rand_suffix());
    survives_kills(Gateway::start(GatewayOptions {
        audit_database: Some(shared_url()),
        audit_origin: Some(origin),
        env: vec![("TOKIO_WORKER_THREADS", "1".to_owned())],
        ..options(&upstream)
    }));
}

fn rand_suffix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Status and `Retry-After` of one request through the gateway.
fn get(gateway: &Gateway) -> (u16, Option<String>) {
    let response = http()
        .get(format!("{}/_matrix/client/versions", gateway.url))
        .send()
        .expect("send");
    let retry = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().expect("ascii").to_owned());
    (response.status().as_u16(), retry)
}

/// `/ready`'s status and body.
fn ready(gateway: &Gateway) -> (u16, serde_json::Value) {
    let response = http()
        .get(format!("{}/ready", gateway.admin_url))
        .send()
        .expect("ready");
    (
        response.status().as_u16(),
        response.json().expect("ready is JSON"),
    )
}

/// While the log cannot be written: 503 with Retry-After, nothing
/// forwarded, `/ready` says why (its reason contains `why`).
fn refuses_while_broken(gateway: &Gateway, upstream: &Upstream, why: &str) {
    let forwarded = upstream.hits();
    let (status, retry) = get(gateway);
    assert_eq!(status, 503, "a request passed while the log was broken");
    assert!(retry.is_some(), "503 without Retry-After");
    assert_eq!(
        upstream.hits(),
        forwarded,
        "a request was forwarded unrecorded"
    );
    let (status, body) = ready(gateway);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["audit_writable"], false, "{body}");
    let reason = body["audit_error"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(reason.contains(why), "/ready does not say why: {body}");
    assert_eq!(body["audit_last_write"]["ok"], false, "{body}");
}

/// Once the fault clears: requests pass again, without a restart.
fn recovers(gateway: &Gateway) {
    let passed = wait_for(Duration::from_secs(20), || {
        (get(gateway).0 == 200).then_some(())
    });
    assert!(
        passed.is_some(),
        "the gateway did not recover:\n{}",
        gateway.log()
    );
    let (status, body) = ready(gateway);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["audit_last_write"]["ok"], true, "{body}");
}

/// Once the log is written again, it shows the requests refused while it
/// was not: each as a decision by `audit.unavailable` with its 503 outcome.
fn shows_the_refusals(gateway: &Gateway) {
    let (code, exported) = gateway.audit_command(&["export", "--format", "jsonl"]);
    assert_eq!(code, 0, "{exported}");
    let records = records_in(&exported);
    let refused: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["type"] == "decision" && r["rule"] == "audit.unavailable")
        .collect();
    assert!(!refused.is_empty(), "no refusal recorded:\n{exported}");
    for decision in refused {
        assert_eq!(decision["verdict"], "deny", "{decision}");
        assert!(
            records.iter().any(|r| r["type"] == "outcome"
                && r["decision"] == decision["id"]
                && r["status"] == 503),
            "no 503 outcome for {decision}"
        );
    }
}

#[test]
fn a_stopped_postgres_fails_closed_and_is_resumed_without_restart() {
    let postgres = PrivatePostgres::start();
    let upstream = upstream::start();
    let gateway = Gateway::start(GatewayOptions {
        audit_database: Some(postgres.url()),
        audit_origin: Some("stopped.test/sectorgate".to_owned()),
        ..options(&upstream)
    });
    assert_eq!(get(&gateway).0, 200);
    postgres.stop();
    refuses_while_broken(&gateway, &upstream, "");
    postgres.resume();
    recovers(&gateway);
    shows_the_refusals(&gateway);
    let (code, report) = gateway.audit_command(&["verify"]);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn a_sqlite_file_made_read_only_fails_closed_and_recovers() {
    use std::os::unix::fs::PermissionsExt;
    let upstream = upstream::start();
    let gateway = Gateway::start(GatewayOptions {
        unprivileged: true,
        ..options(&upstream)
    });
    assert_eq!(get(&gateway).0, 200);
    let db = gateway.audit_db.clone();
    // Another process holds the database while its file turns read-only:
    // the gateway's write times out and it reopens its connections, which
    // SQLite now opens read-only.
    let runtime = support::runtime();
    let holder = runtime.block_on(async {
        use sqlx::Connection;
        let mut connection = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("connect");
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut connection)
            .await
            .expect("lock");
        connection
    });
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    assert_eq!(get(&gateway).0, 503, "written while locked");
    runtime.block_on(async {
        use sqlx::Connection;
        let mut holder = holder;
        sqlx::query("ROLLBACK")
            .execute(&mut holder)
            .await
            .expect("unlock");
        holder.close().await.expect("close");
    });
    refuses_while_broken(&gateway, &upstream, "readonly");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    recovers(&gateway);
    shows_the_refusals(&gateway);
    let (code, report) = gateway.audit_command(&["verify"]);
    assert_eq!(code, 0, "{report}");
}

/// A small filesystem of the test's own, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn a_full_disk_fails_closed_and_recovers() {
    full_disk_fails_closed_and_recovers(
        |dir| format!("sqlite://{}", dir.join("audit.db").display()),
        "full",
    );
}

/// The journal, in small segments: the first segment it cannot make
/// fails; once there is room, the next commit makes it.
#[test]
fn a_full_disk_fails_closed_and_recovers_on_the_journal() {
    full_disk_fails_closed_and_recovers(
        |dir| format!("journal:{}?segment_bytes=4096", dir.join("audit").display()),
        "no space left",
    );
}

/// A gateway whose audit store (`database` of a folder) is on a small
/// filesystem that is then filled (`/ready` then says `why`), and freed.
fn full_disk_fails_closed_and_recovers(database: impl Fn(&std::path::Path) -> String, why: &str) {
    let mount = Tmpfs(tempfile::tempdir().expect("tempdir"));
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(mount.0.path())
        .status()
        .expect("mount");
    assert!(
        status.success(),
        "cannot mount a tmpfs (the test needs root)"
    );
    let upstream = upstream::start();
    let gateway = Gateway::start(GatewayOptions {
        audit_database: Some(database(mount.0.path())),
        ..options(&upstream)
    });
    assert_eq!(get(&gateway).0, 200);
    // Fill the disk.
    let filler = mount.0.path().join("filler");
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status();
    // A few requests may still fit in pages SQLite already has, or in the
    // journal's segment in use.
    let full = wait_for(Duration::from_secs(20), || {
        (get(&gateway).0 == 503).then_some(())
    });
    assert!(full.is_some(), "requests still pass on a full disk");
    refuses_while_broken(&gateway, &upstream, why);
    std::fs::remove_file(&filler).expect("free the disk");
    recovers(&gateway);
    shows_the_refusals(&gateway);
    let (code, report) = gateway.audit_command(&["verify"]);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn an_auditor_verifies_proves_and_exports_with_the_command_line() {
    let upstream = upstream::start();
    let gateway = Gateway::start(GatewayOptions {
        audit_extra: "checkpoint_every = 5\ncheckpoint_interval = \"1h\"\n".to_owned(),
        ..GatewayOptions::for_stand_in(&upstream.url, "base")
    });
    for _ in 0..12 {
        assert_eq!(get(&gateway).0, 200);
    }
    // Outcomes are written after the answers: wait until 12 decisions and
    // 12 outcomes (24 records, checkpointed at 20) are in.
    let entries = wait_for(Duration::from_secs(10), || {
        let entries = gateway.audit_entries();
        (entries.len() >= 24).then_some(entries)
    })
    .expect("24 records");
    assert_eq!(
        entries
            .iter()
            .filter(|e| matches!(e, Entry::Outcome(o) if o.status == 200))
            .count(),
        12
    );
    let (code, report) = gateway.audit_command(&["verify"]);
    assert_eq!(code, 0, "{report}");

    let (code, proof) = gateway.audit_command(&["prove", "7"]);
    assert_eq!(code, 0, "{proof}");
    let proof_file = gateway.dir.path().join("proof.json");
    std::fs::write(&proof_file, &proof).expect("write proof");
    let key = gateway.checkpoint_public_key();
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_sectorgate"))
        .args(["audit", "check-proof"])
        .arg(&proof_file)
        .args(["--public-key", &key])
        .output()
        .expect("check-proof");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let mut forged: serde_json::Value = serde_json::from_str(&proof).expect("a proof");
    let record = forged["record"]
        .as_str()
        .expect("record")
        .replace(":200", ":201");
    forged["record"] = record.into();
    let forged = forged.to_string();
    std::fs::write(&proof_file, forged).expect("write forged proof");
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_sectorgate"))
        .args(["audit", "check-proof"])
        .arg(&proof_file)
        .args(["--public-key", &key])
        .output()
        .expect("check-proof");
    assert_eq!(check.status.code(), Some(1), "a forged proof was accepted");

    let (code, fhir) = gateway.audit_command(&["export", "--format", "fhir"]);
    assert_eq!(code, 0);
    let events: Vec<serde_json::Value> = fhir
        .lines()
        .map(|line| serde_json::from_str(line).expect("an AuditEvent per line"))
        .collect();
    assert!(events.len() >= 24);
    assert!(
        events
            .iter()
            .all(|event| event["resourceType"] == "AuditEvent")
    );

    // An edited record makes verify fail, with exit code 1.
    let runtime = support::runtime();
    runtime.block_on(async {
        let store = sectorgate_audit::Store::open(&gateway.audit_url, Duration::from_secs(5))
            .await
            .expect("open");
        store
            .execute_for_tests(
                // One byte of the first record (past its 4-byte length).
                "UPDATE audit_bundles SET records = \
                 substr(records, 1, 20) || X'41' || substr(records, 22) WHERE first_seq = 0",
            )
            .await
            .expect("tamper");
    });
    let (code, report) = gateway.audit_command(&["verify"]);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("leaf_hash_mismatch"), "{report}");
}

#[test]
fn a_second_instance_of_one_origin_is_refused_until_the_first_stops() {
    let upstream = upstream::start();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let shared = tempfile::tempdir().expect("tempdir");
    let backends = [
        (
            format!("sqlite://{}", shared.path().join("audit.db").display()),
            None,
        ),
        (
            shared_url(),
            Some(format!("twin.test/sectorgate/{nanos:x}")),
        ),
    ];
    for (n, (database, origin)) in backends.into_iter().enumerate() {
        let twin = || GatewayOptions {
            audit_database: Some(database.clone()),
            audit_origin: origin.clone(),
            checkpoint_key: Some(shared.path().join(format!("checkpoint-{n}.key"))),
            ..options(&upstream)
        };
        let mut first = Gateway::start(twin());
        assert_eq!(get(&first).0, 200);
        let refused = match Gateway::try_start(twin()) {
            Ok(_) => panic!("{database}: a second writer of one origin started"),
            Err(log) => log,
        };
        assert!(
            refused.contains("is being written by another gateway instance"),
            "{refused}"
        );
        // A graceful stop lets the claim go: the next instance (with the
        // same checkpoint key) takes over the same log.
        assert!(first.terminate().success());
        let second = Gateway::start(twin());
        assert_eq!(get(&second).0, 200);
        let (code, report) = second.audit_command(&["verify"]);
        assert_eq!(code, 0, "{report}");
    }
}

/// The current period's pseudonym key cannot be made (its folder turned
/// read-only, as a Secret mounted without the new period's key): requests
/// that name a user are refused, and `/ready` says why instead of calling
/// the log writable; once the folder takes the key, both recover without
/// a restart.
#[test]
fn a_pseudonym_key_that_cannot_be_made_makes_the_gateway_unready() {
    use std::os::unix::fs::PermissionsExt;
    let upstream = upstream::start();
    let gateway = Gateway::start(GatewayOptions {
        unprivileged: true,
        ..options(&upstream)
    });
    let keys = gateway
        .config_path()
        .parent()
        .expect("the gateway's folder")
        .join("pseudonym-keys");
    for key in std::fs::read_dir(&keys).expect("the key folder") {
        std::fs::remove_file(key.expect("a key").path()).expect("remove");
    }
    std::os::unix::fs::chown(&keys, Some(0), Some(0)).expect("chown");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let whoami = || {
        http()
            .get(format!("{}/_matrix/client/v3/account/whoami", gateway.url))
            .bearer_auth("usertoken")
            .send()
            .expect("send")
            .status()
            .as_u16()
    };
    let (status, body) = ready(&gateway);
    assert_eq!(status, 503, "{body}");
    assert!(
        body["audit_error"]
            .as_str()
            .unwrap_or_default()
            .contains("pseudonym key"),
        "{body}"
    );
    assert_eq!(whoami(), 503, "a request naming a user");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let (status, body) = ready(&gateway);
    assert_eq!(status, 200, "{body}");
    assert_eq!(whoami(), 200);
}

/// The JSON lines `audit query` printed for `args`: the records' bodies.
fn query(gateway: &Gateway, args: &[&str]) -> Vec<serde_json::Value> {
    let mut command = vec!["query"];
    command.extend_from_slice(args);
    let (code, found) = gateway.audit_command(&command);
    assert_eq!(code, 0, "{found}");
    records_in(&found)
}

/// The records' bodies in `audit export`'s or `audit query`'s JSON lines.
fn records_in(lines: &str) -> Vec<serde_json::Value> {
    lines
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a record per line"))
        .map(|line| line["record"].clone())
        .collect()
}

/// What `audit query` printed for `args` under the gateway's config less
/// its `index` line: the records' bodies, and what it said on stderr.
fn query_without_index(gateway: &Gateway, args: &[&str]) -> (Vec<serde_json::Value>, String) {
    let config = std::fs::read_to_string(gateway.dir.path().join("sectorgate.toml"))
        .expect("the gateway's config");
    let without: String = config
        .lines()
        .filter(|line| !line.starts_with("index ="))
        .map(|line| format!("{line}\n"))
        .collect();
    let path = gateway.dir.path().join("without-index.toml");
    std::fs::write(&path, without).expect("write the config");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sectorgate"))
        .args(["audit", "query"])
        .args(args)
        .arg("--config")
        .arg(&path)
        .current_dir(gateway.dir.path())
        .output()
        .expect("run sectorgate audit query");
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{said}");
    (records_in(&String::from_utf8_lossy(&output.stdout)), said)
}

#[test]
fn an_auditor_finds_a_refused_request_through_the_query_index() {
    let upstream = upstream::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let index = dir.path().join("index.db");
    let mut gateway = Gateway::start(GatewayOptions {
        audit_database: Some(format!("journal:{}", dir.path().join("audit").display())),
        audit_extra: format!(
            "checkpoint_interval = \"1s\"\nindex = \"{}\"\n",
            index.display()
        ),
        ..GatewayOptions::for_stand_in(&upstream.url, "base")
    });
    for _ in 0..5 {
        assert_eq!(get(&gateway).0, 200);
    }
    let refused = http()
        .get(format!(
            "{}/_matrix/client/v3/no/such/endpoint",
            gateway.url
        ))
        .send()
        .expect("send");
    let status = refused.status().as_u16();
    assert!((400..500).contains(&status), "{status}");
    let request_id = refused.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    for _ in 0..5 {
        assert_eq!(get(&gateway).0, 200);
    }

    // The gateway brings its index up to the log by itself: 11 decisions
    // and 11 outcomes are in it before any command runs.
    let runtime = support::runtime();
    let indexed = wait_for(Duration::from_secs(10), || {
        runtime.block_on(async {
            let index = sectorgate_audit::QueryIndex::open(&index).await.ok()?;
            let found = index.find(&sectorgate_audit::Query::default()).await.ok()?;
            (found.len() >= 22).then_some(found.len())
        })
    });
    assert_eq!(indexed, Some(22), "{}", gateway.log());
    // And says how far it got, for an alarm on its lag.
    let reported = wait_for(Duration::from_secs(10), || {
        let metrics = http()
            .get(format!("{}/metrics", gateway.admin_url))
            .send()
            .ok()?
            .text()
            .ok()?;
        metrics
            .lines()
            .find_map(|line| line.strip_prefix("sectorgate_audit_view_size{view=\"index\"} "))
            .filter(|size| *size == "22")
            .map(str::to_owned)
    });
    assert_eq!(reported.as_deref(), Some("22"));

    // Found by its verdict: the decision, with the id the client was
    // given, and its outcome.
    let found = query(&gateway, &["--verdict", "deny"]);
    assert_eq!(found.len(), 2, "{found:?}");
    let (decision, outcome) = (&found[0], &found[1]);
    assert_eq!(decision["type"], "decision");
    assert_eq!(decision["request_id"], request_id.as_str());
    assert_eq!(outcome["type"], "outcome");
    assert_eq!(outcome["decision"], decision["id"]);
    assert_eq!(outcome["status"], status);
    // By its request id, and by the rule that refused it, the same two.
    assert_eq!(query(&gateway, &["--request-id", &request_id]), found);
    let rule = decision["rule"].as_str().expect("rule");
    assert_eq!(query(&gateway, &["--rule", rule]), found);
    assert_eq!(
        query(&gateway, &["--kind", "outcome", "--limit", "3"]).len(),
        3
    );
    assert!(query(&gateway, &["--until", "2000-01-01"]).is_empty());
    // Without an index configured, one is built in memory for the query
    // (all 22 records added to it): the same answer.
    let (records, said) = query_without_index(&gateway, &["--verdict", "deny"]);
    assert_eq!(records, found);
    assert!(said.contains("among 22 (22 added"), "{said}");

    // Pruned, they leave the index too.
    assert!(gateway.terminate().success());
    let (code, pruned) = gateway.audit_command(&["prune", "--before", "2100-01-01T00:00:00Z"]);
    assert_eq!(code, 0, "{pruned}");
    let pruned: serde_json::Value = serde_json::from_str(&pruned).expect("json");
    assert!(
        pruned["index_entries_removed"].as_u64() >= Some(20),
        "{pruned}"
    );
    assert!(query(&gateway, &["--verdict", "deny"]).is_empty());
}
