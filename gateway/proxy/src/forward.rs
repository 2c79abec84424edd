//! The *forward* step: the original request to the homeserver, the answer back.
//!
//! The path and query are forwarded exactly as received (signatures cover
//! them; the accept step has refused any the homeserver could read
//! differently); bodies stream both ways.

use std::time::Duration;

use crate::upstream::Upstream;
use axum::body::Body;
use axum::response::Response;
use http::request::Parts;
use http::uri::{PathAndQuery, Uri};

use crate::ProxyConfig;
use crate::body::ClientBodyError;
use crate::connection::cause;
use crate::headers::strip_hop_by_hop;
use crate::respond::Fault;

/// Longest extra wait granted to a long-poll (`/sync?timeout=…`).
const MAX_LONG_POLL: Duration = Duration::from_secs(300);

/// Sends the request to the homeserver and returns its response, streaming.
pub(crate) async fn forward(
    client: &Upstream,
    config: &ProxyConfig,
    mut parts: Parts,
    body: Body,
) -> Result<Response, Fault> {
    let allowance = config.response_timeout + long_poll(parts.uri.query());
    parts.uri = upstream_uri(&config.homeserver, parts.uri.path_and_query())?;
    // The homeserver is spoken to over HTTP/1.1, whatever the client spoke.
    parts.version = http::Version::HTTP_11;
    let request = http::Request::from_parts(parts, body);
    let response = match tokio::time::timeout(allowance, client.request(request)).await {
        Ok(Ok(response)) => response,
        // A chunked upload that outgrew the limit, its length not declared
        // up front; or a body that broke on the client's side.
        Ok(Err(error)) if cause::<http_body_util::LengthLimitError>(&error).is_some() => {
            return Err(Fault::UploadTooLarge);
        }
        Ok(Err(error)) if cause::<ClientBodyError>(&error).is_some() => {
            tracing::info!(%error, "the client's body broke while it was forwarded");
            return Err(Fault::ClientBodyBroken);
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "homeserver request failed");
            return Err(Fault::UpstreamUnreachable);
        }
        Err(_) => return Err(Fault::UpstreamTimeout),
    };
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// Whether the homeserver answers `/versions` with anything but a 5xx.
pub(crate) async fn probe(client: &Upstream, config: &ProxyConfig) -> bool {
    let Ok(uri) = upstream_uri(
        &config.homeserver,
        Some(&PathAndQuery::from_static("/_matrix/client/versions")),
    ) else {
        return false;
    };
    let Ok(request) = http::Request::get(uri).body(Body::empty()) else {
        return false;
    };
    match tokio::time::timeout(config.connect_timeout, client.request(request)).await {
        Ok(Ok(response)) => !response.status().is_server_error(),
        _ => false,
    }
}

fn upstream_uri(base: &Uri, path_and_query: Option<&PathAndQuery>) -> Result<Uri, Fault> {
    let mut parts = base.clone().into_parts();
    parts.path_and_query = path_and_query.cloned();
    Uri::from_parts(parts).map_err(|_| Fault::UpstreamUnreachable)
}

/// The long-poll time a request asks for (`timeout` or `timeout_ms`, in ms).
fn long_poll(query: Option<&str>) -> Duration {
    query
        .into_iter()
        .flat_map(|query| query.split('&'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "timeout" || *key == "timeout_ms")
        .and_then(|(_, value)| value.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_millis)
        .min(MAX_LONG_POLL)
}
