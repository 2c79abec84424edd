//! `[federation]` and `[egress]`: the homeserver's name, the static
//! allowlist, extra CA certificates, fixed addresses, pinned keys and the
//! signed list; the egress's CA; and building the [`Federation`] the
//! pipeline uses from what checking loaded ([`FederationParts`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ruma::OwnedServerName;
use ruma::serde::Base64;
use ruma::signatures::PublicKeySet;
use sectorgate_federation::list::{ListConfig, ListSource, jws};
use sectorgate_federation::{Federation, KeyStore, Resolver, SignedList, tls};
use sectorgate_policy::Profile;
use sectorgate_policy::federation::{Allowlist, ServerPattern};
use serde::Deserialize;

use super::ConfigError;

/// `[federation]`. Without it, the gateway refuses every signed
/// server-server request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FederationConfig {
    /// The homeserver's server name (what its user ids end in).
    pub(crate) server_name: OwnedServerName,
    /// Servers allowed to federate: exact names or `*.domain` patterns.
    #[serde(default)]
    pub(crate) allow: Vec<String>,
    /// CA certificates (PEM) trusted besides the web PKI when the gateway
    /// reaches other servers (keys, lists).
    #[serde(default)]
    pub(crate) trusted_ca_files: Vec<PathBuf>,
    /// Where to reach servers, by name (`host:port`), instead of resolving.
    #[serde(default)]
    pub(crate) addresses: BTreeMap<String, String>,
    /// Signing keys to use instead of fetching them, by server and key id
    /// (unpadded base64).
    #[serde(default)]
    pub(crate) pinned_keys: BTreeMap<OwnedServerName, BTreeMap<String, String>>,
    /// Time allowed for fetching a server's keys or the list.
    #[serde(default = "default_fetch_timeout", with = "humantime_serde")]
    pub(crate) fetch_timeout: Duration,
    /// A signed federation list (gematik's format), added to `allow`.
    #[serde(default)]
    pub(crate) list: Option<ListSection>,
}

/// `[egress]`: the HTTPS proxy the homeserver sends its federation
/// requests through.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EgressConfig {
    /// The address to listen on (the homeserver's `https_proxy`).
    pub(crate) bind: SocketAddr,
    /// The CA certificate (PEM) the egress issues tunnel certificates
    /// with; the homeserver must trust it.
    pub(crate) ca_certificate: PathBuf,
    /// That CA's private key (PEM).
    pub(crate) ca_key: PathBuf,
}

impl EgressConfig {
    /// The CA certificate and key, read.
    pub(crate) fn ca(&self) -> Result<(String, String), ConfigError> {
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })
        };
        Ok((read(&self.ca_certificate)?, read(&self.ca_key)?))
    }
}

/// `[federation.list]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListSection {
    /// Where to fetch the list (HTTPS).
    #[serde(default)]
    pub(crate) url: Option<String>,
    /// Or a file to read it from.
    #[serde(default)]
    pub(crate) file: Option<PathBuf>,
    /// A file holding a bearer token for the URL.
    #[serde(default)]
    pub(crate) token_file: Option<PathBuf>,
    /// CA certificates (PEM) the list's signer must chain to.
    pub(crate) trust_anchors: Vec<PathBuf>,
    /// How often to fetch it.
    #[serde(default = "default_refresh", with = "humantime_serde")]
    pub(crate) refresh: Duration,
    /// How old it may grow before all federation is refused.
    #[serde(default = "default_max_age", with = "humantime_serde")]
    pub(crate) max_age: Duration,
    /// Where to keep the last valid list across restarts.
    #[serde(default)]
    pub(crate) cache_file: Option<PathBuf>,
}

fn default_refresh() -> Duration {
    Duration::from_secs(3600)
}

fn default_max_age() -> Duration {
    Duration::from_secs(72 * 3600)
}

impl ListSection {
    fn config(&self) -> Result<ListConfig, ConfigError> {
        let source = match (&self.url, &self.file) {
            (Some(url), None) if url.starts_with("https://") => ListSource::Url {
                url: url.clone(),
                token_file: self.token_file.clone(),
            },
            (Some(_), None) => {
                return Err(invalid("federation.list.url must be an https:// URL"));
            }
            (None, Some(file)) => ListSource::File(file.clone()),
            _ => {
                return Err(invalid(
                    "federation.list needs exactly one of `url` or `file`",
                ));
            }
        };
        if self.trust_anchors.is_empty() {
            return Err(invalid(
                "federation.list.trust_anchors names no certificate",
            ));
        }
        let mut anchors = Vec::new();
        for path in &self.trust_anchors {
            let pem = std::fs::read(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            anchors.extend(jws::read_anchors(&pem).map_err(|e| {
                invalid(&format!(
                    "federation.list.trust_anchors {}: {e}",
                    path.display()
                ))
            })?);
        }
        Ok(ListConfig {
            source,
            anchors,
            refresh: self.refresh,
            max_age: self.max_age,
            cache_file: self.cache_file.clone(),
        })
    }
}

fn invalid(message: &str) -> ConfigError {
    ConfigError::Invalid(message.to_owned())
}

fn default_fetch_timeout() -> Duration {
    Duration::from_secs(10)
}

impl FederationConfig {
    /// The static allowlist.
    pub(crate) fn static_allowlist(&self) -> Result<Allowlist, ConfigError> {
        let patterns = self
            .allow
            .iter()
            .map(|entry| {
                ServerPattern::parse(entry).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "federation.allow: {entry:?} is neither a server name nor *.domain"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Allowlist::new(patterns, "config (federation.allow)"))
    }

    fn pinned(&self) -> Result<BTreeMap<OwnedServerName, PublicKeySet>, ConfigError> {
        self.pinned_keys
            .iter()
            .map(|(server, keys)| {
                let set = keys
                    .iter()
                    .map(|(id, key)| {
                        Base64::parse(key)
                            .map(|key| (id.clone(), key))
                            .map_err(|e| {
                                ConfigError::Invalid(format!(
                                    "federation.pinned_keys.{server}.{id}: {e}"
                                ))
                            })
                    })
                    .collect::<Result<PublicKeySet, _>>()?;
                Ok((server.clone(), set))
            })
            .collect()
    }

    /// Checks what can be checked without starting (the allowlist, the
    /// pinned keys, the list's settings and trust anchors) and returns it.
    pub(crate) fn check(&self, profile: &Profile) -> Result<FederationParts, ConfigError> {
        let list = match &self.list {
            Some(_) if !profile.federation.signed_lists => {
                return Err(ConfigError::Invalid(format!(
                    "profile {} takes its allowlist from the config only: remove [federation.list]",
                    profile.id
                )));
            }
            Some(list) => Some(list.config()?),
            None => None,
        };
        Ok(FederationParts {
            allowlist: self.static_allowlist()?,
            pinned: self.pinned()?,
            list,
        })
    }

    /// The federation state the pipeline consults, from what checking
    /// loaded. Must be called inside a Tokio runtime.
    pub(crate) fn build(&self, parts: FederationParts) -> Result<Federation, ConfigError> {
        let client = tls::http_client(&self.trusted_ca_files, self.fetch_timeout)
            .map_err(|e| ConfigError::Invalid(format!("federation: {e}")))?;
        let keys = KeyStore::new(
            parts.pinned,
            client.clone(),
            Resolver::new(self.addresses.clone()),
        );
        Ok(Federation::new(
            self.server_name.clone(),
            parts.allowlist,
            parts.list.map(SignedList::new),
            keys,
            client,
        ))
    }
}

/// What `[federation]` names, loaded and checked.
#[derive(Debug)]
pub(crate) struct FederationParts {
    allowlist: Allowlist,
    pinned: BTreeMap<OwnedServerName, PublicKeySet>,
    list: Option<ListConfig>,
}
