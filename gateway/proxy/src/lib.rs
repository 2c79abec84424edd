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
pub mod metrics;
#[doc(hidden)]
pub mod passthrough;
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
mod trace;
mod upstream;

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
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
    /// The profile in force: a request runs under the one it started with
    /// (see [`Gateway::in_force`]); a reload replaces it for the next.
    in_force: ArcSwap<InForce>,
    audit: AuditLog,
    pseudonyms: Arc<Pseudonymiser>,
    client: upstream::Upstream,
    request_ids: request_id::RequestIds,
    decision_ids: request_id::RequestIds,
    facts: facts::FactCache,
    appservices: appservices::Appservices,
    federation: Option<Arc<Federation>>,
    limiters: Arc<rate::Limiters>,
    capture: Option<capture::Capture>,
    metrics: Arc<metrics::Metrics>,
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
        let client = upstream::Upstream::new(&config.homeserver, config.connect_timeout);
        let appservices = appservices::Appservices::new(&config);
        let limiters = Arc::new(rate::Limiters::new(config.rate_limits));
        let idle = Arc::downgrade(&limiters);
        // Until the gateway is gone: its idle limiters forgotten as well.
        tokio::spawn(client.sweeper(move || {
            idle.upgrade()
                .map(|limiters| limiters.forget_idle())
                .is_some()
        }));
        let metrics = Arc::new(metrics::Metrics::new(federation.is_some()));
        audit.observe(Arc::clone(&metrics) as Arc<dyn sectorgate_audit::CommitObserver>);
        Self {
            metrics,
            limiters,
            appservices,
            config,
            in_force: ArcSwap::from_pointee(InForce::of(profile)),
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

    /// The profile in force now.
    pub fn in_force(&self) -> Arc<InForce> {
        self.in_force.load_full()
    }

    /// Puts `profile` in force for every request that starts from now on;
    /// requests under way finish under the one they started with.
    pub fn put_in_force(&self, profile: Profile) {
        self.in_force.store(Arc::new(InForce::of(profile)));
    }

    /// Whether the homeserver answers (any non-5xx answer to `/versions`).
    pub async fn homeserver_reachable(&self) -> bool {
        forward::probe(&self.client, &self.config).await
    }

    /// Writes to the audit store now (a real, durable write, after the
    /// records queued), once the current period's pseudonym key is there
    /// (or made): `Err` says why a request's record could not be written,
    /// or that the write did not finish within `within`.
    pub async fn audit_probe(&self, within: std::time::Duration) -> Result<(), String> {
        self.pseudonyms
            .pseudonym("ready", "probe", sectorgate_audit::now_ms())
            .map_err(|error| error.to_string())?;
        self.audit
            .probe(within)
            .await
            .map_err(|error| error.to_string())
    }

    /// The outcome of the audit store's last write.
    pub fn audit_status(&self) -> WriteStatus {
        self.audit.status()
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// The gateway's metrics, for what reports to them on its own (the
    /// audit log's views).
    pub fn shared_metrics(&self) -> Arc<metrics::Metrics> {
        Arc::clone(&self.metrics)
    }

    /// The audit state a metrics scrape reads.
    pub fn audit_scraped(&self) -> (usize, WriteStatus) {
        (self.audit.queued(), self.audit.status())
    }

    /// Records an answer the connection layer gave before the pipeline
    /// (an oversized or malformed request head, a head never completed):
    /// a refusal by `rule`, and its outcome `status` (0: closed without one).
    /// Returns the request id it was recorded under.
    pub fn record_edge_refusal(&self, rule: &str, status: u16) -> String {
        record::edge_refusal(self, rule, status)
    }
}

/// A profile in force, and how audit records name it.
#[derive(Debug)]
pub struct InForce {
    /// The profile.
    pub profile: Profile,
    /// Its id and revision, as records name it.
    pub reference: ProfileRef,
}

impl InForce {
    fn of(profile: Profile) -> Self {
        Self {
            reference: ProfileRef {
                id: profile.id.clone(),
                revision: profile.revision(),
                digest: Some(profile.digest.clone()),
            },
            profile,
        }
    }
}

/// The axum router serving the Matrix APIs through the pipeline.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new().fallback(pipeline::handle).with_state(gateway)
}
