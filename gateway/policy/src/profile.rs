//! [`Profile`]: a sector's policy as data, loaded from `profiles/<sector>/profile.yaml`.
//!
//! A profile may `extend` another: its rules come first, then the parent's;
//! fields it sets replace the parent's. Every endpoint a rule names is
//! resolved against the catalog when the profile loads, so a typo is an
//! error at start-up, not a rule that silently never matches.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sectorgate_action::{Api, Catalog, Endpoint};
use serde::Deserialize;

use crate::{ProfileError, RuleId};

/// The profiles built into the binary, by id, as their YAML text.
const BUNDLED: &[(&str, &str)] = &[
    ("base", include_str!("../../../profiles/base/profile.yaml")),
    (
        "healthcare",
        include_str!("../../../profiles/healthcare/profile.yaml"),
    ),
];

/// Allow or deny, as written in a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// The request passes.
    Allow,
    /// The request is refused.
    Deny,
}

/// A profile file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    id: String,
    title: String,
    #[serde(default)]
    extends: Option<String>,
    #[serde(default)]
    endpoints: EndpointsFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointsFile {
    #[serde(default)]
    default: Option<Effect>,
    #[serde(default)]
    rules: Vec<EndpointRuleFile>,
    #[serde(default)]
    homeserver_paths: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointRuleFile {
    id: String,
    verdict: Effect,
    endpoints: Vec<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// An endpoint rule, resolved.
#[derive(Clone, Debug)]
pub struct EndpointRule {
    /// The rule's stable id.
    pub id: RuleId,
    /// Allow or deny.
    pub effect: Effect,
    /// Why, as told to the client on a denial.
    pub reason: String,
}

/// A loaded, resolved sector profile.
#[derive(Clone, Debug)]
pub struct Profile {
    /// The profile's id, e.g. `healthcare`.
    pub id: String,
    /// A human-readable title.
    pub title: String,
    /// What happens to recognised endpoints no rule names.
    pub default: Effect,
    /// Endpoint rules, most specific profile first.
    pub rules: Vec<EndpointRule>,
    /// Path prefixes outside the Matrix API that may pass.
    pub homeserver_paths: Vec<String>,
    by_endpoint: HashMap<Endpoint, usize>,
}

impl Profile {
    /// The ids of the profiles built into the binary.
    pub fn bundled_ids() -> impl Iterator<Item = &'static str> {
        BUNDLED.iter().map(|(id, _)| *id)
    }

    /// Loads a profile built into the binary.
    pub fn bundled(id: &str) -> Result<Self, ProfileError> {
        let chain = load_chain(Source::Bundled(id.to_owned()))?;
        resolve(chain)
    }

    /// Loads a profile from a file. `extends` names a sibling folder's
    /// profile (`../<id>/profile.yaml`) or, failing that, a bundled one.
    pub fn from_file(path: &Path) -> Result<Self, ProfileError> {
        let chain = load_chain(Source::File(path.to_owned()))?;
        resolve(chain)
    }

    /// The rule that names `endpoint`, if any.
    pub fn rule_for(&self, endpoint: &Endpoint) -> Option<&EndpointRule> {
        self.by_endpoint
            .get(endpoint)
            .and_then(|index| self.rules.get(*index))
    }
}

enum Source {
    Bundled(String),
    File(PathBuf),
}

fn parse(text: &str, origin: &str) -> Result<ProfileFile, ProfileError> {
    serde_yaml_ng::from_str(text).map_err(|error| ProfileError::Malformed {
        origin: origin.to_owned(),
        message: error.to_string(),
    })
}

/// Reads a profile and every profile it extends, child first.
fn load_chain(first: Source) -> Result<Vec<ProfileFile>, ProfileError> {
    let mut chain: Vec<ProfileFile> = Vec::new();
    let mut next = Some(first);
    while let Some(source) = next.take() {
        if chain.len() >= 8 {
            let id = chain.first().map(|p| p.id.clone()).unwrap_or_default();
            return Err(ProfileError::ExtendsTooDeep(id));
        }
        let (file, dir) = match source {
            Source::Bundled(id) => {
                let text = BUNDLED
                    .iter()
                    .find(|(name, _)| *name == id)
                    .map(|(_, text)| *text)
                    .ok_or_else(|| {
                        let known: Vec<_> = Profile::bundled_ids().collect();
                        ProfileError::UnknownBundled(id.clone(), known.join(", "))
                    })?;
                (parse(text, &format!("bundled:{id}"))?, None)
            }
            Source::File(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ProfileError::Read {
                    path: path.clone(),
                    source,
                })?;
                let dir = path.parent().and_then(Path::parent).map(Path::to_owned);
                (parse(&text, &path.display().to_string())?, dir)
            }
        };
        next = file.extends.as_ref().map(|parent| {
            let sibling = dir
                .as_ref()
                .map(|dir| dir.join(parent).join("profile.yaml"))
                .filter(|path| path.is_file());
            match sibling {
                Some(path) => Source::File(path),
                None => Source::Bundled(parent.clone()),
            }
        });
        chain.push(file);
    }
    Ok(chain)
}

/// Merges a chain (child first) into one profile and resolves endpoint names.
fn resolve(chain: Vec<ProfileFile>) -> Result<Profile, ProfileError> {
    let id = chain.first().map(|p| p.id.clone()).unwrap_or_default();
    let title = chain.first().map(|p| p.title.clone()).unwrap_or_default();
    let default = chain
        .iter()
        .find_map(|p| p.endpoints.default)
        .unwrap_or(Effect::Deny);
    let homeserver_paths = chain
        .iter()
        .find_map(|p| p.endpoints.homeserver_paths.clone())
        .unwrap_or_default();
    let catalog = Catalog::global();
    let mut rules = Vec::new();
    let mut by_endpoint = HashMap::new();
    for file in &chain {
        for rule in &file.endpoints.rules {
            let index = rules.len();
            for pattern in &rule.endpoints {
                let matched = matching_endpoints(catalog, pattern);
                if matched.is_empty() {
                    return Err(ProfileError::UnknownEndpoint {
                        profile: file.id.clone(),
                        rule: rule.id.clone(),
                        endpoint: pattern.clone(),
                    });
                }
                for endpoint in matched {
                    by_endpoint.entry(endpoint).or_insert(index);
                }
            }
            rules.push(EndpointRule {
                id: RuleId::profile(&rule.id),
                effect: rule.verdict,
                reason: rule
                    .reason
                    .clone()
                    .unwrap_or_else(|| format!("refused by rule {}", rule.id)),
            });
        }
    }
    Ok(Profile {
        id,
        title,
        default,
        rules,
        homeserver_paths,
        by_endpoint,
    })
}

/// The endpoints a pattern names: `client.<name>`, `federation.<name>`,
/// `client.*`, `federation.*` or `*`.
fn matching_endpoints(catalog: &Catalog, pattern: &str) -> Vec<Endpoint> {
    let (api, name) = match pattern.split_once('.') {
        Some(("client", name)) => (Some(Api::Client), name),
        Some(("federation", name)) => (Some(Api::Federation), name),
        None if pattern == "*" => (None, "*"),
        _ => return Vec::new(),
    };
    catalog
        .endpoints()
        .filter(|endpoint| api.is_none_or(|api| endpoint.api == api))
        .filter(|endpoint| name == "*" || endpoint.name == name)
        .collect()
}
