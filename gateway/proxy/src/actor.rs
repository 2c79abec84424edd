//! Who made a request, pseudonymised for the audit record.

use http::request::Parts;
use sectorgate_action::{Credentials, credentials};
use sectorgate_audit::{Actor, Pseudonymiser};

/// The audit actor of a request: the application service acting, the
/// pseudonym of its access token, the origin of its `X-Matrix`
/// authorization, or anonymous.
pub(crate) fn actor(
    parts: &Parts,
    pseudonymiser: &Pseudonymiser,
    appservice: Option<&str>,
) -> Actor {
    if let Some(id) = appservice {
        return Actor::Appservice(id.to_owned());
    }
    match credentials(&parts.headers, parts.uri.query()) {
        Credentials::AccessToken(token) => {
            Actor::User(pseudonymiser.pseudonym("access_token", token))
        }
        Credentials::Server(origin) => Actor::Server(origin.to_string()),
        Credentials::None => Actor::Anonymous,
    }
}
