//! The admin listener: `/health` (the process is alive), `/ready` (the
//! homeserver answers and the audit store takes writes) and `/federation`
//! (the allowlist in force and the signed list's state).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::{Router, routing::get};
use sectorgate_federation::Federation;
use sectorgate_proxy::Gateway;
use serde_json::json;

/// The admin router.
pub(crate) fn router(gateway: Arc<Gateway>, federation: Option<Arc<Federation>>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(gateway)
        .merge(
            Router::new()
                .route("/federation", get(federation_status))
                .with_state(federation),
        )
}

async fn federation_status(State(federation): State<Option<Arc<Federation>>>) -> Response {
    let Some(federation) = federation else {
        return Json(json!({"enabled": false})).into_response();
    };
    let allowlist = federation.allowlist();
    let now = std::time::SystemTime::now();
    Json(json!({
        "enabled": true,
        "server_name": federation.local(),
        "allowlist": {
            "sources": allowlist.sources(),
            "entries": allowlist.patterns().iter().map(ToString::to_string).collect::<Vec<_>>(),
            "stale": allowlist.is_stale(),
        },
        "signed_list": federation.signed_list().map(|list| list.status(now)),
    }))
    .into_response()
}

async fn health() -> Response {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})).into_response()
}

async fn ready(State(gateway): State<Arc<Gateway>>) -> Response {
    // The audit probe is a real, durable write through the log's writer:
    // ready means the next request's record can be written too.
    let (homeserver, audit) = tokio::join!(gateway.homeserver_reachable(), gateway.audit_probe());
    let ready = homeserver && audit.is_ok();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = json!({
        "ready": ready,
        "homeserver_reachable": homeserver,
        "audit_writable": audit.is_ok(),
        "audit_last_write": gateway.audit_status(),
        "profile": gateway.profile().id,
    });
    if let Err(reason) = audit {
        body["audit_error"] = reason.into();
    }
    (status, Json(body)).into_response()
}
