use super::*;

fn result(id: &str, requirements: &[&str], status: Status) -> TestResult {
    TestResult {
        id: id.to_owned(),
        title: id.to_owned(),
        requirements: requirements.iter().map(|r| (*r).to_owned()).collect(),
        status,
        duration_ms: 0,
        messages: vec![format!("{id} was {status}")],
        evidence: Vec::new(),
        expected_failure: None,
        remedy: None,
    }
}

#[test]
fn a_run_passes_only_when_every_applicable_requirement_was_exercised() {
    let passed = Verdict::of(&[
        result("a", &["rule:a"], Status::Pass),
        result("b", &["rule:b"], Status::Warning),
        result("c", &["rule:c"], Status::NotApplicable),
    ]);
    assert_eq!(passed.outcome, Outcome::Pass);
    assert_eq!((passed.applicable, passed.exercised), (2, 2));
    assert_eq!(passed.not_applicable, 1);

    // One test of a requirement not exercised: the requirement is not.
    let partial = Verdict::of(&[
        result("a", &["rule:a"], Status::Pass),
        result("a2", &["rule:a"], Status::NotExercised),
    ]);
    assert_eq!(partial.outcome, Outcome::Incomplete);
    assert_eq!(partial.incomplete[0].requirement, "rule:a");
    assert_eq!(partial.incomplete[0].tests[0].0, "a2");

    let error = Verdict::of(&[result("a", &["rule:a"], Status::Error)]);
    assert_eq!(error.outcome, Outcome::Incomplete);

    let failed = Verdict::of(&[
        result("a", &["rule:a"], Status::Fail),
        result("b", &["rule:b"], Status::NotExercised),
    ]);
    assert_eq!(failed.outcome, Outcome::Fail);
    assert_eq!(failed.failed.len(), 1);
    assert_eq!(failed.incomplete.len(), 1);
}

#[test]
fn a_run_that_exercised_nothing_or_excused_a_failure_does_not_pass() {
    let nothing = Verdict::of(&[result("a", &["rule:a"], Status::NotApplicable)]);
    assert_eq!(nothing.outcome, Outcome::Incomplete);
    assert!(
        nothing.line().contains("nothing exercised"),
        "{}",
        nothing.line()
    );
    assert_eq!(Verdict::of(&[]).outcome, Outcome::Incomplete);

    let mut excused = result("a", &["rule:a"], Status::Fail);
    excused.expected_failure = Some("known".to_owned());
    let verdict = Verdict::of(&[excused]);
    assert_eq!(verdict.outcome, Outcome::Incomplete);
}
