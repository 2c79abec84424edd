//! The catalog: every test of a profile, with a stable id, the requirements
//! it covers, what it targets and what it needs.
//!
//! Tests come from three places: the profile's decision cases (and those
//! of the profiles it extends that still hold under it), the scenarios
//! built into the suite for rules a single request cannot show (a user's
//! own invite settings, a federation peer), and the homeserver settings the
//! profile depends on, each probed black-box.

mod cases;
pub mod client;
mod homeserver;
mod scenarios;

use std::fmt;

use sectorgate_policy::Profile;
use sectorgate_policy::cases::Case;
use sectorgate_policy::profile::{HomeserverSetting, ProfileSource};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use scenarios::Scenario;

/// What a test looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A Matrix client.
    Client,
    /// A homeserver, with or without a gateway in front.
    Server,
    /// A homeserver behind sectorgate: the answers also name the rule.
    Gateway,
}

impl Target {
    /// The name on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Server => "server",
            Self::Gateway => "gateway",
        }
    }
}

/// How a test runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The suite sends requests itself.
    Active,
    /// The suite reads what a client sent through the gateway.
    Passive,
}

impl Mode {
    /// The name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Passive => "passive",
        }
    }
}

/// A capability of the product under test that a test needs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// A room version the server offers (`/capabilities`).
    RoomVersion(String),
    /// A specification version the server supports (`/versions`), or a
    /// later one.
    SpecVersion(&'static str),
    /// The federation API, reachable by the suite's peer.
    Federation,
    /// The target federated with the suite's peers as the conformance
    /// guide sets it up (cases whose decision rests on the federation
    /// allowlist).
    FederatedPeers,
    /// An application service registered on the homeserver for the run
    /// (cases about bridges).
    Appservice,
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RoomVersion(version) => write!(f, "room_version:{version}"),
            Self::SpecVersion(version) => write!(f, "spec:{version}"),
            Self::Federation => f.write_str("federation"),
            Self::FederatedPeers => f.write_str("federated_peers"),
            Self::Appservice => f.write_str("appservice"),
        }
    }
}

impl Serialize for Need {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Where a test comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A decision case, from the named profile's case file.
    Case {
        /// The profile whose folder holds the case.
        profile: String,
        /// The case file, inside that folder.
        file: String,
        /// The case.
        case: Box<Case>,
    },
    /// A scenario built into the suite.
    Scenario(Scenario),
    /// A check of client certification.
    Client(client::Check),
    /// A homeserver setting the profile depends on, probed black-box.
    Homeserver(HomeserverSetting),
}

/// One test.
#[derive(Clone, Debug, Serialize)]
pub struct TestSpec {
    /// Stable id: `case.<profile>.<file>.<name>`, `scenario.<name>` or
    /// `homeserver.<setting>`.
    pub id: String,
    /// What the test shows.
    pub title: String,
    /// The requirements covered: `rule:<rule id>` (or, for a homeserver
    /// setting, `homeserver:<setting id>`), then the public references the
    /// profile gives for it (`gematik:A_26344`).
    pub requirements: Vec<String>,
    /// What it can look at.
    pub targets: Vec<Target>,
    /// How it can run.
    pub modes: Vec<Mode>,
    /// Capabilities the product and the run must offer, or the test is
    /// not exercised.
    pub needs: Vec<Need>,
    /// Why the suite cannot exercise the test black-box, when it cannot:
    /// the test applies, but ends NOT_EXERCISED with this reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_exercised: Option<String>,
    /// Where it comes from.
    #[serde(skip)]
    pub source: Source,
}

impl TestSpec {
    /// The rule id the test is about.
    pub fn rule(&self) -> &str {
        self.requirements
            .first()
            .and_then(|reference| reference.strip_prefix("rule:"))
            .unwrap_or_default()
    }
}

/// A profile's catalog.
#[derive(Debug)]
pub struct Catalog {
    /// The profile, resolved.
    pub profile: Profile,
    /// SHA-256 over the files of the profile and every profile it extends.
    pub profile_hash: String,
    /// The tests, cases first, in a stable order.
    pub tests: Vec<TestSpec>,
}

/// A catalog that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The profile does not load.
    #[error("profile: {0}")]
    Profile(#[from] sectorgate_policy::ProfileError),
    /// A case file does not parse.
    #[error("case files: {0}")]
    Cases(String),
}

impl Catalog {
    /// The catalog of a bundled profile (by id) or a profile folder.
    pub fn load(name: &str) -> Result<Self, CatalogError> {
        let profile = Profile::named(name)?;
        let chain = chain(ProfileSource::named(name)?, &profile)?;
        let mut tests = cases::tests(&profile, &chain)?;
        tests.extend(scenarios::tests(&profile));
        tests.extend(homeserver::tests(&profile));
        tests.extend(client::tests(&profile));
        Ok(Self {
            profile_hash: digest(&chain),
            profile,
            tests,
        })
    }

    /// The requirement references of a rule: `rule:<id>` and the profile's
    /// public references for it.
    pub fn references(profile: &Profile, rule: &str) -> Vec<String> {
        let mut references = vec![format!("rule:{rule}")];
        if let Some(public) = profile.requirements.get(rule) {
            references.extend(public.iter().cloned());
        }
        references
    }
}

/// The profile's source and those of every profile it extends, child first,
/// each with its id.
fn chain(
    first: ProfileSource,
    profile: &Profile,
) -> Result<Vec<(String, ProfileSource)>, CatalogError> {
    let mut chain = vec![(profile.id.clone(), first)];
    for parent in &profile.extends {
        let Some((_, last)) = chain.last() else { break };
        let source = last.parent(parent)?;
        chain.push((parent.clone(), source));
    }
    Ok(chain)
}

fn digest(chain: &[(String, ProfileSource)]) -> String {
    let mut hasher = Sha256::new();
    for (id, source) in chain {
        for (path, bytes) in source.files() {
            let name = format!("{id}/{path}");
            hasher.update((name.len() as u64).to_be_bytes());
            hasher.update(name.as_bytes());
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(&bytes);
        }
    }
    hex::encode(hasher.finalize())
}

/// A name as an id segment: lower case, runs of anything but letters and
/// digits as one `_`.
pub(crate) fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}
