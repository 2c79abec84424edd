//! Federation: only servers on the allowlist take part, and no server
//! speaks for another.
//!
//! - A signed request's origin must be a member ([`decide_origin`], decided
//!   by the pipeline before the body is read), and its signature must
//!   verify ([`decide_unauthenticated`]).
//! - Every PDU in a transaction must come from, name and be signed by
//!   members; every EDU must speak only for the origin's users
//!   ([`transaction`]).
//! - Membership handshakes and invites must be made by the origin's users,
//!   for rooms and users that match ([`membership`]).
//! - A client may not reach, through the homeserver, a server outside the
//!   federation ([`remote`]).

mod items;
mod membership;
mod remote;
mod transaction;

use std::borrow::Cow;

use ruma::ServerName;
use sectorgate_action::{Action, Api};

use super::{Input, Judge};
use crate::federation::{Admission, FederationFacts};
use crate::{Decision, RuleId};

/// The federation rule ids.
pub mod rules {
    use crate::RuleId;

    /// Federation is not configured: signed requests are refused.
    pub const DISABLED: RuleId = RuleId::builtin("federation.disabled");
    /// A federation endpoint called without an `X-Matrix` signature.
    pub const UNSIGNED: RuleId = RuleId::builtin("federation.unsigned");
    /// The `X-Matrix` destination is another server.
    pub const WRONG_DESTINATION: RuleId = RuleId::builtin("federation.wrong_destination");
    /// The origin's keys could not be had from the origin.
    pub const KEYS_UNAVAILABLE: RuleId = RuleId::builtin("federation.keys_unavailable");
    /// The `X-Matrix` signature does not verify.
    pub const BAD_SIGNATURE: RuleId = RuleId::builtin("federation.bad_signature");
    /// The federation list is past its maximum age.
    pub const LIST_STALE: RuleId = RuleId::builtin("federation.list_stale");
    /// The requesting server is not on the allowlist.
    pub const ORIGIN_NOT_ALLOWED: RuleId = RuleId::builtin("federation.origin_not_allowed");
    /// A transaction's `origin` differs from its signer.
    pub const ORIGIN_MISMATCH: RuleId = RuleId::builtin("federation.origin_mismatch");
    /// A transaction carries PDUs or EDUs that are refused.
    pub const TRANSACTION_ITEMS: RuleId = RuleId::builtin("federation.transaction_items");
    /// A membership event or request made for another server's user.
    pub const NOT_ORIGINS_USER: RuleId = RuleId::builtin("federation.not_origins_user");
    /// A user id that should be local is not.
    pub const USER_NOT_LOCAL: RuleId = RuleId::builtin("federation.user_not_local");
    /// The room id in the path differs from the event's.
    pub const ROOM_MISMATCH: RuleId = RuleId::builtin("federation.room_mismatch");
    /// A membership event that names or is signed by a server outside the federation.
    pub const EVENT_NOT_ALLOWED: RuleId = RuleId::builtin("federation.event_not_allowed");
    /// The homeserver's own request to a server on the allowlist.
    pub const OUTBOUND_ALLOWED: RuleId = RuleId::builtin("federation.outbound_allowed");
    /// The homeserver's own request to a server outside the federation.
    pub const DESTINATION_NOT_ALLOWED: RuleId =
        RuleId::builtin("federation.destination_not_allowed");
    /// A client request that would reach a server outside the federation.
    pub const REMOTE_NOT_ALLOWED: RuleId = RuleId::builtin("federation.remote_not_allowed");
}

/// Why a signed request could not be authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unauthenticated {
    /// Federation is not configured.
    Disabled,
    /// The endpoint needs a signature and the request has none.
    Unsigned,
    /// The signature is addressed to another server.
    WrongDestination(String),
    /// The origin's keys could not be fetched or did not include the key used.
    KeysUnavailable(String),
    /// The signature does not verify.
    BadSignature(String),
}

/// The answer to a request that could not be authenticated.
pub fn decide_unauthenticated(why: &Unauthenticated) -> Decision {
    let unauthorized = |rule, message: String| Decision::deny(rule, 401, "M_UNAUTHORIZED", message);
    match why {
        Unauthenticated::Disabled => Decision::deny(
            rules::DISABLED,
            403,
            "M_FORBIDDEN",
            "this homeserver does not federate",
        ),
        Unauthenticated::Unsigned => unauthorized(
            rules::UNSIGNED,
            "this endpoint needs an X-Matrix signature".to_owned(),
        ),
        Unauthenticated::WrongDestination(destination) => unauthorized(
            rules::WRONG_DESTINATION,
            format!("the request is signed for {destination}, not for this server"),
        ),
        Unauthenticated::KeysUnavailable(why) => unauthorized(
            rules::KEYS_UNAVAILABLE,
            format!("the origin's signing key could not be had: {why}"),
        ),
        Unauthenticated::BadSignature(why) => unauthorized(
            rules::BAD_SIGNATURE,
            format!("the X-Matrix signature does not verify: {why}"),
        ),
    }
}

/// Whether a server claiming to send a request may be heard at all;
/// `None` when it is a member.
pub fn decide_origin(origin: &ServerName, facts: &FederationFacts<'_>) -> Option<Decision> {
    match facts.admits(origin) {
        Admission::Member => None,
        Admission::NotMember => Some(Decision::deny(
            rules::ORIGIN_NOT_ALLOWED,
            403,
            "M_FORBIDDEN",
            format!("{origin} is not part of the federation"),
        )),
        Admission::Stale => Some(stale()),
    }
}

/// Whether the homeserver may send a request to `destination`.
pub fn decide_destination(destination: &ServerName, facts: &FederationFacts<'_>) -> Decision {
    match facts.admits(destination) {
        Admission::Member => Decision::allow(rules::OUTBOUND_ALLOWED),
        Admission::NotMember => Decision::deny(
            rules::DESTINATION_NOT_ALLOWED,
            403,
            "M_FORBIDDEN",
            format!("{destination} is not part of the federation"),
        ),
        Admission::Stale => stale(),
    }
}

fn stale() -> Decision {
    Decision::deny(
        rules::LIST_STALE,
        403,
        "M_FORBIDDEN",
        "the federation list is out of date: federation is closed until it is renewed",
    )
}

fn forbidden(rule: RuleId, message: impl Into<Cow<'static, str>>) -> Decision {
    Decision::deny(rule, 403, "M_FORBIDDEN", message)
}

/// Checks a request against the federation rules.
pub(crate) fn check(input: &Input<'_>, _judge: &mut Judge) -> Result<(), Decision> {
    let Some(facts) = &input.context.federation else {
        return Ok(());
    };
    match (&input.classified.action, facts.origin) {
        (Action::SendTransaction(txn), Some(origin)) => {
            transaction::check(txn, origin, facts, &input.profile.federation)
        }
        (action, Some(origin)) => membership::check(action, origin, facts),
        (action, None)
            if input
                .classified
                .endpoint
                .is_some_and(|e| e.api == Api::Client) =>
        {
            remote::check(action, facts)
        }
        _ => Ok(()),
    }
}
