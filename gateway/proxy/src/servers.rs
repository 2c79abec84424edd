//! Proof of which server is asking: once the body is read, a signed
//! request's `X-Matrix` signature is verified over the request as
//! received; only then is the origin believed, recorded and handed to
//! `decide`. (A claim is admitted for verification by the policy's early
//! checks, [`sectorgate_policy::plan`]: no key is ever fetched for a
//! server outside the federation.)

use bytes::Bytes;
use http::request::Parts;
use ruma::OwnedServerName;
use ruma::api::federation::authentication::XMatrix;
use sectorgate_policy::{Decision, Unauthenticated, decide_unauthenticated};

use crate::Gateway;

/// Verifies the claim's signature over the request as received.
pub(crate) async fn verify(
    gateway: &Gateway,
    x_matrix: &XMatrix,
    parts: &Parts,
    body: &Bytes,
    now_ms: u64,
) -> Result<OwnedServerName, Decision> {
    let Some(federation) = &gateway.federation else {
        return Err(decide_unauthenticated(&Unauthenticated::Disabled));
    };
    let mut request = http::Request::new(&body[..]);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    federation
        .authenticate(x_matrix, &request, now_ms)
        .await
        .map_err(|why| {
            tracing::warn!(origin = %x_matrix.origin, ?why, "federation request not authenticated");
            decide_unauthenticated(&why)
        })
}
