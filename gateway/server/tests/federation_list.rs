//! A signed federation list (gematik's format, Brainpool-signed, with keys
//! and certificates made at test time) through the real binary: a valid
//! list admits its servers; a broken one is refused and the old one stays;
//! a list past its maximum age closes federation and raises the alarm; a
//! new valid list opens it again. `sectorgate federation list` and
//! `/ready` say so.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    reason = "test code: a failed step fails the test; a scenario reads as one story"
)]

mod support;

use std::process::Command;
use std::time::Duration;

use ruma::ServerName;
use sectorgate_federation::list::testing::{Curve, ListSigner};
use serde_json::Value;
use support::peer::Peer;
use support::pki::TestPki;
use support::{Gateway, GatewayOptions, free_port, http, wait_for};

const LOCAL: &str = "gw.example.org";

/// An admin endpoint's JSON report.
fn admin(gateway: &Gateway, path: &str) -> Value {
    http()
        .get(format!("{}{path}", gateway.admin_url))
        .send()
        .expect("admin")
        .json()
        .expect("JSON")
}

fn status(gateway: &Gateway) -> Value {
    admin(gateway, "/federation")
}

/// `/ready`'s report (the homeserver here never answers: it is 503).
fn ready(gateway: &Gateway) -> Value {
    admin(gateway, "/ready")
}

fn cli(gateway: &Gateway) -> (i32, String) {
    let admin = gateway.admin_url.trim_start_matches("http://");
    let output = Command::new(env!("CARGO_BIN_EXE_sectorgate"))
        .args(["federation", "list", "--admin", admin])
        .output()
        .expect("run federation list");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// The peer asks for a local user's profile; returns the status and rule.
fn ask(peer: &Peer, gateway: &Gateway) -> (u16, String) {
    let local: &ServerName = LOCAL.try_into().expect("name");
    let path = "/_matrix/federation/v1/query/profile?user_id=%40alice%3Agw.example.org";
    let (status, body) = peer.send_as_self("GET", &gateway.url, path, None, local);
    (
        status,
        body["org.sectorgate.rule"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}

#[test]
fn a_signed_list_admits_refuses_bad_updates_and_closes_federation_when_stale() {
    let signer = ListSigner::new(Curve::Brainpool);
    let list = signer.dir.join("list.jws");
    let pki = TestPki::new();
    let peer = Peer::new(&format!("localhost:{}", free_port()), "k1", &pki.ca);
    std::fs::write(
        &list,
        signer.sign(&ListSigner::payload(
            1,
            &[peer.name.as_str(), "kasse.example.org"],
        )),
    )
    .expect("write list");

    // Nothing listens upstream: an admitted request ends in 502, a refused one earlier.
    let mut options = GatewayOptions::for_stand_in("http://127.0.0.1:9", "base");
    options.extra = format!(
        "[federation]\nserver_name = \"{LOCAL}\"\n\n\
         [federation.pinned_keys.\"{peer}\"]\n\"{key_id}\" = \"{public}\"\n\n\
         [federation.list]\nfile = \"{list}\"\ntrust_anchors = [\"{ca}\"]\nrefresh = \"1s\"\nmax_age = \"6s\"\n",
        peer = peer.name,
        key_id = peer.key_id(),
        public = peer.public_key(),
        list = list.display(),
        ca = signer.ca.display(),
    );
    let gateway = Gateway::start(options);

    // A valid list is loaded and admits its servers.
    let loaded = wait_for(Duration::from_secs(10), || {
        let status = status(&gateway);
        (status["signed_list"]["version"] == 1 && status["allowlist"]["stale"] == false)
            .then_some(status)
    });
    assert!(
        loaded.is_some(),
        "the list was not loaded: {}",
        status(&gateway)
    );
    // The local server is a member, listed first, besides the list's servers.
    let entries = status(&gateway)["allowlist"]["entries"].clone();
    assert_eq!(entries[0], LOCAL, "{entries}");
    assert!(
        entries
            .as_array()
            .is_some_and(|all| all.iter().any(|entry| entry == "kasse.example.org")),
        "{entries}"
    );
    assert_eq!(
        ask(&peer, &gateway),
        (502, "upstream.unreachable".to_owned())
    );
    let (code, text) = cli(&gateway);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("signed list: version 1") && text.contains(peer.name.as_str()),
        "{text}"
    );
    let report = ready(&gateway);
    assert_eq!(report["federation_open"], true, "{report}");
    assert!(report.get("federation_error").is_none(), "{report}");

    // A list with a broken signature is refused; version 1 stays in force.
    let good = signer.sign(&ListSigner::payload(2, &[peer.name.as_str()]));
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged_payload = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(ListSigner::payload(2, &["evil.example"]).to_string())
    };
    parts[1] = &forged_payload;
    std::fs::write(&list, parts.join(".")).expect("write forged list");
    let refused = wait_for(Duration::from_secs(5), || {
        let status = status(&gateway);
        status["signed_list"]["last_error"]
            .is_string()
            .then_some(status)
    })
    .expect("the forged list was refused");
    assert_eq!(refused["signed_list"]["version"], 1, "{refused}");
    assert_eq!(
        ask(&peer, &gateway).0,
        502,
        "version 1 still admits the peer"
    );

    // With no valid list for longer than max_age, federation closes.
    let stale = wait_for(Duration::from_secs(15), || {
        let status = status(&gateway);
        (status["allowlist"]["stale"] == true).then_some(status)
    });
    assert!(
        stale.is_some(),
        "the list never went stale: {}",
        status(&gateway)
    );
    assert_eq!(
        ask(&peer, &gateway),
        (403, "federation.list_stale".to_owned())
    );
    let (code, text) = cli(&gateway);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("STALE"), "{text}");
    let report = ready(&gateway);
    assert_eq!(report["federation_open"], false, "{report}");
    let reason = report["federation_error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("federation.list_stale") && reason.contains("last refresh failed"),
        "{report}"
    );
    assert!(
        gateway.log().contains("federation.list_stale"),
        "no alarm in the gateway's log"
    );
    let records = gateway.audit_records();
    assert!(
        records
            .iter()
            .any(|r| r.rule == "federation.list_stale" && r.verdict == "deny"),
        "the refusal is not audited"
    );

    // A new valid list opens federation again.
    std::fs::write(&list, good).expect("write list 2");
    let renewed = wait_for(Duration::from_secs(10), || {
        let status = status(&gateway);
        (status["signed_list"]["version"] == 2 && status["allowlist"]["stale"] == false)
            .then_some(())
    });
    assert!(
        renewed.is_some(),
        "version 2 was not loaded: {}",
        status(&gateway)
    );
    assert_eq!(ask(&peer, &gateway).0, 502);
    assert_eq!(ready(&gateway)["federation_open"], true);
}
