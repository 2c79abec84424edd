//! Hop-by-hop headers: meaningful for one connection only, never forwarded.

use http::HeaderMap;
use http::header::{self, HeaderName};

static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

/// Removes hop-by-hop headers, including any the `Connection` header names.
/// One pass over the names present finds them (most messages carry none or
/// one): looking up each of the nine cost more than the pass.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut present: Vec<HeaderName> = headers
        .keys()
        .filter(|name| HOP_BY_HOP.contains(name))
        .cloned()
        .collect();
    // `Connection` is one of them: without any, it names none either.
    if present.is_empty() {
        return;
    }
    present.extend(
        headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok()),
    );
    for name in &present {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_static(name),
                http::HeaderValue::from_static(value),
            );
        }
        headers
    }

    #[test]
    fn every_hop_by_hop_header_and_those_connection_names_go_the_rest_stays() {
        let mut headers = map(&[
            ("host", "hs.example"),
            ("connection", "keep-alive, x-private"),
            ("connection", "X-Other"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "close"),
            ("te", "trailers"),
            ("trailer", "x-sum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic x"),
            ("proxy-authenticate", "Basic"),
            ("x-private", "1"),
            ("x-other", "2"),
            ("authorization", "Bearer t"),
            ("content-type", "application/json"),
        ]);
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["authorization", "content-type", "host"]);
    }

    #[test]
    fn without_hop_by_hop_headers_nothing_changes() {
        let mut headers = map(&[("host", "hs.example"), ("x-private", "1")]);
        let before = headers.clone();
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers, before);
    }

    #[test]
    fn a_connection_header_alone_goes_with_what_it_names() {
        let mut headers = map(&[("connection", "x-private"), ("x-private", "1")]);
        strip_hop_by_hop(&mut headers);
        assert!(headers.is_empty());
    }
}
