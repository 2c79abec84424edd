//! The request head, checked before routing: the method, the request target,
//! `Host`, `Connection` and `Transfer-Encoding`.
//!
//! What passes here reads the same to every hop behind the gateway: the path
//! has no dot segments, encoded separators, NUL or bad escapes that another
//! hop could resolve into a different endpoint than the one decided on, and
//! the framing headers leave no doubt about where the body ends.

use http::header::{CONNECTION, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, Method, Uri, Version};
use percent_encoding::percent_decode;

/// Why a request head is refused before routing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// A method the Matrix APIs never use (`CONNECT`, `TRACE`, …).
    #[error("method {0} is not used by the Matrix APIs")]
    Method(Method),
    /// A path that could read differently to another hop.
    #[error("malformed request path: {0}")]
    Path(&'static str),
    /// A missing, repeated or malformed `Host`, or one that disagrees with
    /// the request target.
    #[error("bad Host header: {0}")]
    Host(&'static str),
    /// A `Connection` header naming an end-to-end header.
    #[error("the Connection header may not name {0}")]
    Connection(String),
    /// A `Transfer-Encoding` other than exactly `chunked`.
    #[error("Transfer-Encoding must be exactly \"chunked\"")]
    TransferEncoding,
}

impl HeadError {
    /// Whether the connection must be closed after the answer: the client
    /// and the gateway may disagree about where the next request begins.
    pub fn closes_connection(&self) -> bool {
        matches!(self, Self::Host(_) | Self::TransferEncoding)
    }
}

/// The methods the Matrix APIs use.
const MATRIX_METHODS: [Method; 6] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::OPTIONS,
];

/// End-to-end headers the gateway sets or decides on; a client may not
/// have them removed as hop-by-hop.
const PROTECTED: [&str; 12] = [
    "host",
    "authorization",
    "content-length",
    "content-type",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-real-ip",
    "x-request-id",
    "traceparent",
    "tracestate",
];

/// Checks a request head. The first problem found is returned.
pub fn check_head(
    method: &Method,
    uri: &Uri,
    version: Version,
    headers: &HeaderMap,
) -> Result<(), HeadError> {
    if !MATRIX_METHODS.contains(method) {
        return Err(HeadError::Method(method.clone()));
    }
    check_path(uri.path())?;
    check_host(uri, version, headers)?;
    check_connection(headers)?;
    check_transfer_encoding(headers)
}

/// Checks a request path: origin-form, every escape well formed, and no
/// segment that any hop could resolve, split or truncate.
pub fn check_path(path: &str) -> Result<(), HeadError> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(HeadError::Path("not an absolute path"));
    };
    for segment in rest.split('/') {
        check_segment(segment.as_bytes())?;
    }
    Ok(())
}

fn check_segment(raw: &[u8]) -> Result<(), HeadError> {
    // Whether some byte, once decoded, is not ASCII: only then can the
    // segment fail to be UTF-8.
    let mut wide = false;
    let mut at = 0;
    while at < raw.len() {
        let byte = match raw[at] {
            b'%' => {
                let high = raw.get(at + 1).and_then(|b| hex(*b));
                let low = raw.get(at + 2).and_then(|b| hex(*b));
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(HeadError::Path("bad percent-escape"));
                };
                at += 2;
                match high << 4 | low {
                    b'/' => return Err(HeadError::Path("encoded slash")),
                    b'\\' => return Err(HeadError::Path("encoded backslash")),
                    byte => byte,
                }
            }
            b'\\' => return Err(HeadError::Path("backslash")),
            b';' => return Err(HeadError::Path("path parameter (;)")),
            byte => byte,
        };
        if byte == 0 {
            return Err(HeadError::Path("NUL"));
        }
        if byte < 0x20 || byte == 0x7f {
            return Err(HeadError::Path("control character"));
        }
        wide |= byte >= 0x80;
        at += 1;
    }
    let decoded = || percent_decode(raw);
    if decoded().eq(*b".") || decoded().eq(*b"..") {
        return Err(HeadError::Path("dot segment"));
    }
    if wide && decoded().decode_utf8().is_err() {
        return Err(HeadError::Path("escapes that are not UTF-8"));
    }
    Ok(())
}

fn hex(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|digit| u8::try_from(digit).ok())
}

/// One `Host` (required from HTTP/1.1 on, unless the target carries the
/// authority, as HTTP/2 requests do), a bare authority, and the same one
/// as the target's when both are given.
fn check_host(uri: &Uri, version: Version, headers: &HeaderMap) -> Result<(), HeadError> {
    let mut hosts = headers.get_all(HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(HeadError::Host("more than one"));
    }
    let Some(host) = host else {
        if uri.authority().is_none() && version == Version::HTTP_11 {
            return Err(HeadError::Host("missing"));
        }
        return Ok(());
    };
    let host = host
        .to_str()
        .map_err(|_| HeadError::Host("not visible ASCII"))?;
    let bare = !host.is_empty() && !host.contains(['@', '/', '?', '#', ' ', '\\']);
    if !bare || host.parse::<http::uri::Authority>().is_err() {
        return Err(HeadError::Host("not a bare host[:port]"));
    }
    match uri.authority() {
        Some(target) if !target.as_str().eq_ignore_ascii_case(host) => {
            Err(HeadError::Host("differs from the request target's"))
        }
        _ => Ok(()),
    }
}

fn check_connection(headers: &HeaderMap) -> Result<(), HeadError> {
    for value in headers.get_all(CONNECTION) {
        let value = value.to_str().unwrap_or_default();
        for name in value.split(',').map(str::trim) {
            if let Some(protected) = PROTECTED
                .iter()
                .find(|protected| protected.eq_ignore_ascii_case(name))
            {
                return Err(HeadError::Connection((*protected).to_owned()));
            }
        }
    }
    Ok(())
}

fn check_transfer_encoding(headers: &HeaderMap) -> Result<(), HeadError> {
    let mut values = headers.get_all(TRANSFER_ENCODING).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(()),
        (Some(value), None) if value.as_bytes().eq_ignore_ascii_case(b"chunked") => Ok(()),
        _ => Err(HeadError::TransferEncoding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn path(path: &str) -> Result<(), HeadError> {
        check_path(path)
    }

    #[test]
    fn matrix_paths_pass() {
        for ok in [
            "/_matrix/client/versions",
            "/_matrix/client/v3/rooms/%21room%3Aexample.org/send/m.room.message/txn1",
            "/_matrix/client/v3/rooms/!room:example.org/state/m.room.name/",
            "/_matrix/client/v3/profile/%40al%C3%AFce%3Aexample.org",
            "/_matrix/media/v3/download/example.org/abc...def",
            "/_matrix/client/v3/directory/room/%23a.b%3Aexample.org",
            "/",
        ] {
            assert_eq!(path(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn paths_another_hop_could_read_differently_are_refused() {
        for (bad, why) in [
            ("/_synapse/client/../admin/v1/server_version", "dot segment"),
            ("/_synapse/client/./x", "dot segment"),
            ("/_synapse/client/%2E%2E/admin", "dot segment"),
            ("/_synapse/client/.%2e/admin", "dot segment"),
            ("/_synapse/client/..%2Fadmin", "encoded slash"),
            ("/_synapse/client/x%2fy", "encoded slash"),
            ("/_synapse/client/..\\admin", "backslash"),
            ("/_synapse/client/x%5Cy", "encoded backslash"),
            ("/_synapse/client/x;y=1", "path parameter (;)"),
            ("/_matrix/client/v3/rooms/%00", "NUL"),
            ("/_matrix/client/v3/rooms/a%0Ab", "control character"),
            ("/_matrix/client/v3/rooms/%FF", "escapes that are not UTF-8"),
            ("/_matrix/client/v3/rooms/%C3", "escapes that are not UTF-8"),
            ("/_matrix/client/v3/rooms/%G0", "bad percent-escape"),
            ("/_matrix/client/v3/rooms/%4", "bad percent-escape"),
            ("/_matrix/client/v3/rooms/%", "bad percent-escape"),
            ("*", "not an absolute path"),
            ("", "not an absolute path"),
        ] {
            assert_eq!(path(bad), Err(HeadError::Path(why)), "{bad}");
        }
    }

    fn head(
        method: Method,
        uri: &str,
        version: Version,
        headers: &[(&'static str, &'static str)],
    ) -> Result<(), HeadError> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_static(value));
        }
        check_head(&method, &uri.parse().expect("uri"), version, &map)
    }

    #[test]
    fn only_matrix_methods_pass() {
        let host = [("host", "hs.example")];
        for method in ["CONNECT", "TRACE", "PATCH", "PROPFIND"] {
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            assert_eq!(
                head(method.clone(), "/_matrix/x", Version::HTTP_11, &host),
                Err(HeadError::Method(method))
            );
        }
        assert_eq!(
            head(Method::PUT, "/_matrix/x", Version::HTTP_11, &host),
            Ok(())
        );
    }

    #[test]
    fn host_is_one_bare_authority_agreeing_with_the_target() {
        let get = |uri: &str, version, headers: &[(&'static str, &'static str)]| {
            head(Method::GET, uri, version, headers)
        };
        let v11 = Version::HTTP_11;
        assert_eq!(get("/", v11, &[("host", "hs.example:8448")]), Ok(()));
        assert_eq!(get("/", v11, &[("host", "[::1]:80")]), Ok(()));
        assert_eq!(get("/", Version::HTTP_10, &[]), Ok(()));
        assert_eq!(get("https://hs.example/", Version::HTTP_2, &[]), Ok(()));
        assert_eq!(get("/", v11, &[]), Err(HeadError::Host("missing")));
        assert_eq!(
            get("/", v11, &[("host", "a"), ("host", "a")]),
            Err(HeadError::Host("more than one"))
        );
        for bad in ["u@hs.example", "hs.example/x", "hs.example?x", "", "a b"] {
            let value = Box::leak(bad.to_owned().into_boxed_str());
            assert_eq!(
                get("/", v11, &[("host", value)]),
                Err(HeadError::Host("not a bare host[:port]")),
                "{bad}"
            );
        }
        assert_eq!(
            get("http://other.example/", v11, &[("host", "hs.example")]),
            Err(HeadError::Host("differs from the request target's"))
        );
        assert_eq!(
            get("http://HS.example/", v11, &[("host", "hs.example")]),
            Ok(())
        );
    }

    #[test]
    fn connection_may_not_name_what_the_gateway_relies_on() {
        let get = |value: &'static str| {
            head(
                Method::GET,
                "/",
                Version::HTTP_11,
                &[("host", "h"), ("connection", value)],
            )
        };
        assert_eq!(get("close"), Ok(()));
        assert_eq!(get("keep-alive, Upgrade, x-custom"), Ok(()));
        for (value, named) in [
            ("close, X-Forwarded-For", "x-forwarded-for"),
            ("Host", "host"),
            ("close,authorization", "authorization"),
            (" Content-Length ", "content-length"),
            ("X-Request-Id", "x-request-id"),
            ("x-forwarded-proto", "x-forwarded-proto"),
        ] {
            assert_eq!(
                get(value),
                Err(HeadError::Connection(named.to_owned())),
                "{value}"
            );
        }
    }

    #[test]
    fn transfer_encoding_is_exactly_chunked() {
        let get = |headers: &[(&'static str, &'static str)]| {
            let mut all = vec![("host", "h")];
            all.extend_from_slice(headers);
            head(Method::POST, "/", Version::HTTP_11, &all)
        };
        assert_eq!(get(&[("transfer-encoding", "chunked")]), Ok(()));
        assert_eq!(get(&[("transfer-encoding", "Chunked")]), Ok(()));
        for bad in [
            &[("transfer-encoding", "gzip, chunked")][..],
            &[("transfer-encoding", "chunked, chunked")],
            &[("transfer-encoding", "identity")],
            &[
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked"),
            ],
        ] {
            assert_eq!(get(bad), Err(HeadError::TransferEncoding), "{bad:?}");
        }
    }
}
