//! The tamper-evident audit log.
//!
//! This is the *record* step of the pipeline (accept → classify → decide →
//! **record** → forward). Each decision, and each answer's outcome, becomes a
//! canonical [`Entry`] (pseudonymised, no message content). Entries are the
//! leaves of a Merkle tree (RFC 6962/9162) whose head is signed as a C2SP
//! checkpoint every so often. The pipeline talks to an [`AuditLog`], which
//! group-commits entries into a [`Store`] (SQLite or PostgreSQL); a request
//! is forwarded only once its decision is durable. [`verify`], the proofs,
//! [`export`], the [`QueryIndex`] and [`prune`] are what the `sectorgate
//! audit` commands run.

mod checkpoint;
mod error;
pub mod export;
mod index;
pub mod journal;
mod log;
pub mod merkle;
mod proof;
mod prune;
mod pseudonym;
mod record;
mod sink;
mod store;
mod tiles;
mod verify;
mod witness;

pub use checkpoint::{CheckedCheckpoint, CheckpointSigner, check as check_checkpoint, public_path};
pub use error::{AuditError, CheckpointError, InclusionError, RecordError};
pub use export::{Format, export, export_records};
pub use index::{Indexed, Query, QueryIndex};
pub use log::{AuditLog, CommitObserver, LogConfig, WriteStatus, now_ms};
pub use proof::{InclusionProof, check_inclusion, prove_inclusion};
pub use prune::{Pruned, prune};
pub use pseudonym::Pseudonymiser;
pub use record::leaf;
pub use record::{Decision, Direction, Entry, Outcome, Peer, ProfileRef, RECORD_VERSION, Verdict};
pub use sink::{CheckpointSink, SinkConfig, append_note, split_notes};
pub use store::{Backend, Bundle, CheckpointRow, Claim, LeafRow, Store, is_volatile};
pub use tiles::{DiskTiles, TileFiles, TileFolder, TilesWritten, export_tiles, tile};
pub use verify::{Problem, ProblemKind, Report, Witnessed, verify, verify_witnessed};
pub use witness::{WitnessKey, add_checkpoint_body, cosigned_by, take_cosignatures};

#[cfg(test)]
mod tests;
