//! The forward step alone: a request passed to the homeserver over the
//! gateway's own pooled connections and its answer back, hop-by-hop headers
//! stripped both ways, with no accept, classify, decide or record.
//!
//! The gateway never uses it. It exists so that the HTTP path's cost can be
//! measured apart from policy and audit, with the same code the pipeline
//! forwards with (`examples/passthrough.rs`, the `passthrough` target of
//! `scripts/bench-proxy.sh`).

use axum::body::Body;
use axum::response::Response;
use http::{Request, StatusCode};

use crate::ProxyConfig;
use crate::forward::forward;
use crate::headers::strip_hop_by_hop;
use crate::upstream::Upstream;

/// Forwards every request it is given.
pub struct PassThrough {
    config: ProxyConfig,
    upstream: Upstream,
}

impl PassThrough {
    /// Forwards to `config.homeserver`.
    pub fn new(config: ProxyConfig) -> Self {
        let upstream = Upstream::new(&config.homeserver, config.connect_timeout);
        Self { config, upstream }
    }

    /// Closes the pool's idle connections past their time, every few
    /// seconds, as the gateway does: to be run as a task of its own.
    pub fn sweep(&self) -> impl Future<Output = ()> + Send + 'static {
        self.upstream.sweeper(|| true)
    }

    /// The homeserver's answer to `request`, or 502 when there is none.
    pub async fn handle(&self, request: Request<Body>) -> Response {
        let (mut parts, body) = request.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        match forward(&self.upstream, &self.config, parts, body).await {
            Ok(response) => response,
            Err(_) => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::BAD_GATEWAY;
                response
            }
        }
    }
}
