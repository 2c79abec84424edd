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
//!
//! The profile's `federation:` section ([`file`]) says how a transaction
//! with refused items is answered and whether a signed list may feed the
//! allowlist ([`FederationRules`]).

mod file;
mod items;
mod membership;
mod remote;
mod transaction;

pub(crate) use file::FederationFile;
pub use file::TransactionMode;

use std::borrow::Cow;

use ruma::ServerName;
use sectorgate_action::{Action, Api};

use crate::decide::{Input, Judge};
use crate::federation::{Admission, FederationFacts};
use crate::profile::{Link, nearest};
use crate::rules::federation as rules;
use crate::{Decision, RuleId};

/// Rules on federation.
#[derive(Clone, Debug, Default)]
pub struct FederationRules {
    /// How a transaction with refused items is answered.
    pub transactions: TransactionMode,
    /// Whether a signed federation list may feed the allowlist.
    pub signed_lists: bool,
}

/// `federation`: how transactions are judged, and whether signed lists
/// may add to the allowlist.
pub(crate) fn resolve(chain: &[Link]) -> FederationRules {
    FederationRules {
        transactions: nearest(chain, |f| f.federation.transactions)
            .map_or_else(TransactionMode::default, |(mode, _)| mode),
        signed_lists: nearest(chain, |f| f.federation.signed_lists)
            .is_none_or(|(allowed, _)| allowed),
    }
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
