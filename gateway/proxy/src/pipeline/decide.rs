//! The *classify* and *decide* steps: the request becomes an action, the
//! homeserver is asked what the profile needs to know of it, and the pure
//! policy decides.

use bytes::Bytes;
use ruma::OwnedUserId;
use sectorgate_action::{
    Classified, ClassifyError, Endpoint, Lookup, access_token, classify_lookup,
};
use sectorgate_audit::{Peer, now_ms};
use sectorgate_policy::{Context, Decision, Peer as PolicyPeer, decide_input_error, needs};

use super::accept::Received;
use super::{Inbound, Refusal};
use crate::ProxyConfig;
use crate::facts::{Asker, Gathered};
use crate::learn::Learned;
use crate::rewrite::Reshape;

/// A decision, and what its answer will teach and become.
pub(super) struct Decided {
    pub(super) decision: Decision,
    pub(super) learned: Learned,
    pub(super) reshape: Reshape,
    /// The gateway's own answer, for an endpoint it serves from its
    /// configuration (`/.well-known/matrix/support`): not forwarded.
    pub(super) served: Option<Bytes>,
}

/// The gateway's own answer to `classified`, if it serves it.
fn served(classified: &Classified, config: &ProxyConfig) -> Option<Bytes> {
    let support = Endpoint::client("discover_support");
    (classified.endpoint == Some(support))
        .then(|| config.support.clone())
        .flatten()
}

/// Classifies a received request.
pub(super) fn classify(
    inbound: &mut Inbound<'_>,
    lookup: Lookup<'_>,
    received: &Received<'_>,
) -> Result<Classified, ClassifyError> {
    let view = sectorgate_action::Request {
        method: &received.parts.method,
        uri: &received.parts.uri,
        headers: &received.parts.headers,
        body: &received.buffered,
    };
    let max_depth = inbound.gateway.config.limits.max_json_depth;
    let classified = classify_lookup(lookup, &view, max_depth);
    inbound.action = match &classified {
        Ok(classified) => classified.action.kind(),
        Err(_) => "invalid",
    };
    let action = inbound.action;
    inbound.see(|seen| seen.action = Some(action));
    classified
}

/// Decides on a classified request with the facts the profile needs; a
/// request that could not be classified is refused for it.
pub(super) async fn decide(
    inbound: &Inbound<'_>,
    classified: Result<Classified, ClassifyError>,
    requester: &Peer,
    received: &mut Received<'_>,
) -> Result<Decided, Refusal> {
    let gateway = inbound.gateway;
    let classified = match classified {
        Ok(classified) => classified,
        Err(error) => {
            return Ok(Decided {
                decision: decide_input_error(&error),
                learned: Learned::Nothing,
                reshape: Reshape::AsIs,
                served: None,
            });
        }
    };
    let gathered = gather(inbound, received, &classified)
        .await
        .map_err(|fault| Refusal::Fault {
            peer: requester.clone(),
            fault,
        })?;
    let federation = match (&gateway.federation, &received.allowlist) {
        (Some(federation), Some(list)) => Some(federation.facts(list, received.origin.as_deref())),
        _ => None,
    };
    let context = Context {
        peer: PolicyPeer {
            addr: received.client_ip,
        },
        now_ms: now_ms().unsigned_abs(),
        user: gathered.user.as_ref(),
        token: access_token(&received.parts.headers, received.parts.uri.query()).is_some(),
        room: gathered.room.as_ref(),
        event: gathered.event.as_ref(),
        invitees: gathered.invitees.as_ref(),
        shares_room: gathered.shares_room,
        membership: gathered.membership.as_deref(),
        appservice: received.appservice,
        federation,
    };
    let decision = sectorgate_policy::decide(&classified, &inbound.in_force.profile, &context);
    let amended = decision.amended_body.as_deref();
    let user = gathered.user.as_ref();
    let reshape = Reshape::of(
        &classified.action,
        &inbound.in_force.profile,
        user,
        &received.parts,
    );
    reshape.prepare(&mut received.parts);
    Ok(Decided {
        learned: Learned::from(&classified, &inbound.in_force.profile, amended),
        reshape,
        served: served(&classified, &gateway.config),
        decision,
    })
}

/// Learns, from the homeserver, what the profile needs to decide on this
/// request (nothing, for most requests).
async fn gather(
    inbound: &Inbound<'_>,
    received: &mut Received<'_>,
    classified: &Classified,
) -> Result<Gathered, crate::respond::Fault> {
    let gateway = inbound.gateway;
    let needs = needs(classified, &inbound.in_force.profile);
    let user: Option<OwnedUserId> = received.user.take();
    // Whom a request acts for (an application service too) is known.
    if needs.is_empty() {
        return Ok(Gathered {
            user,
            ..Gathered::default()
        });
    }
    let asker = Asker {
        client: &gateway.client,
        config: &gateway.config,
        parts: &received.parts,
    };
    let setting_types: Vec<String> = inbound
        .in_force
        .profile
        .invites
        .permissions
        .iter()
        .flat_map(|permissions| permissions.types.iter().map(|(t, _)| t.clone()))
        .collect();
    gateway
        .facts
        .gather(&asker, &needs, user, &setting_types)
        .await
}
