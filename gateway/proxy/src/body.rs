//! Reading an inspected request body, bounded by the size limit.

use axum::body::Body;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Larger than the limit.
    TooLarge,
    /// The client's stream broke.
    Unreadable(String),
    /// The client did not send the body in time.
    TimedOut,
}

/// The client's request body broke while it was being forwarded (a
/// malformed chunk, a connection cut mid-body): the client's fault, told
/// apart from the homeserver's.
#[derive(Debug, thiserror::Error)]
#[error("the request body broke: {0}")]
pub(crate) struct ClientBodyError(#[source] axum::Error);

/// The client's body, streamed as it arrives, its errors marked as the
/// client's.
pub(crate) fn streamed(body: Body, limit: u64) -> Body {
    let marked = body.map_err(ClientBodyError);
    Body::new(Limited::new(
        marked,
        usize::try_from(limit).unwrap_or(usize::MAX),
    ))
}

/// Reads a whole body of at most `limit` bytes. A declared `Content-Length`
/// over the limit is refused before anything is read.
pub(crate) async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    if declared_length(headers).is_some_and(|length| length > limit) {
        return Err(BodyError::TooLarge);
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let Ok(collected) = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await
    else {
        return Err(BodyError::TimedOut);
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(error) => Err(BodyError::Unreadable(error.to_string())),
    }
}

/// The `Content-Length` a request declares, if any.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}
