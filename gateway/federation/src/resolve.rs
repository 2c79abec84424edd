//! Where a server name is reached, for the gateway's own requests (key
//! fetching): a configured address, else the name's explicit port or IP
//! literal, else its `.well-known/matrix/server` delegation, else port 8448.
//! SRV records are not looked up; name such servers in
//! `[federation.addresses]`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ruma::ServerName;
use serde::Deserialize;

/// How long a resolved address is kept.
const KEEP: Duration = Duration::from_secs(3600);

/// Resolves server names to `host:port`.
#[derive(Debug)]
pub struct Resolver {
    addresses: BTreeMap<String, String>,
    resolved: Mutex<HashMap<String, (String, Instant)>>,
}

#[derive(Deserialize)]
struct WellKnown {
    #[serde(rename = "m.server")]
    server: String,
}

impl Resolver {
    /// A resolver with these fixed addresses (server name → `host:port`).
    pub fn new(addresses: BTreeMap<String, String>) -> Self {
        Self {
            addresses,
            resolved: Mutex::new(HashMap::new()),
        }
    }

    /// The `host:port` to reach `server` at.
    pub async fn address(&self, client: &reqwest::Client, server: &ServerName) -> String {
        if let Some(address) = self.addresses.get(server.as_str()) {
            return address.clone();
        }
        if server.port().is_some() || server.is_ip_literal() {
            return with_port(server.as_str());
        }
        if let Some((address, at)) = self
            .resolved
            .lock()
            .ok()
            .and_then(|resolved| resolved.get(server.as_str()).cloned())
            && at.elapsed() < KEEP
        {
            return address;
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
        let address = delegated
            .await
            .unwrap_or_else(|| with_port(server.as_str()));
        if let Ok(mut resolved) = self.resolved.lock() {
            resolved.insert(
                server.as_str().to_owned(),
                (address.clone(), Instant::now()),
            );
        }
        address
    }
}

/// `name` with port 8448 added when it has none.
fn with_port(name: &str) -> String {
    match <&ServerName>::try_from(name) {
        Ok(server) if server.port().is_some() => name.to_owned(),
        _ => format!("{name}:8448"),
    }
}
