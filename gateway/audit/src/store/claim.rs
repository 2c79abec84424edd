//! [`Claim`]: which gateway instance writes a log.
//!
//! An instance claims its origin before its first write and holds the claim
//! while it runs, so that two instances configured with one origin cannot
//! interleave their sequence numbers: the second one is refused at start,
//! with the reason. PostgreSQL: a session advisory lock, on a connection of
//! the claim's own. SQLite: an exclusive lock on a file beside the database
//! (`<database>-<origin digest>.claim`). The journal: an exclusive lock on
//! the `lock` file in the log's folder. Each is released when the claim is
//! dropped or the process ends.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use crate::AuditError;

/// Seconds of silence before the server probes the claim's connection…
const KEEPALIVE_IDLE_S: u64 = 10;
/// …seconds between its probes…
const KEEPALIVE_INTERVAL_S: u64 = 5;
/// …and unanswered probes before it drops the session.
const KEEPALIVE_COUNT: u64 = 3;
/// Within how long the server drops a claim whose connection is lost.
pub(crate) const CLAIM_SESSION_DROPPED_WITHIN_S: u64 =
    KEEPALIVE_IDLE_S + KEEPALIVE_INTERVAL_S * KEEPALIVE_COUNT;

/// A held claim on an origin; released when dropped.
#[derive(Debug)]
pub struct Claim {
    origin: String,
    holder: Holder,
}

#[derive(Debug)]
enum Holder {
    Postgres(PgConnection),
    File(
        #[expect(
            dead_code,
            reason = "held, never read: the lock lasts while the file is open"
        )]
        File,
    ),
    /// An in-memory SQLite database: no other process can reach it.
    Memory,
}

impl Claim {
    /// Claims `origin` on PostgreSQL.
    pub(super) async fn postgres(
        options: &PgConnectOptions,
        origin: &str,
    ) -> Result<Self, AuditError> {
        // The server drops the session, and so the lock, soon after the
        // connection is lost (a partition, a crash of this host), not after
        // the kernel's two-hour default.
        let options = options.clone().options([
            ("tcp_keepalives_idle", KEEPALIVE_IDLE_S.to_string()),
            ("tcp_keepalives_interval", KEEPALIVE_INTERVAL_S.to_string()),
            ("tcp_keepalives_count", KEEPALIVE_COUNT.to_string()),
        ]);
        let mut connection = options.connect().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(lock_key(origin))
            .fetch_one(&mut connection)
            .await?;
        if !locked {
            return Err(AuditError::Claimed(origin.to_owned()));
        }
        Ok(Self {
            origin: origin.to_owned(),
            holder: Holder::Postgres(connection),
        })
    }

    /// Claims `origin` on the SQLite database at `database`; a `volatile`
    /// one (in memory) needs no lock, since no other process can reach it.
    pub(super) fn sqlite(
        database: &Path,
        volatile: bool,
        origin: &str,
    ) -> Result<Self, AuditError> {
        if volatile {
            return Ok(Self {
                origin: origin.to_owned(),
                holder: Holder::Memory,
            });
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(claim_path(database, origin))?;
        match file.try_lock() {
            Ok(()) => Ok(Self {
                origin: origin.to_owned(),
                holder: Holder::File(file),
            }),
            Err(TryLockError::WouldBlock) => Err(AuditError::Claimed(origin.to_owned())),
            Err(TryLockError::Error(error)) => Err(error.into()),
        }
    }

    /// A claim held by an exclusive lock on `file`.
    pub(super) fn file(origin: &str, file: File) -> Self {
        Self {
            origin: origin.to_owned(),
            holder: Holder::File(file),
        }
    }

    /// The origin claimed.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether the claim still holds: a PostgreSQL claim ends with its
    /// session (the server restarted, the connection broke).
    pub async fn holds(&mut self) -> bool {
        match &mut self.holder {
            Holder::Postgres(connection) => connection.ping().await.is_ok(),
            Holder::File(_) | Holder::Memory => true,
        }
    }

    /// A setting of a PostgreSQL claim's session.
    #[cfg(test)]
    pub(crate) async fn session_setting(&mut self, name: &str) -> Option<String> {
        match &mut self.holder {
            Holder::Postgres(connection) => sqlx::query_scalar("SELECT current_setting($1)")
                .bind(name)
                .fetch_one(connection)
                .await
                .ok(),
            Holder::File(_) | Holder::Memory => None,
        }
    }
}

/// The first 8 bytes of an origin's digest: the advisory lock key (as a
/// number) and the lock file's name (in hex).
fn digest(origin: &str) -> [u8; 8] {
    let digest = Sha256::digest(origin.as_bytes());
    let mut first = [0; 8];
    first.copy_from_slice(&digest[..8]);
    first
}

/// The advisory lock key of an origin.
fn lock_key(origin: &str) -> i64 {
    i64::from_be_bytes(digest(origin))
}

/// The lock file of an origin beside the database.
fn claim_path(database: &Path, origin: &str) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(format!("-{}.claim", hex::encode(digest(origin))));
    PathBuf::from(name)
}
