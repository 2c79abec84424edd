//! Answers the profile changes on their way back: `GET /versions` announces
//! only the spec versions and unstable features the profile allows; a user
//! directory search shows only the users the requester may look up
//! (`directory.rs`). An answer the gateway reshapes is asked for
//! uncompressed.

use axum::body::Body;
use axum::response::Response;
use http::HeaderValue;
use http::header::{ACCEPT_ENCODING, CONTENT_LENGTH};
use http::request::Parts;
use http_body_util::{BodyExt, Limited};
use ruma::OwnedUserId;
use sectorgate_action::Action;
use sectorgate_policy::profile::Discovery;
use sectorgate_policy::{Profile, directory_filter};

use crate::Gateway;
use crate::directory::DirectoryFilter;
use crate::facts::Credentials;
use crate::respond::{self, Fault};

/// Largest `/versions` answer rewritten; a larger one is a fault.
const MAX_VERSIONS_BYTES: usize = 256 * 1024;

/// What the profile makes of an answer on its way back.
#[derive(Debug)]
pub(crate) enum Reshape {
    /// Passed as the homeserver gave it.
    AsIs,
    /// A `/versions` answer, rewritten as the profile's `discovery` says.
    Versions,
    /// A user directory answer, filtered by the shared-rooms rule.
    Directory(Box<DirectoryFilter>),
}

impl Reshape {
    /// What the answer to `action`, asked by `user` with the credentials
    /// `parts` present, becomes under `profile`.
    pub(crate) fn of(
        action: &Action,
        profile: &Profile,
        user: Option<&OwnedUserId>,
        parts: &Parts,
    ) -> Self {
        match action {
            Action::GetVersions => Self::Versions,
            _ if directory_filter(action, profile).is_some() => Self::Directory(Box::new(
                DirectoryFilter::new(user.cloned(), Credentials::of(parts)),
            )),
            _ => Self::AsIs,
        }
    }

    /// Readies the request: an answer the gateway reads is asked for
    /// uncompressed.
    pub(crate) fn prepare(&self, parts: &mut Parts) {
        if !matches!(self, Self::AsIs) {
            parts.headers.remove(ACCEPT_ENCODING);
        }
    }

    /// Reshapes `response`; one that cannot be read is a fault, never
    /// passed on unfiltered.
    pub(crate) async fn apply(
        self,
        response: Response,
        gateway: &Gateway,
        profile: &Profile,
        request_id: &str,
    ) -> Response {
        let reshaped = match self {
            Self::AsIs => return response,
            Self::Versions => versions(response, &profile.discovery).await,
            Self::Directory(filter) => filter.apply(response, gateway).await,
        };
        reshaped.unwrap_or_else(|| respond::fault(&Fault::UpstreamUnreachable, request_id))
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
