//! `audit verify`: proves that a log is whole and unchanged.
//!
//! It reads every record in order and checks that sequence numbers have no
//! gap, that each record is a canonical version-1 record whose leaf hash is
//! the stored one, and that every stored subtree hash recomputes
//! ([`walk`]). At every checkpoint's size it compares the recomputed root
//! with the checkpoint's, checks the checkpoint's signature, and checks that
//! checkpoints only grow ([`checkpoints`]). Checkpoints kept elsewhere
//! (`--trusted-checkpoint`) are checked the same way: a log cut short behind
//! one, or rewritten under it, fails; with witnesses named, they must carry
//! their cosignatures ([`witnessed`]).

mod checkpoints;
mod problem;
mod walk;
mod witnessed;

use serde::Serialize;

use crate::AuditError;
use crate::store::Store;
use crate::witness::WitnessKey;

pub use problem::{Problem, ProblemKind};
pub use witnessed::Witnessed;

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
    /// What each witness required cosigned (`--witness`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub witnessed: Vec<Witnessed>,
    /// Every problem, in the order found.
    pub problems: Vec<Problem>,
}

impl Report {
    fn problem(&mut self, kind: ProblemKind, seq: Option<u64>, detail: impl ToString) {
        self.problems.push(Problem {
            kind,
            seq,
            detail: detail.to_string(),
        });
    }
}

/// Verifies the log `origin` against the verifier key `vkey`, and against
/// the `trusted` checkpoint notes kept elsewhere.
pub async fn verify(
    store: &Store,
    origin: &str,
    vkey: &str,
    trusted: &[String],
) -> Result<Report, AuditError> {
    verify_witnessed(store, origin, vkey, trusted, &[]).await
}

/// [`verify`], and each of `witnesses` must have cosigned one of the
/// `trusted` checkpoints.
pub async fn verify_witnessed(
    store: &Store,
    origin: &str,
    vkey: &str,
    trusted: &[String],
    witnesses: &[WitnessKey],
) -> Result<Report, AuditError> {
    let mut report = Report {
        origin: origin.to_owned(),
        ..Report::default()
    };
    let pruned_below = store.pruned_below(origin).await?;
    let stored = match store.checkpoints(origin).await {
        Err(AuditError::Corrupt(detail)) => {
            report.problem(ProblemKind::StoreDamaged, None, detail);
            return Ok(report);
        }
        stored => stored?,
    };
    let mut expected = checkpoints::Expected::default();
    expected.read_stored(&stored, origin, vkey, &mut report);
    expected.read_trusted(trusted, origin, vkey, &mut report);
    witnessed::check_witnessed(&mut report, trusted, origin, vkey, witnesses);
    let size = walk::walk(store, origin, &expected, pruned_below, &mut report).await?;
    expected.check_covered(size, &mut report);
    report.unattested = size.saturating_sub(report.latest_checkpoint.unwrap_or(0));
    report.ok = report.problems.is_empty();
    Ok(report)
}
