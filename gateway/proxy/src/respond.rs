//! The one place where denials and faults become HTTP responses.
//!
//! Every error the gateway itself answers has a Matrix body:
//! `{"errcode": …, "error": …, "org.sectorgate.rule": …}`, carries the
//! request id in `X-Request-Id`, and has the CORS headers the spec asks of
//! every response.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use sectorgate_policy::{Denial, RuleId, rules};
use serde_json::json;

/// The header carrying the request id, on requests and responses.
pub const REQUEST_ID: &str = "x-request-id";

/// A failure of the gateway or the homeserver, as opposed to a denial.
#[derive(Debug)]
pub enum Fault {
    /// The audit record could not be made durable.
    AuditUnavailable,
    /// The homeserver could not be reached or broke the connection.
    UpstreamUnreachable,
    /// The homeserver did not answer in time.
    UpstreamTimeout,
    /// A streamed upload grew past the upload limit while being forwarded.
    UploadTooLarge,
    /// The client's streamed body broke while being forwarded.
    ClientBodyBroken,
}

impl Fault {
    /// The rule reported for the fault.
    pub fn rule(&self) -> RuleId {
        match self {
            Self::AuditUnavailable => rules::AUDIT_UNAVAILABLE,
            Self::UpstreamUnreachable => rules::UPSTREAM_UNREACHABLE,
            Self::UpstreamTimeout => rules::UPSTREAM_TIMEOUT,
            Self::UploadTooLarge => rules::TOO_LARGE,
            Self::ClientBodyBroken => rules::BODY_UNREADABLE,
        }
    }
}

/// Marks a response as the gateway's refusal, with its rule and errcode
/// (for the capture of the `record` option).
#[derive(Clone, Debug)]
pub struct Refusal {
    /// The rule that refused.
    pub rule: String,
    /// The errcode answered.
    pub errcode: &'static str,
}

/// The response for a denial.
pub fn denial(denial: &Denial, rule: &str, request_id: &str) -> Response {
    let status = StatusCode::from_u16(denial.status).unwrap_or(StatusCode::FORBIDDEN);
    let mut response = match &denial.body {
        Some(body) => json_response(status, body.to_string(), request_id),
        None => matrix_error(status, denial.errcode, &denial.message, rule, request_id),
    };
    // A rate limit's wait, for clients that read the HTTP header.
    let retry_after_ms = denial
        .body
        .as_ref()
        .and_then(|body| body["retry_after_ms"].as_u64());
    if let Some(ms) = retry_after_ms {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(ms.div_ceil(1000)));
    }
    response.extensions_mut().insert(Refusal {
        rule: rule.to_owned(),
        errcode: denial.errcode,
    });
    response
}

/// An answer the gateway gives itself, from its configuration.
pub fn served(body: bytes::Bytes, request_id: &str) -> Response {
    json_response(StatusCode::OK, body, request_id)
}

/// The response for a fault.
pub fn fault(fault: &Fault, request_id: &str) -> Response {
    let (status, errcode, message) = match fault {
        Fault::AuditUnavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "M_UNKNOWN",
            "The audit log cannot be written; the request was not forwarded. Try again later.",
        ),
        Fault::UpstreamUnreachable => (
            StatusCode::BAD_GATEWAY,
            "M_UNKNOWN",
            "The homeserver cannot be reached.",
        ),
        Fault::UpstreamTimeout => (
            StatusCode::GATEWAY_TIMEOUT,
            "M_UNKNOWN",
            "The homeserver did not answer in time.",
        ),
        Fault::UploadTooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "M_TOO_LARGE",
            "The upload is larger than the gateway allows; it was not completed.",
        ),
        Fault::ClientBodyBroken => (
            StatusCode::BAD_REQUEST,
            "M_UNKNOWN",
            "The request body was malformed or cut off; it was not completed.",
        ),
    };
    let mut response = matrix_error(status, errcode, message, fault.rule().as_str(), request_id);
    if matches!(fault, Fault::AuditUnavailable) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

/// A whole HTTP/1.1 response, as bytes, for a refusal answered outside
/// hyper (a request head refused on its framing, before hyper read it):
/// the Matrix error body, and `Connection: close`.
pub fn raw_refusal(
    status: StatusCode,
    errcode: &str,
    message: &str,
    rule: &str,
    request_id: &str,
) -> Vec<u8> {
    let body = error_body(errcode, message, rule);
    let (parts, _) = json_response(status, body.clone(), request_id).into_parts();
    let mut raw = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (name, value) in &parts.headers {
        raw.extend_from_slice(name.as_str().as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(value.as_bytes());
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(
        format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    raw.extend_from_slice(body.as_bytes());
    raw
}

fn error_body(errcode: &str, message: &str, rule: &str) -> String {
    json!({
        "errcode": errcode,
        "error": message,
        sectorgate_policy::RULE_FIELD: rule,
    })
    .to_string()
}

fn matrix_error(
    status: StatusCode,
    errcode: &str,
    message: &str,
    rule: &str,
    request_id: &str,
) -> Response {
    json_response(status, error_body(errcode, message, rule), request_id)
}

fn json_response(status: StatusCode, body: impl Into<Body>, request_id: &str) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // The spec has servers send these on every response, so browser clients
    // can read our errors as they read the homeserver's.
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("X-Requested-With, Content-Type, Authorization"),
    );
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID, value);
    }
    response
}
