//! The `record` option: every client-server exchange of one test user,
//! written as a JSON line to a capture file, for the conformance suite's
//! client certification (`sectorgate-conformance certify-client`).
//!
//! One line per answer, in the order answered:
//! `{"v":1,"ts":ms,"request_id","method","path","query","endpoint","action",
//! "body"|"body_bytes"|"streamed","status","rule","errcode"}`. `rule` and
//! `errcode` are set when the gateway refused. Access tokens (in the query)
//! and passwords and tokens in JSON bodies are replaced by `<redacted>`
//! (`sectorgate_action::redact_secrets`); the `Authorization` header is
//! never written.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc;

use axum::response::Response;
use bytes::Bytes;
use http::{Method, Uri};
use ruma::OwnedUserId;
use sectorgate_action::{redact_query, redact_secrets};
use serde_json::{Map, Value, json};

use crate::respond::Refusal;

/// The capture format's version.
pub const CAPTURE_VERSION: u32 = 1;

/// The capture of one user's exchanges.
#[derive(Debug)]
pub struct Capture {
    user: OwnedUserId,
    lines: mpsc::Sender<Vec<u8>>,
}

/// What the pipeline learned of a request, for the capture.
#[derive(Debug, Default)]
pub struct Seen {
    /// The client's `User-Agent`, which names the product certified.
    pub(crate) user_agent: Option<String>,
    pub(crate) user: Option<OwnedUserId>,
    pub(crate) endpoint: Option<String>,
    pub(crate) action: Option<&'static str>,
    pub(crate) body: Option<Bytes>,
    pub(crate) streamed: bool,
}

impl Seen {
    /// What is seen of a request on arrival: the product its `User-Agent`
    /// names.
    pub(crate) fn of<B>(request: &http::Request<B>) -> Self {
        let user_agent = request
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|agent| agent.to_str().ok())
            .map(str::to_owned);
        Self {
            user_agent,
            ..Self::default()
        }
    }
}

impl Capture {
    /// Appends `user`'s exchanges to `file` (made readable by its owner
    /// only); a thread of its own writes them.
    pub fn open(user: OwnedUserId, file: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(file)?;
        let (lines, received) = mpsc::channel::<Vec<u8>>();
        std::thread::Builder::new()
            .name("capture".to_owned())
            .spawn(move || {
                for line in received {
                    if let Err(error) = out.write_all(&line) {
                        tracing::error!(%error, "cannot write the capture; it stops here");
                        break;
                    }
                }
            })?;
        Ok(Self { user, lines })
    }

    /// Writes the exchange if it is the captured user's: made with their
    /// token, or a login naming them.
    pub(crate) fn offer(
        &self,
        seen: &Seen,
        method: &Method,
        uri: &Uri,
        request_id: &str,
        response: &Response,
    ) {
        // Only the captured user's bodies are parsed, and a login's (it names
        // the user before any token does).
        let mine = seen.user.as_deref() == Some(&*self.user);
        let login = seen.endpoint.as_deref() == Some("client.login");
        if !mine && !login {
            return;
        }
        let body = seen
            .body
            .as_deref()
            .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok());
        if !mine && !body.as_ref().is_some_and(|body| self.named_in_login(body)) {
            return;
        }
        let mut line = Map::new();
        line.insert("v".into(), json!(CAPTURE_VERSION));
        line.insert("ts".into(), json!(sectorgate_audit::now_ms()));
        line.insert("request_id".into(), json!(request_id));
        line.insert("method".into(), json!(method.as_str()));
        if let Some(agent) = &seen.user_agent {
            line.insert("user_agent".into(), json!(agent));
        }
        line.insert("path".into(), json!(uri.path()));
        if let Some(query) = uri.query() {
            line.insert("query".into(), json!(redact_query(query)));
        }
        line.insert("endpoint".into(), json!(seen.endpoint));
        line.insert("action".into(), json!(seen.action));
        match (body, &seen.body) {
            (Some(mut json), _) => {
                redact_secrets(&mut json);
                line.insert("body".into(), json);
            }
            (None, Some(bytes)) if !bytes.is_empty() => {
                line.insert("body_bytes".into(), json!(bytes.len()));
            }
            _ if seen.streamed => {
                line.insert("streamed".into(), json!(true));
            }
            _ => {}
        }
        line.insert("status".into(), json!(response.status().as_u16()));
        if let Some(refusal) = response.extensions().get::<Refusal>() {
            line.insert("rule".into(), json!(refusal.rule));
            line.insert("errcode".into(), json!(refusal.errcode));
        }
        let mut bytes = Value::Object(line).to_string().into_bytes();
        bytes.push(b'\n');
        // The writer has stopped only after a write failed, which it logged.
        let _ = self.lines.send(bytes);
    }

    /// Whether a login body names the captured user (by id or localpart).
    fn named_in_login(&self, body: &Value) -> bool {
        let named = body
            .pointer("/identifier/user")
            .or_else(|| body.get("user"))
            .and_then(Value::as_str);
        named.is_some_and(|name| name == self.user.as_str() || name == self.user.localpart())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_a_line() {
        let mut body = json!({"type": "m.login.password", "password": "hunter2",
            "identifier": {"type": "m.id.user", "user": "alice"},
            "auth": {"password": "again", "session": "s"}, "refresh_token": "r"});
        redact_secrets(&mut body);
        let text = body.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("again"),
            "{text}"
        );
        assert!(
            text.contains("alice") && text.contains("\"session\":\"s\""),
            "{text}"
        );
        assert_eq!(
            redact_query("from=1&access_token=syt_secret&limit=2"),
            "from=1&access_token=<redacted>&limit=2"
        );
    }
}
