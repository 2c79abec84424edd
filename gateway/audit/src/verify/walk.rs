//! The walk through a log's records, in order: sequence numbers without
//! gaps, canonical records that hash to their stored leaf hashes, stored
//! subtree hashes that recompute, and the roots checkpoints expect.

use tlog_tiles::{Hash, record_hash};

use super::checkpoints::Expected;
use super::{ProblemKind, Report};
use crate::merkle::{Frontier, from_blob, stored_count};
use crate::store::{LeafRow, Store};
use crate::{AuditError, Entry};

/// Records read at a time.
const PAGE: u32 = 10_000;

/// Reads every record of `origin`, checking each and the tree they make
/// against `expected`; returns the log's size (one past the last record).
/// Records below `pruned_below` may have lost their content.
pub(super) async fn walk(
    store: &Store,
    origin: &str,
    expected: &Expected,
    pruned_below: u64,
    report: &mut Report,
) -> Result<u64, AuditError> {
    let mut walk = Walk {
        report,
        expected,
        pruned_below,
        tree: Frontier::default(),
        tree_broken: false,
        next: 0,
    };
    loop {
        let page = match store.leaves(origin, walk.next, PAGE).await {
            Ok(page) => page,
            Err(AuditError::Corrupt(detail)) => {
                let at = Some(walk.next);
                walk.report.problem(ProblemKind::BundleInvalid, at, detail);
                break;
            }
            Err(error) => return Err(error),
        };
        let Some(last) = page.last() else {
            break;
        };
        let after = last.seq + 1;
        for row in page {
            walk.record(row);
        }
        walk.next = after;
    }
    Ok(walk.next)
}

/// Where the walk is.
struct Walk<'a> {
    report: &'a mut Report,
    expected: &'a Expected,
    pruned_below: u64,
    /// The tree recomputed from the records read.
    tree: Frontier,
    /// Whether a gap or malformed hashes keep the tree from being recomputed.
    tree_broken: bool,
    /// The sequence number the next record should have.
    next: u64,
}

impl Walk<'_> {
    /// Checks one record and adds it to the tree.
    fn record(&mut self, row: LeafRow) {
        self.check_sequence(row.seq);
        self.report.records += 1;
        let Some(stored) = from_blob(&row.hashes).filter(|h| h.len() == stored_count(row.seq))
        else {
            let seq = Some(row.seq);
            self.report
                .problem(ProblemKind::HashesInvalid, seq, "stored hashes malformed");
            self.tree_broken = true;
            return;
        };
        let leaf = self.leaf(row.seq, row.record.as_deref(), stored[0]);
        if !self.tree_broken {
            self.grow(row.seq, leaf, &stored);
        }
    }

    /// Reports a record that does not come next; the tree breaks there.
    fn check_sequence(&mut self, seq: u64) {
        let next = self.next;
        if seq != next {
            let detail = if seq > next {
                format!("records {next} to {} are missing", seq - 1)
            } else {
                format!("record {seq} comes again after record {}", next - 1)
            };
            self.report.problem(ProblemKind::Gap, Some(next), detail);
            self.tree_broken = true;
        }
        self.next = seq + 1;
    }

    /// The leaf hash of record `seq`: of its content, which must be a
    /// canonical record hashing to the `stored` leaf hash, or the stored
    /// one when the content was pruned.
    fn leaf(&mut self, seq: u64, record: Option<&[u8]>, stored: Hash) -> Hash {
        match record {
            Some(bytes) => {
                if let Err(error) = Entry::decode_leaf(bytes) {
                    self.report
                        .problem(ProblemKind::RecordInvalid, Some(seq), error);
                }
                let leaf = record_hash(bytes);
                if leaf != stored {
                    self.report.problem(
                        ProblemKind::LeafHashMismatch,
                        Some(seq),
                        "the record does not hash to its stored leaf hash",
                    );
                }
                leaf
            }
            None if seq < self.pruned_below => {
                self.report.pruned += 1;
                stored
            }
            None => {
                let at = Some(seq);
                self.report
                    .problem(ProblemKind::RecordMissing, at, "content removed unpruned");
                stored
            }
        }
    }

    /// Adds record `seq`'s leaf to the tree: the subtree hashes it
    /// completes must be the `stored` ones, and the tree's root the one
    /// checkpoints of its size give.
    fn grow(&mut self, seq: u64, leaf: Hash, stored: &[Hash]) {
        let mut computed = Vec::with_capacity(stored.len());
        self.tree.push(leaf, |hash| computed.push(hash));
        if computed[1..] != stored[1..] {
            self.report.problem(
                ProblemKind::SubtreeHashMismatch,
                Some(seq),
                "a stored subtree hash does not recompute",
            );
        }
        self.expected.check_root(&self.tree, self.report);
    }
}
