//! Parsers that turn ruma's typed requests into [`Action`](crate::Action)s.
//!
//! Each parser first lets ruma parse the request (path, query, headers and
//! body, checked against the spec), then keeps what policy needs.

pub(crate) mod client;
pub(crate) mod federation;

use ruma::api::{IncomingRequestExt, error::FromHttpRequestError};
use serde_json::value::RawValue;

use crate::ClassifyError;

/// Parses a request as the ruma request type `R`.
pub(crate) fn ruma<R: IncomingRequestExt>(
    request: http::Request<&[u8]>,
    args: &[&str],
) -> Result<R, ClassifyError> {
    R::try_from_http_request(request, args).map_err(ruma_error)
}

/// Maps ruma's parse error to the classification error it means.
pub(crate) fn ruma_error(error: FromHttpRequestError) -> ClassifyError {
    use ruma::api::error::DeserializationError;
    match error {
        FromHttpRequestError::Deserialization(DeserializationError::Json(error)) => {
            ClassifyError::BadJson(error.to_string())
        }
        FromHttpRequestError::Deserialization(other) => {
            ClassifyError::InvalidParam(other.to_string())
        }
        FromHttpRequestError::MethodMismatch { received, .. } => {
            ClassifyError::MethodNotAllowed { method: received }
        }
        other => ClassifyError::InvalidParam(other.to_string()),
    }
}

/// The request body as raw JSON, byte for byte (an empty body is `{}`).
pub(crate) fn raw_body(body: &[u8]) -> Result<Box<RawValue>, ClassifyError> {
    let text = if body.is_empty() {
        "{}"
    } else {
        std::str::from_utf8(body).map_err(|error| ClassifyError::NotJson(error.to_string()))?
    };
    RawValue::from_string(text.to_owned())
        .map_err(|error| ClassifyError::NotJson(error.to_string()))
}
