//! Sector profiles and the pure [`decide`] function.
//!
//! This is the *decide* step of the pipeline (accept → classify → **decide**
//! → record → forward). [`decide`] does no I/O and reads no clock: everything
//! it needs is in its arguments, and a denial is a value, never an error.

mod decide;
mod decision;
mod error;
pub mod profile;

pub use decide::{
    Peer, decide, decide_body_timeout, decide_body_unreadable, decide_input_error,
    decide_too_large, rules,
};
pub use decision::{Decision, Denial, RuleId, Verdict};
pub use error::ProfileError;
pub use profile::Profile;

#[cfg(test)]
mod tests;
