//! Answers the profile changes on their way back: `GET /versions` announces
//! only the spec versions and unstable features the profile allows.

use axum::body::Body;
use axum::response::Response;
use http::HeaderValue;
use http::header::CONTENT_LENGTH;
use http_body_util::{BodyExt, Limited};
use sectorgate_action::Action;
use sectorgate_policy::profile::Discovery;

use crate::respond::{self, Fault};

/// Largest `/versions` answer rewritten; a larger one is a fault.
const MAX_VERSIONS_BYTES: usize = 256 * 1024;

/// What the profile makes of an answer on its way back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reshape {
    /// Passed as the homeserver gave it.
    AsIs,
    /// A `/versions` answer, rewritten as the profile's `discovery` says.
    Versions,
}

impl Reshape {
    /// What the answer to `action` becomes.
    pub(crate) fn of(action: &Action) -> Self {
        match action {
            Action::GetVersions => Self::Versions,
            _ => Self::AsIs,
        }
    }

    /// Reshapes `response`; one that cannot be read is a fault, never
    /// passed on unfiltered.
    pub(crate) async fn apply(
        self,
        response: Response,
        discovery: &Discovery,
        request_id: &str,
    ) -> Response {
        match self {
            Self::AsIs => response,
            Self::Versions => versions(response, discovery)
                .await
                .unwrap_or_else(|| respond::fault(&Fault::UpstreamUnreachable, request_id)),
        }
    }
}

/// Rewrites a successful `/versions` answer; any other answer passes as is.
/// An answer that cannot be read or is not JSON becomes `None`: it is not
/// passed on unfiltered.
async fn versions(response: Response, discovery: &Discovery) -> Option<Response> {
    if !response.status().is_success() || !discovery.rewrites() {
        return Some(response);
    }
    let (mut parts, body) = response.into_parts();
    let bytes = Limited::new(body, MAX_VERSIONS_BYTES)
        .collect()
        .await
        .ok()?
        .to_bytes();
    let answer = serde_json::from_slice(&bytes).ok()?;
    let rewritten = serde_json::to_vec(&discovery.rewrite(answer)).ok()?;
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(rewritten.len()));
    Some(Response::from_parts(parts, Body::from(rewritten)))
}
