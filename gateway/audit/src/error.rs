//! [`AuditError`]: why the log could not be written or read.

use crate::store::CLAIM_SESSION_DROPPED_WITHIN_S;

/// Why the audit log could not take or give a record. When writing, any of
/// these means the request is answered 503 and not forwarded.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database refused or failed the operation.
    #[error("audit database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database schema could not be brought up to date.
    #[error("audit database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL names no supported backend.
    #[error("audit database {0:?}: use a sqlite:// or postgres:// URL")]
    Url(String),
    /// Another gateway instance writes the log of this origin.
    #[error(
        "the audit log {0:?} is being written by another gateway instance: give each instance its own audit.origin"
    )]
    Claimed(String),
    /// This instance's claim lapsed (its database session ended) and it
    /// cannot take the claim back yet.
    #[error(
        "this instance lost its claim on the audit log {0:?} (its database session ended) and cannot take it back yet: the database still holds the old session, which it drops within about {CLAIM_SESSION_DROPPED_WITHIN_S} s of losing it, or another instance took the origin over"
    )]
    ClaimLost(String),
    /// The database did not finish an operation in time (a network
    /// partition, a hung disk): it was given up and its connection dropped.
    #[error("the audit database did not answer within {0:?}")]
    Stalled(std::time::Duration),
    /// A probe of the store was not answered in time: the writer is still
    /// busy with earlier writes (a lock held elsewhere, a slow disk).
    #[error(
        "the audit store did not take a write within {within:?}: {waiting} requests wait for their records to be written{}",
        writing_for.map(|busy| format!(", whose current write began {busy:?} ago")).unwrap_or_default()
    )]
    Busy {
        /// How long the probe waited.
        within: std::time::Duration,
        /// Requests waiting for their records to be written.
        waiting: usize,
        /// How long the writer's current write has run, if one is under way.
        writing_for: Option<std::time::Duration>,
    },
    /// The writer task is gone (shutting down or crashed).
    #[error("the audit writer is not running")]
    Closed,
    /// A pseudonym key could not be read or created.
    #[error("pseudonym key {path}: {source}")]
    Key {
        /// The key file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The checkpoint key could not be read or used.
    #[error("checkpoint key: {0}")]
    Checkpoint(String),
    /// What is stored cannot be what this code wrote.
    #[error("the audit log is damaged: {0}")]
    Corrupt(String),
    /// A proof cannot be made.
    #[error("{0}")]
    Proof(String),
    /// Writing an export failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
