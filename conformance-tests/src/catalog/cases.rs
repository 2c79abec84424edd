//! Decision cases as catalog tests. A profile's own cases all apply; a case
//! of a profile it extends applies only while it still holds under this
//! profile (a child may have changed the rule it shows).

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use sectorgate_policy::cases::{self, Case};
use sectorgate_policy::profile::ProfileSource;
use sectorgate_policy::{Profile, rules};

use super::{Catalog, CatalogError, Mode, Need, Source, Target, TestSpec, slug};

/// The tests drawn from the cases of `chain` (child first).
pub(super) fn tests(
    profile: &Profile,
    chain: &[(String, ProfileSource)],
) -> Result<Vec<TestSpec>, CatalogError> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        });
    let mut tests = Vec::new();
    let mut ids = BTreeSet::new();
    for (depth, (id, source)) in chain.iter().enumerate() {
        let files = cases::load(source).map_err(|problems| {
            CatalogError::Cases(
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        for (label, file_cases) in files {
            let file = label.rsplit('/').next().unwrap_or(&label);
            let stem = file.strip_suffix(".yaml").unwrap_or(file);
            for case in file_cases {
                let inherited = depth > 0;
                if inherited && !still_holds(&case, profile, now_ms) {
                    continue;
                }
                let mut test_id = format!("case.{id}.{}.{}", slug(stem), slug(&case.name));
                let base = test_id.clone();
                let mut n = 2;
                while !ids.insert(test_id.clone()) {
                    test_id = format!("{base}_{n}");
                    n += 1;
                }
                tests.push(spec(profile, test_id, id, file, case));
            }
        }
    }
    Ok(tests)
}

fn still_holds(case: &Case, profile: &Profile, now_ms: u64) -> bool {
    case.decide(profile, now_ms)
        .and_then(|decision| case.check(&decision))
        .is_ok()
}

fn spec(profile: &Profile, id: String, owner: &str, file: &str, case: Case) -> TestSpec {
    let mut needs = Vec::new();
    if case.expect.verdict == "allow"
        && let Some(version) = case
            .request
            .body
            .as_ref()
            .and_then(|body| body.get("room_version"))
            .and_then(|version| version.as_str())
    {
        needs.push(Need::RoomVersion(version.to_owned()));
    }
    // Authenticated media came with v1.11.
    if case.request.path.starts_with("/_matrix/client/v1/media/") {
        needs.push(Need::SpecVersion("v1.11"));
    }
    if case.context.federation.is_some() {
        needs.push(Need::FederatedPeers);
    }
    if case.context.appservice.is_some() {
        needs.push(Need::Appservice);
    }
    // A homeserver's own pages are the homeserver's business: that the
    // gateway passes them on says nothing of a server on its own.
    let targets = if case.expect.rule == rules::HOMESERVER_PATH.as_str() {
        vec![Target::Gateway]
    } else {
        vec![Target::Server, Target::Gateway]
    };
    TestSpec {
        id,
        title: case.name.clone(),
        requirements: Catalog::references(profile, &case.expect.rule),
        targets,
        modes: vec![Mode::Active],
        needs,
        not_exercised: None,
        source: Source::Case {
            profile: owner.to_owned(),
            file: format!("cases/{file}"),
            case: Box::new(case),
        },
    }
}
