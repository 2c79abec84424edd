//! The admin listener: `/health` (the process is alive) and `/ready` (the
//! homeserver answers and the audit store takes writes).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::{Router, routing::get};
use sectorgate_proxy::Gateway;
use serde_json::json;

/// The admin router.
pub(crate) fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(gateway)
}

async fn health() -> Response {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})).into_response()
}

async fn ready(State(gateway): State<Arc<Gateway>>) -> Response {
    let (homeserver, audit) =
        tokio::join!(gateway.homeserver_reachable(), gateway.audit_writable());
    let status = if homeserver && audit {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": homeserver && audit,
        "homeserver_reachable": homeserver,
        "audit_writable": audit,
        "profile": gateway.profile().id,
    });
    (status, Json(body)).into_response()
}
