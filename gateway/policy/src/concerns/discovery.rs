//! What `GET /_matrix/client/versions` announces: a profile can cap the spec
//! versions and hide unstable features, so that clients do not try what the
//! sector does not offer. The homeserver's answer is rewritten on its way
//! back; this module holds the `discovery:` section, its resolution and the
//! pure rewrite (there is no check in `decide`).

use serde::Deserialize;
use serde_json::Value;

use crate::Problem;
use crate::profile::{Glob, Link, Resolver, any_matches, nearest};

/// `discovery:` what `GET /_matrix/client/versions` announces.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiscoveryFile {
    /// The newest spec version announced (`v1.11`); newer ones are hidden.
    #[serde(default)]
    pub(crate) max_version: Option<String>,
    /// The `unstable_features` announced (globs); all others are hidden.
    /// Not given: all are announced.
    #[serde(default)]
    pub(crate) unstable_features: Option<Vec<String>>,
}

/// A profile's discovery settings.
#[derive(Clone, Debug, Default)]
pub struct Discovery {
    /// The newest spec version announced, as (major, minor).
    pub max_version: Option<(u64, u64)>,
    /// The unstable features announced; `None`: all.
    pub unstable_features: Option<Vec<Glob>>,
}

/// Resolves `discovery`: the highest spec version and the unstable
/// features announced.
pub(crate) fn resolve(resolver: &mut Resolver<'_>, chain: &[Link]) -> Discovery {
    let max_version =
        nearest(chain, |f| f.discovery.max_version.as_ref()).and_then(|(version, link)| {
            let parsed = parse_version(version);
            if parsed.is_none() {
                resolver.problems.push(Problem::new(
                    link.source.label("profile.yaml"),
                    "discovery.max_version",
                    format!("{version:?} is not a spec version like v1.11"),
                ));
            }
            parsed
        });
    Discovery {
        max_version,
        unstable_features: nearest(chain, |f| f.discovery.unstable_features.as_ref())
            .map(|(features, _)| features.iter().map(|f| Glob::new(f)).collect()),
    }
}

impl Discovery {
    /// Whether the profile changes the answer at all.
    pub fn rewrites(&self) -> bool {
        self.max_version.is_some() || self.unstable_features.is_some()
    }

    /// The `/versions` answer as the profile announces it.
    pub fn rewrite(&self, mut answer: Value) -> Value {
        if let Some(max) = self.max_version
            && let Some(versions) = answer.get_mut("versions").and_then(Value::as_array_mut)
        {
            versions.retain(|version| {
                version
                    .as_str()
                    .and_then(parse_version)
                    .is_some_and(|version| version <= max)
            });
        }
        if let Some(allowed) = &self.unstable_features
            && let Some(features) = answer
                .get_mut("unstable_features")
                .and_then(Value::as_object_mut)
        {
            features.retain(|name, _| any_matches(allowed, name));
        }
        answer
    }
}

/// `v1.11` → (1, 11); `r0.6.1` → (0, 6): the r0 versions came before v1.1.
pub fn parse_version(version: &str) -> Option<(u64, u64)> {
    let (major, rest) = if let Some(rest) = version.strip_prefix('v') {
        let (major, rest) = rest.split_once('.')?;
        (major.parse().ok()?, rest)
    } else {
        (0, version.strip_prefix("r0.")?)
    };
    let minor = rest.split('.').next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_are_capped_and_unstable_features_filtered() {
        let discovery = Discovery {
            max_version: parse_version("v1.11"),
            unstable_features: Some(vec![Glob::new("org.matrix.msc3916*")]),
        };
        let answer = json!({
            "versions": ["r0.6.1", "v1.1", "v1.11", "v1.12", "v1.16"],
            "unstable_features": {"org.matrix.msc3916.stable": true, "org.matrix.msc4140": true},
        });
        assert_eq!(
            discovery.rewrite(answer),
            json!({"versions": ["r0.6.1", "v1.1", "v1.11"],
                   "unstable_features": {"org.matrix.msc3916.stable": true}})
        );
        assert_eq!(parse_version("v1.2"), Some((1, 2)));
        assert_eq!(parse_version("nonsense"), None);
    }
}
