//! What the homeserver behind the gateway must be set up to do, because
//! the gateway cannot do it for it: the `homeserver_settings:` section and
//! its resolution. Each entry names the requirements it serves, the
//! black-box probe that shows it ([`Probe`], run by the conformance suite)
//! and the setting to change. There is no check in `decide`.
//!
//! Entries merge by id, the child's winning; an entry of `null` drops the
//! parent's (a profile that refuses what the probe needs must drop it,
//! which loading checks).

use std::collections::BTreeMap;

use sectorgate_action::Endpoint;
use serde::Deserialize;

use super::endpoints::Endpoints;
use crate::Problem;
use crate::profile::{Effect, Link, is_reference};

/// `homeserver_settings:` entry id → the entry (`null`: dropped).
pub(crate) type HomeserverSettingsFile = BTreeMap<String, Option<HomeserverSettingFile>>;

/// One entry of `homeserver_settings:`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HomeserverSettingFile {
    /// The public requirements it serves (`gematik:A_25325-01`).
    requirements: Vec<String>,
    /// The probe that shows it, one of [`Probe::ALL`].
    probe: String,
    /// What the requirement asks of the homeserver, in words.
    reason: String,
    /// The setting to change, by the name a homeserver implementation
    /// reports (`Synapse`).
    #[serde(default)]
    settings: BTreeMap<String, String>,
    /// The change in words, for any other homeserver.
    generic: String,
}

/// A black-box probe the conformance suite knows how to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Probe {
    /// A user (not an admin) publishes a public room in the room directory;
    /// it is then listed by `/publicRooms`.
    PublishedRoomListed,
    /// The user directory finds a local user who shares no room with the
    /// searcher and is in no public room.
    DirectoryFindsUnsharedLocalUser,
    /// Media uploaded now is served by the legacy, unauthenticated
    /// `/_matrix/media/v3/download/…`.
    LegacyMediaServed,
    /// None: what the homeserver does cannot be shown by a probe the suite
    /// has (it happens in the homeserver, in a module, after the fact). The
    /// suite reports it as not exercised, with the setting to check.
    Unprobed,
}

impl Probe {
    /// Every probe kind.
    pub const ALL: [Self; 4] = [
        Self::PublishedRoomListed,
        Self::DirectoryFindsUnsharedLocalUser,
        Self::LegacyMediaServed,
        Self::Unprobed,
    ];

    /// Its name in a profile.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PublishedRoomListed => "published_room_listed",
            Self::DirectoryFindsUnsharedLocalUser => "directory_finds_unshared_local_user",
            Self::LegacyMediaServed => "legacy_media_served",
            Self::Unprobed => "none",
        }
    }

    /// The probe named `name`.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|probe| probe.as_str() == name)
    }

    /// The client endpoints it calls (`client.<name>`): a profile that
    /// refuses one cannot ask for the setting.
    pub fn endpoints(self) -> &'static [&'static str] {
        match self {
            Self::PublishedRoomListed => &[
                "create_room",
                "set_room_visibility",
                "get_public_rooms_filtered",
            ],
            Self::DirectoryFindsUnsharedLocalUser => &["joined_rooms", "search_users"],
            Self::LegacyMediaServed => &["create_content", "get_content"],
            Self::Unprobed => &[],
        }
    }
}

/// A homeserver setting a profile depends on.
#[derive(Clone, Debug)]
pub struct HomeserverSetting {
    /// Its stable id (`tim.public_rooms_listed`).
    pub id: String,
    /// The public requirements it serves.
    pub requirements: Vec<String>,
    /// The probe that shows it.
    pub probe: Probe,
    /// What the requirement asks of the homeserver.
    pub reason: String,
    /// The setting to change, by homeserver implementation.
    pub settings: BTreeMap<String, String>,
    /// The change in words, for any other homeserver.
    pub generic: String,
}

impl HomeserverSetting {
    /// The change to make on a homeserver that names itself
    /// `implementation`: the implementation's own setting (with its name
    /// as the profile writes it) when the profile gives one, else `None`
    /// and the generic wording.
    pub fn change_for(&self, implementation: Option<&str>) -> (Option<&str>, &str) {
        implementation
            .and_then(|name| {
                self.settings
                    .iter()
                    .find(|(known, _)| known.eq_ignore_ascii_case(name))
            })
            .map_or((None, self.generic.as_str()), |(known, setting)| {
                (Some(known.as_str()), setting.as_str())
            })
    }
}

/// Resolves `homeserver_settings`: merged by id (child first, `null`
/// drops), each probe known, each requirement a reference, and no probe
/// needing an endpoint the profile refuses.
pub(crate) fn resolve(
    problems: &mut Vec<Problem>,
    chain: &[Link],
    endpoints: &Endpoints,
) -> Vec<HomeserverSetting> {
    let mut merged: BTreeMap<&str, Option<(&HomeserverSettingFile, &Link)>> = BTreeMap::new();
    for link in chain.iter().rev() {
        for (id, entry) in &link.file.homeserver_settings {
            merged.insert(id, entry.as_ref().map(|entry| (entry, link)));
        }
    }
    merged
        .into_iter()
        .filter_map(|(id, entry)| entry.map(|(entry, link)| (id, entry, link)))
        .filter_map(|(id, entry, link)| {
            let mut at = Problems {
                problems,
                file: link.source.label("profile.yaml"),
                path: format!("homeserver_settings.{id}"),
            };
            resolve_one(&mut at, id, entry, endpoints)
        })
        .collect()
}

/// Where an entry's problems go.
struct Problems<'p> {
    problems: &'p mut Vec<Problem>,
    file: String,
    path: String,
}

impl Problems<'_> {
    fn push(&mut self, field: &str, message: String) {
        let path = if field.is_empty() {
            self.path.clone()
        } else {
            format!("{}.{field}", self.path)
        };
        self.problems
            .push(Problem::new(self.file.clone(), path, message));
    }
}

fn resolve_one(
    at: &mut Problems<'_>,
    id: &str,
    entry: &HomeserverSettingFile,
    endpoints: &Endpoints,
) -> Option<HomeserverSetting> {
    if entry.requirements.is_empty() {
        at.push("requirements", "names no requirement".to_owned());
    }
    for reference in &entry.requirements {
        if !is_reference(reference) {
            at.push(
                "requirements",
                format!("{reference:?} is not a reference like gematik:A_26344"),
            );
        }
    }
    if entry.generic.trim().is_empty() {
        at.push("generic", "says nothing".to_owned());
    }
    let Some(probe) = Probe::named(&entry.probe) else {
        let known: Vec<&str> = Probe::ALL.iter().map(|probe| probe.as_str()).collect();
        at.push(
            "probe",
            format!(
                "unknown probe kind {:?} (known: {})",
                entry.probe,
                known.join(", ")
            ),
        );
        return None;
    };
    for name in probe.endpoints() {
        if let Some(by) = refused_by(endpoints, name) {
            at.push(
                "probe",
                format!(
                    "its probe {} needs client.{name}, which {by} refuses; drop the \
                     entry (`{id}: null`) where the endpoint is refused",
                    probe.as_str()
                ),
            );
        }
    }
    Some(HomeserverSetting {
        id: id.to_owned(),
        requirements: entry.requirements.clone(),
        probe,
        reason: entry.reason.clone(),
        settings: entry.settings.clone(),
        generic: entry.generic.clone(),
    })
}

/// What refuses the client endpoint `name` (its enforced rule, or the
/// profile's default), if anything does.
fn refused_by(endpoints: &Endpoints, name: &'static str) -> Option<String> {
    match endpoints.by_endpoint.get(&Endpoint::client(name)) {
        Some(index) => endpoints
            .rules
            .get(*index)
            .filter(|rule| rule.effect == Effect::Deny && !rule.shadow)
            .map(|rule| format!("rule {}", rule.id)),
        None => (endpoints.default == Effect::Deny).then(|| "the profile's default".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use sectorgate_action::Catalog;

    use super::*;
    use crate::Profile;

    /// A profile folder `p` holding `yaml`, in a scratch folder of its own.
    fn folder(name: &str, yaml: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sectorgate-hs-settings-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("p")).expect("mkdir");
        std::fs::write(dir.join("p/profile.yaml"), yaml).expect("write");
        dir.join("p")
    }

    fn problems(path: &Path) -> Vec<Problem> {
        match Profile::from_dir(path) {
            Ok(profile) => panic!("profile {} loaded", profile.id),
            Err(error) => error.problems(),
        }
    }

    const ENTRY: &str = "homeserver_settings:\n  x.listed:\n    requirements: [\"gematik:A_1\"]\n    \
        probe: PROBE\n    reason: r\n    settings: {Synapse: \"a: b\"}\n    generic: change it\n";

    #[test]
    fn tim_pro_names_three_settings_and_epa_drops_the_directories() {
        let pro = Profile::bundled("healthcare-tim-pro").expect("pro");
        let probes: Vec<Probe> = pro.homeserver_settings.iter().map(|s| s.probe).collect();
        assert_eq!(
            probes,
            [
                Probe::LegacyMediaServed,
                Probe::PublishedRoomListed,
                Probe::DirectoryFindsUnsharedLocalUser
            ]
        );
        let epa = Profile::bundled("healthcare-tim-epa").expect("epa");
        let ids: Vec<&str> = epa
            .homeserver_settings
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(ids, ["tim.legacy_media_served"]);
        assert!(
            Profile::bundled("base")
                .expect("base")
                .homeserver_settings
                .is_empty()
        );
    }

    #[test]
    fn the_change_is_the_implementations_own_setting_or_the_generic_wording() {
        let pro = Profile::bundled("healthcare-tim-pro").expect("pro");
        let media = pro
            .homeserver_settings
            .iter()
            .find(|s| s.probe == Probe::LegacyMediaServed)
            .expect("the media setting");
        assert_eq!(
            media.change_for(Some("synapse")),
            (Some("Synapse"), "enable_authenticated_media: false")
        );
        assert_eq!(
            media.change_for(Some("Conduit")),
            (None, media.generic.as_str())
        );
        assert_eq!(media.change_for(None), (None, media.generic.as_str()));
    }

    #[test]
    fn an_unknown_probe_kind_is_a_load_error_naming_the_known_ones() {
        let path = folder(
            "unknown",
            &format!("id: p\ntitle: t\n{}", ENTRY.replace("PROBE", "pings")),
        );
        let found = problems(&path);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "homeserver_settings.x.listed.probe");
        assert!(
            found[0].message.contains("unknown probe kind \"pings\""),
            "{found:?}"
        );
        assert!(
            found[0].message.contains("legacy_media_served"),
            "{found:?}"
        );
    }

    #[test]
    fn a_bad_reference_and_an_empty_wording_are_load_errors() {
        let yaml = ENTRY
            .replace("PROBE", "legacy_media_served")
            .replace("gematik:A_1", "A_1")
            .replace("change it", "\"\"");
        let found = problems(&folder(
            "bad",
            &format!("id: p\ntitle: t\nextends: base\n{yaml}"),
        ));
        let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "homeserver_settings.x.listed.requirements",
                "homeserver_settings.x.listed.generic"
            ]
        );
    }

    #[test]
    fn a_profile_refusing_what_a_probe_needs_must_drop_the_setting() {
        let refusing = "id: p\ntitle: t\nextends: healthcare-tim-pro\nendpoints:\n  rules:\n    \
            - {id: p.no_directory, verdict: deny, endpoints: [client.search_users]}\n";
        let found = problems(&folder("refusing", refusing));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].path,
            "homeserver_settings.tim.user_directory_all_users.probe"
        );
        assert!(
            found[0].message.contains("rule p.no_directory"),
            "{found:?}"
        );
        let dropping =
            format!("{refusing}homeserver_settings:\n  tim.user_directory_all_users: null\n");
        let profile = Profile::from_dir(&folder("dropping", &dropping)).expect("loads");
        assert_eq!(profile.homeserver_settings.len(), 2);
    }

    #[test]
    fn every_probe_calls_endpoints_of_the_catalog() {
        let catalog = Catalog::global();
        for probe in Probe::ALL {
            assert_eq!(Probe::named(probe.as_str()), Some(probe));
            for name in probe.endpoints() {
                assert!(
                    catalog.endpoints().any(|e| e == Endpoint::client(name)),
                    "{} names client.{name}, which the catalog does not know",
                    probe.as_str()
                );
            }
        }
    }
}
