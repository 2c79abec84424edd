//! The *record* step: each decision becomes an audit [`Entry`], durable
//! before anything is forwarded; each answer's end becomes an outcome
//! entry, linked to its decision and written without holding the answer up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Body;
use axum::response::Response;
use http::HeaderMap;
use http_body_util::BodyExt;
use sectorgate_audit::{
    AuditLog, Decision as Record, Direction, Entry, Outcome, Peer, Verdict, now_ms,
};
use sectorgate_policy::Decision;

use crate::Gateway;
use crate::respond::{self, Fault};

/// What the record step needs to know of a request besides its decision.
pub(crate) struct About<'a> {
    pub(crate) request_id: &'a str,
    pub(crate) trace_id: Option<&'a str>,
    pub(crate) direction: Direction,
    pub(crate) endpoint: Option<String>,
    pub(crate) action: &'a str,
    /// For an outbound request: the server it is sent to.
    pub(crate) destination: Option<Peer>,
    /// Set when the gateway makes the request itself: the rule that made it.
    pub(crate) by_gateway: Option<&'a str>,
}

/// A decision that is durable; its outcome is still to be written.
#[must_use = "a recorded decision's answer must carry its outcome"]
pub(crate) struct Recorded {
    log: AuditLog,
    decision_id: String,
    started: Instant,
    bytes_in: Arc<AtomicU64>,
}

/// Appends the decision record; on failure, the 503 to answer instead.
async fn decision(
    gateway: &Gateway,
    peer: Peer,
    decision: &Decision,
    about: About<'_>,
) -> Result<Recorded, Response> {
    append(
        gateway,
        peer,
        decision.rule.as_str(),
        recorded_verdict(decision),
        about,
    )
    .await
}

/// Records a decision: a denial is answered at once (`Err`, as is a
/// decision that could not be made durable); an allowed request is handed
/// on to be forwarded. The pipeline's and the egress's one tail.
pub(crate) async fn settle(
    gateway: &Gateway,
    peer: Peer,
    decision: &Decision,
    about: About<'_>,
) -> Result<Recorded, Response> {
    note(decision, about.endpoint.as_deref(), about.action);
    let request_id = about.request_id;
    let recorded = self::decision(gateway, peer, decision, about).await?;
    match &decision.verdict {
        sectorgate_policy::Verdict::Deny(denial) => {
            let refusal = respond::denial(denial, decision.rule.as_str(), request_id);
            Err(recorded.answer(refusal, None))
        }
        sectorgate_policy::Verdict::Allow | sectorgate_policy::Verdict::Shadow(_) => Ok(recorded),
    }
}

/// The decision on the request's log span.
pub(crate) fn note(decision: &Decision, endpoint: Option<&str>, action: &str) {
    let span = tracing::Span::current();
    span.record("endpoint", endpoint.unwrap_or("-"));
    span.record("action", action);
    span.record("rule", decision.rule.as_str());
    span.record("verdict", decision.verdict_str());
}

/// The verdict a decision is recorded with.
fn recorded_verdict(decision: &Decision) -> Verdict {
    match decision.verdict {
        sectorgate_policy::Verdict::Allow => Verdict::Allow,
        sectorgate_policy::Verdict::Deny(_) => Verdict::Deny,
        sectorgate_policy::Verdict::Shadow(_) => Verdict::Shadow,
    }
}

/// Records a fault met before the decision (the homeserver could not say
/// who the requester is, or what the profile needs to know) as a refusal by
/// the fault's rule, and answers it.
pub(crate) async fn fault(
    gateway: &Gateway,
    peer: Peer,
    fault: &Fault,
    about: About<'_>,
) -> Response {
    let request_id = about.request_id;
    match append(gateway, peer, fault.rule().as_str(), Verdict::Deny, about).await {
        Ok(recorded) => recorded.answer(respond::fault(fault, request_id), None),
        Err(response) => response,
    }
}

async fn append(
    gateway: &Gateway,
    peer: Peer,
    rule: &str,
    verdict: Verdict,
    about: About<'_>,
) -> Result<Recorded, Response> {
    let request_id = about.request_id;
    let (decision_id, entry) = decision_entry(gateway, peer, rule, verdict, about);
    match gateway.audit.append(&entry).await {
        Ok(()) => Ok(Recorded {
            log: gateway.audit.clone(),
            decision_id,
            started: Instant::now(),
            bytes_in: Arc::default(),
        }),
        Err(error) => {
            tracing::error!(%error, "audit record not durable; refusing the request");
            let response = respond::fault(&Fault::AuditUnavailable, request_id);
            unavailable(gateway, entry, response.status().as_u16());
            Err(response)
        }
    }
}

/// Records the refusal of a request whose decision could not be made
/// durable: a decision of its own, by `audit.unavailable`, and its outcome,
/// written with the first commit once the store is back (or never, if the
/// gateway stops first). The log then shows the outage and the requests it
/// refused; the failed decision, had it landed after all, carries the same
/// request id.
fn unavailable(gateway: &Gateway, failed: Entry, status: u16) {
    let Entry::Decision(mut decision) = failed else {
        return;
    };
    decision.id = gateway.decision_ids.next();
    decision.ts = now_ms();
    decision.rule = Fault::AuditUnavailable.rule().to_string();
    decision.verdict = Verdict::Deny;
    let id = decision.id.clone();
    gateway.audit.append_later(&Entry::Decision(decision));
    gateway.audit.append_later(&unforwarded(id, status));
}

/// The outcome of a refusal that forwarded nothing: answered at once.
fn unforwarded(decision: String, status: u16) -> Entry {
    Entry::Outcome(Outcome {
        decision,
        ts: now_ms(),
        status,
        upstream_status: None,
        bytes_in: 0,
        bytes_out: 0,
        duration_ms: 0,
    })
}

/// A decision record with a fresh decision id.
fn decision_entry(
    gateway: &Gateway,
    peer: Peer,
    rule: &str,
    verdict: Verdict,
    about: About<'_>,
) -> (String, Entry) {
    let id = gateway.decision_ids.next();
    let entry = Entry::Decision(Record {
        id: id.clone(),
        ts: now_ms(),
        profile: gateway.profile_ref.clone(),
        direction: about.direction,
        endpoint: about.endpoint,
        action: about.action.to_owned(),
        rule: rule.to_owned(),
        verdict,
        peer,
        request_id: about.request_id.to_owned(),
        trace_id: about.trace_id.map(str::to_owned),
        destination: about.destination,
        by_gateway: about.by_gateway.map(str::to_owned),
    });
    (id, entry)
}

impl Recorded {
    /// Counts the request body's bytes as they are passed on.
    pub(crate) fn count_in(&self, body: Body) -> Body {
        let counter = Arc::clone(&self.bytes_in);
        Body::new(body.map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                counter.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            frame
        }))
    }

    /// Notes bytes of a request body read whole before forwarding.
    pub(crate) fn add_in(&self, bytes: usize) {
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The outcome of a request the gateway made itself, written at once:
    /// `status` is the homeserver's, or the fault's when it gave none (0:
    /// nothing was sent).
    pub(crate) fn close(self, status: u16, upstream_status: Option<u16>) {
        drop(OutcomeGuard {
            recorded: self,
            status,
            upstream_status,
            bytes_out: 0,
        });
    }

    /// The answer, carrying its outcome record: written once the body has
    /// been sent, or dropped because the client went away.
    pub(crate) fn answer(self, response: Response, upstream_status: Option<u16>) -> Response {
        let status = response.status().as_u16();
        let (parts, body) = response.into_parts();
        let mut guard = OutcomeGuard {
            recorded: self,
            status,
            upstream_status,
            bytes_out: 0,
        };
        let body = body.map_frame(move |frame| {
            guard.count(&frame);
            frame
        });
        Response::from_parts(parts, Body::new(body))
    }
}

struct OutcomeGuard {
    recorded: Recorded,
    status: u16,
    upstream_status: Option<u16>,
    bytes_out: u64,
}

impl OutcomeGuard {
    fn count(&mut self, frame: &hyper::body::Frame<bytes::Bytes>) {
        if let Some(data) = frame.data_ref() {
            self.bytes_out += data.len() as u64;
        }
    }
}

impl Drop for OutcomeGuard {
    fn drop(&mut self) {
        let recorded = &self.recorded;
        recorded.log.append_later(&Entry::Outcome(Outcome {
            decision: recorded.decision_id.clone(),
            ts: now_ms(),
            status: self.status,
            upstream_status: self.upstream_status,
            bytes_in: recorded.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out,
            duration_ms: u64::try_from(recorded.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }));
    }
}

/// The W3C trace id of a `traceparent` header
/// (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`), if valid.
pub(crate) fn trace_id(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("traceparent")?.to_str().ok()?;
    let mut fields = value.split('-');
    let (_version, trace) = (fields.next()?, fields.next()?);
    (trace.len() == 32
        && trace
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && trace.bytes().any(|b| b != b'0'))
    .then_some(trace)
}

/// Records a refusal made by the connection layer, after the fact (it
/// forwarded nothing): its decision and its outcome.
pub(crate) fn edge_refusal(gateway: &Gateway, rule: &str, status: u16) -> String {
    let request_id = gateway.request_ids.next();
    let about = About {
        request_id: &request_id,
        trace_id: None,
        destination: None,
        by_gateway: None,
        direction: Direction::Inbound,
        endpoint: None,
        action: "unparsed",
    };
    let (decision_id, entry) = decision_entry(gateway, Peer::Anonymous, rule, Verdict::Deny, about);
    gateway.audit.append_later(&entry);
    gateway
        .audit
        .append_later(&unforwarded(decision_id, status));
    request_id
}
