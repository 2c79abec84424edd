//! The handler every Matrix request goes through, one stage a step:
//! accept → classify → decide → record → forward ([`steps`]).
//!
//! Each stage hands the next what it needs, or a [`Refusal`]; a refusal is
//! recorded and answered in one place ([`Refusal::answer`]). The order of
//! the checks made before the body is read is the policy's
//! ([`sectorgate_policy::plan`]), shared with the decision cases.

mod accept;
mod decide;
mod refusal;

use sectorgate_policy::Profile;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use http::HeaderValue;
use http::request::Parts;
use sectorgate_action::Catalog;
use sectorgate_audit::Direction;
use tracing::{Instrument, field};

use crate::body;
use crate::capture::Seen;
use crate::cascade::{Carry, Cascade};
use crate::forward;
use crate::metrics::{Laps, Step};
use crate::record::{self, About, Recorded, trace_id};
use crate::respond::{self, REQUEST_ID};
use crate::{Gateway, InForce};
use accept::{Accepted, Received};
use decide::Decided;
use refusal::Refusal;
use sectorgate_policy::{FollowUp, Serves};

/// Runs one request through the pipeline, as an axum handler serving both
/// APIs (see [`crate::router`]).
pub async fn handle(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    serve(&gateway, peer, Serves::BOTH, request).await
}

/// Runs one request from `peer` through the pipeline, on a listener that
/// `serves` these APIs. The data path's entry: listeners call it directly.
pub async fn serve(
    gateway: &Arc<Gateway>,
    peer: SocketAddr,
    serves: Serves,
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
    crate::trace::continue_trace(&span, request.headers());
    let started = Instant::now();
    // The `record` option's capture: what the pipeline learns of the request.
    let mut seen = gateway.capture.as_ref().map(|_| {
        (
            Seen::of(&request),
            request.method().clone(),
            request.uri().clone(),
        )
    });
    let mut response = run(
        gateway,
        peer,
        serves,
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

/// What is known of a request on its way, for its record, its log span and
/// the capture.
struct Inbound<'a> {
    gateway: &'a Arc<Gateway>,
    /// The profile the request runs under, from start to end.
    in_force: Arc<InForce>,
    request_id: &'a str,
    trace_id: Option<String>,
    endpoint: Option<String>,
    /// The action's kind once classified; `unparsed` before, `invalid`
    /// when its body or parameters cannot be read.
    action: &'static str,
    /// The APIs the listener it came in on serves.
    serves: Serves,
    seen: Option<&'a mut Seen>,
}

impl Inbound<'_> {
    /// What the record step needs besides the decision; the endpoint's
    /// name goes to the record (it is recorded once).
    fn about(&mut self) -> About<'_> {
        About {
            profile: &self.in_force.reference,
            request_id: self.request_id,
            trace_id: self.trace_id.as_deref(),
            direction: Direction::Inbound,
            endpoint: self.endpoint.take(),
            action: self.action,
            destination: None,
            by_gateway: None,
        }
    }

    /// Tells the capture, if there is one.
    fn see(&mut self, note: impl FnOnce(&mut Seen)) {
        if let Some(seen) = self.seen.as_deref_mut() {
            note(seen);
        }
    }
}

async fn run(
    gateway: &Arc<Gateway>,
    peer: SocketAddr,
    serves: Serves,
    request: Request,
    request_id: &str,
    seen: Option<&mut Seen>,
) -> Response {
    let (parts, body) = request.into_parts();
    let mut inbound = Inbound {
        in_force: gateway.in_force(),
        gateway,
        request_id,
        trace_id: trace_id(&parts.headers).map(str::to_owned),
        endpoint: None,
        action: "unparsed",
        serves,
        seen,
    };
    match steps(&mut inbound, peer, parts, body).await {
        Ok(response) => response,
        Err(refusal) => refusal.answer(&mut inbound).await,
    }
}

/// The five steps; the first refusal ends them.
async fn steps(
    inbound: &mut Inbound<'_>,
    peer: SocketAddr,
    parts: Parts,
    body: Body,
) -> Result<Response, Refusal> {
    let mut laps = Laps::start(inbound.gateway.metrics());
    let uri = parts.uri.clone();
    let lookup = Catalog::global().lookup(&parts.method, uri.path());
    let accepted = accept::accept(inbound, peer, &lookup, parts, body).await;
    laps.lap(Step::Accept);
    let Accepted {
        requester,
        mut received,
        stream,
    } = accepted?;
    let classified = decide::classify(inbound, lookup, &received);
    laps.lap(Step::Classify);
    let decided = decide::decide(inbound, classified, &requester, &mut received).await;
    laps.lap(Step::Decide);
    let mut decided = decided?;
    // What the gateway does itself once the homeserver has taken the
    // request (looked up before it is forwarded, done after): a redaction's
    // cascade, an upgrade's state carried into the new room.
    let (cascade, carry) = follow_ups(
        decided.decision.follow_up.take(),
        inbound,
        &received,
        &requester,
    );
    let recorded = record::settle(
        inbound.gateway,
        requester,
        &decided.decision,
        inbound.about(),
    )
    .await;
    laps.lap(Step::Record);
    let recorded = recorded.map_err(Refusal::answered)?;
    let cascade = match cascade {
        Some(cascade) => cascade.look_up(inbound.gateway).await,
        None => None,
    };
    laps.restart();
    let response = forward(inbound, received, stream, decided, recorded).await;
    laps.lap(Step::Forward);
    if !response.status().is_success() {
        return Ok(response);
    }
    if let Some(cascade) = cascade {
        cascade.spawn(Arc::clone(inbound.gateway));
    }
    Ok(match carry {
        Some(carry) => carry.follow(response, Arc::clone(inbound.gateway)).await,
        None => response,
    })
}

/// What follows the request, as the decision says: a redaction cascade,
/// or state carried into an upgraded room.
fn follow_ups(
    follow_up: Option<Box<FollowUp>>,
    inbound: &Inbound<'_>,
    received: &Received<'_>,
    requester: &sectorgate_audit::Peer,
) -> (Option<Cascade>, Option<Carry>) {
    let (request_id, trace_id) = (inbound.request_id, inbound.trace_id.as_deref());
    let parts = &received.parts;
    match follow_up.map(|follow_up| *follow_up) {
        Some(FollowUp::Redactions(plan)) => (
            Cascade::new(
                Box::new(plan),
                parts,
                requester.clone(),
                request_id,
                trace_id,
            ),
            None,
        ),
        Some(FollowUp::CarryState(plan)) => (
            None,
            Carry::new(
                Box::new(plan),
                parts,
                requester.clone(),
                request_id,
                trace_id,
            ),
        ),
        None => (None, None),
    }
}

/// The *forward* step: the request as accepted (or as the profile amended
/// it) to the homeserver, and its answer back, learned from and reshaped
/// as the decision said; or the gateway's own answer, for what it serves
/// itself.
async fn forward(
    inbound: &Inbound<'_>,
    received: Received<'_>,
    stream: Option<Body>,
    decided: Decided,
    recorded: Recorded,
) -> Response {
    let (gateway, request_id) = (inbound.gateway, inbound.request_id);
    if let Some(body) = decided.served {
        return recorded.answer(respond::served(body, request_id), None);
    }
    let Received {
        mut parts,
        buffered,
        ..
    } = received;
    let body = match (stream, decided.decision.amended_body) {
        (Some(stream), _) => recorded.count_in(body::streamed(
            stream,
            upload_limit(gateway, &inbound.in_force.profile),
        )),
        (None, Some(amended)) => {
            parts.headers.insert(
                http::header::CONTENT_LENGTH,
                HeaderValue::from(amended.len()),
            );
            recorded.add_in(amended.len());
            Body::from(Vec::from(amended))
        }
        (None, None) => {
            recorded.add_in(buffered.len());
            Body::from(buffered)
        }
    };
    if let Ok(value) = HeaderValue::from_str(request_id) {
        parts.headers.insert(REQUEST_ID, value);
    }
    crate::trace::pass_on(&mut parts.headers);
    match forward::forward(&gateway.client, &gateway.config, parts, body).await {
        Ok(response) => {
            let upstream = response.status().as_u16();
            tracing::Span::current().record("upstream_status", upstream);
            let response = decided.learned.apply(response, &gateway.facts).await;
            let answer = decided
                .reshape
                .apply(response, gateway, &inbound.in_force.profile, request_id)
                .await;
            recorded.answer(answer, Some(upstream))
        }
        Err(fault) => {
            gateway.metrics().upstream_failed(fault.rule().as_str());
            recorded.answer(respond::fault(&fault, request_id), None)
        }
    }
}

/// The largest upload: the gateway's limit, or the profile's if smaller.
fn upload_limit(gateway: &Gateway, profile: &Profile) -> u64 {
    let configured = gateway.config.limits.max_upload_bytes;
    profile
        .media
        .max_upload_bytes
        .as_ref()
        .map_or(configured, |max| max.limit.min(configured))
}
