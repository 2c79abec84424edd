//! `audit verify --witness`: the checkpoints kept elsewhere must carry a
//! valid cosignature of each witness named; the largest so cosigned is
//! reported (the log up to it cannot have been rewritten without the
//! witness refusing).

use serde::Serialize;

use super::{ProblemKind, Report};
use crate::checkpoint::check;
use crate::witness::{WitnessKey, cosigned_by};

/// What one witness cosigned of the log.
#[derive(Clone, Debug, Serialize)]
pub struct Witnessed {
    /// The witness's verifier key.
    pub witness: String,
    /// The largest checkpoint it cosigned, if any.
    pub size: Option<u64>,
    /// When it cosigned that one (POSIX seconds).
    pub time: Option<u64>,
}

/// Looks for each witness's cosignatures on the `trusted` checkpoint
/// notes of the log `origin` (signed by `vkey`).
pub(super) fn check_witnessed(
    report: &mut Report,
    trusted: &[String],
    origin: &str,
    vkey: &str,
    witnesses: &[WitnessKey],
) {
    for witness in witnesses {
        let mut best: Option<(u64, u64)> = None;
        for note in trusted {
            let Ok(checked) = check(note, vkey) else {
                continue;
            };
            if checked.origin != origin {
                continue;
            }
            match cosigned_by(note, witness) {
                Ok(Some(time)) if best.is_none_or(|(size, _)| checked.size > size) => {
                    best = Some((checked.size, time));
                }
                Ok(_) => {}
                Err(error) => {
                    report.problem(ProblemKind::CosignatureInvalid, Some(checked.size), error)
                }
            }
        }
        if best.is_none() {
            report.problem(
                ProblemKind::NotWitnessed,
                None,
                format!(
                    "no checkpoint given carries a cosignature of {}",
                    witness.name()
                ),
            );
        }
        report.witnessed.push(Witnessed {
            witness: witness.vkey().to_owned(),
            size: best.map(|(size, _)| size),
            time: best.map(|(_, time)| time),
        });
    }
}
