//! Unit tests for pseudonyms, the SQLite store and group commit.

use std::time::Duration;

use crate::{Actor, AuditLog, AuditRecord, AuditStore, Pseudonymiser, SqliteStore};

fn record(request_id: &str) -> AuditRecord {
    AuditRecord {
        request_id: request_id.to_owned(),
        recorded_at_ms: 1_700_000_000_000,
        profile: "healthcare-tim-pro".to_owned(),
        endpoint: Some("client.send_message_event".to_owned()),
        action: "send_message_event".to_owned(),
        verdict: "allow".to_owned(),
        rule: "endpoint.allowed".to_owned(),
        actor: Actor::User("0123".to_owned()),
    }
}

#[test]
fn pseudonyms_are_stable_keyed_and_domain_separated() {
    let a = Pseudonymiser::new([1; 32]);
    let b = Pseudonymiser::new([2; 32]);
    assert_eq!(
        a.pseudonym("token", "secret"),
        a.pseudonym("token", "secret")
    );
    assert_ne!(
        a.pseudonym("token", "secret"),
        b.pseudonym("token", "secret")
    );
    assert_ne!(
        a.pseudonym("token", "secret"),
        a.pseudonym("user", "secret")
    );
    assert_eq!(a.pseudonym("token", "secret").len(), 32);
    assert!(!a.pseudonym("token", "secret").contains("secret"));
}

#[test]
fn a_pseudonym_key_is_created_once_and_reloaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("key");
    let first = Pseudonymiser::load_or_create(&path).expect("create");
    let again = Pseudonymiser::load_or_create(&path).expect("load");
    assert_eq!(first.pseudonym("d", "v"), again.pseudonym("d", "v"));
}

#[tokio::test]
async fn records_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let store = SqliteStore::open(&url, Duration::from_secs(1))
        .await
        .expect("open");
    let log = AuditLog::spawn(store.clone());
    for id in ["a", "b", "c"] {
        log.append(record(id)).await.expect("append");
    }
    drop(log);
    let reopened = SqliteStore::open(&url, Duration::from_secs(1))
        .await
        .expect("reopen");
    let ids: Vec<_> = reopened
        .records()
        .await
        .expect("records")
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
}

#[tokio::test]
async fn a_locked_database_fails_the_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let store = SqliteStore::open(&url, Duration::from_millis(200))
        .await
        .expect("open");
    let other = SqliteStore::open(&url, Duration::from_millis(200))
        .await
        .expect("open 2");
    let mut holder = other.pool_for_tests().acquire().await.expect("conn");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut *holder)
        .await
        .expect("lock");
    let log = AuditLog::spawn(store.clone());
    assert!(log.append(record("x")).await.is_err());
    assert!(store.check_writable().await.is_err());
    sqlx::query("ROLLBACK")
        .execute(&mut *holder)
        .await
        .expect("unlock");
    drop(holder);
    log.append(record("y")).await.expect("append after unlock");
    assert!(store.check_writable().await.is_ok());
}

#[tokio::test]
async fn a_batch_larger_than_one_statement_is_written_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let store = SqliteStore::open(&url, Duration::from_secs(1))
        .await
        .expect("open");
    let batch: Vec<_> = (0..600).map(|i| record(&format!("r{i}"))).collect();
    store.append_batch(&batch).await.expect("append");
    let written = store.records().await.expect("records");
    assert_eq!(written.len(), 600);
    assert_eq!(written[599].request_id, "r599");
}
