//! Which tests a run takes, and what that makes of the run: `--only` and
//! `--skip` (globs on ids) narrow the catalog, an expected-failure list
//! excuses failures. Either makes the run not for certification.

use std::collections::BTreeMap;

use sectorgate_policy::profile::Glob;

/// The narrowing of a run.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only tests whose id matches one of these globs.
    pub only: Vec<String>,
    /// No test whose id matches one of these globs.
    pub skip: Vec<String>,
    /// Tests expected to fail, with the reason.
    pub expected_failures: BTreeMap<String, String>,
}

impl Selection {
    /// Whether the test `id` is run.
    pub fn admits(&self, id: &str) -> bool {
        let matches = |globs: &[String]| globs.iter().any(|glob| Glob::new(glob).matches(id));
        (self.only.is_empty() || matches(&self.only)) && !matches(&self.skip)
    }

    /// Why the test `id` is expected to fail, if it is.
    pub fn expected_failure(&self, id: &str) -> Option<String> {
        self.expected_failures.get(id).cloned()
    }

    /// Why a run so narrowed cannot serve as certification (none: it can).
    pub fn not_for_certification(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if !self.expected_failures.is_empty() {
            reasons.push(format!(
                "an expected-failure list of {} tests was used",
                self.expected_failures.len()
            ));
        }
        if !self.only.is_empty() || !self.skip.is_empty() {
            reasons.push(format!(
                "tests were filtered (only: {:?}, skip: {:?})",
                self.only, self.skip
            ));
        }
        reasons
    }
}
