//! Fuzzes what federation reads from other servers: transaction bodies
//! (every PDU and EDU checked, decided with a verified origin) and signed
//! federation lists (JWS, certificates, payload). Any input must give a
//! decision or an error, never a panic.

#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;
use std::time::SystemTime;

use http::{HeaderMap, Method, Uri};
use libfuzzer_sys::fuzz_target;
use ruma::ServerName;
use sectorgate_action::{Catalog, Request, classify};
use sectorgate_federation::list::{Payload, jws};
use sectorgate_policy::federation::{Allowlist, FederationFacts, ServerPattern};
use sectorgate_policy::{Context, Peer, Profile, decide};

const TARGETS: [(&str, &str); 4] = [
    ("PUT", "/_matrix/federation/v1/send/t1"),
    ("PUT", "/_matrix/federation/v2/invite/!r:localhost/$e"),
    ("PUT", "/_matrix/federation/v2/send_join/!r:localhost/$e"),
    ("POST", "/_matrix/federation/v1/user/keys/query"),
];

static PROFILE: LazyLock<Option<Profile>> = LazyLock::new(|| Profile::bundled("defence").ok());
static ALLOWLIST: LazyLock<Allowlist> = LazyLock::new(|| {
    let patterns = ["hs2.example.org", "*.example.org"]
        .iter()
        .filter_map(|entry| ServerPattern::parse(entry))
        .collect();
    Allowlist::new(patterns, "fuzz")
});

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    if pick == 255 {
        // A signed list, as a directory could send it.
        if let Ok(text) = std::str::from_utf8(body) {
            let _ = jws::verify(text, &[], SystemTime::now());
        }
        let _ = Payload::parse(body);
        return;
    }
    let Some(profile) = PROFILE.as_ref() else {
        return;
    };
    let (method, path) = TARGETS[usize::from(pick) % TARGETS.len()];
    let (Ok(method), Ok(uri)) = (method.parse::<Method>(), path.parse::<Uri>()) else {
        return;
    };
    let (Ok(local), Ok(origin)) = (
        <&ServerName>::try_from("localhost"),
        <&ServerName>::try_from("hs2.example.org"),
    ) else {
        return;
    };
    let headers = HeaderMap::new();
    let request = Request {
        method: &method,
        uri: &uri,
        headers: &headers,
        body,
    };
    let Ok(classified) = classify(Catalog::global(), &request, 64) else {
        return;
    };
    let context = Context {
        federation: Some(FederationFacts {
            local,
            allowlist: &ALLOWLIST,
            origin: Some(origin),
        }),
        ..Context::bare(
            Peer {
                addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            },
            0,
        )
    };
    let _ = decide(&classified, profile, &context);
});
