//! Who made a request, as the audit record names them.
//!
//! A user is named by the pseudonym of their Matrix user ID (learned from
//! the access token with `/account/whoami`, cached: see `facts.rs`), so one
//! person keeps one pseudonym across logins within a key period. A token the
//! homeserver does not know is named by its own pseudonym; an application
//! service by its registration's id; a server by its name, or its pseudonym
//! when the profile says server names are personal.

use ruma::OwnedUserId;
use sectorgate_audit::{AuditError, Peer};
use sectorgate_policy::Profile;

use crate::Gateway;

/// The peer of a client request: the application service acting, the user
/// behind the access token, the token itself, or nobody.
pub(crate) fn client(
    gateway: &Gateway,
    appservice: Option<&str>,
    user: Option<&OwnedUserId>,
    token: Option<&str>,
    now_ms: i64,
) -> Result<Peer, AuditError> {
    if let Some(id) = appservice {
        return Ok(Peer::Appservice { id: id.to_owned() });
    }
    let pseudonyms = &gateway.pseudonyms;
    Ok(match (user, token) {
        (Some(user), _) => Peer::User {
            pseudonym: pseudonyms.pseudonym("user", user.as_str(), now_ms)?,
        },
        (None, Some(token)) => Peer::Token {
            pseudonym: pseudonyms.pseudonym("access_token", token, now_ms)?,
        },
        (None, None) => Peer::Anonymous,
    })
}

/// The peer of a verified server request (or of the egress: the local server).
pub(crate) fn server(
    gateway: &Gateway,
    profile: &Profile,
    name: &str,
    now_ms: i64,
) -> Result<Peer, AuditError> {
    Ok(if profile.audit.pseudonymise_servers {
        Peer::Server {
            name: None,
            pseudonym: Some(gateway.pseudonyms.pseudonym("server", name, now_ms)?),
        }
    } else {
        Peer::Server {
            name: Some(name.to_owned()),
            pseudonym: None,
        }
    })
}
