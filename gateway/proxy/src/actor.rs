//! Who made a request, pseudonymised for the audit record.

use http::request::Parts;
use sectorgate_action::access_token;
use sectorgate_audit::{Actor, Pseudonymiser};

/// The audit actor of a client request: the application service acting,
/// the pseudonym of its access token, or anonymous. (A server is the actor
/// only once its signature is verified: see `servers`.)
pub(crate) fn actor(
    parts: &Parts,
    pseudonymiser: &Pseudonymiser,
    appservice: Option<&str>,
) -> Actor {
    if let Some(id) = appservice {
        return Actor::Appservice(id.to_owned());
    }
    match access_token(&parts.headers, parts.uri.query()) {
        Some(token) => Actor::User(pseudonymiser.pseudonym("access_token", token)),
        None => Actor::Anonymous,
    }
}
