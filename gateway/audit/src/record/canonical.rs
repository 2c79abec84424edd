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

/// Whether serde_json would escape any of `bytes`: a control character,
/// `"` or `\`. Eight bytes at a time (the tests hold the result to
/// serde's output for arbitrary strings).
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether any byte of `word` is below `n` (at most 128).
    let any_below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH != 0;
    let any_is = |word: u64, byte: u8| any_below(word ^ (ONES * u64::from(byte)), 1);
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut eight = [0; 8];
        eight.copy_from_slice(word);
        let word = u64::from_ne_bytes(eight);
        if any_below(word, 0x20) || any_is(word, b'"') || any_is(word, b'\\') {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&byte| byte < 0x20 || byte == b'"' || byte == b'\\')
}

impl Out {
    fn raw(&mut self, text: &str) {
        self.0.extend_from_slice(text.as_bytes());
    }

    fn string(&mut self, value: &str) {
        // Ids, names and pseudonyms need no escaping: written as they are.
        if !needs_escape(value.as_bytes()) {
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

#[cfg(test)]
mod tests {
    use super::needs_escape;

    fn naive(bytes: &[u8]) -> bool {
        bytes
            .iter()
            .any(|&byte| byte < 0x20 || byte == b'"' || byte == b'\\')
    }

    #[test]
    fn eight_at_a_time_finds_what_one_at_a_time_finds() {
        for background in [b'a', 0x20, 0x7f, 0x80, 0xff] {
            for len in 0..=24 {
                let plain = vec![background; len];
                assert!(!needs_escape(&plain));
                for at in 0..len {
                    for byte in 0..=u8::MAX {
                        let mut bytes = plain.clone();
                        bytes[at] = byte;
                        assert_eq!(needs_escape(&bytes), naive(&bytes), "{bytes:?}");
                    }
                }
            }
        }
    }
}
