//! The admin listener: `/health` (the process is alive), `/ready` (the
//! homeserver answers and the audit store takes writes, and the gateway is
//! not stopping; whether federation is open), `/federation` (the
//! allowlist in force and the signed list's state), `/metrics`
//! (Prometheus, OpenMetrics text) and `/audit/tiles/…` (the audit log as
//! C2SP tlog-tiles, read-only).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::{Router, routing::get};
use sectorgate_federation::Federation;
use sectorgate_proxy::Gateway;
use sectorgate_proxy::metrics::Scraped;

use crate::reload::Reloads;
use crate::tiles::Tiles;
use serde_json::json;

/// How long `/ready` waits for the homeserver and the audit store: a
/// probe that gets no answer by then counts as a failed one, so that a
/// load balancer hears 503 in time whatever the store does.
const READY_WITHIN: Duration = Duration::from_millis(1500);

/// What the admin endpoints report on.
#[derive(Clone)]
struct Admin {
    gateway: Arc<Gateway>,
    federation: Option<Arc<Federation>>,
    /// Set once the gateway is stopping.
    draining: Arc<AtomicBool>,
    /// What the last reload did.
    reloads: Reloads,
    /// The audit log's tiles.
    tiles: Tiles,
}

/// The admin router.
pub(crate) fn router(
    gateway: Arc<Gateway>,
    federation: Option<Arc<Federation>>,
    draining: Arc<AtomicBool>,
    reloads: Reloads,
    tiles: Tiles,
) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/federation", get(federation_status))
        .route("/metrics", get(metrics))
        .route("/audit/tiles/{*path}", get(audit_tiles))
        .with_state(Admin {
            gateway,
            federation,
            draining,
            reloads,
            tiles,
        })
}

/// One file of the audit log's C2SP tlog-tiles at its latest checkpoint:
/// `checkpoint`, `tile/<L>/<n>[.p/<W>]`, `tile/entries/<n>[.p/<W>]`. Full
/// tiles never change; the checkpoint and partial tiles do.
async fn audit_tiles(
    State(Admin { tiles, .. }): State<Admin>,
    Path(path): Path<String>,
) -> Response {
    match tiles.get(&path).await {
        Ok(Some(bytes)) => {
            let full = path.starts_with("tile/") && !path.contains(".p/");
            let (kind, cache) = match (path.as_str(), full) {
                ("checkpoint", _) => ("text/plain; charset=utf-8", "no-cache"),
                (_, true) => (
                    "application/octet-stream",
                    "public, max-age=31536000, immutable",
                ),
                (_, false) => ("application/octet-stream", "no-cache"),
            };
            (
                [(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, cache)],
                bytes,
            )
                .into_response()
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            tracing::error!(%error, path, "audit tiles: could not read the log");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

async fn federation_status(State(Admin { federation, .. }): State<Admin>) -> Response {
    let Some(federation) = federation else {
        return Json(json!({"enabled": false})).into_response();
    };
    let allowlist = federation.allowlist();
    let now = std::time::SystemTime::now();
    // The local server is always a member, whatever the lists say.
    let local = federation.local().to_string();
    let entries: Vec<String> = std::iter::once(local.clone())
        .chain(
            allowlist
                .patterns()
                .iter()
                .map(ToString::to_string)
                .filter(|entry| *entry != local),
        )
        .collect();
    Json(json!({
        "enabled": true,
        "server_name": federation.local(),
        "allowlist": {
            "sources": allowlist.sources(),
            "entries": entries,
            "stale": allowlist.is_stale(),
        },
        "signed_list": federation.signed_list().map(|list| list.status(now)),
    }))
    .into_response()
}

/// The metrics, with the state kept elsewhere read now.
async fn metrics(
    State(Admin {
        gateway,
        federation,
        ..
    }): State<Admin>,
) -> Response {
    let (audit_queued, status) = gateway.audit_scraped();
    let now_ms = sectorgate_audit::now_ms();
    let mut scraped = Scraped {
        audit_queued,
        audit_size: status.size,
        audit_last_write: (status.at_ms > 0)
            .then(|| (ms_to_seconds(now_ms - status.at_ms), status.ok)),
        audit_checkpoint_age: (status.checkpoint_at_ms > 0)
            .then(|| ms_to_seconds(now_ms - status.checkpoint_at_ms)),
        ..Scraped::default()
    };
    if let Some(federation) = &federation {
        scraped.federation_open = Some(!federation.allowlist().is_stale());
        scraped.key_lookups = Some(federation.key_lookups());
        let status = federation
            .signed_list()
            .map(|list| list.status(std::time::SystemTime::now()));
        scraped.federation_list =
            status.and_then(|status| Some((status.version?, status.age_secs?)));
    }
    let text = gateway.metrics().encode(&scraped);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

fn ms_to_seconds(ms: i64) -> f64 {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0)).as_secs_f64()
}

async fn health() -> Response {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})).into_response()
}

async fn ready(
    State(Admin {
        gateway,
        federation,
        draining,
        reloads,
        ..
    }): State<Admin>,
) -> Response {
    if draining.load(Ordering::SeqCst) {
        let body = json!({"ready": false, "draining": true});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    // The audit probe is a real, durable write through the log's writer,
    // behind the records queued: ready means the next request's record can
    // be written too.
    let (homeserver, audit) = tokio::join!(
        tokio::time::timeout(READY_WITHIN, gateway.homeserver_reachable()),
        gateway.audit_probe(READY_WITHIN)
    );
    let homeserver = homeserver.unwrap_or(false);
    let ready = homeserver && audit.is_ok();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let in_force = gateway.in_force();
    let mut body = json!({
        "ready": ready,
        "homeserver_reachable": homeserver,
        "audit_writable": audit.is_ok(),
        "audit_last_write": gateway.audit_status(),
        "profile": in_force.reference.revision,
        "profile_digest": in_force.profile.digest,
    });
    // A failed reload leaves the profile in force working: it is reported,
    // not a reason to take the instance out of rotation.
    if let Ok(status) = reloads.lock()
        && status.count > 0
    {
        body["reload"] = json!(*status);
    }
    if let Err(reason) = audit {
        body["audit_error"] = reason.into();
    }
    // A closed federation does not make the gateway unready: the client API
    // still works, and taking every instance out of rotation over a shared
    // list would stop it too. It is reported, for monitoring to alarm on.
    if let Some(federation) = federation {
        let allowlist = federation.allowlist();
        body["federation_open"] = (!allowlist.is_stale()).into();
        if allowlist.is_stale() {
            body["federation_error"] = closed_because(&federation).into();
        }
    }
    (status, Json(body)).into_response()
}

/// Why federation is closed: the signed list is missing or too old.
fn closed_because(federation: &Federation) -> String {
    let Some(list) = federation.signed_list() else {
        return "the federation allowlist is stale".to_owned();
    };
    let status = list.status(std::time::SystemTime::now());
    let age = match status.age_secs {
        Some(age) => format!("is {age} s old"),
        None => "has never been loaded".to_owned(),
    };
    let mut reason = format!(
        "the signed federation list from {} {age} (at most {} s allowed): \
         every server-server request is refused (federation.list_stale)",
        status.source, status.max_age_secs
    );
    if let Some(error) = status.last_error {
        reason.push_str(&format!("; its last refresh failed: {error}"));
    }
    reason
}
