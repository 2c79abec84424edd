//! Fuzzes the policy core on what reaches it from the network: a request
//! body on the endpoints whose contents profiles inspect (message and state
//! sends, createRoom, invites, account data), classified and decided under
//! the strictest bundled profile. Any input must give a decision, never a
//! panic.

#![no_main]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;

use http::{HeaderMap, Method, Uri};
use libfuzzer_sys::fuzz_target;
use sectorgate_action::{Catalog, Request, classify};
use sectorgate_policy::{Context, Peer, Profile, RoomFacts, decide};

const TARGETS: [(&str, &str); 6] = [
    ("PUT", "/_matrix/client/v3/rooms/!r:localhost/send/m.room.message/t1"),
    ("PUT", "/_matrix/client/v3/rooms/!r:localhost/send/m.reaction/t1"),
    ("PUT", "/_matrix/client/v3/rooms/!r:localhost/state/m.room.join_rules/"),
    ("POST", "/_matrix/client/v3/createRoom"),
    ("POST", "/_matrix/client/v3/rooms/!r:localhost/invite"),
    ("PUT", "/_matrix/client/v3/user/@u:localhost/account_data/m.invite_permission_config"),
];

static PROFILE: LazyLock<Option<Profile>> =
    LazyLock::new(|| Profile::bundled("healthcare-tim-epa").ok());

fuzz_target!(|data: &[u8]| {
    let Some(profile) = PROFILE.as_ref() else {
        return;
    };
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (method, path) = TARGETS[usize::from(pick) % TARGETS.len()];
    let (Ok(method), Ok(uri)) = (method.parse::<Method>(), path.parse::<Uri>()) else {
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
    let room = RoomFacts {
        state: BTreeMap::new(),
        ..RoomFacts::default()
    };
    let context = Context {
        room: Some(&room),
        ..Context::bare(Peer { addr: IpAddr::V4(Ipv4Addr::LOCALHOST) }, 1_767_225_600_000)
    };
    let _ = decide(&classified, profile, &context);
});
