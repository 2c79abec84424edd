//! `X-Forwarded-For` / `X-Forwarded-Proto`: believed only from trusted proxies.

use std::net::IpAddr;

use http::header::FORWARDED;
use http::{HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
/// The one value `X-Forwarded-Proto` is given: the gateway's listeners
/// pass plain HTTP on.
const HTTP: HeaderValue = HeaderValue::from_static("http");

/// Sets the forwarding headers for the homeserver and returns the client's
/// address. Headers from an untrusted peer are replaced, not extended.
pub(crate) fn apply(headers: &mut HeaderMap, peer: IpAddr, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        headers.remove(FORWARDED);
        headers.remove(X_REAL_IP);
        set(headers, X_FORWARDED_FOR, &peer.to_string());
        headers.insert(X_FORWARDED_PROTO, HTTP);
        return peer;
    }
    let chain: Vec<IpAddr> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    // The client is the right-most hop that is not one of our proxies.
    let client = chain
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .copied()
        .unwrap_or(peer);
    let mut hops: Vec<String> = chain.iter().map(IpAddr::to_string).collect();
    hops.push(peer.to_string());
    set(headers, X_FORWARDED_FOR, &hops.join(", "));
    if !headers.contains_key(X_FORWARDED_PROTO) {
        headers.insert(X_FORWARDED_PROTO, HTTP);
    }
    client
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn an_untrusted_peer_cannot_forge_its_address() {
        let mut headers = HeaderMap::new();
        headers.insert(X_FORWARDED_FOR, HeaderValue::from_static("1.2.3.4"));
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        let client = apply(&mut headers, ip("10.0.0.9"), &[]);
        assert_eq!(client, ip("10.0.0.9"));
        assert_eq!(headers[X_FORWARDED_FOR], "10.0.0.9");
        assert_eq!(headers[X_FORWARDED_PROTO], "http");
    }

    #[test]
    fn a_trusted_proxy_passes_the_client_on() {
        let mut headers = HeaderMap::new();
        headers.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_static("1.2.3.4, 10.0.0.2"),
        );
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let client = apply(&mut headers, ip("10.0.0.1"), &trusted);
        assert_eq!(client, ip("1.2.3.4"));
        assert_eq!(headers[X_FORWARDED_FOR], "1.2.3.4, 10.0.0.2, 10.0.0.1");
        assert_eq!(headers[X_FORWARDED_PROTO], "https");
    }
}
