//! The log on every backend: group commit, reopening, checkpoints by time,
//! proofs, pruning, export, the checkpoint sink and the claim on an origin.

use std::time::Duration;

use crate::tests::encoding::{decision, outcome};
use crate::tests::fixture::{all, claim, open};
use crate::{
    AuditError, AuditLog, CheckpointSigner, CheckpointSink, Entry, Format, LogConfig, Outcome,
    Pseudonymiser, SinkConfig, Store, Verdict, check_inclusion, export, prove_inclusion, prune,
    split_notes, verify,
};

#[tokio::test]
async fn concurrent_writers_share_commits_and_the_log_verifies() {
    for fixture in all(100).await {
        let appends = (0..600).map(|i| {
            let log = fixture.log.clone();
            tokio::spawn(async move { log.append(&decision(&format!("d{i}"), i)).await })
        });
        for append in appends {
            append.await.expect("task").expect("durable");
        }
        let report = verify(&fixture.store, &fixture.origin, &fixture.vkey, &[])
            .await
            .expect("verify");
        assert!(report.ok, "{report:?}");
        assert_eq!(report.records, 600);
        assert!(report.latest_checkpoint >= Some(500), "{report:?}");
        assert!(fixture.log.status().ok);
        assert_eq!(fixture.log.status().size, 600);
    }
}

#[tokio::test]
async fn a_reopened_log_continues_the_same_tree() {
    for fixture in all(7).await {
        for i in 0..23 {
            fixture
                .log
                .append(&decision("first", i))
                .await
                .expect("append");
        }
        // A second writer over the same log (as after a restart) reads the
        // tree's edge back from the store.
        fixture.log.close().await.expect("close");
        // Closing signs the whole log: a checkpoint at 23, past the cadence's 21.
        let closed = verify(&fixture.store, &fixture.origin, &fixture.vkey, &[])
            .await
            .expect("verify");
        assert_eq!(closed.latest_checkpoint, Some(23), "{closed:?}");
        assert_eq!(closed.unattested, 0);
        let again = fixture.reopen(7).await;
        for i in 0..20 {
            again.append(&decision("second", i)).await.expect("append");
        }
        let report = verify(&fixture.store, &fixture.origin, &fixture.vkey, &[])
            .await
            .expect("verify");
        assert!(report.ok, "{report:?}");
        assert_eq!(report.records, 43);
        // Every 7 after the last checkpoint the second writer read back.
        assert_eq!(report.latest_checkpoint, Some(37));
    }
}

#[tokio::test]
async fn a_checkpoint_is_made_after_the_interval_without_more_records() {
    for backend in ["sqlite", "postgres", "journal"] {
        let fixture = open(backend, 1000).await;
        let key = fixture.dir.path().join("timed.key");
        let origin = format!("{}-timed", fixture.origin);
        let log = AuditLog::spawn(
            fixture.store.clone(),
            claim(&fixture.store, &origin).await,
            CheckpointSigner::load_or_create(&key, &origin).expect("key"),
            LogConfig {
                origin: origin.clone(),
                checkpoint_every: 1000,
                checkpoint_interval: Duration::from_millis(200),
            },
            CheckpointSink::none(),
        );
        for i in 0..3 {
            log.append(&decision("d", i)).await.expect("append");
        }
        let mut size = None;
        for _ in 0..100 {
            size = fixture
                .store
                .last_checkpoint(&origin)
                .await
                .expect("read")
                .map(|checkpoint| checkpoint.size);
            if size == Some(3) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(size, Some(3), "{backend}");
    }
}

#[tokio::test]
async fn every_covered_record_has_an_inclusion_proof_checked_offline() {
    for fixture in all(10).await {
        for i in 0..25 {
            fixture
                .log
                .append(&decision(&format!("d{i}"), i))
                .await
                .expect("append");
        }
        for seq in 0..20 {
            let proof = prove_inclusion(&fixture.store, &fixture.origin, seq)
                .await
                .expect("prove");
            assert_eq!(proof.tree_size, 20);
            check_inclusion(&proof, &fixture.vkey).expect("the proof holds");
            // Through JSON, as `audit prove` prints it.
            let read: crate::InclusionProof =
                serde_json::from_str(&serde_json::to_string(&proof).expect("json")).expect("read");
            check_inclusion(&read, &fixture.vkey).expect("the proof holds after JSON");

            let mut edited = proof.clone();
            edited.record = proof.record.as_ref().map(|r| r.replace("\"d", "\"e"));
            assert!(check_inclusion(&edited, &fixture.vkey).is_err());
            let mut moved = proof.clone();
            moved.seq = (seq + 1) % 20;
            assert!(check_inclusion(&moved, &fixture.vkey).is_err());
        }
        // Not yet covered by a checkpoint.
        assert!(
            prove_inclusion(&fixture.store, &fixture.origin, 22)
                .await
                .is_err()
        );
        // Another log's key.
        let proof = prove_inclusion(&fixture.store, &fixture.origin, 3)
            .await
            .expect("prove");
        let other = CheckpointSigner::load_or_create(
            &fixture.dir.path().join("other.key"),
            &fixture.origin,
        )
        .expect("key");
        assert!(check_inclusion(&proof, other.verifier_key()).is_err());
    }
}

#[tokio::test]
async fn pruning_keeps_the_log_verifiable_and_later_records_provable() {
    // On the journal, 1 KiB segments of a frame or two: the last holds 34.
    for fixture in all(10).await {
        for i in 0..35 {
            fixture
                .log
                .append(&decision(&format!("d{i}"), 1_000 * i))
                .await
                .expect("append");
        }
        let keys = Pseudonymiser::open(
            &fixture.dir.path().join("keys"),
            Duration::from_secs(86_400),
        )
        .expect("keys");
        keys.pseudonym("user", "@a:hs", 0).expect("a key for day 0");
        // Records made before 15 s: 0 to 14. Pruning goes by whole bundles
        // (one record each here), and keeps the last one begun before.
        let pruned = prune(&fixture.store, &fixture.origin, 15_000, 99, Some(&keys))
            .await
            .expect("prune");
        assert_eq!(pruned.below, 14);
        assert_eq!(pruned.bundles, 14);
        assert_eq!(
            pruned.keys,
            Vec::<String>::new(),
            "day 0 has not ended at 15 s"
        );
        let report = verify(&fixture.store, &fixture.origin, &fixture.vkey, &[])
            .await
            .expect("verify");
        assert!(report.ok, "{report:?}");
        assert_eq!(report.pruned, 14);
        for seq in [15, 22, 29] {
            let proof = prove_inclusion(&fixture.store, &fixture.origin, seq)
                .await
                .expect("prove");
            check_inclusion(&proof, &fixture.vkey).expect("holds after pruning");
        }
        // Records past the last checkpoint (30 to 34) are never pruned.
        let all = prune(&fixture.store, &fixture.origin, i64::MAX, 100, Some(&keys))
            .await
            .expect("prune");
        assert_eq!(all.below, 30);
        assert_eq!(all.bundles, 16, "only the bundles not emptied before");
        assert_eq!(all.keys, ["1970-01-01"]);
        let mut out = Vec::new();
        let written = export(&fixture.store, &fixture.origin, 0, Format::Jsonl, &mut out)
            .await
            .expect("export");
        assert_eq!(written, 5);
        assert!(
            verify(&fixture.store, &fixture.origin, &fixture.vkey, &[])
                .await
                .expect("verify")
                .ok
        );
    }
}

#[tokio::test]
async fn records_export_as_fhir_audit_events() {
    let fixture = open("sqlite", 10).await;
    fixture
        .log
        .append(&decision("d0", 1_000))
        .await
        .expect("append");
    let mut denied = decision("d1", 2_000_000);
    if let Entry::Decision(d) = &mut denied {
        d.verdict = Verdict::Deny;
        d.rule = "event.encryption_required".to_owned();
    }
    fixture.log.append(&denied).await.expect("append");
    let outcome = Entry::Outcome(Outcome {
        decision: "d0".to_owned(),
        ts: 2_000_001,
        status: 502,
        upstream_status: None,
        bytes_in: 3,
        bytes_out: 4,
        duration_ms: 5,
    });
    fixture.log.append(&outcome).await.expect("append");

    let mut out = Vec::new();
    let written = export(
        &fixture.store,
        &fixture.origin,
        1_500_000,
        Format::Fhir,
        &mut out,
    )
    .await
    .expect("export");
    assert_eq!(written, 2, "--since leaves out the first");
    let events: Vec<serde_json::Value> = String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect();
    let deny = &events[0];
    assert_eq!(deny["resourceType"], "AuditEvent");
    assert_eq!(deny["id"], "d1");
    assert_eq!(deny["type"]["code"], "decision");
    assert_eq!(deny["subtype"][0]["code"], "send_message_event");
    assert_eq!(deny["recorded"], "1970-01-01T00:33:20.000Z");
    assert_eq!(deny["outcome"], "4");
    assert_eq!(deny["outcomeDesc"], "event.encryption_required");
    assert_eq!(deny["agent"][0]["requestor"], true);
    assert_eq!(
        deny["agent"][0]["who"]["identifier"]["value"],
        "2026-11-01:00112233445566778899aabbccddeeff"
    );
    assert_eq!(
        deny["source"]["observer"]["identifier"]["value"],
        fixture.origin
    );
    assert_eq!(deny["entity"][0]["what"]["identifier"]["value"], "req-1");
    let failed = &events[1];
    assert_eq!(failed["type"]["code"], "outcome");
    assert_eq!(failed["outcome"], "8");
    assert_eq!(failed["entity"][0]["what"]["identifier"]["value"], "d0");
}

#[tokio::test]
async fn checkpoints_are_copied_to_the_sink_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("checkpoints.txt");
    let fixture = open("sqlite", 2).await;
    let key = fixture.dir.path().join("checkpoint.key");
    let sink = CheckpointSink::spawn(SinkConfig {
        file: Some(file.clone()),
        syslog: None,
    });
    fixture.log.close().await.expect("close");
    let log = AuditLog::spawn(
        fixture.store.clone(),
        claim(&fixture.store, &fixture.origin).await,
        CheckpointSigner::load_or_create(&key, &fixture.origin).expect("key"),
        LogConfig {
            origin: fixture.origin.clone(),
            checkpoint_every: 2,
            checkpoint_interval: Duration::from_secs(3600),
        },
        sink,
    );
    for i in 0..6 {
        log.append(&decision("d", i)).await.expect("append");
    }
    let mut notes = Vec::new();
    for _ in 0..100 {
        notes = split_notes(&std::fs::read_to_string(&file).unwrap_or_default());
        if notes.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(notes.len(), 3);
    let report = verify(&fixture.store, &fixture.origin, &fixture.vkey, &notes)
        .await
        .expect("verify");
    assert!(report.ok, "{report:?}");
    assert_eq!(report.trusted_checkpoints, 3);
}

#[tokio::test]
async fn checkpoints_are_sent_to_syslog() {
    let collector = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let fixture = open("sqlite", 1000).await;
    let sink = CheckpointSink::spawn(SinkConfig {
        file: None,
        syslog: Some(collector.local_addr().expect("addr")),
    });
    let origin = format!("{}-syslog", fixture.origin);
    let log = AuditLog::spawn(
        fixture.store.clone(),
        claim(&fixture.store, &origin).await,
        CheckpointSigner::load_or_create(&fixture.dir.path().join("syslog.key"), &origin)
            .expect("key"),
        LogConfig {
            origin: origin.clone(),
            checkpoint_every: 1,
            checkpoint_interval: Duration::from_secs(3600),
        },
        sink,
    );
    log.append(&decision("d", 1)).await.expect("append");
    let mut buffer = vec![0u8; 4096];
    let received = tokio::time::timeout(Duration::from_secs(10), collector.recv(&mut buffer))
        .await
        .expect("a syslog message")
        .expect("received");
    let message = String::from_utf8_lossy(&buffer[..received]).into_owned();
    assert!(message.starts_with("<37>1 "), "{message}");
    assert!(message.contains(" checkpoint "), "{message}");
    // The note's lines, joined: origin, size 1, root, signature.
    assert!(message.contains(&format!("{origin} | 1 | ")), "{message}");
    assert!(
        message.contains(&format!("| \u{2014} {origin} ")),
        "{message}"
    );
}

#[tokio::test]
async fn an_origin_is_written_by_one_instance_at_a_time() {
    for backend in ["sqlite", "postgres", "journal"] {
        let fixture = open(backend, 1000).await;
        fixture.log.append(&decision("d", 1)).await.expect("append");
        // Another instance on the same database: its own connections, its
        // own store.
        let url = match backend {
            "sqlite" => format!("sqlite://{}", fixture.dir.path().join("audit.db").display()),
            "journal" => format!(
                "journal:{}?segment_bytes=1024",
                fixture.dir.path().join("journal").display()
            ),
            _ => crate::tests::fixture::postgres_url(),
        };
        let other = Store::open(&url, Duration::from_secs(5))
            .await
            .expect("open");
        match other.claim(&fixture.origin, Duration::ZERO).await {
            Err(AuditError::Claimed(origin)) => assert_eq!(origin, fixture.origin),
            other => panic!("{backend}: a second claim on a held origin: {other:?}"),
        }
        let elsewhere = format!("{}-other", fixture.origin);
        let held = other
            .claim(&elsewhere, Duration::ZERO)
            .await
            .expect("another origin");
        assert_eq!(held.origin(), elsewhere);
        // Once the first writer stops, the origin can be taken over.
        fixture.log.close().await.expect("close");
        assert!(fixture.log.append(&decision("d", 2)).await.is_err());
        let log = AuditLog::spawn(
            other.clone(),
            claim(&other, &fixture.origin).await,
            CheckpointSigner::load_or_create(
                &fixture.dir.path().join("checkpoint.key"),
                &fixture.origin,
            )
            .expect("key"),
            LogConfig {
                origin: fixture.origin.clone(),
                checkpoint_every: 1000,
                checkpoint_interval: Duration::from_secs(3600),
            },
            CheckpointSink::none(),
        );
        log.append(&decision("d", 3)).await.expect("append");
        assert_eq!(other.size(&fixture.origin).await.expect("size"), 2);
    }
}

#[tokio::test]
async fn a_database_in_memory_is_claimed_without_a_lock_file() {
    for url in [
        "sqlite::memory:",
        "sqlite://:memory:",
        "sqlite://audit?mode=memory",
        "sqlite://",
    ] {
        assert!(crate::is_volatile(url), "{url}");
    }
    for url in [
        "sqlite://audit.db",
        "sqlite:audit.db?mode=rwc",
        "postgres://h/db",
    ] {
        assert!(!crate::is_volatile(url), "{url}");
    }
    let claim_files = || {
        std::fs::read_dir(".")
            .expect("the working directory")
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".claim"))
            .collect::<Vec<_>>()
    };
    let before = claim_files();
    let store = Store::open("sqlite::memory:", Duration::from_secs(5))
        .await
        .expect("open");
    let held = store
        .claim("memory.example/log", Duration::ZERO)
        .await
        .expect("claim");
    assert_eq!(held.origin(), "memory.example/log");
    assert_eq!(
        claim_files(),
        before,
        "a lock file for a database in memory"
    );
}

#[tokio::test]
async fn outcome_records_ride_with_the_next_commit_or_follow_alone() {
    for backend in ["sqlite", "postgres", "journal"] {
        let fixture = open(backend, 1000).await;
        let size = || fixture.store.size(&fixture.origin);
        // Waiting, an outcome goes with the next decision's commit.
        fixture.log.append_later(&outcome("d1"));
        fixture
            .log
            .append(&decision("d2", 2))
            .await
            .expect("append");
        assert_eq!(size().await.expect("size"), 2);
        // With no decision to carry it, it is written by itself soon after.
        fixture.log.append_later(&outcome("d2"));
        let mut written = 0;
        for _ in 0..100 {
            written = size().await.expect("size");
            if written == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(written, 3);
        // Closing writes what waits.
        fixture.log.append_later(&outcome("d3"));
        fixture.log.close().await.expect("close");
        assert_eq!(size().await.expect("size"), 4);
        let report = verify(&fixture.store, &fixture.origin, &fixture.vkey, &[])
            .await
            .expect("verify");
        assert!(report.ok, "{report:?}");
    }
}

#[tokio::test]
async fn a_log_verifies_while_it_is_being_written() {
    for backend in ["sqlite", "postgres", "journal"] {
        // Checkpoints come while `verify` reads, too.
        let fixture = open(backend, 7).await;
        let log = fixture.log.clone();
        // One record per commit, so that bundles are added while `verify`
        // reads its pages.
        let writer = tokio::spawn(async move {
            for i in 0..300 {
                log.append(&decision("d", i)).await.expect("append");
            }
        });
        let mut reports = 0;
        while !writer.is_finished() {
            let report = verify(&fixture.store, &fixture.origin, &fixture.vkey, &[])
                .await
                .expect("verify");
            assert!(report.ok, "{backend}: {report:?}");
            reports += 1;
        }
        writer.await.expect("writer");
        assert!(reports > 0);
    }
}
