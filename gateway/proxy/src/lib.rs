//! The request pipeline: accept → classify → decide → record → forward.
//!
//! [`Gateway`] holds what every request needs; [`router`] turns it into an
//! axum router whose single handler runs the five steps in order (see
//! [`pipeline`]). Errors become Matrix error responses in one place
//! ([`respond`]).

mod appservices;
mod body;
pub mod capture;
mod cascade;
mod config;
pub mod connection;
mod directory;
pub mod egress;
mod facts;
mod forward;
mod forwarded;
pub mod framing;
mod headers;
mod learn;
mod peer;
pub mod pipeline;
mod rate;
mod record;
mod request_id;
pub mod respond;
mod rewrite;
mod room_facts;
mod servers;
mod shared_rooms;

use std::sync::Arc;

use axum::Router;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use sectorgate_audit::{AuditLog, ProfileRef, Pseudonymiser, WriteStatus};
use sectorgate_federation::Federation;
use sectorgate_policy::Profile;

pub use cascade::{LOOKUP_DEADLINE, MAX_RELATION_PAGES, MAX_REPLACEMENTS};
pub use config::{Limits, ProxyConfig};
pub use rate::{Rate, RateLimits};
pub use sectorgate_policy::Serves;

/// Everything the pipeline needs, shared by all requests.
#[derive(Debug)]
pub struct Gateway {
    config: ProxyConfig,
    profile: Arc<Profile>,
    /// The profile as audit records name it.
    profile_ref: ProfileRef,
    audit: AuditLog,
    pseudonyms: Arc<Pseudonymiser>,
    client: Client<HttpConnector, axum::body::Body>,
    request_ids: request_id::RequestIds,
    decision_ids: request_id::RequestIds,
    facts: facts::FactCache,
    appservices: appservices::Appservices,
    federation: Option<Arc<Federation>>,
    limiters: Arc<rate::Limiters>,
    capture: Option<capture::Capture>,
}

impl Gateway {
    /// Builds a gateway. Must be called inside a Tokio runtime.
    pub fn new(
        config: ProxyConfig,
        profile: Profile,
        audit: AuditLog,
        pseudonyms: Arc<Pseudonymiser>,
        federation: Option<Arc<Federation>>,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(std::time::Duration::from_secs(60))
            .build(connector);
        let appservices = appservices::Appservices::new(&config);
        let limiters = Arc::new(rate::Limiters::new(config.rate_limits));
        let idle = Arc::downgrade(&limiters);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                let Some(limiters) = idle.upgrade() else {
                    break;
                };
                limiters.forget_idle();
            }
        });
        Self {
            limiters,
            appservices,
            config,
            profile_ref: ProfileRef {
                id: profile.id.clone(),
                revision: profile.revision(),
            },
            profile: Arc::new(profile),
            audit,
            pseudonyms,
            client,
            request_ids: request_id::RequestIds::new(),
            decision_ids: request_id::RequestIds::new(),
            facts: facts::FactCache::new(),
            federation,
            capture: None,
        }
    }

    /// Writes one test user's exchanges to a capture (the `record` option).
    pub fn with_capture(mut self, capture: capture::Capture) -> Self {
        self.capture = Some(capture);
        self
    }

    /// The profile in force.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Whether the homeserver answers (any non-5xx answer to `/versions`).
    pub async fn homeserver_reachable(&self) -> bool {
        forward::probe(&self.client, &self.config).await
    }

    /// Writes to the audit store now (a real, durable write, after the
    /// records queued): `Err` says why it cannot take one, or that it did
    /// not within `within`.
    pub async fn audit_probe(&self, within: std::time::Duration) -> Result<(), String> {
        self.audit
            .probe(within)
            .await
            .map_err(|error| error.to_string())
    }

    /// The outcome of the audit store's last write.
    pub fn audit_status(&self) -> WriteStatus {
        self.audit.status()
    }

    /// Records an answer the connection layer gave before the pipeline
    /// (an oversized or malformed request head, a head never completed):
    /// a refusal by `rule`, and its outcome `status` (0: closed without one).
    /// Returns the request id it was recorded under.
    pub fn record_edge_refusal(&self, rule: &str, status: u16) -> String {
        record::edge_refusal(self, rule, status)
    }
}

/// The axum router serving the Matrix APIs through the pipeline.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new().fallback(pipeline::handle).with_state(gateway)
}
