//! Which application service (bridge) a request comes from: its token is
//! one the configuration names. Tokens are kept only as SHA-256 digests.

use std::collections::HashMap;

use http::request::Parts;
use sectorgate_action::access_token;
use sectorgate_policy::GATEWAY_APPSERVICE;
use sha2::{Digest, Sha256};

use crate::ProxyConfig;

/// The configured application services, by their tokens' digests.
#[derive(Debug, Default)]
pub(crate) struct Appservices {
    by_token: HashMap<[u8; 32], String>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Appservices {
    pub(crate) fn new(config: &ProxyConfig) -> Self {
        let mut by_token: HashMap<[u8; 32], String> = config
            .appservices
            .iter()
            .map(|(id, token)| (digest(token), id.clone()))
            .collect();
        // The gateway's own token never comes from outside.
        if let Some(token) = &config.appservice_token {
            by_token.insert(digest(token), GATEWAY_APPSERVICE.to_owned());
        }
        Self { by_token }
    }

    /// The application service a request's token belongs to, if any.
    pub(crate) fn of(&self, parts: &Parts) -> Option<&str> {
        if self.by_token.is_empty() {
            return None;
        }
        access_token(&parts.headers, parts.uri.query())
            .and_then(|token| self.by_token.get(&digest(token)))
            .map(String::as_str)
    }
}
