//! [`ClassifyError`]: why a request could not be turned into an action.

use http::Method;

/// Why a request on a recognised endpoint could not be classified.
///
/// Each variant maps to one Matrix error (see `sectorgate-policy`); none of
/// them is ever forwarded to the homeserver.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    /// The body is not syntactically valid JSON.
    #[error("request body is not valid JSON: {0}")]
    NotJson(String),
    /// The body is JSON nested deeper than the configured limit.
    #[error("request body is nested more than {limit} levels deep")]
    TooDeep {
        /// The configured maximum depth.
        limit: usize,
    },
    /// The body is JSON, but not of the shape the endpoint requires.
    #[error("request body does not match the endpoint's schema: {0}")]
    BadJson(String),
    /// A path segment or query parameter is not valid for the endpoint.
    #[error("invalid request parameter: {0}")]
    InvalidParam(String),
    /// The path names an endpoint, but not with this method.
    #[error("method {method} is not allowed on this endpoint")]
    MethodNotAllowed {
        /// The method that was used.
        method: Method,
    },
}
