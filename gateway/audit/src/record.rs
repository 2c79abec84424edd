//! [`AuditRecord`]: what is recorded about one decision. Never message content.

use serde::Serialize;

/// Who made a request, pseudonymised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Actor {
    /// A client, by the pseudonym of its access token.
    User(String),
    /// A homeserver, by its server name (organisations, not people).
    Server(String),
    /// An application service (bridge), by its registration's id.
    Appservice(String),
    /// No credentials were presented.
    Anonymous,
}

impl Actor {
    /// `user`, `server` or `anonymous`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Server(_) => "server",
            Self::Appservice(_) => "appservice",
            Self::Anonymous => "anonymous",
        }
    }

    /// The pseudonym or server name, if any.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::User(id) | Self::Server(id) | Self::Appservice(id) => Some(id),
            Self::Anonymous => None,
        }
    }
}

/// One decision, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// The request id (also sent to the client as `X-Request-Id`).
    pub request_id: String,
    /// When the decision was made, in milliseconds since the Unix epoch.
    pub recorded_at_ms: i64,
    /// The id of the profile that decided.
    pub profile: String,
    /// The endpoint, e.g. `client.send_message_event`; `None` if unrecognised.
    pub endpoint: Option<String>,
    /// The action kind, e.g. `send_message_event`.
    pub action: String,
    /// `allow` or `deny`.
    pub verdict: String,
    /// The stable rule id that decided.
    pub rule: String,
    /// Who made the request.
    pub actor: Actor,
}
