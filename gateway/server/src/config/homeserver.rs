//! `[homeserver]` and `[[appservices]]`: the homeserver behind the
//! gateway, the gateway's own application service token, and the
//! application services (bridges) whose traffic the profile decides on.

use std::path::PathBuf;
use std::time::Duration;

use axum::http::Uri;
use serde::Deserialize;

use super::ConfigError;

/// `[homeserver]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Homeserver {
    pub(crate) url: String,
    #[serde(with = "humantime_serde")]
    pub(crate) connect_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub(crate) response_timeout: Duration,
    /// A file holding the `as_token` of the gateway's application service
    /// registration, to read users' invite-permission settings as them.
    pub(crate) appservice_token_file: Option<PathBuf>,
}

impl Homeserver {
    /// The homeserver's URL: plain HTTP to a host and port.
    pub(crate) fn uri(&self) -> Result<Uri, ConfigError> {
        let url: Uri = self.url.parse().map_err(|_| {
            ConfigError::Invalid(format!("homeserver.url {:?} is not a URL", self.url))
        })?;
        if url.scheme_str() != Some("http") || url.authority().is_none() {
            return Err(ConfigError::Invalid(
                "homeserver.url must be http://host:port (TLS to the homeserver is not supported yet)".to_owned(),
            ));
        }
        Ok(url)
    }

    /// The application service token, read from its file.
    pub(crate) fn appservice_token(&self) -> Result<Option<String>, ConfigError> {
        let Some(path) = &self.appservice_token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "homeserver.appservice_token_file {} is empty",
                path.display()
            )));
        }
        Ok(Some(token.to_owned()))
    }
}

impl Default for Homeserver {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8008".to_owned(),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(60),
            appservice_token_file: None,
        }
    }
}

/// `[[appservices]]`: one application service, by its registration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppserviceEntry {
    /// The registration file the homeserver loads (YAML; its `id` and
    /// `as_token` are read).
    pub(crate) registration: PathBuf,
}

/// The parts of a registration the gateway reads.
#[derive(Debug, Deserialize)]
struct Registration {
    id: String,
    as_token: String,
}

impl AppserviceEntry {
    /// The application service's id and token, from its registration.
    pub(crate) fn load(&self) -> Result<(String, String), ConfigError> {
        let path = &self.registration;
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let registration: Registration = serde_yaml_ng::from_str(&text).map_err(|error| {
            ConfigError::Invalid(format!(
                "application service registration {}: {error}",
                path.display()
            ))
        })?;
        Ok((registration.id, registration.as_token))
    }
}
