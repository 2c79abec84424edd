//! One request and its answer, as evidence: credentials redacted, bodies
//! kept whole up to a limit, and a curl command that sends it again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The longest body kept in a report, in bytes.
const MAX_BODY: usize = 16 * 1024;

pub use sectorgate_action::REDACTED;

/// A request and its answer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Exchange {
    /// The HTTP method.
    pub method: String,
    /// The full URL.
    pub url: String,
    /// Request headers worth showing (credentials redacted).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_headers: BTreeMap<String, String>,
    /// The request body, as text (secrets redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// The answer's status; none when no answer came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The answer's body, as text (secrets redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// How long the answer took, in milliseconds.
    pub duration_ms: u64,
    /// Why no answer came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Exchange {
    /// A curl command that sends the same request; the access token is left
    /// to the shell variable `$ACCESS_TOKEN`.
    pub fn curl(&self) -> String {
        let mut command = format!("curl -sS -X {} {}", self.method, quote(&self.url));
        for (name, value) in &self.request_headers {
            let value = if name.eq_ignore_ascii_case("authorization") && value.contains(REDACTED) {
                "Bearer $ACCESS_TOKEN".to_owned()
            } else {
                value.clone()
            };
            let header = format!("{name}: {value}");
            if header.contains("$ACCESS_TOKEN") {
                command.push_str(&format!(" -H \"{header}\""));
            } else {
                command.push_str(&format!(" -H {}", quote(&header)));
            }
        }
        if let Some(body) = &self.request_body {
            command.push_str(&format!(" --data-binary {}", quote(body)));
        }
        command
    }
}

/// A body as evidence: JSON with its secrets redacted, other text as is,
/// cut at the limit.
pub fn redact(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let text = match serde_json::from_slice::<Value>(bytes) {
        Ok(mut json) => {
            sectorgate_action::redact_secrets(&mut json);
            json.to_string()
        }
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    };
    Some(cut(text))
}

fn cut(mut text: String) -> String {
    if text.len() > MAX_BODY {
        let mut end = MAX_BODY;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("…(cut)");
    }
    text
}

/// Quotes a word for a POSIX shell.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let body = br#"{"password":"hunter2","auth":{"type":"m.login.password","password":"x"},"access_token":"syt_abc","user":"@a:b"}"#;
        let text = redact(body).unwrap_or_default();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("syt_abc"), "{text}");
        assert!(text.contains("@a:b"), "{text}");
    }

    #[test]
    fn curl_quotes_bodies_and_leaves_the_token_to_the_shell() {
        let exchange = Exchange {
            method: "PUT".to_owned(),
            url: "https://hs.example/_matrix/client/v3/rooms/%21r%3Ahs/send/m.room.message/1"
                .to_owned(),
            request_headers: BTreeMap::from([(
                "authorization".to_owned(),
                format!("Bearer {REDACTED}"),
            )]),
            request_body: Some(r#"{"body":"it's"}"#.to_owned()),
            ..Exchange::default()
        };
        assert_eq!(
            exchange.curl(),
            "curl -sS -X PUT 'https://hs.example/_matrix/client/v3/rooms/%21r%3Ahs/send/m.room.message/1' \
             -H \"authorization: Bearer $ACCESS_TOKEN\" --data-binary '{\"body\":\"it'\\''s\"}'"
        );
    }
}
