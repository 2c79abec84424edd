//! `audit export`: records as JSON lines, or as FHIR R4 `AuditEvent`
//! resources (one per line, NDJSON as FHIR bulk data uses). The mapping is
//! documented in `docs/audit.md`.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::store::Store;
use crate::{AuditError, Decision, Entry, Outcome, Peer, Verdict};

const PAGE: u32 = 10_000;
/// The code systems sectorgate defines for its events.
pub const CODE_SYSTEM: &str = "https://sectorgate.dev/fhir/CodeSystem";

/// How records are written out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `{"origin":…,"seq":…,"record":{…}}` per line.
    Jsonl,
    /// A FHIR R4 `AuditEvent` per line.
    Fhir,
}

/// Writes the records of `origin` made at or after `since_ms` to `out`;
/// returns how many. Pruned records are skipped.
pub async fn export(
    store: &Store,
    origin: &str,
    since_ms: i64,
    format: Format,
    out: &mut impl Write,
) -> Result<u64, AuditError> {
    let mut next = store.first_since(origin, since_ms).await?;
    let mut written = 0;
    loop {
        let page = store.leaves(origin, next, PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        next = last.seq + 1;
        for row in page {
            let Some(bytes) = row.record else {
                continue;
            };
            let entry = Entry::decode_leaf(&bytes)
                .map_err(|e| AuditError::Corrupt(format!("record {}: {e}", row.seq)))?;
            if entry.ts() < since_ms {
                continue;
            }
            write_line(origin, row.seq, &entry, format, out)?;
            written += 1;
        }
    }
    Ok(written)
}

/// Writes the records `seqs` (ascending) of `origin` to `out`, read from
/// the log; returns how many. Records pruned meanwhile are skipped.
pub async fn export_records(
    store: &Store,
    origin: &str,
    seqs: &[u64],
    format: Format,
    out: &mut impl Write,
) -> Result<u64, AuditError> {
    let mut written = 0;
    let mut rest = seqs;
    while let Some(&first) = rest.first() {
        // A run of consecutive records is read at once.
        let run = rest
            .iter()
            .zip(first..)
            .take_while(|(seq, expected)| **seq == *expected)
            .count()
            .min(PAGE as usize);
        let count = u32::try_from(run).unwrap_or(PAGE);
        for row in store.leaves(origin, first, count).await? {
            let Some(bytes) = row.record else {
                continue;
            };
            let entry = Entry::decode_leaf(&bytes)
                .map_err(|e| AuditError::Corrupt(format!("record {}: {e}", row.seq)))?;
            write_line(origin, row.seq, &entry, format, out)?;
            written += 1;
        }
        rest = &rest[run..];
    }
    Ok(written)
}

/// One record as a line of `format`.
fn write_line(
    origin: &str,
    seq: u64,
    entry: &Entry,
    format: Format,
    out: &mut impl Write,
) -> Result<(), AuditError> {
    let line = match format {
        Format::Jsonl => json!({"origin": origin, "seq": seq, "record": entry}),
        Format::Fhir => audit_event(origin, seq, entry),
    };
    serde_json::to_writer(&mut *out, &line).map_err(|e| AuditError::Corrupt(e.to_string()))?;
    out.write_all(b"\n").map_err(AuditError::Io)
}

/// The FHIR R4 `AuditEvent` of one record.
pub fn audit_event(origin: &str, seq: u64, entry: &Entry) -> Value {
    let (id, code, display, outcome, description, agent, entity) = match entry {
        Entry::Decision(decision) => (
            decision.id.clone(),
            "decision",
            "Policy decision",
            decision_outcome(decision),
            decision.rule.clone(),
            vec![agent(&decision.peer)],
            decision_entity(decision, seq),
        ),
        Entry::Outcome(result) => (
            format!("{}.outcome", result.decision),
            "outcome",
            "Answer to a decided request",
            status_outcome(result.status),
            format!("HTTP {}", result.status),
            Vec::new(),
            outcome_entity(result, seq),
        ),
    };
    let mut subtype = Vec::new();
    if let Entry::Decision(decision) = entry {
        subtype.push(coding("action", &decision.action));
        if let Some(endpoint) = &decision.endpoint {
            subtype.push(coding("endpoint", endpoint));
        }
    }
    json!({
        "resourceType": "AuditEvent",
        "id": id,
        "type": {"system": format!("{CODE_SYSTEM}/event-type"), "code": code, "display": display},
        "subtype": subtype,
        "action": "E",
        "recorded": instant(entry.ts()),
        "outcome": outcome,
        "outcomeDesc": description,
        "agent": agent,
        "source": {
            "site": origin,
            "observer": {"identifier": {"system": "urn:sectorgate:log", "value": origin}},
            "type": [{
                "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                "code": "4",
                "display": "Application Server"
            }]
        },
        "entity": [entity],
    })
}

fn coding(system: &str, code: &str) -> Value {
    json!({"system": format!("{CODE_SYSTEM}/{system}"), "code": code})
}

/// 0 success, 4 minor failure (refused), 8 serious failure.
fn decision_outcome(decision: &Decision) -> &'static str {
    match decision.verdict {
        Verdict::Allow | Verdict::Shadow => "0",
        Verdict::Deny => "4",
    }
}

fn status_outcome(status: u16) -> &'static str {
    match status {
        100..=399 => "0",
        400..=499 => "4",
        _ => "8",
    }
}

fn agent(peer: &Peer) -> Value {
    let who = match peer {
        Peer::User { pseudonym } | Peer::Token { pseudonym } => {
            json!({"identifier": {"system": "urn:sectorgate:pseudonym", "value": pseudonym}})
        }
        Peer::Server {
            name: Some(name), ..
        } => json!({"identifier": {"system": "urn:matrix:server-name", "value": name}}),
        Peer::Server {
            pseudonym: Some(pseudonym),
            ..
        } => json!({"identifier": {"system": "urn:sectorgate:pseudonym", "value": pseudonym}}),
        Peer::Appservice { id } => {
            json!({"identifier": {"system": "urn:sectorgate:appservice", "value": id}})
        }
        Peer::Server { .. } | Peer::Anonymous => json!({"display": "anonymous"}),
    };
    json!({
        "type": {"coding": [{"system": format!("{CODE_SYSTEM}/peer-kind"), "code": peer.kind()}]},
        "who": who,
        "requestor": true,
    })
}

fn detail(kind: &str, value: impl ToString) -> Value {
    json!({"type": kind, "valueString": value.to_string()})
}

fn decision_entity(decision: &Decision, seq: u64) -> Value {
    let mut details = vec![
        detail("rule", &decision.rule),
        detail("verdict", decision.verdict),
        detail("profile", &decision.profile.revision),
        detail(
            "direction",
            match decision.direction {
                crate::Direction::Inbound => "inbound",
                crate::Direction::Outbound => "outbound",
            },
        ),
        detail("seq", seq),
    ];
    if let Some(digest) = &decision.profile.digest {
        details.push(detail("profile_digest", digest));
    }
    if let Some(trace) = &decision.trace_id {
        details.push(detail("trace_id", trace));
    }
    if let Some(destination) = decision.destination.as_ref().and_then(Peer::id) {
        details.push(detail("destination", destination));
    }
    if let Some(rule) = &decision.by_gateway {
        details.push(detail("by_gateway", rule));
    }
    json!({
        "what": {"identifier": {"system": "urn:sectorgate:request-id", "value": decision.request_id}},
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
            "code": "2",
            "display": "System Object"
        },
        "detail": details,
    })
}

fn outcome_entity(outcome: &Outcome, seq: u64) -> Value {
    let mut details = vec![
        detail("status", outcome.status),
        detail("bytes_in", outcome.bytes_in),
        detail("bytes_out", outcome.bytes_out),
        detail("duration_ms", outcome.duration_ms),
        detail("seq", seq),
    ];
    if let Some(upstream) = outcome.upstream_status {
        details.push(detail("upstream_status", upstream));
    }
    json!({
        "what": {"identifier": {"system": "urn:sectorgate:decision-id", "value": outcome.decision}},
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
            "code": "2",
            "display": "System Object"
        },
        "detail": details,
    })
}

/// An RFC 3339 instant with milliseconds, in UTC.
pub fn instant(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(at).to_string()
}
