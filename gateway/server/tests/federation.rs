//! Federation end to end: three real Synapses over TLS, with a CA made at
//! test time. hs1 sits behind sectorgate (TLS federation listener); hs2 is
//! on the allowlist, hs3 is not. A hostile peer written here, with its own
//! signing key (pinned in the gateway's config), tries what a server on
//! the allowlist could try.
//!
//! Every refusal is proven on hs1's side: the request is absent from hs1's
//! access log, and what it carried is absent from hs1's rooms, checked
//! after a later event (a sentinel) did arrive.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    reason = "test code: a failed step fails the test; a scenario reads as one story"
)]

mod support;

use std::time::Duration;

use ruma::RoomVersionId;
use ruma::ServerName;
use serde_json::{Value, json};
use support::peer::{Peer, PeerServer, Signing};
use support::pki::TestPki;
use support::{
    Gateway, GatewayOptions, Synapse, SynapseOptions, encode, free_port, http, marker, register,
    wait_for,
};

/// The three homeservers, the gateway in front of hs1, and the peer.
struct World {
    pki: TestPki,
    hs1: Synapse,
    hs2: Synapse,
    hs3: Synapse,
    gateway: Gateway,
    /// hs1's federation address, through the gateway (`https://…`).
    federation_url: String,
    hs1_name: String,
    hs2_name: String,
    hs3_name: String,
    peer: Peer,
}

fn start_world() -> World {
    let pki = TestPki::new();
    let (gateway_port, p2, p3, peer_port) = (free_port(), free_port(), free_port(), free_port());
    let egress_port = free_port();
    let hs1_name = format!("localhost:{gateway_port}");
    let hs2_name = format!("localhost:{p2}");
    let hs3_name = format!("localhost:{p3}");
    let peer = Peer::new(&format!("localhost:{peer_port}"), "hostile", &pki.ca);

    let options = |name: &str, tls_port: Option<u16>| SynapseOptions {
        server_name: Some(name.to_owned()),
        federation_tls: tls_port.map(|port| (port, pki.cert.clone(), pki.key.clone())),
        federation_ca: Some(pki.ca.clone()),
        ..SynapseOptions::default()
    };
    // hs1 sends its own federation requests through the gateway's egress.
    let hs1_options = SynapseOptions {
        https_proxy: Some(format!("http://127.0.0.1:{egress_port}")),
        ..options(&hs1_name, None)
    };
    let (hs1, hs2, hs3) = std::thread::scope(|scope| {
        let hs1 = scope.spawn(|| Synapse::start(hs1_options));
        let hs2 = scope.spawn(|| Synapse::start(options(&hs2_name, Some(p2))));
        let hs3 = scope.spawn(|| Synapse::start(options(&hs3_name, Some(p3))));
        (
            hs1.join().expect("hs1"),
            hs2.join().expect("hs2"),
            hs3.join().expect("hs3"),
        )
    });

    let mut options = GatewayOptions::for_synapse(&hs1, "base");
    options.extra = format!(
        "[[listeners]]\nbind = \"127.0.0.1:0\"\nserves = [\"client\"]\n\n\
         [[listeners]]\nbind = \"127.0.0.1:{gateway_port}\"\nserves = [\"federation\"]\n\
         tls = {{ certificate = \"{cert}\", key = \"{key}\" }}\n\n\
         [federation]\nserver_name = \"{hs1_name}\"\nallow = [\"{hs2_name}\", \"{peer_name}\"]\n\
         trusted_ca_files = [\"{ca}\"]\n\n\
         [federation.pinned_keys.\"{peer_name}\"]\n\"{key_id}\" = \"{public}\"\n\n\
         [egress]\nbind = \"127.0.0.1:{egress_port}\"\nca_certificate = \"{ca}\"\nca_key = \"{ca_key}\"\n",
        cert = pki.cert.display(),
        key = pki.key.display(),
        ca = pki.ca.display(),
        ca_key = pki.ca_key.display(),
        peer_name = peer.name,
        key_id = peer.key_id(),
        public = peer.public_key(),
    );
    let gateway = Gateway::start(options);
    World {
        federation_url: format!("https://{hs1_name}"),
        pki,
        hs1,
        hs2,
        hs3,
        gateway,
        hs1_name,
        hs2_name,
        hs3_name,
        peer,
    }
}

fn post(base: &str, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = http()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .expect("POST");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn get(base: &str, token: &str, path: &str) -> (u16, Value) {
    let response = http()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .expect("GET");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn send_text(base: &str, token: &str, room: &str, text: &str) -> String {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
        encode(room),
        marker("txn")
    );
    let response = http()
        .put(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&json!({"msgtype": "m.text", "body": text}))
        .send()
        .expect("send");
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap_or(Value::Null);
    assert_eq!(status, 200, "send into {room}: {body}");
    body["event_id"].as_str().expect("event_id").to_owned()
}

/// Waits until `text` shows in the room's timeline as `base` sees it.
fn sees(base: &str, token: &str, room: &str, text: &str) -> bool {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=50",
        encode(room)
    );
    wait_for(Duration::from_secs(30), || {
        let (status, body) = get(base, token, &path);
        let found = status == 200
            && body["chunk"]
                .as_array()
                .is_some_and(|events| events.iter().any(|e| e["content"]["body"] == text));
        found.then_some(())
    })
    .is_some()
}

/// The audit records with this rule, as `(endpoint, verdict, actor kind)`.
fn audited(gateway: &Gateway, rule: &str) -> Vec<(String, String)> {
    gateway
        .audit_records()
        .into_iter()
        .filter(|record| record.rule == rule)
        .map(|record| {
            (
                record.endpoint.unwrap_or_default(),
                record.verdict.to_string(),
            )
        })
        .collect()
}

fn assert_audited(gateway: &Gateway, rule: &str, endpoint: &str) {
    let records = audited(gateway, rule);
    assert!(
        records
            .iter()
            .any(|(e, verdict)| e == endpoint && verdict == "deny"),
        "no deny of {endpoint} by {rule} in the audit log: {records:?}"
    );
}

#[test]
fn three_synapses_federate_only_inside_the_allowlist() {
    let world = start_world();
    let client = &world.gateway.url;
    let alice = register(client, "alice");
    let bob = register(&world.hs2.base_url, "bob");
    let eve = register(&world.hs3.base_url, "eve");
    let bob_id = format!("@bob:{}", world.hs2_name);
    let eve_id = format!("@eve:{}", world.hs3_name);

    // hs2, allowed: invited, joins, and messages flow both ways.
    let (status, created) = post(
        client,
        &alice.token,
        "/_matrix/client/v3/createRoom",
        &json!({"preset": "public_chat", "name": "federated"}),
    );
    assert_eq!(status, 200, "createRoom: {created}");
    let room = created["room_id"].as_str().expect("room_id").to_owned();
    let (status, body) = post(
        client,
        &alice.token,
        &format!("/_matrix/client/v3/rooms/{}/invite", encode(&room)),
        &json!({"user_id": bob_id}),
    );
    assert_eq!(status, 200, "alice invites bob on hs2: {body}");
    let join_path = format!(
        "/_matrix/client/v3/join/{}?via={}",
        encode(&room),
        encode(&world.hs1_name)
    );
    let joined = wait_for(Duration::from_secs(30), || {
        let (status, body) = post(&world.hs2.base_url, &bob.token, &join_path, &json!({}));
        (status == 200).then_some(body)
    });
    assert!(joined.is_some(), "bob (hs2) could not join hs1's room");
    let to_bob = marker("hello bob");
    send_text(client, &alice.token, &room, &to_bob);
    assert!(
        sees(&world.hs2.base_url, &bob.token, &room, &to_bob),
        "bob never got alice's message"
    );
    let to_alice = marker("hello alice");
    send_text(&world.hs2.base_url, &bob.token, &room, &to_alice);
    assert!(
        sees(client, &alice.token, &room, &to_alice),
        "alice never got bob's message"
    );
    let allowed = audited(&world.gateway, "endpoint.allowed");
    for endpoint in [
        "federation.prepare_join_event",
        "federation.create_join_event",
        "federation.send_transaction_message",
    ] {
        assert!(
            allowed
                .iter()
                .any(|(e, verdict)| e == endpoint && verdict == "allow"),
            "hs2's {endpoint} is not audited as allowed: {allowed:?}"
        );
    }

    // hs3, not allowed: cannot join, invite, fetch media or query profiles.
    let (status, body) = post(&world.hs3.base_url, &eve.token, &join_path, &json!({}));
    assert_ne!(status, 200, "eve (hs3) joined hs1's room: {body}");
    assert_audited(
        &world.gateway,
        "federation.origin_not_allowed",
        "federation.prepare_join_event",
    );

    let (status, eve_room) = post(
        &world.hs3.base_url,
        &eve.token,
        "/_matrix/client/v3/createRoom",
        &json!({"preset": "private_chat"}),
    );
    assert_eq!(status, 200, "eve's room: {eve_room}");
    let eve_room = eve_room["room_id"].as_str().expect("room_id").to_owned();
    let (status, body) = post(
        &world.hs3.base_url,
        &eve.token,
        &format!("/_matrix/client/v3/rooms/{}/invite", encode(&eve_room)),
        &json!({"user_id": alice.user_id}),
    );
    assert_ne!(status, 200, "eve (hs3) invited alice: {body}");
    assert_audited(
        &world.gateway,
        "federation.origin_not_allowed",
        "federation.create_invite",
    );

    let (status, body) = get(
        &world.hs3.base_url,
        &eve.token,
        &format!("/_matrix/client/v3/profile/{}", encode(&alice.user_id)),
    );
    assert_ne!(status, 200, "eve (hs3) read alice's profile: {body}");
    assert_audited(
        &world.gateway,
        "federation.origin_not_allowed",
        "federation.get_profile_information",
    );

    let upload = http()
        .post(format!("{client}/_matrix/media/v3/upload?filename=a.txt"))
        .bearer_auth(&alice.token)
        .header("content-type", "text/plain")
        .body("alice's file")
        .send()
        .expect("upload");
    let mxc: Value = upload.json().expect("upload JSON");
    let mxc = mxc["content_uri"].as_str().expect("content_uri").to_owned();
    let media_path = mxc.trim_start_matches("mxc://");
    let (status, _) = get(
        &world.hs3.base_url,
        &eve.token,
        &format!("/_matrix/client/v1/media/download/{media_path}"),
    );
    assert_ne!(status, 200, "eve (hs3) fetched alice's media");
    assert_audited(
        &world.gateway,
        "federation.origin_not_allowed",
        "federation.get_content",
    );

    // hs1 cannot reach hs3: its clients' requests that would are refused.
    let (status, body) = post(
        client,
        &alice.token,
        &format!("/_matrix/client/v3/rooms/{}/invite", encode(&room)),
        &json!({"user_id": eve_id}),
    );
    assert_eq!(status, 403, "alice invites eve on hs3: {body}");
    assert_eq!(body["org.sectorgate.rule"], "federation.remote_not_allowed");
    let (status, body) = get(
        client,
        &alice.token,
        &format!("/_matrix/client/v3/profile/{}", encode(&eve_id)),
    );
    assert_eq!(status, 403, "alice reads eve's profile: {body}");
    assert!(
        !world.hs1.access_log().contains(&encode(&eve_id)),
        "a request naming eve reached hs1"
    );

    // hs1's own federation goes through the egress: to hs2 it passes and is
    // audited; to hs3 it is refused before it leaves.
    // Each outbound record names the server the request was for.
    let outbound = |rule: &str, endpoint: &str, destination: &str| {
        world.gateway.audit_records().into_iter().any(|record| {
            record.action == "outbound"
                && record.rule == rule
                && record.endpoint.as_deref() == Some(endpoint)
                && record.destination.as_ref().and_then(|to| to.id()) == Some(destination)
        })
    };
    assert!(
        outbound(
            "federation.outbound_allowed",
            "federation.send_transaction_message",
            &world.hs2_name,
        ),
        "hs1's transactions to hs2 are not audited as outbound"
    );
    let alias = format!("#lobby:{}", world.hs3_name);
    let (status, body) = get(
        client,
        &alice.token,
        &format!("/_matrix/client/v3/directory/room/{}", encode(&alias)),
    );
    assert_ne!(status, 200, "hs1 resolved an alias on hs3: {body}");
    assert!(
        outbound(
            "federation.destination_not_allowed",
            "federation.get_room_information",
            &world.hs3_name,
        ),
        "hs1's request to hs3 was not refused by the egress"
    );
    assert!(
        !world.hs3.access_log().contains("query/directory"),
        "hs1's request reached hs3"
    );

    hostile_peer(&world, &room, &alice, &bob);
    gap_fill(&world, &room, &alice);
}

/// A mixed transaction is refused whole, and its accepted PDU still reaches
/// hs1: the peer joins the room for real, sends a good event and a smuggled
/// one together (refused), then a second good event on top of the first;
/// hs1 misses the first, asks the peer for it (get_missing_events, through
/// the egress) and gets it.
fn gap_fill(world: &World, room: &str, alice: &support::User) {
    let peer = &world.peer;
    let server = PeerServer::start(peer, &world.pki);
    let hs1: &ServerName = world.hs1_name.as_str().try_into().expect("hs1 name");
    let base = &world.federation_url;
    let user = format!("@host:{}", peer.name);
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64
    };

    // Join through make_join / send_join, signed by the peer.
    let (status, template) = peer.send_as_self(
        "GET",
        base,
        &format!(
            "/_matrix/federation/v1/make_join/{}/{}?ver=12&ver=11&ver=10",
            encode(room),
            encode(&user)
        ),
        None,
        hs1,
    );
    assert_eq!(status, 200, "make_join: {template}");
    let version: RoomVersionId = template["room_version"]
        .as_str()
        .expect("room_version")
        .try_into()
        .expect("room version");
    let mut join = template["event"].clone();
    join["origin_server_ts"] = json!(now());
    let (join_id, join) = peer.sign_event(join, &version);
    let (status, joined) = peer.send_as_self(
        "PUT",
        base,
        &format!(
            "/_matrix/federation/v2/send_join/{}/{}",
            encode(room),
            encode(&join_id)
        ),
        Some(&join),
        hs1,
    );
    assert_eq!(status, 200, "send_join: {joined}");

    // The events a message is authorised by: the power levels, the
    // sender's join, and (before room version 12) the create event.
    let state = joined["state"].as_array().expect("state");
    let id_of = |event_type: &str| {
        state
            .iter()
            .find(|event| event["type"] == event_type && event["state_key"] == "")
            .map(|event| Peer::event_id(event, &version))
    };
    let mut auth = vec![
        id_of("m.room.power_levels").expect("power levels"),
        join_id.clone(),
    ];
    if version != RoomVersionId::V12 {
        auth.push(id_of("m.room.create").expect("create"));
    }
    let depth = join["depth"].as_u64().expect("depth");
    let message = |text: &str, prev: &str, depth: u64| {
        peer.sign_event(
            json!({
                "type": "m.room.message",
                "room_id": room,
                "sender": user,
                "content": {"msgtype": "m.text", "body": text},
                "origin_server_ts": now(),
                "depth": depth,
                "prev_events": [prev],
                "auth_events": auth,
            }),
            &version,
        )
    };
    let first_text = marker("held back");
    let (first_id, first) = message(&first_text, &join_id, depth + 1);
    let smuggled = json!({
        "type": "m.room.message", "room_id": room, "sender": format!("@mallory:{}", world.hs3_name),
        "content": {"msgtype": "m.text", "body": "smuggled"}, "origin_server_ts": now(),
        "depth": depth + 1, "prev_events": [join_id], "auth_events": [],
        "hashes": {"sha256": "aaaa"}, "signatures": {world.hs3_name.clone(): {"ed25519:a": "bbbb"}},
    });

    // The mixed transaction: refused, the good PDU with it.
    let (status, body) = peer.send_as_self(
        "PUT",
        base,
        &format!("/_matrix/federation/v1/send/{}", marker("txn-mixed")),
        Some(&json!({"origin": peer.name, "origin_server_ts": now(), "pdus": [first, smuggled]})),
        hs1,
    );
    assert_eq!(status, 200, "{body}");
    let refused = body["pdus"].as_object().expect("per-PDU results");
    // The smuggled PDU has an error (under each id it may have); the good
    // one has none.
    assert!(!refused.is_empty(), "{body}");
    assert!(!refused.contains_key(&first_id), "{body}");
    assert!(!sees_now(
        &world.gateway.url,
        &alice.token,
        room,
        &first_text
    ));

    // The next event builds on the first; hs1 fills the gap from the peer,
    // whose answer also carries the smuggled event: the egress takes it out.
    server.hold(first);
    server.hold(smuggled);
    let second_text = marker("on top");
    let (_, second) = message(&second_text, &first_id, depth + 2);
    let (status, body) = peer.send_as_self(
        "PUT",
        base,
        &format!("/_matrix/federation/v1/send/{}", marker("txn-clean")),
        Some(&json!({"origin": peer.name, "origin_server_ts": now(), "pdus": [second]})),
        hs1,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body["pdus"]
            .as_object()
            .is_some_and(|results| results.values().all(|r| r.get("error").is_none())),
        "hs1 refused the clean event: {body}"
    );
    assert!(
        sees(&world.gateway.url, &alice.token, room, &second_text),
        "the clean event never arrived"
    );
    assert!(
        sees(&world.gateway.url, &alice.token, room, &first_text),
        "the accepted PDU of the mixed transaction was never recovered"
    );
    let recovered = world.gateway.audit_records().into_iter().any(|record| {
        record.action == "outbound"
            && record.endpoint.as_deref() == Some("federation.get_missing_events")
    });
    assert!(
        recovered,
        "hs1 did not ask for the missing event through the egress"
    );
}

/// The hostile peer (allowed, with a pinned key) tries to smuggle, forge
/// and mislead; each attempt is refused and never reaches hs1.
fn hostile_peer(world: &World, room: &str, alice: &support::User, bob: &support::User) {
    let hs1: &ServerName = world.hs1_name.as_str().try_into().expect("hs1 name");
    let hs3: &ServerName = world.hs3_name.as_str().try_into().expect("hs3 name");
    let peer = &world.peer;
    let base = &world.federation_url;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;

    // A transaction that smuggles a PDU from hs3 into alice's room.
    let smuggled_text = marker("smuggled");
    let smuggled = json!({
        "room_id": room,
        "sender": format!("@mallory:{}", world.hs3_name),
        "type": "m.room.message",
        "content": {"msgtype": "m.text", "body": smuggled_text},
        "origin_server_ts": now,
        "depth": 10,
        "prev_events": [],
        "auth_events": [],
        "hashes": {"sha256": "aaaa"},
        "signatures": {world.hs3_name.clone(): {"ed25519:a": "bbbb"}},
    });
    let txn = marker("txn-smuggle");
    let (status, body) = peer.send_as_self(
        "PUT",
        base,
        &format!("/_matrix/federation/v1/send/{txn}"),
        Some(&json!({"origin": peer.name, "origin_server_ts": now, "pdus": [smuggled]})),
        hs1,
    );
    assert_eq!(status, 200, "the smuggling transaction: {body}");
    let errors = body["pdus"].as_object().expect("per-PDU results");
    // One PDU, refused under each id it may have in some room version.
    assert!(!errors.is_empty(), "{body}");
    assert!(
        errors.values().all(|error| error["error"]
            .as_str()
            .is_some_and(|e| e.contains("not part of the federation"))),
        "{body}"
    );
    let smuggled_ids: Vec<String> = errors.keys().cloned().collect();

    // An EDU from the peer that speaks for bob, a user of hs2.
    let edu_txn = marker("txn-edu");
    let typing = json!({"edu_type": "m.typing", "content": {
        "room_id": room, "user_id": format!("@bob:{}", world.hs2_name), "typing": true}});
    let (status, body) = peer.send_as_self(
        "PUT",
        base,
        &format!("/_matrix/federation/v1/send/{edu_txn}"),
        Some(&json!({"origin": peer.name, "origin_server_ts": now, "pdus": [], "edus": [typing]})),
        hs1,
    );
    assert_eq!(status, 200, "the EDU transaction: {body}");
    assert_eq!(body["pdus"], json!({}), "{body}");

    // No signature, a key nobody published, another destination, another
    // server's name.
    let probe = |label: &str| {
        format!(
            "/_matrix/federation/v1/query/profile?user_id={}&field={}",
            encode(&alice.user_id),
            marker(label)
        )
    };
    let unsigned = probe("unsigned");
    let (status, body) = peer.send("GET", base, &unsigned, None, None);
    assert_eq!(
        (status, &body["org.sectorgate.rule"]),
        (401, &json!("federation.unsigned")),
        "{body}"
    );
    let forger = Peer::new(peer.name.as_str(), "hostile", &world.pki.ca);
    let forged = probe("forged");
    let (status, body) = forger.send_as_self("GET", base, &forged, None, hs1);
    assert_eq!(
        (status, &body["org.sectorgate.rule"]),
        (401, &json!("federation.bad_signature")),
        "{body}"
    );
    let elsewhere: &ServerName = "localhost:1".try_into().expect("name");
    let misdirected = probe("misdirected");
    let (status, body) = peer.send_as_self("GET", base, &misdirected, None, elsewhere);
    assert_eq!(
        (status, &body["org.sectorgate.rule"]),
        (401, &json!("federation.wrong_destination")),
        "{body}"
    );
    let impostor = probe("impostor");
    let (status, body) = peer.send(
        "GET",
        base,
        &impostor,
        None,
        Some(Signing {
            origin: hs3,
            destination: hs1,
        }),
    );
    assert_eq!(
        (status, &body["org.sectorgate.rule"]),
        (403, &json!("federation.origin_not_allowed")),
        "{body}"
    );
    // A transaction in hs3's name: not heard either.
    let hs3_txn = marker("txn-hs3");
    let (status, body) = peer.send(
        "PUT",
        base,
        &format!("/_matrix/federation/v1/send/{hs3_txn}"),
        Some(&json!({"origin": world.hs3_name, "origin_server_ts": now, "pdus": []})),
        Some(Signing {
            origin: hs3,
            destination: hs1,
        }),
    );
    assert_eq!(
        (status, &body["org.sectorgate.rule"]),
        (403, &json!("federation.origin_not_allowed")),
        "{body}"
    );

    // An invite whose event is for another room than the path names.
    let invite_event = json!({
        "room_id": "!elsewhere:localhost",
        "sender": format!("@host:{}", peer.name),
        "state_key": alice.user_id,
        "type": "m.room.member",
        "content": {"membership": "invite"},
        "origin_server_ts": now,
        "signatures": {peer.name.to_string(): {peer.key_id(): "cccc"}},
    });
    let invite_marker = marker("invite");
    let invite_path = format!(
        "/_matrix/federation/v2/invite/{}/{}",
        encode(room),
        encode(&format!("${invite_marker}"))
    );
    let (status, body) = peer.send_as_self(
        "PUT",
        base,
        &invite_path,
        Some(&json!({"room_version": "12", "event": invite_event, "invite_room_state": []})),
        hs1,
    );
    assert_eq!(
        (status, &body["org.sectorgate.rule"]),
        (400, &json!("federation.room_mismatch")),
        "{body}"
    );

    // The sentinel: a good event after the bad ones arrives; the smuggled
    // one never did.
    let sentinel = marker("sentinel");
    send_text(&world.hs2.base_url, &bob.token, room, &sentinel);
    assert!(
        sees(&world.gateway.url, &alice.token, room, &sentinel),
        "the sentinel never arrived"
    );
    for smuggled_id in &smuggled_ids {
        let (status, _) = get(
            &world.gateway.url,
            &alice.token,
            &format!(
                "/_matrix/client/v3/rooms/{}/event/{}",
                encode(room),
                encode(smuggled_id)
            ),
        );
        assert_eq!(status, 404, "the smuggled event exists in hs1's room");
    }
    assert!(!sees_now(
        &world.gateway.url,
        &alice.token,
        room,
        &smuggled_text
    ));
    let log = world.hs1.access_log();
    for refused in [
        &txn,
        &edu_txn,
        &unsigned,
        &forged,
        &misdirected,
        &impostor,
        &hs3_txn,
    ] {
        let needle = refused.rsplit(['/', '=']).next().expect("marker");
        assert!(!log.contains(needle), "{refused} reached hs1");
    }
    assert!(
        !log.contains(&invite_marker),
        "the mismatched invite reached hs1"
    );
    for (rule, endpoint) in [
        (
            "federation.transaction_items",
            "federation.send_transaction_message",
        ),
        ("federation.unsigned", "federation.get_profile_information"),
        (
            "federation.bad_signature",
            "federation.get_profile_information",
        ),
        (
            "federation.wrong_destination",
            "federation.get_profile_information",
        ),
        (
            "federation.origin_not_allowed",
            "federation.get_profile_information",
        ),
        ("federation.room_mismatch", "federation.create_invite"),
        (
            "federation.origin_not_allowed",
            "federation.send_transaction_message",
        ),
    ] {
        assert_audited(&world.gateway, rule, endpoint);
    }
}

/// Whether `text` is in the room's timeline now (no waiting).
fn sees_now(base: &str, token: &str, room: &str, text: &str) -> bool {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=100",
        encode(room)
    );
    let (_, body) = get(base, token, &path);
    body["chunk"]
        .as_array()
        .is_some_and(|events| events.iter().any(|e| e["content"]["body"] == text))
}
