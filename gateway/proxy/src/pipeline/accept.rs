//! The *accept* step: the policy's early checks ([`plan`]), the client
//! address's rate, who asks, the body, and a server's signature with its
//! rate.

use sectorgate_policy::Profile;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use http::request::Parts;
use ruma::api::federation::authentication::XMatrix;
use ruma::{OwnedServerName, OwnedUserId};
use sectorgate_action::{BodyMode, Lookup, access_token};
use sectorgate_audit::{Peer, now_ms};
use sectorgate_policy::federation::Allowlist;
use sectorgate_policy::{
    Arrival, Decision, Gate, Plan, Serves, decide_body_timeout, decide_body_unreadable,
    decide_rate_limited, decide_too_large, plan, rules,
};

use super::{Inbound, Refusal};
use crate::Gateway;
use crate::body::{BodyError, declared_length, read_limited};
use crate::facts::Asker;
use crate::headers::strip_hop_by_hop;
use crate::{forwarded, peer, servers};

/// A request accepted.
pub(super) struct Accepted<'g> {
    /// Who asks, as the record names them.
    pub(super) requester: Peer,
    pub(super) received: Received<'g>,
    /// A streamed body, still unread.
    pub(super) stream: Option<Body>,
}

/// What was received of an accepted request: its head as forwarded, an
/// inspected body, and who sent it.
pub(super) struct Received<'g> {
    pub(super) parts: Parts,
    /// An inspected body, read whole (empty for a streamed one).
    pub(super) buffered: Bytes,
    /// The user behind the access token, as the homeserver says.
    pub(super) user: Option<OwnedUserId>,
    /// The application service whose token the request bears.
    pub(super) appservice: Option<&'g str>,
    pub(super) client_ip: IpAddr,
    /// The server whose signature verified.
    pub(super) origin: Option<OwnedServerName>,
    /// The allowlist snapshot the request is decided under.
    pub(super) allowlist: Option<Arc<Allowlist>>,
}

/// Accepts a request, or refuses it.
pub(super) async fn accept<'g>(
    inbound: &mut Inbound<'g>,
    peer: SocketAddr,
    lookup: &Lookup<'_>,
    mut parts: Parts,
    body: Body,
) -> Result<Accepted<'g>, Refusal> {
    let gateway = inbound.gateway;
    inbound.endpoint = lookup.endpoint().map(|endpoint| endpoint.to_string());
    if let Some(seen) = inbound.seen.as_deref_mut() {
        seen.endpoint.clone_from(&inbound.endpoint);
    }
    let allowlist = gateway.federation.as_ref().map(|f| f.allowlist());
    let plan = early_checks(
        gateway,
        &inbound.in_force.profile,
        inbound.serves,
        &parts,
        lookup,
        allowlist.as_deref(),
    )?;
    strip_hop_by_hop(&mut parts.headers);
    let client_ip = forwarded::apply(
        &mut parts.headers,
        peer.ip(),
        &gateway.config.trusted_proxies,
    );
    if let Err(wait) = gateway.limiters.client(client_ip) {
        let decision = decide_rate_limited(rules::LIMIT_CLIENT, wait);
        return Err(Refusal::denied(Peer::Anonymous, decision));
    }
    let appservice = gateway.appservices.of(&parts);
    let (client, user) = identify(inbound, &parts, appservice, plan.signed.is_some()).await?;
    if let Some(refusal) = plan.refusal {
        return Err(Refusal::denied(client, refusal));
    }
    let (buffered, stream) = match accept_body(gateway, plan.body, &parts, body).await {
        Ok(bodies) => bodies,
        Err(decision) => {
            inbound.action = "invalid";
            return Err(Refusal::denied(client, decision));
        }
    };
    inbound.see(|seen| {
        seen.body = Some(buffered.clone());
        seen.streamed = stream.is_some();
    });
    let (requester, origin) = match &plan.signed {
        Some(x_matrix) => {
            verified(
                gateway,
                &inbound.in_force.profile,
                x_matrix,
                &parts,
                &buffered,
            )
            .await?
        }
        None => (client, None),
    };
    let received = Received {
        parts,
        buffered,
        user,
        appservice,
        client_ip,
        origin,
        allowlist,
    };
    Ok(Accepted {
        requester,
        received,
        stream,
    })
}

/// The policy's checks before anything is learned of who asks; a refusal
/// names nobody.
fn early_checks(
    gateway: &Gateway,
    profile: &Profile,
    serves: Serves,
    parts: &Parts,
    lookup: &Lookup<'_>,
    allowlist: Option<&Allowlist>,
) -> Result<Plan, Refusal> {
    let federation = match (&gateway.federation, allowlist) {
        (Some(federation), Some(list)) => Some(federation.facts(list, None)),
        _ => None,
    };
    let arrival = Arrival {
        method: &parts.method,
        uri: &parts.uri,
        version: parts.version,
        headers: &parts.headers,
        lookup,
        serves,
        federation: federation.as_ref(),
    };
    plan(&arrival, profile).map_err(|refused| {
        if let (Gate::Origin, Some(federation)) = (refused.gate, &gateway.federation) {
            // A server the list does not know yet may be on a newer list.
            federation.want_refresh();
        }
        Refusal::Denied {
            peer: Peer::Anonymous,
            decision: Box::new(refused.decision),
            closes_connection: matches!(
                refused.gate,
                Gate::Head {
                    closes_connection: true
                }
            ),
        }
    })
}

/// Who asks: for a client request, the user behind its access token, as
/// the homeserver says; as the record names them.
async fn identify(
    inbound: &mut Inbound<'_>,
    parts: &Parts,
    appservice: Option<&str>,
    signed: bool,
) -> Result<(Peer, Option<OwnedUserId>), Refusal> {
    let gateway = inbound.gateway;
    let asker = Asker {
        client: &gateway.client,
        config: &gateway.config,
        parts,
    };
    let (user, unknown) = match signed {
        true => (None, None),
        false => match gateway.facts.whoami(&asker).await {
            Ok(user) => (user, None),
            Err(fault) => (None, Some(fault)),
        },
    };
    inbound.see(|seen| seen.user.clone_from(&user));
    let token = access_token(&parts.headers, parts.uri.query());
    let client = peer::client(gateway, appservice, user.as_ref(), token, now_ms())
        .map_err(Refusal::no_pseudonym)?;
    match unknown {
        Some(fault) => Err(Refusal::Fault {
            peer: client,
            fault,
        }),
        None => Ok((client, user)),
    }
}

/// A server is believed once its signature verifies, and heard within its
/// rate.
async fn verified(
    gateway: &Gateway,
    profile: &Profile,
    x_matrix: &XMatrix,
    parts: &Parts,
    body: &Bytes,
) -> Result<(Peer, Option<OwnedServerName>), Refusal> {
    let now = now_ms().unsigned_abs();
    let origin = servers::verify(gateway, x_matrix, parts, body, now)
        .await
        .map_err(|decision| Refusal::denied(Peer::Anonymous, decision))?;
    let server =
        peer::server(gateway, profile, origin.as_str(), now_ms()).map_err(Refusal::no_pseudonym)?;
    if let Err(wait) = gateway.limiters.origin(origin.as_str()) {
        let decision = decide_rate_limited(rules::LIMIT_ORIGIN, wait);
        return Err(Refusal::denied(server, decision));
    }
    Ok((server, Some(origin)))
}

/// Reads an inspected body whole (bounded in size and time), or leaves a
/// streamed one unread. A body that cannot be accepted is a denial.
async fn accept_body(
    gateway: &Gateway,
    mode: BodyMode,
    parts: &Parts,
    body: Body,
) -> Result<(Bytes, Option<Body>), Decision> {
    let limits = &gateway.config.limits;
    match mode {
        BodyMode::Buffered => read_limited(
            &parts.headers,
            body,
            limits.max_json_body_bytes,
            limits.body_read_timeout,
        )
        .await
        .map(|bytes| (bytes, None))
        .map_err(|error| match error {
            BodyError::TooLarge => decide_too_large(limits.max_json_body_bytes),
            BodyError::TimedOut => decide_body_timeout(),
            BodyError::Unreadable(reason) => decide_body_unreadable(reason),
        }),
        BodyMode::Streamed => {
            if declared_length(&parts.headers).is_some_and(|len| len > limits.max_upload_bytes) {
                return Err(decide_too_large(limits.max_upload_bytes));
            }
            Ok((Bytes::new(), Some(body)))
        }
    }
}
