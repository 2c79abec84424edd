//! `audit verify`: proves that a log is whole and unchanged.
//!
//! It reads every record in order and checks that sequence numbers have no
//! gap, that each record is a canonical version-1 record whose leaf hash is
//! the stored one, and that every stored subtree hash recomputes. At every
//! checkpoint's size it compares the recomputed root with the checkpoint's,
//! checks the checkpoint's signature, and checks that checkpoints only grow.
//! Checkpoints kept elsewhere (`--trusted-checkpoint`) are checked the same
//! way: a log cut short behind one, or rewritten under it, fails.

use std::collections::BTreeMap;

use serde::Serialize;
use tlog_tiles::{Hash, record_hash};

use crate::checkpoint::{CheckedCheckpoint, check};
use crate::merkle::{Frontier, from_blob, stored_count};
use crate::store::Store;
use crate::{AuditError, Entry};

const PAGE: u32 = 10_000;

/// What `verify` found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// The log.
    pub origin: String,
    /// Whether no problem was found.
    pub ok: bool,
    /// Records read.
    pub records: u64,
    /// Records whose content was pruned (their hashes were checked).
    pub pruned: u64,
    /// Checkpoints in the database, each checked.
    pub checkpoints: u64,
    /// Checkpoints kept elsewhere, each checked.
    pub trusted_checkpoints: u64,
    /// The size of the latest checkpoint.
    pub latest_checkpoint: Option<u64>,
    /// Records after the latest checkpoint, not yet covered by one.
    pub unattested: u64,
    /// Every problem, in the order found.
    pub problems: Vec<Problem>,
}

/// One thing wrong with the log.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// A stable name: `gap`, `bundle_invalid`, `record_missing`, `record_invalid`,
    /// `leaf_hash_mismatch`, `subtree_hash_mismatch`, `hashes_invalid`,
    /// `checkpoint_invalid`, `checkpoint_root_mismatch`,
    /// `checkpoint_shrank`, `checkpoint_beyond_log`, `trusted_checkpoint_invalid`,
    /// `trusted_root_mismatch`, `trusted_checkpoint_beyond_log`.
    pub kind: &'static str,
    /// The record or tree size concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// What exactly.
    pub detail: String,
}

impl Report {
    fn problem(&mut self, kind: &'static str, seq: Option<u64>, detail: impl Into<String>) {
        self.problems.push(Problem {
            kind,
            seq,
            detail: detail.into(),
        });
    }
}

/// A root the recomputed tree must have at some size.
struct Expected {
    root: Hash,
    trusted: bool,
}

/// Verifies the log `origin` against the verifier key `vkey`, and against
/// the `trusted` checkpoint notes kept elsewhere.
pub async fn verify(
    store: &Store,
    origin: &str,
    vkey: &str,
    trusted: &[String],
) -> Result<Report, AuditError> {
    let mut report = Report {
        origin: origin.to_owned(),
        ..Report::default()
    };
    let pruned_below = store.pruned_below(origin).await?;
    let mut expected: BTreeMap<u64, Vec<Expected>> = BTreeMap::new();

    let checkpoints = store.checkpoints(origin).await?;
    report.checkpoints = u64::try_from(checkpoints.len()).unwrap_or(u64::MAX);
    let mut previous = 0;
    for row in &checkpoints {
        if row.size < previous {
            report.problem(
                "checkpoint_shrank",
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
                expected.entry(row.size).or_default().push(Expected {
                    root: note.root,
                    trusted: false,
                });
            }
            Ok(_) => report.problem(
                "checkpoint_invalid",
                Some(row.size),
                "the signed note does not say what its row says",
            ),
            Err(error) => report.problem("checkpoint_invalid", Some(row.size), error),
        }
    }
    report.latest_checkpoint = checkpoints.iter().map(|row| row.size).max();

    for note in trusted {
        report.trusted_checkpoints += 1;
        match check(note, vkey) {
            Ok(CheckedCheckpoint {
                origin: of,
                size,
                root,
            }) if of == origin => {
                expected.entry(size).or_default().push(Expected {
                    root,
                    trusted: true,
                });
            }
            Ok(other) => report.problem(
                "trusted_checkpoint_invalid",
                Some(other.size),
                format!("the checkpoint is of the log {:?}", other.origin),
            ),
            Err(error) => report.problem("trusted_checkpoint_invalid", None, error),
        }
    }

    let mut frontier = Frontier::default();
    let mut tree_broken = false;
    let mut next = 0u64;
    loop {
        let page = match store.leaves(origin, next, PAGE).await {
            Ok(page) => page,
            Err(AuditError::Corrupt(detail)) => {
                report.problem("bundle_invalid", Some(next), detail);
                break;
            }
            Err(error) => return Err(error),
        };
        let Some(last) = page.last() else {
            break;
        };
        let after = last.seq + 1;
        for row in page {
            if row.seq != next {
                let detail = if row.seq > next {
                    format!("records {next} to {} are missing", row.seq - 1)
                } else {
                    format!("record {} comes again after record {}", row.seq, next - 1)
                };
                report.problem("gap", Some(next), detail);
                tree_broken = true;
            }
            next = row.seq + 1;
            report.records += 1;
            let Some(stored) = from_blob(&row.hashes).filter(|h| h.len() == stored_count(row.seq))
            else {
                report.problem("hashes_invalid", Some(row.seq), "stored hashes malformed");
                tree_broken = true;
                continue;
            };
            let leaf = match &row.record {
                Some(bytes) => {
                    if let Err(error) = Entry::decode(bytes) {
                        report.problem("record_invalid", Some(row.seq), error);
                    }
                    let leaf = record_hash(bytes);
                    if leaf != stored[0] {
                        report.problem(
                            "leaf_hash_mismatch",
                            Some(row.seq),
                            "the record does not hash to its stored leaf hash",
                        );
                    }
                    leaf
                }
                None if row.seq < pruned_below => {
                    report.pruned += 1;
                    stored[0]
                }
                None => {
                    report.problem("record_missing", Some(row.seq), "content removed unpruned");
                    stored[0]
                }
            };
            if tree_broken {
                continue;
            }
            let mut computed = Vec::with_capacity(stored.len());
            frontier.push(leaf, |hash| computed.push(hash));
            if computed[1..] != stored[1..] {
                report.problem(
                    "subtree_hash_mismatch",
                    Some(row.seq),
                    "a stored subtree hash does not recompute",
                );
            }
            if let Some(roots) = expected.get(&frontier.size()) {
                let root = frontier.root();
                for want in roots {
                    if want.root != root {
                        let (kind, whose) = if want.trusted {
                            ("trusted_root_mismatch", "a trusted checkpoint")
                        } else {
                            ("checkpoint_root_mismatch", "its checkpoint")
                        };
                        report.problem(
                            kind,
                            Some(frontier.size()),
                            format!("the tree of this size does not have the root of {whose}"),
                        );
                    }
                }
            }
        }
        next = after;
    }

    for (size, roots) in expected.range(next + 1..) {
        for want in roots {
            let kind = if want.trusted {
                "trusted_checkpoint_beyond_log"
            } else {
                "checkpoint_beyond_log"
            };
            report.problem(
                kind,
                Some(*size),
                format!("a checkpoint covers {size} records; the log holds {next}"),
            );
        }
    }
    report.unattested = next.saturating_sub(report.latest_checkpoint.unwrap_or(0));
    report.ok = report.problems.is_empty();
    Ok(report)
}
