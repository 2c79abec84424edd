//! The checkpoints `verify` holds the log to: those in the database and
//! those kept elsewhere, each checked, become the roots the recomputed tree
//! must have at their sizes.

use std::collections::BTreeMap;

use tlog_tiles::Hash;

use super::{ProblemKind, Report};
use crate::checkpoint::{CheckedCheckpoint, check};
use crate::merkle::Frontier;
use crate::store::CheckpointRow;

/// The roots the tree must have, by tree size.
#[derive(Default)]
pub(super) struct Expected(BTreeMap<u64, Vec<Root>>);

/// A root the tree must have at some size.
struct Root {
    hash: Hash,
    /// Whether a trusted checkpoint (kept elsewhere) gives it.
    trusted: bool,
}

impl Expected {
    fn add(&mut self, size: u64, hash: Hash, trusted: bool) {
        self.0.entry(size).or_default().push(Root { hash, trusted });
    }

    /// Checks the checkpoints stored with the log (`rows`, in the order
    /// made): each must be signed by `vkey`, say what its row says, and be
    /// no smaller than those before it.
    pub(super) fn read_stored(
        &mut self,
        rows: &[CheckpointRow],
        origin: &str,
        vkey: &str,
        report: &mut Report,
    ) {
        report.checkpoints = u64::try_from(rows.len()).unwrap_or(u64::MAX);
        let mut previous = 0;
        for row in rows {
            if row.size < previous {
                report.problem(
                    ProblemKind::CheckpointShrank,
                    Some(row.size),
                    format!("made after a checkpoint of size {previous}"),
                );
            }
            previous = previous.max(row.size);
            match check(&row.note, vkey) {
                Ok(note)
                    if note.origin == origin
                        && note.size == row.size
                        && note.root.0[..] == row.root[..] =>
                {
                    self.add(row.size, note.root, false);
                }
                Ok(_) => report.problem(
                    ProblemKind::CheckpointInvalid,
                    Some(row.size),
                    "the signed note does not say what its row says",
                ),
                Err(error) => report.problem(ProblemKind::CheckpointInvalid, Some(row.size), error),
            }
        }
        report.latest_checkpoint = rows.iter().map(|row| row.size).max();
    }

    /// Checks the checkpoint `notes` kept elsewhere: each must be signed by
    /// `vkey` and be of the log `origin`.
    pub(super) fn read_trusted(
        &mut self,
        notes: &[String],
        origin: &str,
        vkey: &str,
        report: &mut Report,
    ) {
        for note in notes {
            report.trusted_checkpoints += 1;
            match check(note, vkey) {
                Ok(CheckedCheckpoint {
                    origin: of,
                    size,
                    root,
                }) if of == origin => self.add(size, root, true),
                Ok(other) => report.problem(
                    ProblemKind::TrustedCheckpointInvalid,
                    Some(other.size),
                    format!("the checkpoint is of the log {:?}", other.origin),
                ),
                Err(error) => report.problem(ProblemKind::TrustedCheckpointInvalid, None, error),
            }
        }
    }

    /// Compares the root of the tree recomputed so far with the roots
    /// checkpoints of its size give.
    pub(super) fn check_root(&self, tree: &Frontier, report: &mut Report) {
        let Some(roots) = self.0.get(&tree.size()) else {
            return;
        };
        let root = tree.root();
        for want in roots.iter().filter(|want| want.hash != root) {
            let (kind, whose) = if want.trusted {
                (ProblemKind::TrustedRootMismatch, "a trusted checkpoint")
            } else {
                (ProblemKind::CheckpointRootMismatch, "its checkpoint")
            };
            report.problem(
                kind,
                Some(tree.size()),
                format!("the tree of this size does not have the root of {whose}"),
            );
        }
    }

    /// Reports every checkpoint that covers more than the `size` records
    /// the log holds.
    pub(super) fn check_covered(&self, size: u64, report: &mut Report) {
        for (covers, roots) in self.0.range(size + 1..) {
            for want in roots {
                let kind = if want.trusted {
                    ProblemKind::TrustedCheckpointBeyondLog
                } else {
                    ProblemKind::CheckpointBeyondLog
                };
                report.problem(
                    kind,
                    Some(*covers),
                    format!("a checkpoint covers {covers} records; the log holds {size}"),
                );
            }
        }
    }
}
