//! `[listen]` and `[[listeners]]`: where the gateway listens, for which
//! APIs, with which certificate, and whose forwarding headers it believes.

use std::net::SocketAddr;

use ipnet::IpNet;
use sectorgate_proxy::Serves;
use serde::Deserialize;

use super::{Config, ConfigError};
use crate::tls::TlsFiles;

/// `[listen]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Listen {
    pub(crate) client: SocketAddr,
    pub(crate) admin: SocketAddr,
    pub(crate) trusted_proxies: Vec<IpNet>,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            client: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin: SocketAddr::from(([127, 0, 0, 1], 8081)),
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[[listeners]]`: one listener for the Matrix APIs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListenerConfig {
    /// The address to listen on.
    pub(crate) bind: SocketAddr,
    /// The APIs served: `client`, `federation` or both (the default).
    #[serde(default = "both_apis")]
    pub(crate) serves: Vec<ApiName>,
    /// TLS certificate and key; without them, plain HTTP.
    #[serde(default)]
    pub(crate) tls: Option<TlsFiles>,
}

/// An API a listener can serve.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ApiName {
    /// The client-server API.
    Client,
    /// The server-server API.
    Federation,
}

fn both_apis() -> Vec<ApiName> {
    vec![ApiName::Client, ApiName::Federation]
}

impl Config {
    /// Every listener serves an API.
    pub(super) fn check_listeners(&self) -> Result<(), ConfigError> {
        for listener in &self.listeners {
            if listener.serves.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "the listener on {} serves no API",
                    listener.bind
                )));
            }
        }
        Ok(())
    }

    /// The listeners for the Matrix APIs: `[[listeners]]`, or the built-in
    /// plain one on `[listen] client`.
    pub(crate) fn matrix_listeners(&self) -> Vec<ListenerConfig> {
        if self.listeners.is_empty() {
            vec![ListenerConfig::plain(self.listen.client)]
        } else {
            self.listeners.clone()
        }
    }
}

impl ListenerConfig {
    /// The built-in listener: `[listen] client`, both APIs, plain HTTP.
    pub(crate) fn plain(bind: SocketAddr) -> Self {
        Self {
            bind,
            serves: both_apis(),
            tls: None,
        }
    }

    /// The APIs served.
    pub(crate) fn serves(&self) -> Serves {
        Serves {
            client: self.serves.contains(&ApiName::Client),
            federation: self.serves.contains(&ApiName::Federation),
        }
    }
}
