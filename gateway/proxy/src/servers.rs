//! The *accept* step for server-server requests: which API a listener
//! serves, and proof of which server is asking.
//!
//! A signed endpoint is refused before its body is read when federation is
//! off, when it bears no signature, or when the server it claims to come
//! from is not allowed (no keys are ever fetched for such a server). Once
//! the body is read, the signature is verified; only then is the origin
//! believed, recorded and handed to `decide`.

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use ruma::OwnedServerName;
use ruma::api::federation::authentication::XMatrix;
use sectorgate_action::{Api, Lookup, x_matrix};
use sectorgate_policy::federation::Allowlist;
use sectorgate_policy::{
    Decision, Unauthenticated, decide_api_not_served, decide_bad_authorization, decide_origin,
    decide_unauthenticated,
};

use crate::Gateway;

/// The APIs a listener serves; set on each request by the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Serves {
    /// The client-server API.
    pub client: bool,
    /// The server-server API.
    pub federation: bool,
}

impl Serves {
    /// Both APIs.
    pub const BOTH: Self = Self {
        client: true,
        federation: true,
    };

    /// Whether `api` is served.
    pub fn allows(self, api: Api) -> bool {
        match api {
            Api::Client => self.client,
            Api::Federation => self.federation,
        }
    }
}

/// What a request says of the server sending it, before its body is read.
pub(crate) struct Claim {
    /// The `X-Matrix` authorization to verify, for signed endpoints.
    pub(crate) x_matrix: Option<XMatrix>,
    /// The allowlist snapshot this request is decided under.
    pub(crate) allowlist: Option<Arc<Allowlist>>,
}

/// Refuses a request for an API the listener does not serve, a malformed
/// `X-Matrix` authorization, and a signed endpoint that cannot be heard;
/// otherwise keeps what is to be verified. An `X-Matrix` header on an
/// endpoint that takes none is ignored: it proves nothing there.
pub(crate) fn accept(
    gateway: &Gateway,
    lookup: &Lookup<'_>,
    parts: &Parts,
) -> Result<Claim, Decision> {
    let serves = parts
        .extensions
        .get::<Serves>()
        .copied()
        .unwrap_or(Serves::BOTH);
    if let Some(endpoint) = lookup.endpoint()
        && !serves.allows(endpoint.api)
    {
        return Err(decide_api_not_served(endpoint.api));
    }
    let x_matrix = x_matrix(&parts.headers).map_err(decide_bad_authorization)?;
    let allowlist = gateway.federation.as_ref().map(|f| f.allowlist());
    if !lookup.server_signed() {
        return Ok(Claim {
            x_matrix: None,
            allowlist,
        });
    }
    let (Some(federation), Some(list)) = (&gateway.federation, &allowlist) else {
        return Err(decide_unauthenticated(&Unauthenticated::Disabled));
    };
    let Some(x_matrix) = x_matrix else {
        return Err(decide_unauthenticated(&Unauthenticated::Unsigned));
    };
    if let Some(refusal) = decide_origin(&x_matrix.origin, &federation.facts(list, None)) {
        // A server the list does not know yet may be on a newer list.
        federation.want_refresh();
        return Err(refusal);
    }
    Ok(Claim {
        x_matrix: Some(x_matrix),
        allowlist,
    })
}

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
