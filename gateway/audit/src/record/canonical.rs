//! The canonical bytes of a record, written field by field.
//!
//! They are exactly what `serde_json` writes for the record types (compact,
//! fields in declaration order, `"v"` and `"type"` first, `None` as `null`
//! except a server peer's absent fields and a decision's absent
//! `destination`, `by_gateway` and profile `digest`, strings escaped by `serde_json`),
//! without the cost of serde's tagged and flattened maps: every request
//! encodes two records. A test holds this writer to serde's output for
//! every variant and for arbitrary strings.

use super::{Decision, Direction, Entry, Outcome, Peer, RECORD_VERSION};

/// A record is a few hundred bytes (a decision with its profile's digest
/// and a nonce, up to about 600): one allocation, no regrowth.
const CAPACITY: usize = 768;

/// The canonical bytes of `entry`.
pub(super) fn encode(entry: &Entry) -> Vec<u8> {
    encode_after(entry, &[])
}

/// `prefix`, then the canonical bytes of `entry`, in one buffer.
pub(super) fn encode_after(entry: &Entry, prefix: &[u8]) -> Vec<u8> {
    let mut out = Out(Vec::with_capacity(CAPACITY + prefix.len()));
    out.0.extend_from_slice(prefix);
    out.raw("{\"v\":");
    out.number(RECORD_VERSION);
    match entry {
        Entry::Decision(decision) => out.decision(decision),
        Entry::Outcome(outcome) => out.outcome(outcome),
    }
    out.raw("}");
    out.0
}

struct Out(Vec<u8>);

impl Out {
    fn raw(&mut self, text: &str) {
        self.0.extend_from_slice(text.as_bytes());
    }

    fn string(&mut self, value: &str) {
        // Ids, names and pseudonyms need no escaping: written as they are.
        // serde_json escapes only control characters, `"` and `\`.
        if value
            .bytes()
            .all(|byte| byte >= 0x20 && byte != b'"' && byte != b'\\')
        {
            self.0.reserve(value.len() + 2);
            self.0.push(b'"');
            self.0.extend_from_slice(value.as_bytes());
            self.0.push(b'"');
            return;
        }
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.0, value);
    }

    fn optional_string(&mut self, value: Option<&str>) {
        match value {
            Some(value) => self.string(value),
            None => self.raw("null"),
        }
    }

    fn number(&mut self, value: impl itoa::Integer) {
        self.raw(itoa::Buffer::new().format(value));
    }

    fn decision(&mut self, decision: &Decision) {
        self.raw(",\"type\":\"decision\",\"id\":");
        self.string(&decision.id);
        self.raw(",\"ts\":");
        self.number(decision.ts);
        self.raw(",\"profile\":{\"id\":");
        self.string(&decision.profile.id);
        self.raw(",\"revision\":");
        self.string(&decision.profile.revision);
        if let Some(digest) = &decision.profile.digest {
            self.raw(",\"digest\":");
            self.string(digest);
        }
        self.raw("},\"direction\":");
        self.raw(match decision.direction {
            Direction::Inbound => "\"inbound\"",
            Direction::Outbound => "\"outbound\"",
        });
        self.raw(",\"endpoint\":");
        self.optional_string(decision.endpoint.as_deref());
        self.raw(",\"action\":");
        self.string(&decision.action);
        self.raw(",\"rule\":");
        self.string(&decision.rule);
        self.raw(",\"verdict\":\"");
        self.raw(decision.verdict.as_str());
        self.raw("\"");
        self.raw(",\"peer\":");
        self.peer(&decision.peer);
        self.raw(",\"request_id\":");
        self.string(&decision.request_id);
        self.raw(",\"trace_id\":");
        self.optional_string(decision.trace_id.as_deref());
        if let Some(destination) = &decision.destination {
            self.raw(",\"destination\":");
            self.peer(destination);
        }
        if let Some(rule) = &decision.by_gateway {
            self.raw(",\"by_gateway\":");
            self.string(rule);
        }
    }

    fn peer(&mut self, peer: &Peer) {
        self.raw("{\"kind\":\"");
        self.raw(peer.kind());
        self.raw("\"");
        match peer {
            Peer::User { pseudonym } | Peer::Token { pseudonym } => {
                self.raw(",\"pseudonym\":");
                self.string(pseudonym);
            }
            Peer::Server { name, pseudonym } => {
                if let Some(name) = name {
                    self.raw(",\"name\":");
                    self.string(name);
                }
                if let Some(pseudonym) = pseudonym {
                    self.raw(",\"pseudonym\":");
                    self.string(pseudonym);
                }
            }
            Peer::Appservice { id } => {
                self.raw(",\"id\":");
                self.string(id);
            }
            Peer::Anonymous => {}
        }
        self.raw("}");
    }

    fn outcome(&mut self, outcome: &Outcome) {
        self.raw(",\"type\":\"outcome\",\"decision\":");
        self.string(&outcome.decision);
        self.raw(",\"ts\":");
        self.number(outcome.ts);
        self.raw(",\"status\":");
        self.number(outcome.status);
        self.raw(",\"upstream_status\":");
        match outcome.upstream_status {
            Some(status) => self.number(status),
            None => self.raw("null"),
        }
        self.raw(",\"bytes_in\":");
        self.number(outcome.bytes_in);
        self.raw(",\"bytes_out\":");
        self.number(outcome.bytes_out);
        self.raw(",\"duration_ms\":");
        self.number(outcome.duration_ms);
    }
}
