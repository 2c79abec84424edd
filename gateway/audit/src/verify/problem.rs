//! What `verify` reports as wrong with a log: a [`Problem`] of a
//! [`ProblemKind`], named in the report by a stable snake_case string.

use serde::Serialize;

/// One thing wrong with the log.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// The record or tree size concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// What exactly.
    pub detail: String,
}

/// The kinds of [`Problem`], each reported by its stable snake_case name
/// (`gap`, `bundle_invalid`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Sequence numbers skip records or repeat one.
    Gap,
    /// A stored bundle of records cannot be read.
    BundleInvalid,
    /// A record's content is gone though the log was not pruned that far.
    RecordMissing,
    /// A record is not a canonical version-1 record.
    RecordInvalid,
    /// A record does not hash to its stored leaf hash.
    LeafHashMismatch,
    /// A stored subtree hash does not recompute from the leaves.
    SubtreeHashMismatch,
    /// A record's stored hashes are malformed.
    HashesInvalid,
    /// A stored checkpoint does not check, or does not say what its row says.
    CheckpointInvalid,
    /// The tree of a stored checkpoint's size does not have its root.
    CheckpointRootMismatch,
    /// A stored checkpoint is smaller than one made before it.
    CheckpointShrank,
    /// A stored checkpoint covers more records than the log holds.
    CheckpointBeyondLog,
    /// A trusted checkpoint does not check, or is of another log.
    TrustedCheckpointInvalid,
    /// The tree of a trusted checkpoint's size does not have its root.
    TrustedRootMismatch,
    /// A trusted checkpoint covers more records than the log holds.
    TrustedCheckpointBeyondLog,
    /// A witness's cosignature on a checkpoint does not verify.
    CosignatureInvalid,
    /// No checkpoint given carries a cosignature of a witness required.
    NotWitnessed,
    /// The store cannot be read as a log at all (a journal's frame that
    /// does not check before its last, a segment missing or of another
    /// log): nothing further is checked.
    StoreDamaged,
}
