//! [`ProxyConfig`]: the pipeline's settings (filled from the server's config file).

use std::time::Duration;

use http::Uri;
use ipnet::IpNet;

use crate::rate::RateLimits;

/// Size and shape limits applied when a request is accepted.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest inspected (JSON) body, in bytes.
    pub max_json_body_bytes: u64,
    /// Deepest JSON nesting accepted (at most 100).
    pub max_json_depth: usize,
    /// Largest streamed media upload, in bytes.
    pub max_upload_bytes: u64,
    /// Time a client has to send an inspected (buffered) body.
    pub body_read_timeout: Duration,
}

/// How the pipeline reaches the homeserver and whom it trusts.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// The homeserver's base URL (`http://127.0.0.1:8008`).
    pub homeserver: Uri,
    /// Time allowed to connect to the homeserver.
    pub connect_timeout: Duration,
    /// Time allowed for the homeserver's response head (long-polls get their
    /// own `timeout` on top).
    pub response_timeout: Duration,
    /// Request limits.
    pub limits: Limits,
    /// Proxies whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The gateway's application service token, to read users' own
    /// invite-permission settings as them.
    pub appservice_token: Option<String>,
    /// Application services (bridges) the gateway recognises: (id, as_token).
    pub appservices: Vec<(String, String)>,
    /// Request rates per client address and per federation origin.
    pub rate_limits: RateLimits,
}
