//! What a run concludes as a whole, requirement by requirement: PASS only
//! when every requirement that applies was exercised and met; FAIL when one
//! was not met; INCOMPLETE when none failed but some could not be exercised
//! (or the suite failed), with the list. A run that exercised nothing is
//! INCOMPLETE, never PASS.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::report::TestResult;
use crate::status::Status;

/// The run's conclusion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    /// Every applicable requirement was exercised and met.
    Pass,
    /// None failed, but some were not exercised.
    Incomplete,
    /// At least one requirement was not met.
    Fail,
}

impl Outcome {
    /// The name used in every report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Incomplete => "INCOMPLETE",
            Self::Fail => "FAIL",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A requirement that kept the run from passing, and the tests why.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Unmet {
    /// The requirement.
    pub requirement: String,
    /// Its status over its tests.
    pub status: Status,
    /// The tests that kept it from passing: id, status, first message.
    pub tests: Vec<(String, Status, String)>,
}

/// The run's conclusion and what it rests on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verdict {
    /// PASS, INCOMPLETE or FAIL.
    pub outcome: Outcome,
    /// Requirements that apply to this run.
    pub applicable: usize,
    /// Of those, how many were exercised and met.
    pub exercised: usize,
    /// Requirements that do not apply to this run.
    pub not_applicable: usize,
    /// Requirements not met (FAIL).
    pub failed: Vec<Unmet>,
    /// Requirements not exercised, or whose tests the suite could not run.
    pub incomplete: Vec<Unmet>,
}

/// A requirement's status over the tests that cover it: FAIL over ERROR
/// over NOT_EXERCISED over WARNING over PASS over NOT_APPLICABLE. A test on
/// the expected-failure list that failed counts as not exercised.
pub fn requirement_status(results: &[&TestResult]) -> Status {
    let rank = |status: Status| match status {
        Status::Fail => 5,
        Status::Error => 4,
        Status::NotExercised => 3,
        Status::Warning => 2,
        Status::Pass => 1,
        Status::NotApplicable => 0,
    };
    results
        .iter()
        .map(|result| counted(result))
        .max_by_key(|status| rank(*status))
        .unwrap_or(Status::NotApplicable)
}

/// A test's status as the verdict counts it.
fn counted(result: &TestResult) -> Status {
    match (result.status, &result.expected_failure) {
        (Status::Fail | Status::Error, Some(_)) => Status::NotExercised,
        (status, _) => status,
    }
}

impl Verdict {
    /// The verdict over `results`.
    pub fn of(results: &[TestResult]) -> Self {
        let mut by_requirement: BTreeMap<&str, Vec<&TestResult>> = BTreeMap::new();
        for result in results {
            for requirement in &result.requirements {
                by_requirement
                    .entry(requirement.as_str())
                    .or_default()
                    .push(result);
            }
        }
        let mut verdict = Self {
            outcome: Outcome::Pass,
            applicable: 0,
            exercised: 0,
            not_applicable: 0,
            failed: Vec::new(),
            incomplete: Vec::new(),
        };
        for (requirement, tests) in by_requirement {
            let status = requirement_status(&tests);
            let unmet = || Unmet {
                requirement: requirement.to_owned(),
                status,
                tests: tests
                    .iter()
                    .filter(|result| counted(result).blocks_certification())
                    .map(|result| {
                        (
                            result.id.clone(),
                            result.status,
                            result.messages.first().cloned().unwrap_or_default(),
                        )
                    })
                    .collect(),
            };
            match status {
                Status::NotApplicable => verdict.not_applicable += 1,
                Status::Pass | Status::Warning => {
                    verdict.applicable += 1;
                    verdict.exercised += 1;
                }
                Status::Fail => {
                    verdict.applicable += 1;
                    verdict.failed.push(unmet());
                }
                Status::Error | Status::NotExercised => {
                    verdict.applicable += 1;
                    verdict.incomplete.push(unmet());
                }
            }
        }
        verdict.outcome = if !verdict.failed.is_empty() {
            Outcome::Fail
        } else if !verdict.incomplete.is_empty() || verdict.exercised == 0 {
            Outcome::Incomplete
        } else {
            Outcome::Pass
        };
        verdict
    }

    /// One line: the outcome and the counts it rests on.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{}: {} of {} applicable requirements exercised and met",
            self.outcome, self.exercised, self.applicable
        );
        if !self.failed.is_empty() {
            line.push_str(&format!(", {} failed", self.failed.len()));
        }
        if !self.incomplete.is_empty() {
            line.push_str(&format!(", {} not exercised", self.incomplete.len()));
        }
        if self.exercised == 0 {
            line.push_str(", nothing exercised");
        }
        line.push_str(&format!(" ({} not applicable)", self.not_applicable));
        line
    }
}

#[cfg(test)]
mod tests;
