//! `[federation]`: the homeserver's name, the static allowlist, extra CA
//! certificates, fixed addresses and pinned keys; and building the
//! [`Federation`] the pipeline uses from them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ruma::OwnedServerName;
use ruma::serde::Base64;
use ruma::signatures::PublicKeySet;
use sectorgate_federation::{Federation, KeyStore, Resolver, tls};
use sectorgate_policy::federation::{Allowlist, ServerPattern};
use serde::Deserialize;

use crate::config::ConfigError;

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
    /// Time allowed for fetching a server's keys.
    #[serde(default = "default_fetch_timeout", with = "humantime_serde")]
    pub(crate) fetch_timeout: Duration,
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

    /// The federation state the pipeline consults.
    pub(crate) fn build(&self) -> Result<Federation, ConfigError> {
        let client = tls::http_client(&self.trusted_ca_files, self.fetch_timeout)
            .map_err(|e| ConfigError::Invalid(format!("federation: {e}")))?;
        let keys = KeyStore::new(
            self.pinned()?,
            client,
            Resolver::new(self.addresses.clone()),
        );
        Ok(Federation::new(
            self.server_name.clone(),
            self.static_allowlist()?,
            keys,
        ))
    }
}
