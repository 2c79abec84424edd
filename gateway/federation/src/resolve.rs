//! Where a server name is reached, for the gateway's own requests (key
//! fetching): a configured address, else the name's explicit port or IP
//! literal, else its `.well-known/matrix/server` delegation, else port 8448.
//! SRV records are not looked up; name such servers in
//! `[federation.addresses]`.

use std::collections::BTreeMap;

use ruma::ServerName;
use serde::Deserialize;

/// Resolves server names to `host:port`.
#[derive(Debug)]
pub struct Resolver {
    addresses: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct WellKnown {
    #[serde(rename = "m.server")]
    server: String,
}

impl Resolver {
    /// A resolver with these fixed addresses (server name → `host:port`).
    pub fn new(addresses: BTreeMap<String, String>) -> Self {
        Self { addresses }
    }

    /// The `host:port` to reach `server` at.
    pub async fn address(&self, client: &reqwest::Client, server: &ServerName) -> String {
        if let Some(address) = self.addresses.get(server.as_str()) {
            return address.clone();
        }
        if server.port().is_some() || server.is_ip_literal() {
            return with_port(server.as_str());
        }
        let url = format!("https://{}/.well-known/matrix/server", server.host());
        let delegated = async {
            let response = client.get(&url).send().await.ok()?;
            if !response.status().is_success() {
                return None;
            }
            let body: WellKnown = response.json().await.ok()?;
            <&ServerName>::try_from(body.server.as_str()).ok()?;
            Some(with_port(&body.server))
        };
        delegated
            .await
            .unwrap_or_else(|| with_port(server.as_str()))
    }
}

/// `name` with port 8448 added when it has none.
fn with_port(name: &str) -> String {
    match <&ServerName>::try_from(name) {
        Ok(server) if server.port().is_some() => name.to_owned(),
        _ => format!("{name}:8448"),
    }
}
