//! Why the audit crate could not do what it was asked: [`AuditError`] when
//! the log could not be written or read, [`RecordError`] when bytes are not
//! a record, [`CheckpointError`] when a checkpoint does not check, and
//! [`InclusionError`] when an inclusion proof does not hold.

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
    #[error("audit database {0:?}: use a sqlite://, postgres:// or journal: URL")]
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
    /// A write or sync of the audit journal failed: it takes no more
    /// writes until it is opened again.
    #[error(
        "the audit journal could not be written ({0}); it takes no more writes until the gateway is restarted, which reads back what reached the disk"
    )]
    JournalFailed(String),
    /// The audit journal could not begin its next segment (a full disk):
    /// the next commit tries again.
    #[error("the audit journal could not begin a new segment ({0}); the next write tries again")]
    JournalSegment(String),
    /// The store cannot do what was asked.
    #[error("{0} is not supported by this audit store")]
    Unsupported(&'static str),
    /// What is stored cannot be what this code wrote.
    #[error("the audit log is damaged: {0}")]
    Corrupt(String),
    /// A proof cannot be made.
    #[error("{0}")]
    Proof(String),
    /// A folder of tiles could not be read or brought up to the log.
    #[error("the audit tiles in {dir}: {reason}")]
    Tiles {
        /// The folder.
        dir: String,
        /// What went wrong.
        reason: String,
    },
    /// The query index could not be opened or brought up to the log.
    #[error("the audit query index {file}: {reason}")]
    Index {
        /// The index file (`memory` for one built for a single query).
        file: String,
        /// What went wrong.
        reason: String,
    },
    /// Writing an export failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Why bytes are not a canonical record of the version this code writes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Not JSON of the record's shape: a missing or unknown field, or a
    /// value this code does not know (such as a verdict).
    #[error("not a record: {0}")]
    Malformed(String),
    /// A record of another version.
    #[error("record version {0} is not known")]
    Version(u32),
    /// A record, but not in its canonical bytes.
    #[error("record is not in canonical form")]
    NotCanonical,
}

/// Why a signed checkpoint note does not check.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The verifier key cannot be read.
    #[error("verifier key: {0}")]
    VerifierKey(#[source] signed_note::VerifierError),
    /// The note is not a signed note.
    #[error("malformed note: {0}")]
    MalformedNote(#[source] signed_note::NoteError),
    /// The note is not signed by the verifier key.
    #[error("signature: {0}")]
    Signature(#[source] signed_note::NoteError),
    /// The note's text is not a checkpoint.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(tlog_tiles::MalformedCheckpointError),
}

/// Why an inclusion proof does not hold.
#[derive(Debug, thiserror::Error)]
pub enum InclusionError {
    /// Its checkpoint does not check.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Its checkpoint is of another log or tree size.
    #[error("the checkpoint is not of this log and size")]
    OtherTree,
    /// Its record does not hash to its leaf hash.
    #[error("the record does not hash to the leaf hash")]
    LeafHash,
    /// A hash in it is not a base64 hash.
    #[error("bad hash {text:?}: {source}")]
    BadHash {
        /// The hash as the proof gives it.
        text: String,
        /// Why it does not parse.
        source: tlog_tiles::Error,
    },
    /// The audit path does not lead from the leaf to the checkpoint's root.
    #[error("the proof does not hold: {0}")]
    DoesNotHold(#[source] tlog_tiles::Error),
}
