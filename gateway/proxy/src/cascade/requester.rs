//! The homeserver, asked as the user a cascade acts for: with their access
//! token and, for an application service, the `user_id` it acted as.

use crate::upstream::Upstream;
use axum::body::Body;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use sectorgate_action::access_token;
use serde_json::Value;

use crate::ProxyConfig;
use crate::respond::{Fault, REQUEST_ID};

/// Largest answer read (a page of relations carries whole events).
const MAX_ANSWER_BYTES: usize = 2 * 1024 * 1024;

/// Whom the gateway acts for, taken from the client's request.
pub(crate) struct Requester {
    token: String,
    /// The `user_id` query parameter an application service acted as, raw.
    masquerade: Option<String>,
}

impl Requester {
    /// The requester of `parts`; `None` without an access token.
    pub(crate) fn of(parts: &Parts) -> Option<Self> {
        let query = parts.uri.query();
        let token = access_token(&parts.headers, query)?.to_owned();
        let masquerade = query
            .into_iter()
            .flat_map(|query| query.split('&'))
            .find_map(|pair| pair.strip_prefix("user_id="))
            .map(str::to_owned);
        Some(Self { token, masquerade })
    }
}

/// The homeserver, asked as a [`Requester`].
pub(crate) struct AsRequester<'a> {
    pub(crate) client: &'a Upstream,
    pub(crate) config: &'a ProxyConfig,
    pub(crate) requester: &'a Requester,
}

impl AsRequester<'_> {
    /// `GET path` (with `query`, already encoded): the status and the JSON
    /// answer (`null` when it is not JSON).
    pub(crate) async fn get(&self, path: &str, query: &str) -> Result<(StatusCode, Value), Fault> {
        let request = self.request(Method::GET, path, query, Vec::new())?;
        send(self.client, self.config, request).await
    }

    /// `PUT path` with a JSON `body`, marked with the gateway's `request_id`.
    pub(crate) async fn put(
        &self,
        path: &str,
        body: Vec<u8>,
        request_id: &str,
    ) -> Result<(StatusCode, Value), Fault> {
        let mut request = self.request(Method::PUT, path, "", body)?;
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(value) = HeaderValue::from_str(request_id) {
            headers.insert(REQUEST_ID, value);
        }
        send(self.client, self.config, request).await
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Vec<u8>,
    ) -> Result<http::Request<Body>, Fault> {
        let mut pairs: Vec<String> = Vec::new();
        if !query.is_empty() {
            pairs.push(query.to_owned());
        }
        if let Some(user) = &self.requester.masquerade {
            pairs.push(format!("user_id={user}"));
        }
        let path_and_query = if pairs.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", pairs.join("&"))
        };
        let mut parts = self.config.homeserver.clone().into_parts();
        parts.path_and_query = Some(
            path_and_query
                .parse()
                .map_err(|_| Fault::UpstreamUnreachable)?,
        );
        let uri = Uri::from_parts(parts).map_err(|_| Fault::UpstreamUnreachable)?;
        let mut request = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))
            .map_err(|_| Fault::UpstreamUnreachable)?;
        let bearer = HeaderValue::from_str(&format!("Bearer {}", self.requester.token))
            .map_err(|_| Fault::UpstreamUnreachable)?;
        request.headers_mut().insert(AUTHORIZATION, bearer);
        Ok(request)
    }
}

/// Sends `request`; the answer's head and body within the response timeout.
async fn send(
    client: &Upstream,
    config: &ProxyConfig,
    request: http::Request<Body>,
) -> Result<(StatusCode, Value), Fault> {
    let exchange = async {
        let response = client.request(request).await.map_err(|error| {
            tracing::warn!(%error, "homeserver request failed");
            Fault::UpstreamUnreachable
        })?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    };
    tokio::time::timeout(config.response_timeout, exchange)
        .await
        .unwrap_or(Err(Fault::UpstreamTimeout))
}
