//! The audit record, version 1: one [`Decision`] per decision and one
//! [`Outcome`] per answer, and their canonical encoding.
//!
//! The encoding is the leaf of the Merkle log, so it is fixed byte for byte
//! (see the golden tests): compact JSON, fields in the order declared here,
//! `"v":1` first. A record never holds message content, room names, display
//! names or user IDs; people appear only as [`Peer`] pseudonyms.

mod canonical;
pub mod leaf;

use serde::{Deserialize, Serialize};

use crate::error::RecordError;

/// The version of the record format this code writes.
pub const RECORD_VERSION: u32 = 1;

/// One leaf of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[allow(
    clippy::large_enum_variant,
    reason = "an entry lives only until it is encoded; boxing would cost an allocation a request"
)]
pub enum Entry {
    /// What the gateway decided about a request.
    Decision(Decision),
    /// How the answer to a decided request ended.
    Outcome(Outcome),
}

/// What the gateway decided about one request (the shape of OPA's
/// decision-log event).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The decision id (unique, random).
    pub id: String,
    /// When it was decided, in milliseconds since the Unix epoch.
    pub ts: i64,
    /// The profile that decided.
    pub profile: ProfileRef,
    /// Whether the request came in to the homeserver or went out from it.
    pub direction: Direction,
    /// The endpoint, e.g. `client.send_message_event`; `None` if unrecognised.
    pub endpoint: Option<String>,
    /// The action kind, e.g. `send_message_event`.
    pub action: String,
    /// The stable id of the rule that decided.
    pub rule: String,
    /// Whether the request was allowed, denied, or denied in shadow mode.
    pub verdict: Verdict,
    /// Who made the request.
    pub peer: Peer,
    /// The request id (sent to the client as `X-Request-Id`).
    pub request_id: String,
    /// The W3C trace id the request carried, if any.
    pub trace_id: Option<String>,
    /// For an outbound request: the server it was sent to, named as a
    /// server peer is (by name, or by pseudonym when server names are
    /// personal). Absent from inbound records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Peer>,
    /// Set when the gateway made the request itself on `peer`'s behalf:
    /// the id of the rule that made it (e.g. `redaction.cascade`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_gateway: Option<String>,
}

/// How the answer to a decided request ended, written after the answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// The [`Decision::id`] this outcome belongs to.
    pub decision: String,
    /// When the answer ended, in milliseconds since the Unix epoch.
    pub ts: i64,
    /// The status the client was given (0 when the connection ended first).
    pub status: u16,
    /// The homeserver's status, when the request reached it.
    pub upstream_status: Option<u16>,
    /// Request body bytes passed on.
    pub bytes_in: u64,
    /// Response body bytes sent to the client.
    pub bytes_out: u64,
    /// From the decision to the end of the answer, in milliseconds.
    pub duration_ms: u64,
}

/// The profile by id and revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileRef {
    /// The profile's id, e.g. `healthcare-tim-pro`.
    pub id: String,
    /// Its revision, e.g. `healthcare-tim-pro@1.2`.
    pub revision: String,
    /// The digest of the files it was loaded from (`sha256:…`); absent in
    /// records written before it was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Which way a request went through the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From a client or a remote server to the homeserver.
    Inbound,
    /// From the homeserver to a remote server (the egress proxy).
    Outbound,
}

/// What the gateway decided about a request, as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Allowed and forwarded (`allow`).
    Allow,
    /// Refused and not forwarded (`deny`).
    Deny,
    /// Refused by a rule in shadow mode, forwarded all the same (`shadow`).
    Shadow,
}

impl Verdict {
    /// `allow`, `deny` or `shadow`: the name a record carries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Shadow => "shadow",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verdict equals its recorded name (`allow`, `deny`, `shadow`).
impl PartialEq<str> for Verdict {
    fn eq(&self, name: &str) -> bool {
        self.as_str() == name
    }
}

/// A verdict equals its recorded name (`allow`, `deny`, `shadow`).
impl PartialEq<&str> for Verdict {
    fn eq(&self, name: &&str) -> bool {
        self.as_str() == *name
    }
}

/// A verdict equals its recorded name (`allow`, `deny`, `shadow`).
impl PartialEq<String> for Verdict {
    fn eq(&self, name: &String) -> bool {
        self.as_str() == name
    }
}

/// Who made a request. Each field is either public (`name`, `id`) or a
/// pseudonym (`pseudonym`, written `<key id>:<hex>`); nothing else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Peer {
    /// A user, by the pseudonym of their Matrix user ID.
    User {
        /// `<key id>:<HMAC>` of the user ID.
        pseudonym: String,
    },
    /// An access token the homeserver did not recognise, by its pseudonym.
    Token {
        /// `<key id>:<HMAC>` of the token.
        pseudonym: String,
    },
    /// A homeserver: by name (public), or by pseudonym when the profile
    /// says server names are personal.
    Server {
        /// The server name, when public.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// `<key id>:<HMAC>` of the server name, when pseudonymised.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pseudonym: Option<String>,
    },
    /// An application service (bridge), by its registration id (public).
    Appservice {
        /// The registration's id.
        id: String,
    },
    /// No credentials were presented, or none were believed.
    Anonymous,
}

impl Peer {
    /// `user`, `token`, `server`, `appservice` or `anonymous`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User { .. } => "user",
            Self::Token { .. } => "token",
            Self::Server { .. } => "server",
            Self::Appservice { .. } => "appservice",
            Self::Anonymous => "anonymous",
        }
    }

    /// The public name or the pseudonym, if any.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::User { pseudonym } | Self::Token { pseudonym } => Some(pseudonym),
            Self::Server { name, pseudonym } => name.as_deref().or(pseudonym.as_deref()),
            Self::Appservice { id } => Some(id),
            Self::Anonymous => None,
        }
    }
}

/// The versioned envelope: `{"v":1,"type":…,…}`.
#[derive(Serialize, Deserialize)]
struct Envelope<E> {
    v: u32,
    #[serde(flatten)]
    entry: E,
}

impl Entry {
    /// The canonical bytes of this record: the Merkle leaf.
    pub fn encode(&self) -> Vec<u8> {
        canonical::encode(self)
    }

    /// The same bytes as [`Entry::encode`], written by serde from the
    /// types' derived `Serialize` (the reference the encoder is held to).
    #[cfg(test)]
    pub(crate) fn encode_with_serde(&self) -> Vec<u8> {
        serde_json::to_vec(&Envelope {
            v: RECORD_VERSION,
            entry: self,
        })
        .unwrap_or_default()
    }

    /// Reads canonical bytes back. Fails on another version, an unknown
    /// field or value (a verdict this code does not know), or bytes that
    /// are not exactly the canonical encoding.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let envelope: Envelope<Self> = serde_json::from_slice(bytes)
            .map_err(|error| RecordError::Malformed(error.to_string()))?;
        if envelope.v != RECORD_VERSION {
            return Err(RecordError::Version(envelope.v));
        }
        if envelope.entry.encode() != bytes {
            return Err(RecordError::NotCanonical);
        }
        Ok(envelope.entry)
    }

    /// The leaf of this record (see [`leaf`]): committed with a fresh
    /// nonce if `commit`, else plain. One buffer, no copy.
    pub fn encode_leaf(&self, commit: bool) -> Vec<u8> {
        if !commit {
            return self.encode();
        }
        let mut prefix = [0; 1 + leaf::NONCE_BYTES];
        prefix[0] = leaf::COMMITTED;
        rand::fill(&mut prefix[1..]);
        canonical::encode_after(self, &prefix)
    }

    /// Reads the record a leaf holds (see [`leaf`]), committed or plain.
    pub fn decode_leaf(leaf: &[u8]) -> Result<Self, RecordError> {
        Self::decode(leaf::split(leaf)?.1)
    }

    /// When the record was made, in milliseconds since the Unix epoch.
    pub fn ts(&self) -> i64 {
        match self {
            Self::Decision(decision) => decision.ts,
            Self::Outcome(outcome) => outcome.ts,
        }
    }
}
