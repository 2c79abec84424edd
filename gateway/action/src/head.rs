//! The request head, checked before routing: the method, the request target,
//! `Host`, `Connection` and `Transfer-Encoding`.
//!
//! What passes here reads the same to every hop behind the gateway: the path
//! has no dot segments, encoded separators, NUL, raw non-ASCII or bad
//! escapes that another hop could resolve into a different endpoint than
//! the one decided on, the query no NUL, and the framing headers leave no
//! doubt about where the body ends.
//!
//! An encoded slash (`%2F`) is an ordinary character inside a parameter of
//! a Matrix route (a Megolm session id, a state key): the homeserver splits
//! the raw path on `/` first and decodes each segment after, and so does
//! the catalog. Anywhere else it is refused.

use http::header::{CONNECTION, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, Method, Uri, Version};
use percent_encoding::percent_decode;

use crate::catalog::Lookup;

/// Why a request head is refused before routing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// A method the Matrix APIs never use (`CONNECT`, `TRACE`, …).
    #[error("method {0} is not used by the Matrix APIs")]
    Method(Method),
    /// A path that could read differently to another hop.
    #[error("malformed request path: {0}")]
    Path(&'static str),
    /// A query that could read differently to another hop.
    #[error("malformed query: {0}")]
    Query(&'static str),
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

/// Checks a request head; `lookup` is the catalog's answer for its method
/// and path. The first problem found is returned.
pub fn check_head(
    method: &Method,
    uri: &Uri,
    version: Version,
    headers: &HeaderMap,
    lookup: &Lookup<'_>,
) -> Result<(), HeadError> {
    if !MATRIX_METHODS.contains(method) {
        return Err(HeadError::Method(method.clone()));
    }
    let shape = check_path(uri.path())?;
    // A route's literal segments have no `%`: on a path the catalog
    // matched, every encoded slash is inside a parameter.
    if shape.encoded_slash && !matches!(lookup, Lookup::Found(_) | Lookup::Preflight(_)) {
        return Err(HeadError::Path("encoded slash outside a route parameter"));
    }
    if let Some(query) = uri.query() {
        check_query(query)?;
    }
    check_host(uri, version, headers)?;
    check_connection(headers)?;
    check_transfer_encoding(headers)
}

/// What [`check_path`] saw of a path that passed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathShape {
    /// Some segment holds an encoded slash (`%2F`): fine only inside a
    /// route's parameter.
    pub encoded_slash: bool,
}

/// Checks a request path: origin-form, ASCII, every escape well formed, and
/// no segment that any hop could resolve, split or truncate.
pub fn check_path(path: &str) -> Result<PathShape, HeadError> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(HeadError::Path("not an absolute path"));
    };
    let mut shape = PathShape::default();
    for segment in rest.split('/') {
        shape.encoded_slash |= check_segment(segment.as_bytes())?;
    }
    Ok(shape)
}

/// Checks a query: ASCII, and no parameter that decodes to a NUL, which
/// some hops read as the end of the value and others do not.
fn check_query(query: &str) -> Result<(), HeadError> {
    if !query.is_ascii() {
        return Err(HeadError::Query("raw non-ASCII byte"));
    }
    let nul = query
        .as_bytes()
        .windows(3)
        .any(|window| window[0] == b'%' && window[1] == b'0' && window[2] == b'0');
    if nul {
        return Err(HeadError::Query("NUL"));
    }
    Ok(())
}

/// Checks one segment; whether it holds an encoded slash.
fn check_segment(raw: &[u8]) -> Result<bool, HeadError> {
    let mut encoded_slash = false;
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
                    b'/' => {
                        encoded_slash = true;
                        b'/'
                    }
                    b'\\' => return Err(HeadError::Path("encoded backslash")),
                    byte => byte,
                }
            }
            byte if byte >= 0x80 => return Err(HeadError::Path("raw non-ASCII byte")),
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
    Ok(encoded_slash)
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
        check_path(path).map(|_| ())
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
            (
                "/_matrix/client/v3/profile/@j\u{fc}rgen:hs",
                "raw non-ASCII byte",
            ),
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
        let uri: Uri = uri.parse().expect("uri");
        let lookup = crate::Catalog::global().lookup(&method, uri.path());
        check_head(&method, &uri, version, &map, &lookup)
    }

    #[test]
    fn an_encoded_slash_passes_only_inside_a_route_parameter() {
        let get = |method: Method, uri: &str| head(method, uri, Version::HTTP_11, &[("host", "h")]);
        let session = "/_matrix/client/v3/room_keys/keys/!r:hs/ab%2Fcd?version=1";
        assert_eq!(
            check_path(session.split('?').next().expect("path")).map(|s| s.encoded_slash),
            Ok(true)
        );
        assert_eq!(get(Method::PUT, session), Ok(()));
        assert_eq!(get(Method::OPTIONS, session), Ok(()));
        assert_eq!(
            get(
                Method::PUT,
                "/_matrix/client/v3/rooms/!r:hs/state/m.x/a%2Fb"
            ),
            Ok(())
        );
        for outside in [
            "/_synapse/client/..%2Fadmin/v1/server_version",
            "/_matrix/client/v3%2Fversions",
            "/_matrix%2Fclient/versions",
        ] {
            assert_eq!(
                get(Method::GET, outside),
                Err(HeadError::Path("encoded slash outside a route parameter")),
                "{outside}"
            );
        }
    }

    #[test]
    fn a_query_is_ascii_without_nul() {
        let get = |uri: &str| head(Method::GET, uri, Version::HTTP_11, &[("host", "h")]);
        assert_eq!(
            get("/_matrix/client/v3/publicRooms?server=a%20b&limit=10"),
            Ok(())
        );
        assert_eq!(
            get("/_matrix/client/v3/publicRooms?server=hs%00.evil"),
            Err(HeadError::Query("NUL"))
        );
        assert_eq!(
            get("/_matrix/client/v3/publicRooms?server=h\u{e9}"),
            Err(HeadError::Query("raw non-ASCII byte"))
        );
        // `%000` is a NUL and a `0`; `%2500` is a `%` and `00`.
        assert_eq!(get("/x?a=%000"), Err(HeadError::Query("NUL")));
        assert_eq!(get("/x?a=%2500"), Ok(()));
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
