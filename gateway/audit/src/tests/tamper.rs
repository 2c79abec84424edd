//! Tampering: every edit an attacker with write access to the database can
//! make is caught by `verify`, on both backends.

use crate::store::Bundle;
use crate::tests::encoding::decision;
use crate::tests::fixture::{Fixture, open};
use crate::{CheckpointSigner, ProblemKind, check_checkpoint, verify};

/// 40 records, one commit each, with a checkpoint every 8.
async fn log_of_40(backend: &str) -> Fixture {
    let fixture = open(backend, 8).await;
    for i in 0..40 {
        fixture
            .log
            .append(&decision(&format!("d{i}"), 1_000 * i))
            .await
            .expect("append");
    }
    let report = verify(&fixture.store, &fixture.origin, &fixture.vkey, &[])
        .await
        .expect("verify");
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 40);
    assert_eq!(report.checkpoints, 5);
    fixture
}

/// The `records` blob of a bundle of one record.
fn framed(record: &[u8]) -> Vec<u8> {
    let mut bundle = Bundle::starting_at(0, 1, record.len());
    bundle.add_record(0, record);
    bundle.records
}

/// The `records` literal of a bundle of one record.
fn one(backend: &str, record: &[u8]) -> String {
    blob(backend, &framed(record))
}

fn blob(backend: &str, bytes: &[u8]) -> String {
    match backend {
        "sqlite" => format!("X'{}'", hex::encode(bytes)),
        _ => format!("'\\x{}'::bytea", hex::encode(bytes)),
    }
}

/// `leaf` with its record's text changed by `edit`, its nonce kept.
fn edited(leaf: &[u8], edit: impl Fn(&str) -> String) -> Vec<u8> {
    let (nonce, record) = crate::leaf::split(leaf).expect("a leaf");
    let text = edit(std::str::from_utf8(record).expect("utf-8"));
    match nonce {
        Some(nonce) => {
            crate::leaf::committed_with(nonce.try_into().expect("a nonce"), text.as_bytes())
        }
        None => text.into_bytes(),
    }
}

async fn record(fixture: &Fixture, seq: u64) -> Vec<u8> {
    fixture
        .store
        .leaves(&fixture.origin, seq, 1)
        .await
        .expect("read")[0]
        .record
        .clone()
        .expect("content")
}

async fn problems(fixture: &Fixture, trusted: &[String]) -> Vec<ProblemKind> {
    let report = verify(&fixture.store, &fixture.origin, &fixture.vkey, trusted)
        .await
        .expect("verify");
    assert_eq!(report.ok, report.problems.is_empty());
    report.problems.iter().map(|problem| problem.kind).collect()
}

#[tokio::test]
async fn one_edited_byte_is_caught() {
    for backend in ["sqlite", "postgres"] {
        let fixture = log_of_40(backend).await;
        let mut bytes = record(&fixture, 13).await;
        let at = bytes.len() / 2;
        bytes[at] ^= 0x01;
        fixture
            .tamper(&format!(
                "UPDATE audit_bundles SET records = {} WHERE origin = '{{origin}}' AND first_seq = 13",
                one(backend, &bytes)
            ))
            .await;
        let found = problems(&fixture, &[]).await;
        assert!(
            found.contains(&ProblemKind::LeafHashMismatch),
            "{backend}: {found:?}"
        );
        assert!(
            found.contains(&ProblemKind::CheckpointRootMismatch),
            "{backend}: {found:?}"
        );
    }
}

#[tokio::test]
async fn an_edit_with_its_leaf_hash_rewritten_is_caught_by_the_tree() {
    for backend in ["sqlite", "postgres"] {
        let fixture = log_of_40(backend).await;
        let edited = edited(&record(&fixture, 10).await, |text| {
            text.replace("\"allow\"", "\"deny\"")
        });
        let leaf = tlog_tiles::record_hash(&edited);
        // Record 10 completes one subtree: its blob holds two hashes.
        let stored = &fixture
            .store
            .leaves(&fixture.origin, 10, 1)
            .await
            .expect("read")[0]
            .hashes;
        let mut hashes = leaf.0.to_vec();
        hashes.extend_from_slice(&stored[32..]);
        fixture
            .tamper(&format!(
                "UPDATE audit_bundles SET records = {}, hashes = {} \
                 WHERE origin = '{{origin}}' AND first_seq = 10",
                one(backend, &edited),
                blob(backend, &hashes)
            ))
            .await;
        let found = problems(&fixture, &[]).await;
        assert!(!found.contains(&ProblemKind::LeafHashMismatch), "{found:?}");
        assert!(
            found.contains(&ProblemKind::SubtreeHashMismatch),
            "{backend}: {found:?}"
        );
        assert!(
            found.contains(&ProblemKind::CheckpointRootMismatch),
            "{backend}: {found:?}"
        );
    }
}

#[tokio::test]
async fn a_deleted_record_is_caught() {
    for backend in ["sqlite", "postgres"] {
        let fixture = log_of_40(backend).await;
        fixture
            .tamper("DELETE FROM audit_bundles WHERE origin = '{origin}' AND first_seq = 5")
            .await;
        let found = problems(&fixture, &[]).await;
        assert_eq!(
            found.first(),
            Some(&ProblemKind::Gap),
            "{backend}: {found:?}"
        );
    }
}

#[tokio::test]
async fn two_swapped_records_are_caught() {
    for backend in ["sqlite", "postgres"] {
        let fixture = log_of_40(backend).await;
        let (a, b) = (record(&fixture, 20).await, record(&fixture, 21).await);
        for (seq, bytes) in [(20, &b), (21, &a)] {
            fixture
                .tamper(&format!(
                    "UPDATE audit_bundles SET records = {} WHERE origin = '{{origin}}' AND first_seq = {seq}",
                    one(backend, bytes)
                ))
                .await;
        }
        let found = problems(&fixture, &[]).await;
        assert_eq!(
            found
                .iter()
                .filter(|kind| **kind == ProblemKind::LeafHashMismatch)
                .count(),
            2,
            "{backend}: {found:?}"
        );
    }
}

#[tokio::test]
async fn a_tail_truncated_behind_an_exported_checkpoint_is_caught() {
    for backend in ["sqlite", "postgres"] {
        let fixture = log_of_40(backend).await;
        let exported = fixture
            .store
            .last_checkpoint(&fixture.origin)
            .await
            .expect("read")
            .expect("a checkpoint");
        assert_eq!(exported.size, 40);
        fixture
            .tamper("DELETE FROM audit_bundles WHERE origin = '{origin}' AND first_seq >= 30")
            .await;
        fixture
            .tamper("DELETE FROM audit_checkpoints WHERE origin = '{origin}' AND size > 24")
            .await;
        // What is left is consistent in itself: only the copy kept
        // elsewhere shows that records were removed.
        assert_eq!(problems(&fixture, &[]).await, Vec::<ProblemKind>::new());
        let found = problems(&fixture, &[exported.note]).await;
        assert_eq!(
            found,
            [ProblemKind::TrustedCheckpointBeyondLog],
            "{backend}"
        );
    }
}

#[tokio::test]
async fn a_rewritten_log_under_an_exported_checkpoint_is_caught() {
    for backend in ["sqlite", "postgres"] {
        let fixture = log_of_40(backend).await;
        let exported = fixture
            .store
            .last_checkpoint(&fixture.origin)
            .await
            .expect("read")
            .expect("a checkpoint");
        // Remove everything and write 40 other records under the same key.
        fixture
            .tamper("DELETE FROM audit_bundles WHERE origin = '{origin}'")
            .await;
        fixture
            .tamper("DELETE FROM audit_checkpoints WHERE origin = '{origin}'")
            .await;
        let key = fixture.dir.path().join("checkpoint.key");
        fixture.log.close().await.expect("close");
        let again = crate::AuditLog::spawn(
            fixture.store.clone(),
            super::fixture::claim(&fixture.store, &fixture.origin).await,
            CheckpointSigner::load_or_create(&key, &fixture.origin).expect("key"),
            crate::LogConfig {
                origin: fixture.origin.clone(),
                checkpoint_every: 8,
                checkpoint_interval: std::time::Duration::from_secs(3600),
            },
            crate::CheckpointSink::none(),
        );
        for i in 0..40 {
            again
                .append(&decision(&format!("forged{i}"), i))
                .await
                .expect("append");
        }
        assert_eq!(problems(&fixture, &[]).await, Vec::<ProblemKind>::new());
        let found = problems(&fixture, &[exported.note]).await;
        assert_eq!(found, [ProblemKind::TrustedRootMismatch], "{backend}");
    }
}

#[tokio::test]
async fn a_replaced_checkpoint_signature_is_caught() {
    for backend in ["sqlite", "postgres"] {
        let fixture = log_of_40(backend).await;
        let row = fixture
            .store
            .checkpoints(&fixture.origin)
            .await
            .expect("read")
            .remove(1);
        // Signed by another key of the same name.
        let other_dir = tempfile::tempdir().expect("tempdir");
        let other = CheckpointSigner::load_or_create(&other_dir.path().join("k"), &fixture.origin)
            .expect("key");
        let root = tlog_tiles::Hash(row.root.clone().try_into().expect("32 bytes"));
        let forged = other.sign(row.size, root).expect("sign");
        assert!(check_checkpoint(&forged, &fixture.vkey).is_err());
        fixture
            .tamper(&format!(
                "UPDATE audit_checkpoints SET note = '{forged}' \
                 WHERE origin = '{{origin}}' AND size = {}",
                row.size
            ))
            .await;
        assert_eq!(
            problems(&fixture, &[]).await,
            [ProblemKind::CheckpointInvalid],
            "{backend}"
        );

        // The right key id, a damaged signature.
        let (text, signature) = row.note.rsplit_once(' ').expect("signature line");
        let mut damaged: Vec<char> = signature.chars().collect();
        damaged[10] = if damaged[10] == 'A' { 'B' } else { 'A' };
        let damaged = format!("{text} {}", damaged.into_iter().collect::<String>());
        fixture
            .tamper(&format!(
                "UPDATE audit_checkpoints SET note = '{damaged}' \
                 WHERE origin = '{{origin}}' AND size = {}",
                row.size
            ))
            .await;
        assert_eq!(
            problems(&fixture, &[]).await,
            [ProblemKind::CheckpointInvalid],
            "{backend}"
        );
    }
}

#[tokio::test]
async fn a_replayed_smaller_checkpoint_is_caught() {
    for backend in ["sqlite", "postgres"] {
        let fixture = log_of_40(backend).await;
        let key = fixture.dir.path().join("checkpoint.key");
        let signer = CheckpointSigner::load_or_create(&key, &fixture.origin).expect("key");
        let mut frontier = crate::merkle::Frontier::default();
        for row in fixture
            .store
            .leaves(&fixture.origin, 0, 4)
            .await
            .expect("read")
        {
            frontier.push(tlog_tiles::record_hash(&row.record.expect("content")), drop);
        }
        let note = signer.sign(4, frontier.root()).expect("sign");
        fixture
            .tamper(&format!(
                "INSERT INTO audit_checkpoints (origin, size, root, note, created_at) \
                 VALUES ('{{origin}}', 4, {}, '{note}', 9999999999999)",
                blob(backend, &frontier.root().0)
            ))
            .await;
        assert_eq!(
            problems(&fixture, &[]).await,
            [ProblemKind::CheckpointShrank],
            "{backend}"
        );
    }
}

#[tokio::test]
async fn a_malformed_bundle_is_caught() {
    for backend in ["sqlite", "postgres"] {
        let fixture = log_of_40(backend).await;
        let bytes = record(&fixture, 17).await;
        // The record's length says more than the bundle holds.
        let mut framed = framed(&bytes);
        framed.truncate(framed.len() - 3);
        fixture
            .tamper(&format!(
                "UPDATE audit_bundles SET records = {} WHERE origin = '{{origin}}' AND first_seq = 17",
                blob(backend, &framed)
            ))
            .await;
        let found = problems(&fixture, &[]).await;
        assert_eq!(
            found.first(),
            Some(&ProblemKind::BundleInvalid),
            "{backend}: {found:?}"
        );
    }
}

#[tokio::test]
async fn a_record_with_an_unknown_verdict_is_reported_invalid() {
    for backend in ["sqlite", "postgres"] {
        let fixture = log_of_40(backend).await;
        let edited = edited(&record(&fixture, 12).await, |text| {
            text.replace(r#""verdict":"allow""#, r#""verdict":"maybe""#)
        });
        fixture
            .tamper(&format!(
                "UPDATE audit_bundles SET records = {} WHERE origin = '{{origin}}' AND first_seq = 12",
                one(backend, &edited)
            ))
            .await;
        let report = verify(&fixture.store, &fixture.origin, &fixture.vkey, &[])
            .await
            .expect("verify");
        let invalid = report
            .problems
            .iter()
            .find(|problem| problem.kind == ProblemKind::RecordInvalid)
            .unwrap_or_else(|| panic!("{backend}: {report:?}"));
        assert_eq!(invalid.seq, Some(12), "{backend}");
        assert!(invalid.detail.contains("`maybe`"), "{}", invalid.detail);
    }
}

#[test]
fn problem_kinds_are_reported_by_their_stable_names() {
    let names = [
        (ProblemKind::Gap, "gap"),
        (ProblemKind::BundleInvalid, "bundle_invalid"),
        (ProblemKind::RecordMissing, "record_missing"),
        (ProblemKind::RecordInvalid, "record_invalid"),
        (ProblemKind::LeafHashMismatch, "leaf_hash_mismatch"),
        (ProblemKind::SubtreeHashMismatch, "subtree_hash_mismatch"),
        (ProblemKind::HashesInvalid, "hashes_invalid"),
        (ProblemKind::CheckpointInvalid, "checkpoint_invalid"),
        (
            ProblemKind::CheckpointRootMismatch,
            "checkpoint_root_mismatch",
        ),
        (ProblemKind::CheckpointShrank, "checkpoint_shrank"),
        (ProblemKind::CheckpointBeyondLog, "checkpoint_beyond_log"),
        (
            ProblemKind::TrustedCheckpointInvalid,
            "trusted_checkpoint_invalid",
        ),
        (ProblemKind::TrustedRootMismatch, "trusted_root_mismatch"),
        (
            ProblemKind::TrustedCheckpointBeyondLog,
            "trusted_checkpoint_beyond_log",
        ),
        (ProblemKind::StoreDamaged, "store_damaged"),
    ];
    for (kind, name) in names {
        let problem = crate::Problem {
            kind,
            seq: Some(3),
            detail: "d".to_owned(),
        };
        assert_eq!(
            serde_json::to_string(&problem).expect("json"),
            format!(r#"{{"kind":"{name}","seq":3,"detail":"d"}}"#)
        );
    }
}

/// A journal's file changed on disk: a byte of a frame in an early segment
/// (its CRC no longer holds), and a segment removed. `verify` says the
/// store is damaged, where, and that the log does not verify.
#[tokio::test]
async fn a_damaged_journal_does_not_verify() {
    for damage in ["a changed byte", "a removed segment"] {
        let fixture = crate::tests::fixture::open("journal", 10).await;
        for i in 0..30 {
            fixture
                .log
                .append(&decision(&format!("d{i}"), i))
                .await
                .expect("append");
        }
        fixture.log.close().await.expect("close");
        let folder = fixture
            .dir
            .path()
            .join("journal")
            .join(crate::store::journal::folder_name(&fixture.origin));
        let mut segments: Vec<_> = std::fs::read_dir(&folder)
            .expect("folder")
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "journal"))
            .collect();
        segments.sort();
        assert!(segments.len() > 3, "{segments:?}");
        match damage {
            "a changed byte" => {
                let mut bytes = std::fs::read(&segments[1]).expect("segment");
                bytes[120] ^= 0x20;
                std::fs::write(&segments[1], bytes).expect("write");
            }
            _ => std::fs::remove_file(&segments[2]).expect("remove"),
        }
        let report = verify(&fixture.store, &fixture.origin, &fixture.vkey, &[])
            .await
            .expect("a report");
        assert!(!report.ok, "{damage}: {report:?}");
        assert_eq!(
            report.problems[0].kind,
            ProblemKind::StoreDamaged,
            "{damage}: {report:?}"
        );
        let name = segments[if damage == "a changed byte" { 1 } else { 3 }]
            .file_name()
            .and_then(|name| name.to_str())
            .expect("name")
            .to_owned();
        assert!(
            report.problems[0].detail.contains(&name),
            "{damage}: {report:?}"
        );
    }
}
