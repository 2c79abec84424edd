//! A log on a fresh SQLite file, on the PostgreSQL server or in a fresh
//! journal directory, each under an origin of its own.

use std::time::Duration;

use crate::{AuditLog, CheckpointSigner, CheckpointSink, Claim, LogConfig, Store};

/// The PostgreSQL server the tests use (the machine's; CI's).
pub(super) fn postgres_url() -> String {
    std::env::var("SECTORGATE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A claim on `origin`, once its last holder (a writer being dropped) has
/// let it go.
pub(super) async fn claim(store: &Store, origin: &str) -> Claim {
    store
        .claim(origin, Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| panic!("{origin}: {e}"))
}

pub(super) struct Fixture {
    pub(super) store: Store,
    pub(super) log: AuditLog,
    pub(super) vkey: String,
    pub(super) origin: String,
    pub(super) dir: tempfile::TempDir,
}

impl Fixture {
    /// A new writer of this log (as after a restart: its claim taken
    /// again, the same key), with checkpoints every `every` records. The
    /// fixture's own writer must be closed first.
    pub(super) async fn reopen(&self, every: u64) -> AuditLog {
        let key = self.dir.path().join("checkpoint.key");
        AuditLog::spawn(
            self.store.clone(),
            claim(&self.store, &self.origin).await,
            CheckpointSigner::load_or_create(&key, &self.origin).expect("key"),
            LogConfig {
                origin: self.origin.clone(),
                checkpoint_every: every,
                checkpoint_interval: Duration::from_secs(3600),
            },
            CheckpointSink::none(),
        )
    }

    /// Runs a statement with `{origin}` replaced by this log's origin.
    pub(super) async fn tamper(&self, sql: &str) -> u64 {
        self.store
            .execute_for_tests(&sql.replace("{origin}", &self.origin))
            .await
            .expect("tamper")
    }
}

/// Both databases, each with checkpoints every `every` records.
pub(super) async fn both(every: u64) -> Vec<Fixture> {
    vec![open("sqlite", every).await, open("postgres", every).await]
}

/// Both databases and the journal.
pub(super) async fn all(every: u64) -> Vec<Fixture> {
    let mut fixtures = both(every).await;
    fixtures.push(open("journal", every).await);
    fixtures
}

pub(super) async fn open(backend: &str, every: u64) -> Fixture {
    let url = match backend {
        "sqlite" => String::new(),
        // Small segments (a few frames each), so that logs of a few records span several.
        "journal" => "journal?segment_bytes=1024".to_owned(),
        _ => postgres_url(),
    };
    open_at(&url, backend, every, Duration::from_secs(5)).await
}

/// A log at `url` (empty: a new SQLite file in the fixture's folder;
/// `journal…`: a journal in it, with what follows as its options),
/// writes waiting up to `lock_timeout` for a lock.
pub(super) async fn open_at(
    url: &str,
    backend: &str,
    every: u64,
    lock_timeout: Duration,
) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = match url {
        "" => format!("sqlite://{}", dir.path().join("audit.db").display()),
        url if url.starts_with("journal") => format!(
            "journal:{}{}",
            dir.path().join("journal").display(),
            &url["journal".len()..]
        ),
        url => url.to_owned(),
    };
    let store = Store::open(&url, lock_timeout)
        .await
        .unwrap_or_else(|e| panic!("{backend} at {url}: {e}"));
    let origin = format!("test.sectorgate/{backend}/{:016x}", rand::random::<u64>());
    let key = dir.path().join("checkpoint.key");
    let signer = CheckpointSigner::load_or_create(&key, &origin).expect("key");
    let vkey = signer.verifier_key().to_owned();
    let log = AuditLog::spawn(
        store.clone(),
        claim(&store, &origin).await,
        signer,
        LogConfig {
            origin: origin.clone(),
            checkpoint_every: every,
            checkpoint_interval: Duration::from_secs(3600),
        },
        CheckpointSink::none(),
    );
    Fixture {
        store,
        log,
        vkey,
        origin,
        dir,
    }
}
