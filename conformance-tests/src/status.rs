//! What a test's run concluded.

use serde::{Deserialize, Serialize};

/// A test's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// The product did what the requirement asks.
    Pass,
    /// The product did not do what the requirement asks.
    Fail,
    /// The product met the requirement's intent in a way the profile does
    /// not name (refused, but with another status or error code).
    Warning,
    /// The requirement does not apply to this target or mode (a client
    /// requirement in a server run), or to this profile.
    NotApplicable,
    /// The requirement applies but was not exercised, for the reason given
    /// (a capability the product lacks, a setting the run was not given, a
    /// step the client never took). Keeps the run from passing.
    NotExercised,
    /// The suite itself failed (a fixture it could not make, a network
    /// fault): says nothing about the product.
    Error,
}

impl Status {
    /// Every status, in report order.
    pub const ALL: [Self; 6] = [
        Self::Pass,
        Self::Fail,
        Self::Warning,
        Self::NotApplicable,
        Self::NotExercised,
        Self::Error,
    ];

    /// The name used in every report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Warning => "WARNING",
            Self::NotApplicable => "NOT_APPLICABLE",
            Self::NotExercised => "NOT_EXERCISED",
            Self::Error => "ERROR",
        }
    }

    /// Whether the test ran and its answer was judged.
    pub fn exercised(self) -> bool {
        matches!(self, Self::Pass | Self::Warning | Self::Fail)
    }

    /// Whether this outcome keeps a run from passing.
    pub fn blocks_certification(self) -> bool {
        !matches!(self, Self::Pass | Self::Warning | Self::NotApplicable)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
