//! Running one test of the catalog: whether it applies here and the run has
//! what it needs, then its case, scenario or homeserver probe, timed, with
//! its exchanges as evidence.

use std::time::Instant;

use sectorgate_policy::profile::parse_version;

use super::product::Product;
use super::{Bench, case, homeserver, scenarios};
use crate::catalog::{Mode, Need, Source, TestSpec};
use crate::report::{Exchange, Remedy, TestResult};
use crate::status::Status;

/// Runs `test`, or says why it is not run here.
pub(super) fn run_test(bench: &Bench<'_>, product: &Product, test: &TestSpec) -> TestResult {
    if let Some(not_run) = not_run(bench, product, test) {
        return not_run;
    }
    let started = Instant::now();
    let mut trail = Vec::new();
    let (status, messages, remedy) = exercise(bench, product, test, &mut trail);
    let mut done = TestResult::of(test, status, messages, trail);
    done.remedy = remedy;
    done.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    done
}

/// `test`'s result with no exchanges when it is not run here: it does not
/// look at this target in active mode, is not exercised as written, or
/// needs what the run or the product lacks.
fn not_run(bench: &Bench<'_>, product: &Product, test: &TestSpec) -> Option<TestResult> {
    let target = bench.options.target;
    if !test.targets.contains(&target) || !test.modes.contains(&Mode::Active) {
        let why = format!(
            "this test does not look at a {} in active mode",
            target.as_str()
        );
        return Some(TestResult::of(
            test,
            Status::NotApplicable,
            vec![why],
            Vec::new(),
        ));
    }
    if let Some(why) = &test.not_exercised {
        return Some(TestResult::of(
            test,
            Status::NotExercised,
            vec![why.clone()],
            Vec::new(),
        ));
    }
    let (need, why) = test
        .needs
        .iter()
        .find_map(|need| lacking(bench, product, need).map(|why| (need, why)))?;
    Some(TestResult::of(
        test,
        Status::NotExercised,
        vec![format!("needs {need}: {why}")],
        Vec::new(),
    ))
}

/// Why the run or the product lacks `need`, when it does.
fn lacking(bench: &Bench<'_>, product: &Product, need: &Need) -> Option<String> {
    let missing = match need {
        Need::RoomVersion(version) => !product.room_versions.contains(version),
        Need::Federation => bench.federation.is_none(),
        Need::FederatedPeers => bench.member.is_none(),
        Need::Appservice => bench.options.appservices.is_empty(),
        Need::SpecVersion(version) => parse_version(version)
            .is_none_or(|wanted| !product.spec_versions.iter().any(|have| *have >= wanted)),
    };
    missing.then(|| why_lacking(need))
}

/// Why a run lacks `need`: what it was not given, or what the product does
/// not offer.
fn why_lacking(need: &Need) -> String {
    match need {
        Need::Federation => "the run was given no federation URL (--federation-url)".to_owned(),
        Need::FederatedPeers => "the run was given no federation the target is set \
            up with (--federation-url, --member-peer, --other-member, \
            --wildcard-member; see docs/conformance.md)"
            .to_owned(),
        Need::Appservice => "the run was given no application service registered \
            on the homeserver (--appservice)"
            .to_owned(),
        Need::RoomVersion(version) => {
            format!("the product does not offer room version {version} (/capabilities)")
        }
        Need::SpecVersion(version) => {
            format!("the product does not support Matrix {version} or later (/versions)")
        }
    }
}

/// Runs `test`'s case, scenario or homeserver probe: its status, what it
/// rests on and, for a homeserver setting not met, what to change.
fn exercise(
    bench: &Bench<'_>,
    product: &Product,
    test: &TestSpec,
    trail: &mut Vec<Exchange>,
) -> (Status, Vec<String>, Option<Remedy>) {
    let (status, messages) = match &test.source {
        Source::Case { case, .. } => case::run(bench, product, case, trail),
        Source::Scenario(scenario) => scenarios::run(bench, product, test, scenario, trail),
        Source::Homeserver(setting) => return homeserver::run(bench, product, setting, trail),
        Source::Client(_) => (
            Status::NotApplicable,
            vec!["a client test: run certify-client".to_owned()],
        ),
    };
    (status, messages, None)
}
