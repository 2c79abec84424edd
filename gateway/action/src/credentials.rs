//! What a request presents to say who sends it: a client's access token,
//! or a server's `X-Matrix` authorization.
//!
//! Nothing is verified here: an access token is only seen, an `X-Matrix`
//! origin only read. Verification belongs to the homeserver (tokens) and to
//! the federation layer (signatures).

use http::HeaderMap;
use http::header::AUTHORIZATION;
use ruma::api::federation::authentication::XMatrix;

/// The `X-Matrix` authorization of a request, read strictly: `Ok(None)`
/// when the request presents none; an error, saying why, when it presents
/// one that is not exactly one well-formed `X-Matrix` header (several
/// `Authorization` headers, unbalanced quotes, a duplicated or missing
/// parameter, an origin that is not a server name). Nothing is verified.
pub fn x_matrix(headers: &HeaderMap) -> Result<Option<XMatrix>, String> {
    let values: Vec<&http::HeaderValue> = headers.get_all(AUTHORIZATION).iter().collect();
    let claims_x_matrix = |value: &&http::HeaderValue| {
        value
            .as_bytes()
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"X-Matrix"))
    };
    match values.as_slice() {
        [] => Ok(None),
        [value] if claims_x_matrix(value) => XMatrix::try_from(*value)
            .map(Some)
            .map_err(|error| format!("the X-Matrix authorization is malformed: {error}")),
        [_] => Ok(None),
        several if several.iter().any(claims_x_matrix) => {
            Err("a request carries one Authorization header, not several".to_owned())
        }
        _ => Ok(None),
    }
}

/// The client access token a request presents (`Authorization: Bearer …`
/// or `?access_token=`), if any.
pub fn access_token<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(token) = value.strip_prefix("Bearer ")
    {
        return Some(token.trim());
    }
    query
        .into_iter()
        .flat_map(|query| query.split('&'))
        .find_map(|pair| pair.strip_prefix("access_token="))
}

/// What replaces a secret in anything written down (captures, evidence).
pub const REDACTED: &str = "<redacted>";

/// JSON members whose string values are secrets: passwords and tokens.
const SECRET_MEMBERS: [&str; 7] = [
    "password",
    "new_password",
    "access_token",
    "refresh_token",
    "token",
    "mac",
    "nonce",
];

/// Replaces, at any depth, the string values of members that hold
/// passwords and tokens with [`REDACTED`].
pub fn redact_secrets(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if SECRET_MEMBERS.contains(&key.as_str()) && item.is_string() {
                    *item = serde_json::Value::String(REDACTED.to_owned());
                } else {
                    redact_secrets(item);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}

/// A query string with the access token's value replaced by [`REDACTED`].
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("access_token", _)) => format!("access_token={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}
