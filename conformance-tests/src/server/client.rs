//! The reference client: requests built with ruma's types (or, for a
//! decision case, exactly as the case writes them), sent with reqwest, each
//! exchange kept as evidence.

use std::borrow::Cow;
use std::path::Path;
use std::time::{Duration, Instant};

use http::HeaderMap;
use ruma::api::auth_scheme::{AuthScheme, SendAccessToken};
use ruma::api::path_builder::VersionHistory;
use ruma::api::{
    IncomingResponseExt, MatrixVersion, OutgoingRequest, OutgoingRequestExt, SupportedVersions,
};
use serde_json::Value;

use super::verbatim::{self, Reach};
use crate::report::{Exchange, REDACTED, redact};

/// An answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The body as JSON (`null` when it is not JSON).
    pub body: Value,
}

impl Answer {
    /// An answer's status and body as received (`null` when not JSON).
    fn read(status: u16, bytes: &[u8]) -> Self {
        Self {
            status,
            body: serde_json::from_slice(bytes).unwrap_or(Value::Null),
        }
    }

    /// The `errcode` of an error answer.
    pub fn errcode(&self) -> Option<&str> {
        self.body.get("errcode").and_then(Value::as_str)
    }

    /// `status errcode: error`, for messages.
    pub fn describe(&self) -> String {
        let error = self
            .body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or_default();
        format!(
            "{} {}{}",
            self.status,
            self.errcode().unwrap_or("(no errcode)"),
            if error.is_empty() {
                String::new()
            } else {
                format!(": {error}")
            }
        )
    }

    /// Whether the request succeeded.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why a ruma request gave no response.
#[derive(Clone, Debug)]
pub enum Failure {
    /// The server answered with an error.
    Refused(Answer),
    /// No answer, or one the suite cannot read: a fault of the harness or
    /// the network.
    Broken(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(answer) => f.write_str(&answer.describe()),
            Self::Broken(why) => f.write_str(why),
        }
    }
}

/// The headers of a request: the bearer `token`, a JSON content type when
/// `json`, then `headers` as written.
fn header_map(
    token: Option<&str>,
    headers: &[(String, String)],
    json: bool,
) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    if let Some(token) = token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| "the access token is not a header value".to_owned())?;
        map.insert(http::header::AUTHORIZATION, value);
    }
    if json {
        map.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
    }
    for (name, value) in headers {
        let name: http::HeaderName = name
            .parse()
            .map_err(|_| format!("bad header name {name:?}"))?;
        let value = value
            .parse()
            .map_err(|_| format!("bad header value for {name}"))?;
        map.insert(name, value);
    }
    Ok(map)
}

/// A client of one base URL.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::blocking::Client,
    /// `https://host:port`, without a trailing slash.
    pub base: String,
    versions: SupportedVersions,
    /// How to reach the base for a request sent verbatim.
    reach: Reach,
}

/// The suite's HTTP client: its own timeout, the platform's roots plus an
/// optional extra CA.
pub fn http_client(
    timeout: Duration,
    ca: Option<&Path>,
) -> Result<reqwest::blocking::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
        let certificate = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("{} is not a PEM certificate: {e}", ca.display()))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))
}

impl Client {
    /// A client of `base`.
    pub fn new(http: reqwest::blocking::Client, base: &str) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            versions: SupportedVersions {
                versions: [MatrixVersion::V1_11].into(),
                features: Default::default(),
            },
            reach: Reach {
                ca: None,
                timeout: std::time::Duration::from_secs(30),
            },
        }
    }

    /// The same client, reaching its base as `reach` says when a request
    /// is sent verbatim.
    pub fn with_reach(mut self, reach: Reach) -> Self {
        self.reach = reach;
        self
    }

    /// Sends a ruma request with `token`.
    pub fn send<R>(
        &self,
        trail: &mut Vec<Exchange>,
        request: R,
        token: Option<&str>,
    ) -> Result<R::IncomingResponse, Failure>
    where
        R: OutgoingRequest<PathBuilder = VersionHistory>,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
    {
        let access = token.map_or(SendAccessToken::None, SendAccessToken::IfRequired);
        let request: http::Request<Vec<u8>> = request
            .try_into_http_request(&self.base, access, Cow::Borrowed(&self.versions))
            .map_err(|e| Failure::Broken(format!("cannot build the request: {e}")))?;
        let (parts, body) = request.into_parts();
        let (status, bytes) = self
            .exchange(
                trail,
                parts.method.as_str(),
                &parts.uri.to_string(),
                &parts.headers,
                body,
            )
            .map_err(Failure::Broken)?;
        let answer = || Answer::read(status, &bytes);
        if status >= 400 {
            return Err(Failure::Refused(answer()));
        }
        let response = http::Response::builder()
            .status(status)
            .body(bytes.as_slice())
            .map_err(|e| Failure::Broken(format!("bad answer: {e}")))?;
        R::IncomingResponse::try_from_http_response(response).map_err(|error| {
            Failure::Broken(format!(
                "unreadable answer {}: {error}",
                answer().describe()
            ))
        })
    }

    /// Sends a request as written: `path_and_query` under the base URL.
    pub fn raw(
        &self,
        trail: &mut Vec<Exchange>,
        method: &str,
        path_and_query: &str,
        token: Option<&str>,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<Answer, String> {
        let map = header_map(token, headers, !body.is_empty())?;
        let url = format!("{}{path_and_query}", self.base);
        let (status, bytes) = if verbatim::has_dot_segments(path_and_query) {
            self.verbatim(trail, method, path_and_query, &map, body, false)?
        } else {
            self.exchange(trail, method, &url, &map, body)?
        };
        Ok(Answer::read(status, &bytes))
    }

    /// Sends a request whose body the server may refuse on its length
    /// alone, as a large upload goes: `Expect: 100-continue`, the body only
    /// if the server does not answer first.
    pub fn upload(
        &self,
        trail: &mut Vec<Exchange>,
        method: &str,
        path_and_query: &str,
        token: Option<&str>,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<Answer, String> {
        let map = header_map(token, headers, false)?;
        let (status, bytes) = self.verbatim(trail, method, path_and_query, &map, body, true)?;
        Ok(Answer::read(status, &bytes))
    }

    /// Sends one request exactly as written, with `headers` (no library
    /// between that would resolve its dot segments; with `continued`, the
    /// body after `100 Continue`), and keeps it as evidence.
    fn verbatim(
        &self,
        trail: &mut Vec<Exchange>,
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Vec<u8>,
        continued: bool,
    ) -> Result<(u16, Vec<u8>), String> {
        let mut exchange = Exchange {
            method: method.to_owned(),
            url: format!("{}{path_and_query}", self.base),
            request_body: redact(&body),
            ..Exchange::default()
        };
        let mut pairs = Vec::new();
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            let shown = if name == http::header::AUTHORIZATION && value.starts_with("Bearer ") {
                format!("Bearer {REDACTED}")
            } else {
                value.clone()
            };
            exchange.request_headers.insert(name.to_string(), shown);
            pairs.push((name.to_string(), value));
        }
        let started = Instant::now();
        let sent = verbatim::send(
            &self.reach,
            &self.base,
            method,
            path_and_query,
            &pairs,
            &body,
            continued,
        );
        exchange.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &sent {
            Ok((status, bytes)) => {
                exchange.status = Some(*status);
                exchange.response_body = redact(bytes);
            }
            Err(error) => exchange.error = Some(error.clone()),
        }
        trail.push(exchange);
        sent
    }

    /// Sends one request and keeps it as evidence; `Err` when no answer came.
    pub(super) fn exchange(
        &self,
        trail: &mut Vec<Exchange>,
        method: &str,
        url: &str,
        headers: &HeaderMap,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), String> {
        self.exchange_headed(trail, method, url, headers, body)
            .map(|(status, _, bytes)| (status, bytes))
    }

    /// [`Self::exchange`], with the answer's headers.
    pub(super) fn exchange_headed(
        &self,
        trail: &mut Vec<Exchange>,
        method: &str,
        url: &str,
        headers: &HeaderMap,
        body: Vec<u8>,
    ) -> Result<(u16, HeaderMap, Vec<u8>), String> {
        let mut exchange = Exchange {
            method: method.to_owned(),
            url: url.to_owned(),
            request_body: redact(&body),
            ..Exchange::default()
        };
        for (name, value) in headers {
            let shown = if name == http::header::AUTHORIZATION
                && value.as_bytes().starts_with(b"Bearer ")
            {
                format!("Bearer {REDACTED}")
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            exchange.request_headers.insert(name.to_string(), shown);
        }
        let method: reqwest::Method = method
            .parse()
            .map_err(|_| format!("bad method {method:?}"))?;
        let started = Instant::now();
        let sent = self
            .http
            .request(method, url)
            .headers(headers.clone())
            .body(body)
            .send()
            .and_then(|response| {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                response
                    .bytes()
                    .map(|bytes| (status, headers, bytes.to_vec()))
            });
        exchange.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let outcome = match sent {
            Ok((status, headers, bytes)) => {
                exchange.status = Some(status);
                exchange.response_body = redact(&bytes);
                Ok((status, headers, bytes))
            }
            Err(error) => {
                let text = format!("{error:#}");
                exchange.error = Some(text.clone());
                Err(format!("no answer from {url}: {text}"))
            }
        };
        trail.push(exchange);
        outcome
    }
}
