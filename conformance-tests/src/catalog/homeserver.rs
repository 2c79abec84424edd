//! The homeserver settings a profile depends on (`homeserver_settings` in
//! `profile.yaml`) as catalog tests: each is probed black-box, through the
//! target, and covers the setting (`homeserver:<id>`) and its public
//! requirements.

use sectorgate_policy::Profile;

use super::{Mode, Source, Target, TestSpec, slug};

/// The tests of `profile`'s homeserver settings, in the profile's order.
pub(super) fn tests(profile: &Profile) -> Vec<TestSpec> {
    profile
        .homeserver_settings
        .iter()
        .map(|setting| {
            let mut requirements = vec![format!("homeserver:{}", setting.id)];
            requirements.extend(setting.requirements.iter().cloned());
            TestSpec {
                id: format!("homeserver.{}", slug(&setting.id)),
                title: format!("the homeserver is set up so that {}", setting.reason),
                requirements,
                targets: vec![Target::Server, Target::Gateway],
                modes: vec![Mode::Active],
                needs: Vec::new(),
                not_exercised: None,
                source: Source::Homeserver(setting.clone()),
            }
        })
        .collect()
}
