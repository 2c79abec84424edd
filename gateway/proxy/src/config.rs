//! [`ProxyConfig`]: the pipeline's settings (filled from the server's config file).

use std::time::Duration;

use http::Uri;
use ipnet::IpNet;
use serde::Deserialize;

use crate::rate::RateLimits;

/// `[limits]`: the bounds on each request and connection, as the config
/// file gives them (every key optional).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest inspected (JSON) body, in bytes.
    pub max_json_body_bytes: u64,
    /// Deepest JSON nesting accepted (at most 100).
    pub max_json_depth: usize,
    /// Largest streamed media upload, in bytes.
    pub max_upload_bytes: u64,
    /// Largest request head, in bytes (431 above it).
    pub max_header_bytes: usize,
    /// Most header fields in one request head.
    pub max_headers: usize,
    /// Open connections one address may hold (0: no limit; trusted proxies
    /// are exempt).
    pub max_connections_per_address: usize,
    /// Time a client has to send a request head.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Time a client has to send an inspected (buffered) body.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_json_body_bytes: 1024 * 1024,
            max_json_depth: 64,
            max_upload_bytes: 100 * 1024 * 1024,
            // Below the 16 KiB head Synapse (Twisted) accepts, with room for the
            // headers the gateway adds.
            max_header_bytes: 15 * 1024,
            max_headers: 100,
            max_connections_per_address: 256,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(60),
        }
    }
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
    /// The gateway's own answer to `GET /.well-known/matrix/support`; the
    /// request is forwarded when `None`.
    pub support: Option<bytes::Bytes>,
}
