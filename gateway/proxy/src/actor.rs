//! Who made a request, pseudonymised for the audit record.

use http::request::Parts;
use ruma::api::federation::authentication::XMatrix;
use sectorgate_action::access_token;
use sectorgate_audit::{Actor, Pseudonymiser};

/// The audit actor of a request: the application service acting, the
/// origin of its (well-formed) `X-Matrix` authorization, the pseudonym of
/// its access token, or anonymous.
pub(crate) fn actor(
    parts: &Parts,
    pseudonymiser: &Pseudonymiser,
    appservice: Option<&str>,
    x_matrix: Option<&XMatrix>,
) -> Actor {
    if let Some(id) = appservice {
        return Actor::Appservice(id.to_owned());
    }
    if let Some(x_matrix) = x_matrix {
        return Actor::Server(x_matrix.origin.to_string());
    }
    match access_token(&parts.headers, parts.uri.query()) {
        Some(token) => Actor::User(pseudonymiser.pseudonym("access_token", token)),
        None => Actor::Anonymous,
    }
}
