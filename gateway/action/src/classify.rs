//! [`classify`]: one request in, one [`Classified`] action out.

use http::{HeaderMap, Method, Uri};
use percent_encoding::percent_decode_str;

pub use crate::catalog::BodyMode;
use crate::catalog::{Catalog, Lookup};
use crate::{Action, Classified, ClassifyError, json};

/// The only request headers any endpoint's parser reads (ruma's
/// `#[ruma_api(header)]` fields, and the upload parser); copying just these
/// keeps classification from cloning the whole header map.
const PARSED_HEADERS: [http::HeaderName; 4] = [
    http::header::CONTENT_TYPE,
    http::header::CONTENT_LENGTH,
    http::header::CONTENT_DISPOSITION,
    http::header::ACCEPT_LANGUAGE,
];

/// The parts of an HTTP request that classification reads.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request URI, exactly as received.
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The buffered body; empty for streamed bodies.
    pub body: &'a [u8],
}

/// Classifies a request against the catalog.
///
/// A path that is not a Matrix endpoint is `Ok` with
/// [`Action::Unrecognized`]: whether it may pass is policy's call. A request
/// on a Matrix endpoint that does not fit the spec is an `Err`.
pub fn classify(
    catalog: &Catalog,
    request: &Request<'_>,
    max_depth: usize,
) -> Result<Classified, ClassifyError> {
    classify_lookup(
        catalog.lookup(request.method, request.uri.path()),
        request,
        max_depth,
    )
}

/// Classifies a request whose method and path were already looked up (the
/// proxy looks up once, to learn how to read the body, then classifies).
pub fn classify_lookup(
    lookup: Lookup<'_>,
    request: &Request<'_>,
    max_depth: usize,
) -> Result<Classified, ClassifyError> {
    let path = request.uri.path();
    let matched = match lookup {
        Lookup::Found(matched) => matched,
        Lookup::Preflight(endpoint) => {
            return Ok(Classified {
                endpoint: Some(endpoint),
                action: Action::Preflight,
            });
        }
        Lookup::MethodNotAllowed => {
            return Err(ClassifyError::MethodNotAllowed {
                method: request.method.clone(),
            });
        }
        Lookup::NotFound => {
            return Ok(Classified {
                endpoint: None,
                action: Action::Unrecognized {
                    method: request.method.clone(),
                    path: path.to_owned(),
                },
            });
        }
    };
    let route = matched.route;
    let body = match route.body {
        // Some endpoints (join, leave, …) are called with no body at all;
        // ruma reads that as an empty object, as homeservers do.
        BodyMode::Buffered if request.body.is_empty() => b"{}".as_slice(),
        // Checked here, not left to ruma: ruma ignores the body of endpoints
        // that take none, and such a body must not be forwarded either.
        BodyMode::Buffered => {
            json::check_body(request.body, max_depth)?;
            request.body
        }
        BodyMode::Streamed => &[],
    };
    let decoded = matched
        .args
        .iter()
        .map(|arg| {
            percent_decode_str(arg)
                .decode_utf8()
                .map_err(|_| ClassifyError::InvalidParam("path segment is not UTF-8".to_owned()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let args: Vec<&str> = decoded.iter().map(|arg| arg.as_ref()).collect();
    let mut builder = http::Request::builder()
        .method(request.method.clone())
        .uri(request.uri.clone());
    if let Some(headers) = builder.headers_mut() {
        for name in PARSED_HEADERS {
            if let Some(value) = request.headers.get(&name) {
                headers.insert(name, value.clone());
            }
        }
    }
    let http_request = builder
        .body(body)
        .map_err(|error| ClassifyError::InvalidParam(error.to_string()))?;
    let action = route.parse(http_request, &args)?;
    Ok(Classified {
        endpoint: Some(route.endpoint),
        action,
    })
}
