//! The handler every Matrix request goes through, step by step:
//! accept → classify → decide → record → forward.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::HeaderValue;
use http::request::Parts;
use ruma::OwnedUserId;
use sectorgate_action::access_token;
use sectorgate_action::{BodyMode, Catalog, Classified, check_head, classify_lookup};
use sectorgate_audit::{Direction, Peer};
use sectorgate_policy::{
    Context, Decision, Peer as PolicyPeer, Verdict, decide, decide_bad_head, decide_body_timeout,
    decide_body_unreadable, decide_endpoint, decide_input_error, decide_rate_limited,
    decide_too_large, needs, rules,
};
use tracing::{Instrument, field};

use crate::Gateway;
use crate::body::{self, BodyError, declared_length, read_limited};
use crate::capture::Seen;
use crate::facts::{Asker, Gathered};
use crate::headers::strip_hop_by_hop;
use crate::learn::Learned;
use crate::record::{self, About, trace_id};
use crate::respond::{self, Fault, REQUEST_ID};
use crate::{forward, forwarded, rewrite};
use crate::{peer, servers};
use sectorgate_audit::now_ms;

/// Runs one request through the pipeline.
pub async fn handle(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let request_id = gateway.request_ids.next();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        endpoint = field::Empty,
        action = field::Empty,
        rule = field::Empty,
        verdict = field::Empty,
        upstream_status = field::Empty,
        latency_ms = field::Empty,
    );
    let started = Instant::now();
    // The `record` option's capture: what the pipeline learns of the request.
    let mut seen = gateway.capture.as_ref().map(|_| {
        let user_agent = request
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|agent| agent.to_str().ok())
            .map(str::to_owned);
        (
            Seen {
                user_agent,
                ..Seen::default()
            },
            request.method().clone(),
            request.uri().clone(),
        )
    });
    let mut response = run(
        &gateway,
        peer,
        request,
        &request_id,
        seen.as_mut().map(|(seen, _, _)| seen),
    )
    .instrument(span.clone())
    .await;
    if let (Some(capture), Some((seen, method, uri))) = (&gateway.capture, &seen) {
        capture.offer(seen, method, uri, &request_id, &response);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    span.record("latency_ms", started.elapsed().as_secs_f64() * 1000.0);
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "request done"));
    response
}

async fn run(
    gateway: &Gateway,
    peer: SocketAddr,
    request: Request,
    request_id: &str,
    mut seen: Option<&mut Seen>,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let trace_id = trace_id(&parts.headers).map(str::to_owned);
    let about = |endpoint: Option<String>, action| About {
        request_id,
        trace_id: trace_id.as_deref(),
        direction: Direction::Inbound,
        endpoint,
        action,
    };

    // accept: a head every hop behind reads the same way, without the
    // client's hop-by-hop headers; then the forwarding headers.
    if let Err(error) = check_head(&parts.method, &parts.uri, parts.version, &parts.headers) {
        let mut response = refuse(
            gateway,
            Peer::Anonymous,
            &decide_bad_head(&error),
            about(None, "unparsed"),
        )
        .await;
        if error.closes_connection() {
            // The client's framing cannot be trusted for another request.
            response
                .headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        return response;
    }
    strip_hop_by_hop(&mut parts.headers);
    let client_ip = forwarded::apply(
        &mut parts.headers,
        peer.ip(),
        &gateway.config.trusted_proxies,
    );
    let lookup = Catalog::global().lookup(&parts.method, parts.uri.path());
    let endpoint = lookup.endpoint();
    let endpoint_name = endpoint.map(|endpoint| endpoint.to_string());
    if let Some(seen) = seen.as_deref_mut() {
        seen.endpoint.clone_from(&endpoint_name);
    }

    // accept: within the client address's rate.
    if let Err(wait) = gateway.limiters.client(client_ip) {
        let decision = decide_rate_limited(rules::LIMIT_CLIENT, wait);
        let about = about(endpoint_name, "unparsed");
        return refuse(gateway, Peer::Anonymous, &decision, about).await;
    }

    // accept: which API this listener serves, and who presents what. A
    // server's authorization is read strictly, before anything is believed
    // of it.
    let claim = match servers::accept(gateway, &lookup, &parts) {
        Ok(claim) => claim,
        Err(decision) => {
            return refuse(
                gateway,
                Peer::Anonymous,
                &decision,
                about(endpoint_name, "unparsed"),
            )
            .await;
        }
    };
    let appservice = gateway.appservices.of(&parts);
    let asker = Asker {
        client: &gateway.client,
        config: &gateway.config,
        parts: &parts,
    };
    // Who: the user behind an access token, as the homeserver says.
    let (user, unknown) = match claim.x_matrix {
        Some(_) => (None, None),
        None => match gateway.facts.whoami(&asker).await {
            Ok(user) => (user, None),
            Err(fault) => (None, Some(fault)),
        },
    };
    if let Some(seen) = seen.as_deref_mut() {
        seen.user.clone_from(&user);
    }
    let token = access_token(&parts.headers, parts.uri.query());
    let client = match peer::client(gateway, appservice, user.as_ref(), token, now_ms()) {
        Ok(client) => client,
        Err(error) => return audit_unavailable(&error, request_id),
    };
    if let Some(fault) = unknown {
        return record::fault(gateway, client, &fault, about(endpoint_name, "unparsed")).await;
    }

    // decide, first on the endpoint alone: a refused endpoint is refused
    // whatever its parameters and body, before either is read.
    if let Some(endpoint) = &endpoint {
        let early = decide_endpoint(endpoint, &gateway.profile);
        if matches!(early.verdict, Verdict::Deny(_)) {
            return refuse(gateway, client, &early, about(endpoint_name, "unparsed")).await;
        }
    }

    // accept: read the body (or not).
    let (buffered, stream) = match accept_body(gateway, lookup.body_mode(), &parts, body).await {
        Ok(bodies) => bodies,
        Err(decision) => {
            return refuse(gateway, client, &decision, about(endpoint_name, "invalid")).await;
        }
    };
    if let Some(seen) = seen.as_deref_mut() {
        seen.body = Some(buffered.clone());
        seen.streamed = stream.is_some();
    }

    // accept: a server is believed once its signature verifies.
    let now = now_ms().unsigned_abs();
    let origin = match &claim.x_matrix {
        Some(x_matrix) => match servers::verify(gateway, x_matrix, &parts, &buffered, now).await {
            Ok(origin) => Some(origin),
            Err(decision) => {
                return refuse(
                    gateway,
                    Peer::Anonymous,
                    &decision,
                    about(endpoint_name, "unparsed"),
                )
                .await;
            }
        },
        None => None,
    };
    let requester = match &origin {
        Some(origin) => match peer::server(gateway, origin.as_str(), now_ms()) {
            Ok(server) => server,
            Err(error) => return audit_unavailable(&error, request_id),
        },
        None => client,
    };
    // accept: within the verified origin's rate.
    if let Some(origin) = &origin
        && let Err(wait) = gateway.limiters.origin(origin.as_str())
    {
        let decision = decide_rate_limited(rules::LIMIT_ORIGIN, wait);
        return refuse(
            gateway,
            requester,
            &decision,
            about(endpoint_name, "unparsed"),
        )
        .await;
    }

    // classify
    let view = sectorgate_action::Request {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: &buffered,
    };
    let classified = classify_lookup(lookup, &view, gateway.config.limits.max_json_depth);

    // decide, with the facts the profile needs
    let peer = PolicyPeer { addr: client_ip };
    let (decision, action, learned) = match &classified {
        Ok(classified) => {
            let gathered = match gather(gateway, &parts, classified, user).await {
                Ok(gathered) => gathered,
                Err(fault) => {
                    let about = about(endpoint_name, classified.action.kind());
                    return record::fault(gateway, requester, &fault, about).await;
                }
            };
            let context = Context {
                peer,
                now_ms: now,
                user: gathered.user.as_ref(),
                room: gathered.room.as_ref(),
                event: gathered.event.as_ref(),
                invitees: gathered.invitees.as_ref(),
                appservice,
                federation: match (&gateway.federation, &claim.allowlist) {
                    (Some(federation), Some(list)) => {
                        Some(federation.facts(list, origin.as_deref()))
                    }
                    _ => None,
                },
            };
            let decision = decide(classified, &gateway.profile, &context);
            let learned = Learned::from(
                classified,
                &gateway.profile,
                decision.amended_body.as_deref(),
            );
            (decision, classified.action.kind(), learned)
        }
        Err(error) => (decide_input_error(error), "invalid", Learned::Nothing),
    };
    note_decision(&decision, endpoint_name.as_deref(), action);
    drop(classified);
    if let Some(seen) = seen {
        seen.action = Some(action);
    }

    // record
    let recorded =
        match record::decision(gateway, requester, &decision, about(endpoint_name, action)).await {
            Ok(recorded) => recorded,
            Err(response) => return response,
        };

    // forward, or answer the denial
    if !decision.is_allowed() {
        return recorded.answer(answer_denial(&decision, request_id), None);
    }
    let body = match (stream, decision.amended_body) {
        (Some(stream), _) => recorded.count_in(body::streamed(stream, upload_limit(gateway))),
        (None, Some(amended)) => {
            parts.headers.insert(
                http::header::CONTENT_LENGTH,
                HeaderValue::from(amended.len()),
            );
            recorded.add_in(amended.len());
            Body::from(amended)
        }
        (None, None) => {
            recorded.add_in(buffered.len());
            Body::from(buffered)
        }
    };
    if let Ok(value) = HeaderValue::from_str(request_id) {
        parts.headers.insert(REQUEST_ID, value);
    }
    match forward::forward(&gateway.client, &gateway.config, parts, body).await {
        Ok(response) => {
            let upstream = response.status().as_u16();
            tracing::Span::current().record("upstream_status", upstream);
            let response = learned.apply(response, &gateway.facts).await;
            if action == "get_supported_versions" {
                let rewritten = match rewrite::versions(response, &gateway.profile.discovery).await
                {
                    Some(response) => response,
                    None => respond::fault(&Fault::UpstreamUnreachable, request_id),
                };
                return recorded.answer(rewritten, Some(upstream));
            }
            recorded.answer(response, Some(upstream))
        }
        Err(fault) => recorded.answer(respond::fault(&fault, request_id), None),
    }
}

/// Records a refusal made before the request was classified, and answers it.
async fn refuse(gateway: &Gateway, peer: Peer, decision: &Decision, about: About<'_>) -> Response {
    note_decision(decision, about.endpoint.as_deref(), about.action);
    let request_id = about.request_id;
    match record::decision(gateway, peer, decision, about).await {
        Ok(recorded) => recorded.answer(answer_denial(decision, request_id), None),
        Err(response) => response,
    }
}

/// A pseudonym could not be made (its key cannot be read or created).
fn audit_unavailable(error: &sectorgate_audit::AuditError, request_id: &str) -> Response {
    tracing::error!(%error, "no pseudonym for the audit record; refusing the request");
    respond::fault(&Fault::AuditUnavailable, request_id)
}

/// Learns, from the homeserver, what the profile needs to decide on this
/// request (nothing, for most requests).
async fn gather(
    gateway: &Gateway,
    parts: &Parts,
    classified: &Classified,
    user: Option<OwnedUserId>,
) -> Result<Gathered, Fault> {
    let needs = needs(classified, &gateway.profile);
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
        parts,
    };
    let setting_types: Vec<String> = gateway
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

/// The largest upload: the gateway's limit, or the profile's if smaller.
fn upload_limit(gateway: &Gateway) -> u64 {
    let configured = gateway.config.limits.max_upload_bytes;
    gateway
        .profile
        .media
        .max_upload_bytes
        .as_ref()
        .map_or(configured, |max| max.limit.min(configured))
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

fn answer_denial(decision: &Decision, request_id: &str) -> Response {
    match &decision.verdict {
        Verdict::Deny(denial) => respond::denial(denial, decision.rule.as_str(), request_id),
        // Not reached: callers answer denials only. Fail closed all the same.
        Verdict::Allow | Verdict::Shadow(_) => {
            respond::fault(&Fault::UpstreamUnreachable, request_id)
        }
    }
}

fn note_decision(decision: &Decision, endpoint: Option<&str>, action: &str) {
    let span = tracing::Span::current();
    span.record("endpoint", endpoint.unwrap_or("-"));
    span.record("action", action);
    span.record("rule", decision.rule.as_str());
    span.record("verdict", decision.verdict_str());
}
