//! [`Credentials`]: what a request presents to say who sends it.
//!
//! Nothing is verified here: an access token is only seen, an `X-Matrix`
//! origin only read. Verification belongs to the homeserver (tokens) and to
//! the federation layer (signatures).

use http::HeaderMap;
use http::header::AUTHORIZATION;
use ruma::OwnedServerName;
use ruma::api::federation::authentication::XMatrix;

/// The credentials a request presents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// A client access token (`Authorization: Bearer …` or `?access_token=`).
    AccessToken(&'a str),
    /// A server's `X-Matrix` authorization, by its claimed origin.
    Server(OwnedServerName),
    /// None.
    None,
}

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

/// Reads the credentials of a request from its headers and query.
pub fn credentials<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Credentials<'a> {
    if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(token) = value.strip_prefix("Bearer ") {
            return Credentials::AccessToken(token.trim());
        }
        if value.starts_with("X-Matrix ") {
            return match XMatrix::extract_from_http_headers(headers) {
                Ok(x_matrix) => Credentials::Server(x_matrix.origin),
                Err(_) => Credentials::None,
            };
        }
    }
    query
        .into_iter()
        .flat_map(|query| query.split('&'))
        .find_map(|pair| pair.strip_prefix("access_token="))
        .map_or(Credentials::None, Credentials::AccessToken)
}
