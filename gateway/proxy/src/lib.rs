//! The request pipeline: accept → classify → decide → record → forward.
//!
//! [`Gateway`] holds what every request needs; [`router`] turns it into an
//! axum router whose single handler runs the five steps in order (see
//! [`pipeline`]). Errors become Matrix error responses in one place
//! ([`respond`]).

mod actor;
mod appservices;
mod body;
mod config;
pub mod egress;
mod facts;
mod forward;
mod forwarded;
mod headers;
mod learn;
pub mod pipeline;
mod request_id;
pub mod respond;
mod rewrite;
mod servers;

use std::sync::Arc;

use axum::Router;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use sectorgate_audit::{AuditLog, Pseudonymiser};
use sectorgate_federation::Federation;
use sectorgate_policy::Profile;

pub use config::{Limits, ProxyConfig};
pub use servers::Serves;

/// Everything the pipeline needs, shared by all requests.
#[derive(Debug)]
pub struct Gateway {
    config: ProxyConfig,
    profile: Arc<Profile>,
    audit: AuditLog,
    pseudonymiser: Pseudonymiser,
    client: Client<HttpConnector, axum::body::Body>,
    request_ids: request_id::RequestIds,
    facts: facts::FactCache,
    appservices: appservices::Appservices,
    federation: Option<Arc<Federation>>,
}

impl Gateway {
    /// Builds a gateway. Must be called inside a Tokio runtime.
    pub fn new(
        config: ProxyConfig,
        profile: Profile,
        audit: AuditLog,
        pseudonymiser: Pseudonymiser,
        federation: Option<Arc<Federation>>,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(std::time::Duration::from_secs(60))
            .build(connector);
        let appservices = appservices::Appservices::new(&config);
        Self {
            appservices,
            config,
            profile: Arc::new(profile),
            audit,
            pseudonymiser,
            client,
            request_ids: request_id::RequestIds::new(),
            facts: facts::FactCache::new(),
            federation,
        }
    }

    /// The profile in force.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Whether the homeserver answers (any non-5xx answer to `/versions`).
    pub async fn homeserver_reachable(&self) -> bool {
        forward::probe(&self.client, &self.config).await
    }

    /// Whether the audit store can take a write now.
    pub async fn audit_writable(&self) -> bool {
        self.audit.check_writable().await.is_ok()
    }
}

/// The axum router serving the Matrix APIs through the pipeline.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new().fallback(pipeline::handle).with_state(gateway)
}
