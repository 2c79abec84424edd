//! `[profile]`: which profile the gateway enforces, and who is in its user
//! groups.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sectorgate_policy::Profile;
use serde::Deserialize;

use super::ConfigError;

/// The bundled profile used when the config names none.
pub(crate) const DEFAULT_PROFILE: &str = "healthcare-tim-pro";

/// `[profile]`: a bundled profile by id, or a profile folder; and who is in
/// the profile's user groups.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileChoice {
    #[serde(default)]
    pub(crate) bundled: Option<String>,
    #[serde(default)]
    pub(crate) path: Option<PathBuf>,
    /// Members of the profile's user groups, as user id globs
    /// (`insured = ["@*:versicherte.example"]`).
    #[serde(default)]
    pub(crate) groups: BTreeMap<String, Vec<String>>,
}

impl Default for ProfileChoice {
    fn default() -> Self {
        Self {
            bundled: Some(DEFAULT_PROFILE.to_owned()),
            path: None,
            groups: BTreeMap::new(),
        }
    }
}

impl ProfileChoice {
    /// Chooses a profile by name: a bundled id, or a folder's path.
    pub(crate) fn choose(&mut self, name: &str) {
        let path = Path::new(name);
        if name.contains('/') || path.is_dir() {
            self.bundled = None;
            self.path = Some(path.to_owned());
        } else {
            self.bundled = Some(name.to_owned());
            self.path = None;
        }
    }

    /// Loads the chosen profile, with the configured group members.
    pub(crate) fn load(&self) -> Result<Profile, ConfigError> {
        let mut profile = match (&self.bundled, &self.path) {
            (Some(id), None) => Profile::bundled(id)?,
            (None, Some(path)) => Profile::from_dir(path)?,
            _ => {
                return Err(ConfigError::Invalid(
                    "[profile] needs exactly one of `bundled` or `path`".to_owned(),
                ));
            }
        };
        for (group, users) in &self.groups {
            if !profile.user_groups.contains_key(group) {
                return Err(ConfigError::Invalid(format!(
                    "[profile.groups] names {group:?}, which profile {} does not have",
                    profile.id
                )));
            }
            profile.add_to_group(group, users);
        }
        Ok(profile)
    }

    /// A short description for messages.
    pub(crate) fn describe(&self) -> String {
        match (&self.bundled, &self.path) {
            (Some(id), _) => format!("bundled:{id}"),
            (_, Some(path)) => path.display().to_string(),
            _ => "none".to_owned(),
        }
    }
}
