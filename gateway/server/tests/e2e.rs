//! End to end: the real `sectorgate` binary in front of a real Synapse,
//! driven over HTTP and by real third-party clients (matrix-nio, matrix-js-sdk).

#![allow(
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "test helpers: a failed step fails the test; a scenario reads as one story"
)]

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{
    Gateway, GatewayOptions, Synapse, SynapseOptions, encode, http, marker, register, repo,
    request_id,
};

fn gateway_for(synapse: &Synapse, profile: &'static str) -> Gateway {
    Gateway::start(GatewayOptions::for_synapse(synapse, profile))
}

fn create_room(base: &str, token: &str, body: Value) -> String {
    let response = http()
        .post(format!("{base}/_matrix/client/v3/createRoom"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .expect("createRoom");
    let status = response.status();
    let body: Value = response.json().expect("createRoom JSON");
    assert!(status.is_success(), "createRoom: {status} {body}");
    body["room_id"].as_str().expect("room_id").to_owned()
}

#[test]
fn a_whole_conversation_with_media_passes_through_the_gateway() {
    let synapse = Synapse::start(SynapseOptions::default());
    let gateway = gateway_for(&synapse, "base");
    let base = gateway.url.as_str();
    let client = http();

    let alice_name = marker("alice");
    let registered = register(base, &alice_name);
    let bob = register(base, &marker("bob"));

    // Log in with the password: a second session for alice.
    let login: Value = client
        .post(format!("{base}/_matrix/client/v3/login"))
        .json(&json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": alice_name},
            "password": support::PASSWORD,
        }))
        .send()
        .expect("login")
        .json()
        .expect("login JSON");
    let alice = support::User {
        user_id: login["user_id"].as_str().expect("user_id").to_owned(),
        token: login["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
    };
    assert_eq!(alice.user_id, registered.user_id);
    assert_ne!(alice.token, registered.token);
    let discovery: Value = client
        .get(format!("{base}/.well-known/matrix/client"))
        .send()
        .expect("well-known")
        .json()
        .expect("well-known JSON");
    assert!(
        discovery["m.homeserver"]["base_url"].is_string(),
        "{discovery}"
    );
    let room = create_room(
        base,
        &alice.token,
        json!({"preset": "private_chat", "name": "ward 7"}),
    );
    let room_path = encode(&room);

    let invite = client
        .post(format!("{base}/_matrix/client/v3/rooms/{room_path}/invite"))
        .bearer_auth(&alice.token)
        .json(&json!({"user_id": bob.user_id}))
        .send()
        .expect("invite");
    assert!(invite.status().is_success(), "invite: {}", invite.status());
    let join = client
        .post(format!("{base}/_matrix/client/v3/join/{room_path}"))
        .bearer_auth(&bob.token)
        .json(&json!({}))
        .send()
        .expect("join");
    assert!(join.status().is_success(), "join: {}", join.status());

    let text = marker("hello");
    let send = client
        .put(format!(
            "{base}/_matrix/client/v3/rooms/{room_path}/send/m.room.message/{}",
            marker("txn")
        ))
        .bearer_auth(&alice.token)
        .json(&json!({"msgtype": "m.text", "body": text}))
        .send()
        .expect("send");
    assert!(send.status().is_success(), "send: {}", send.status());
    let send_id = request_id(&send);

    let seen = support::wait_for(Duration::from_secs(30), || {
        let sync: Value = client
            .get(format!("{base}/_matrix/client/v3/sync?timeout=1000"))
            .bearer_auth(&bob.token)
            .send()
            .ok()?
            .json()
            .ok()?;
        sync.to_string().contains(&text).then_some(())
    });
    assert!(seen.is_some(), "bob never saw the message by sync");

    // 50 MB up and down, streamed: the gateway's peak memory must not grow by the file.
    let size = 50 * 1024 * 1024;
    let payload: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    let digest = Sha256::digest(&payload);
    let before = gateway.peak_rss_kib();
    let upload: Value = client
        .post(format!("{base}/_matrix/media/v3/upload?filename=scan.bin"))
        .bearer_auth(&alice.token)
        .header("content-type", "application/octet-stream")
        .body(payload)
        .send()
        .expect("upload")
        .json()
        .expect("upload JSON");
    let mxc = upload["content_uri"].as_str().expect("content_uri");
    let (server, media_id) = mxc
        .trim_start_matches("mxc://")
        .split_once('/')
        .expect("mxc parts");
    let download = client
        .get(format!(
            "{base}/_matrix/client/v1/media/download/{server}/{media_id}"
        ))
        .bearer_auth(&bob.token)
        .send()
        .expect("download");
    assert!(
        download.status().is_success(),
        "download: {}",
        download.status()
    );
    let bytes = download.bytes().expect("download body");
    assert_eq!(bytes.len(), size);
    assert_eq!(Sha256::digest(&bytes), digest, "downloaded media differs");
    let growth_mib = gateway.peak_rss_kib().saturating_sub(before) / 1024;
    assert!(
        growth_mib < 25,
        "gateway peak memory grew by {growth_mib} MiB for a 50 MiB file"
    );

    // Every decision is audited, pseudonymised, without content.
    let records = gateway.audit_records();
    let record = gateway.audit_record(&send_id);
    assert_eq!(
        record.endpoint.as_deref(),
        Some("client.send_message_event")
    );
    assert_eq!(record.verdict, "allow");
    assert_eq!(record.peer.kind(), "user");
    let dump = format!("{records:?}");
    assert!(
        !dump.contains(&text),
        "message content reached the audit log"
    );
    assert!(
        !dump.contains(&alice.token),
        "an access token reached the audit log"
    );
    for kind in [
        "create_room",
        "invite_user",
        "join_room",
        "create_content",
        "get_content",
        "other",
    ] {
        assert!(
            records.iter().any(|r| r.action == kind),
            "no audit record of {kind}"
        );
    }
}

#[test]
fn matrix_nio_completes_its_flow_through_the_gateway() {
    let synapse = Synapse::start(SynapseOptions::default());
    let gateway = gateway_for(&synapse, "base");
    let mut command = Command::new(support::python());
    command
        .arg(repo().join("gateway/server/tests/clients/nio_flow.py"))
        .arg(&gateway.url);
    let (ok, summary) = support::run_client(command);
    assert!(ok, "matrix-nio flow failed: {summary}\n{}", gateway.log());
    let summary: Value = serde_json::from_str(&summary).expect("summary JSON");
    assert_eq!(summary["ok"], true);
    assert!(synapse.saw("/_matrix/client/v3/sync"));
    assert!(gateway.audit_records().len() > 10);
}

#[test]
fn matrix_nio_encrypts_under_healthcare_and_its_plaintext_is_refused() {
    let synapse = Synapse::start(SynapseOptions::default());
    let gateway = gateway_for(&synapse, "healthcare-tim-pro");
    let store = tempfile::tempdir().expect("store dir");
    let mut command = Command::new(support::python());
    command
        .arg(repo().join("gateway/server/tests/clients/nio_e2e_flow.py"))
        .arg(&gateway.url)
        .arg(store.path());
    let (ok, summary) = support::run_client(command);
    assert!(
        ok,
        "matrix-nio e2e flow failed: {summary}\n{}",
        gateway.log()
    );
    let summary: Value = serde_json::from_str(&summary).expect("summary JSON");
    // Encrypted both ways, through nio's own state calls (no trailing slash)
    // and a room upgrade.
    for step in [
        "receive_alice_to_bob",
        "receive_bob_to_alice",
        "state_calls",
        "upgrade",
    ] {
        assert!(
            summary["steps"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x == step)),
            "{step} missing: {summary}"
        );
    }
    assert!(synapse.saw("/send/m.room.encrypted/"));
    assert!(
        synapse.saw("/state/m.room.topic HTTP"),
        "nio's slash-less state path never reached Synapse"
    );
    // The same client's plaintext send is refused and never reaches Synapse.
    let plaintext = &summary["plaintext"];
    assert_eq!(plaintext["status"], 403, "{summary}");
    assert_eq!(
        plaintext["body"]["org.sectorgate.rule"],
        "tim.encryption_required"
    );
    let txn = plaintext["txn"].as_str().expect("txn");
    assert!(
        !synapse.access_log().contains(txn),
        "the plaintext reached Synapse"
    );
    // The room was created through the gateway, so the gateway knew it is
    // encrypted without asking Synapse.
    assert!(
        !synapse
            .access_log()
            .contains("/state/m.room.encryption/ HTTP"),
        "the gateway asked for state it had seen pass"
    );
    // Making the room public afterwards is refused as gematik's suite expects.
    assert_eq!(
        summary["public_join_rule"]["status"],
        "M_INVALID_ROOM_STATE"
    );
    let records = gateway.audit_records();
    assert!(
        records
            .iter()
            .any(|r| r.verdict == "deny" && r.rule == "tim.encryption_required")
    );
    assert!(
        records
            .iter()
            .any(|r| r.verdict == "deny" && r.rule == "tim.no_later_public_join_rule")
    );
}

#[test]
fn matrix_js_sdk_completes_its_flow_through_the_gateway() {
    let synapse = Synapse::start(SynapseOptions::default());
    let gateway = gateway_for(&synapse, "base");
    support::venv();
    let mut command = Command::new("node");
    command
        .arg(repo().join("gateway/server/tests/clients/js_sdk_flow.mjs"))
        .arg(&gateway.url);
    let (ok, summary) = support::run_client(command);
    assert!(
        ok,
        "matrix-js-sdk flow failed: {summary}\n{}",
        gateway.log()
    );
    let summary: Value = serde_json::from_str(&summary).expect("summary JSON");
    assert_eq!(summary["ok"], true);
    assert!(gateway.audit_records().len() > 10);
}

#[test]
fn url_previews_are_refused_under_healthcare_and_forwarded_under_base() {
    let synapse = Synapse::start(SynapseOptions {
        url_preview: true,
        ..SynapseOptions::default()
    });
    let healthcare = gateway_for(&synapse, "healthcare-tim-pro");
    let base = gateway_for(&synapse, "base");
    let user = register(&base.url, &marker("previewer"));

    let refused_marker = marker("refused");
    let refused = http()
        .get(format!("{}/_matrix/client/v1/media/preview_url?url=http%3A%2F%2F127.0.0.1%3A9%2F{refused_marker}", healthcare.url))
        .bearer_auth(&user.token)
        .send()
        .expect("preview via healthcare");
    assert_eq!(refused.status().as_u16(), 404);
    let refused_id = request_id(&refused);
    let body: Value = refused.json().expect("error JSON");
    assert_eq!(body["errcode"], "M_UNRECOGNIZED");
    assert_eq!(body["org.sectorgate.rule"], "tim.url_preview_disabled");

    let allowed_marker = marker("allowed");
    let allowed = http()
        .get(format!("{}/_matrix/client/v1/media/preview_url?url=http%3A%2F%2F127.0.0.1%3A9%2F{allowed_marker}", base.url))
        .bearer_auth(&user.token)
        .send()
        .expect("preview via base");
    let allowed_id = request_id(&allowed);
    let allowed_body: Value = allowed.json().unwrap_or(Value::Null);
    assert!(
        allowed_body.get("org.sectorgate.rule").is_none(),
        "base refused: {allowed_body}"
    );

    assert!(
        synapse.saw(&allowed_marker),
        "the allowed preview never reached Synapse"
    );
    assert!(
        !synapse.access_log().contains(&refused_marker),
        "the refused preview reached Synapse"
    );

    let refused_record = healthcare.audit_record(&refused_id);
    assert_eq!(refused_record.verdict, "deny");
    assert_eq!(refused_record.rule, "tim.url_preview_disabled");
    let allowed_record = base.audit_record(&allowed_id);
    assert_eq!(allowed_record.verdict, "allow");
    assert_eq!(
        allowed_record.endpoint.as_deref(),
        Some("client.get_media_preview")
    );
}

#[test]
fn bad_input_is_refused_audited_and_never_forwarded() {
    let synapse = Synapse::start(SynapseOptions::default());
    let gateway = Gateway::start(GatewayOptions {
        extra: "[limits]\nmax_json_body_bytes = 65536\nmax_json_depth = 16\n".to_owned(),
        ..GatewayOptions::for_synapse(&synapse, "base")
    });
    let base = gateway.url.as_str();
    let user = register(base, &marker("sender"));
    let room = encode(&create_room(base, &user.token, json!({})));
    let send_url =
        |txn: &str| format!("{base}/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}");

    let deep = format!("{{\"body\":{}1{}}}", "[".repeat(20), "]".repeat(20));
    let large = format!(
        "{{\"msgtype\":\"m.text\",\"body\":\"{}\"}}",
        "x".repeat(70_000)
    );
    let cases: Vec<(&str, String, String, u16, &str, &str)> = vec![
        (
            "notjson",
            send_url(&marker("notjson")),
            "this is not JSON".to_owned(),
            400,
            "M_NOT_JSON",
            "request.not_json",
        ),
        (
            "badjson",
            send_url(&marker("badjson")),
            "[\"an array, not an object\"]".to_owned(),
            400,
            "M_BAD_JSON",
            "request.bad_json",
        ),
        (
            "deep",
            send_url(&marker("deep")),
            deep,
            400,
            "M_BAD_JSON",
            "request.too_deep",
        ),
        (
            "large",
            send_url(&marker("large")),
            large,
            413,
            "M_TOO_LARGE",
            "request.too_large",
        ),
    ];
    let mut markers = Vec::new();
    for (label, url, body, status, errcode, rule) in &cases {
        let response = http()
            .put(url)
            .bearer_auth(&user.token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .expect(label);
        assert_eq!(response.status().as_u16(), *status, "{label}");
        let id = request_id(&response);
        let error: Value = response.json().expect("error JSON");
        assert_eq!(error["errcode"], *errcode, "{label}: {error}");
        assert_eq!(error["org.sectorgate.rule"], *rule, "{label}");
        let record = gateway.audit_record(&id);
        assert_eq!(
            (record.verdict.as_str(), record.rule.as_str()),
            ("deny", *rule),
            "{label}"
        );
        markers.push(url.rsplit('/').next().unwrap_or_default().to_owned());
    }
    // createRoom with a wrong shape, marked in the query.
    let shape_marker = marker("shape");
    let wrong_shape = http()
        .post(format!(
            "{base}/_matrix/client/v3/createRoom?sg={shape_marker}"
        ))
        .bearer_auth(&user.token)
        .json(&json!({"invite": "@not-a-list:localhost"}))
        .send()
        .expect("wrong shape");
    assert_eq!(wrong_shape.status().as_u16(), 400);
    let record = gateway.audit_record(&request_id(&wrong_shape));
    assert_eq!(record.rule, "request.bad_json");
    assert_eq!(record.endpoint.as_deref(), Some("client.create_room"));
    markers.push(shape_marker);

    // A good request after the bad ones reaches Synapse: the log check works.
    let canary = marker("canary");
    let good = http()
        .put(send_url(&canary))
        .bearer_auth(&user.token)
        .json(&json!({"msgtype": "m.text", "body": "fine"}))
        .send()
        .expect("canary");
    assert!(good.status().is_success());
    assert!(synapse.saw(&canary), "the canary never reached Synapse");
    let seen = synapse.access_log();
    for marker in markers {
        assert!(!seen.contains(&marker), "{marker} reached Synapse");
    }
}

#[test]
fn a_stopped_homeserver_gives_502_and_a_silent_one_504() {
    let mut synapse = Synapse::start(SynapseOptions::default());
    let gateway = gateway_for(&synapse, "healthcare-tim-pro");
    let ready = http()
        .get(format!("{}/ready", gateway.admin_url))
        .send()
        .expect("ready");
    assert_eq!(ready.status().as_u16(), 200);
    synapse.stop();
    let response = http()
        .get(format!("{}/_matrix/client/versions", gateway.url))
        .send()
        .expect("versions");
    assert_eq!(response.status().as_u16(), 502);
    let body: Value = response.json().expect("error JSON");
    assert_eq!(body["errcode"], "M_UNKNOWN");
    assert_eq!(body["org.sectorgate.rule"], "upstream.unreachable");
    let ready = http()
        .get(format!("{}/ready", gateway.admin_url))
        .send()
        .expect("ready");
    assert_eq!(ready.status().as_u16(), 503);
    // Who holds a token cannot be asked either: that 502 is recorded too,
    // as a refusal by the fault, with its outcome.
    let asked = http()
        .get(format!("{}/_matrix/client/v3/joined_rooms", gateway.url))
        .bearer_auth("a-token")
        .send()
        .expect("joined_rooms");
    assert_eq!(asked.status().as_u16(), 502);
    let record = gateway.audit_record(&request_id(&asked));
    assert_eq!(
        (
            record.rule.as_str(),
            record.verdict.as_str(),
            record.peer.kind()
        ),
        ("upstream.unreachable", "deny", "token")
    );
    let outcome = support::wait_for(Duration::from_secs(10), || {
        gateway
            .audit_entries()
            .into_iter()
            .find_map(|entry| match entry {
                sectorgate_audit::Entry::Outcome(o) if o.decision == record.id => Some(o.status),
                _ => None,
            })
    });
    assert_eq!(outcome, Some(502));

    // A homeserver that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_url = format!("http://{}", silent.local_addr().expect("addr"));
    let held = std::thread::spawn(move || {
        // Hold the first connection open, unanswered.
        let connections: Vec<_> = silent.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(8));
        drop(connections);
    });
    let gateway = Gateway::start(GatewayOptions {
        response_timeout: "1s",
        ..GatewayOptions::for_stand_in(&silent_url, "healthcare-tim-pro")
    });
    let response = http()
        .get(format!("{}/_matrix/client/versions", gateway.url))
        .send()
        .expect("versions");
    assert_eq!(response.status().as_u16(), 504);
    let body: Value = response.json().expect("error JSON");
    assert_eq!(body["org.sectorgate.rule"], "upstream.timeout");
    let _ = held.join();
}

#[test]
fn an_unwritable_audit_log_gives_503_and_forwards_nothing() {
    let synapse = Synapse::start(SynapseOptions::default());
    let gateway = gateway_for(&synapse, "base");
    let user = register(&gateway.url, &marker("locked"));
    let room = encode(&create_room(&gateway.url, &user.token, json!({})));

    let url = format!("sqlite://{}", gateway.audit_db.display());
    let runtime = support::runtime();
    let mut lock = runtime.block_on(async {
        use sqlx::Connection;
        let mut connection = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("connect");
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut connection)
            .await
            .expect("lock");
        connection
    });

    let blocked = marker("blocked");
    let response = http()
        .put(format!(
            "{}/_matrix/client/v3/rooms/{room}/send/m.room.message/{blocked}",
            gateway.url
        ))
        .bearer_auth(&user.token)
        .json(&json!({"msgtype": "m.text", "body": "must not pass"}))
        .send()
        .expect("send while locked");
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().expect("error JSON");
    assert_eq!(body["org.sectorgate.rule"], "audit.unavailable");
    // The federation API too: even a refusal is answered only once it is
    // recorded, so a server is told to retry.
    let transaction = http()
        .put(format!(
            "{}/_matrix/federation/v1/send/{}",
            gateway.url,
            marker("txn")
        ))
        .header(
            "authorization",
            r#"X-Matrix origin="peer.example",destination="localhost",key="ed25519:k",sig="AAAA""#,
        )
        .json(&json!({"origin": "peer.example", "origin_server_ts": 1, "pdus": []}))
        .send()
        .expect("transaction while locked");
    assert_eq!(transaction.status().as_u16(), 503);
    assert!(transaction.headers().contains_key("retry-after"));
    let body: Value = transaction.json().expect("error JSON");
    assert_eq!(body["org.sectorgate.rule"], "audit.unavailable");
    let ready = http()
        .get(format!("{}/ready", gateway.admin_url))
        .send()
        .expect("ready");
    assert_eq!(ready.status().as_u16(), 503);

    runtime.block_on(async {
        sqlx::query("ROLLBACK")
            .execute(&mut lock)
            .await
            .expect("unlock");
    });
    drop(lock);
    let canary = marker("unlocked");
    let response = http()
        .put(format!(
            "{}/_matrix/client/v3/rooms/{room}/send/m.room.message/{canary}",
            gateway.url
        ))
        .bearer_auth(&user.token)
        .json(&json!({"msgtype": "m.text", "body": "fine"}))
        .send()
        .expect("send after unlock");
    assert!(response.status().is_success());
    assert!(synapse.saw(&canary), "the canary never reached Synapse");
    assert!(
        !synapse.access_log().contains(&blocked),
        "a request reached Synapse without its audit record"
    );
}

/// A private, encrypted room as the TI-Messenger requires; its id.
fn encrypted_room(base: &str, token: &str) -> String {
    create_room(
        base,
        token,
        json!({"preset": "private_chat", "initial_state": [{"type": "m.room.encryption",
            "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}),
    )
}

/// Invites `invitee` into a fresh room of `inviter`'s, marked; the answer.
fn invite(base: &str, inviter: &support::User, invitee: &str, mark: &str) -> (u16, Value) {
    let room = encode(&encrypted_room(base, &inviter.token));
    let response = http()
        .post(format!(
            "{base}/_matrix/client/v3/rooms/{room}/invite?sg={mark}"
        ))
        .bearer_auth(&inviter.token)
        .json(&json!({"user_id": invitee}))
        .send()
        .expect("invite");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

#[test]
fn invite_permissions_set_through_the_client_hold_and_survive_a_restart() {
    let synapse = Synapse::start(SynapseOptions::default());
    let mut gateway = gateway_for(&synapse, "healthcare-tim-pro");
    let base = gateway.url.clone();
    let alice = register(&base, &marker("alice"));
    let bob = register(&base, &marker("bob"));
    let carol = register(&base, &marker("carol"));

    // Bob blocks all invites but Alice's, as his client stores it.
    let setting = http()
        .put(format!(
            "{base}/_matrix/client/v3/user/{}/account_data/de.gematik.tim.account.permissionconfig.pro.v1",
            encode(&bob.user_id)
        ))
        .bearer_auth(&bob.token)
        .json(&json!({"defaultSetting": "block all", "userExceptions": {alice.user_id.clone(): {}}}))
        .send()
        .expect("set permissions");
    assert!(setting.status().is_success(), "{}", setting.status());

    let refused_mark = marker("refused");
    let (status, body) = invite(&base, &carol, &bob.user_id, &refused_mark);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["org.sectorgate.rule"], "tim.invite_permissions");
    let (status, body) = invite(&base, &alice, &bob.user_id, &marker("excepted"));
    assert_eq!(status, 200, "the exception's invite: {body}");

    // After a restart the gateway knows nothing: it reads Bob's setting from
    // the homeserver, as Bob, through its application service.
    assert!(gateway.terminate().success());
    gateway = gateway_for(&synapse, "healthcare-tim-pro");
    let base = gateway.url.clone();
    let refused_again = marker("refusedagain");
    let (status, body) = invite(&base, &carol, &bob.user_id, &refused_again);
    assert_eq!(status, 403, "after the restart: {body}");
    assert_eq!(body["org.sectorgate.rule"], "tim.invite_permissions");
    let (status, body) = invite(&base, &alice, &bob.user_id, &marker("exceptedagain"));
    assert_eq!(
        status, 200,
        "the exception's invite after the restart: {body}"
    );
    // createRoom invites are held to the same setting.
    let response = http()
        .post(format!("{base}/_matrix/client/v3/createRoom"))
        .bearer_auth(&carol.token)
        .json(
            &json!({"invite": [bob.user_id], "initial_state": [{"type": "m.room.encryption",
            "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}),
        )
        .send()
        .expect("createRoom");
    assert_eq!(response.status().as_u16(), 403);

    // Refused invites never reached Synapse; a later good one did.
    let canary = marker("canary");
    let dave = register(&base, &marker("dave"));
    let (status, _) = invite(&base, &carol, &dave.user_id, &canary);
    assert_eq!(status, 200);
    assert!(synapse.saw(&canary));
    let log = synapse.access_log();
    assert!(!log.contains(&refused_mark) && !log.contains(&refused_again));
}

#[test]
fn deprecated_and_unstable_endpoints_homeservers_serve_are_named_and_pass() {
    let synapse = Synapse::start(SynapseOptions::default());
    let gateway = gateway_for(&synapse, "base");
    let user = register(&gateway.url, &marker("old"));
    for path in [
        "/_matrix/client/v3/initialSync?limit=1",
        "/_matrix/client/v3/events?timeout=0",
        "/_matrix/client/unstable/org.matrix.msc4140/delayed_events",
    ] {
        let response = http()
            .get(format!("{}{path}", gateway.url))
            .bearer_auth(&user.token)
            .send()
            .expect(path);
        let id = request_id(&response);
        let body: Value = response.json().unwrap_or(Value::Null);
        assert!(body.get("org.sectorgate.rule").is_none(), "{path}: {body}");
        let record = gateway.audit_record(&id);
        assert_eq!(record.verdict, "allow", "{path}");
        assert!(record.endpoint.is_some(), "{path} was not named");
    }
    assert!(synapse.saw("/initialSync"));
}

#[test]
fn versions_are_announced_as_the_profile_says() {
    let synapse = Synapse::start(SynapseOptions::default());
    let gateway = gateway_for(&synapse, "government");
    let direct: Value = http()
        .get(format!("{}/_matrix/client/versions", synapse.base_url))
        .send()
        .expect("versions")
        .json()
        .expect("JSON");
    let through: Value = http()
        .get(format!("{}/_matrix/client/versions", gateway.url))
        .send()
        .expect("versions")
        .json()
        .expect("JSON");
    let newer = |answer: &Value| {
        answer["versions"]
            .as_array()
            .map(|versions| {
                versions
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|v| sectorgate_policy::profile::parse_version(v) > Some((1, 12)))
                    .count()
            })
            .unwrap_or(0)
    };
    assert!(
        newer(&direct) > 0,
        "Synapse announces nothing newer than v1.12: {direct}"
    );
    assert_eq!(newer(&through), 0, "{through}");
    assert!(
        through["versions"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v == "v1.12"))
    );
    assert!(
        !direct["unstable_features"]
            .as_object()
            .is_none_or(|f| f.is_empty())
    );
    assert_eq!(through["unstable_features"], json!({}));
}

#[test]
fn bridges_act_as_the_profile_allows_and_are_named_in_the_audit() {
    let synapse = Synapse::start(SynapseOptions {
        bridges: vec!["learning-platform:lms_bridge:@lms_.*"],
        ..SynapseOptions::default()
    });
    let bridge = &synapse.bridges["learning-platform"];
    let token = bridge["as_token"].as_str().expect("as_token").to_owned();
    let extra = format!(
        "[[appservices]]\nregistration = \"{}\"\n",
        bridge["registration"].as_str().expect("registration")
    );
    let school = Gateway::start(GatewayOptions {
        extra: extra.clone(),
        ..GatewayOptions::for_synapse(&synapse, "education")
    });
    let base = school.url.as_str();

    // The platform registers its account and creates a room as it.
    let registered = http()
        .post(format!("{base}/_matrix/client/v3/register"))
        .bearer_auth(&token)
        .json(&json!({"type": "m.login.application_service", "username": "lms_maths"}))
        .send()
        .expect("register");
    assert!(registered.status().is_success(), "{}", registered.status());
    let as_maths = "user_id=%40lms_maths%3Alocalhost";
    let created = http()
        .post(format!("{base}/_matrix/client/v3/createRoom?{as_maths}"))
        .bearer_auth(&token)
        .json(&json!({"name": "maths"}))
        .send()
        .expect("createRoom");
    let created_id = request_id(&created);
    assert!(created.status().is_success(), "{}", created.status());
    let record = school.audit_record(&created_id);
    assert_eq!(
        record.peer,
        sectorgate_audit::Peer::Appservice {
            id: "learning-platform".to_owned()
        }
    );

    // Acting as anyone else is refused before Synapse sees it.
    let pupil = register(base, &marker("pupil"));
    let refused_mark = marker("actas");
    let refused = http()
        .get(format!(
            "{base}/_matrix/client/v3/joined_rooms?user_id={}&sg={refused_mark}",
            encode(&pupil.user_id)
        ))
        .bearer_auth(&token)
        .send()
        .expect("joined_rooms");
    assert_eq!(refused.status().as_u16(), 403);
    let body: Value = refused.json().expect("JSON");
    assert_eq!(body["org.sectorgate.rule"], "edu.learning_platform");

    // Under the healthcare profile no bridge may act at all.
    let clinic = Gateway::start(GatewayOptions {
        extra,
        ..GatewayOptions::for_synapse(&synapse, "healthcare-tim-pro")
    });
    let denied_mark = marker("bridge");
    let denied = http()
        .get(format!(
            "{}/_matrix/client/v3/joined_rooms?{as_maths}&sg={denied_mark}",
            clinic.url
        ))
        .bearer_auth(&token)
        .send()
        .expect("joined_rooms");
    assert_eq!(denied.status().as_u16(), 403);
    let body: Value = denied.json().expect("JSON");
    assert_eq!(body["org.sectorgate.rule"], "appservice.denied");

    // The gateway's own token is never accepted from a client.
    let own = std::fs::read_to_string(&synapse.appservice_token_file).expect("own token");
    let stolen = http()
        .get(format!("{}/_matrix/client/v3/joined_rooms", clinic.url))
        .bearer_auth(own.trim())
        .send()
        .expect("joined_rooms");
    assert_eq!(stolen.status().as_u16(), 403);
    let body: Value = stolen.json().expect("JSON");
    assert_eq!(body["org.sectorgate.rule"], "appservice.gateway_token");

    let canary = marker("canary");
    let allowed = http()
        .get(format!(
            "{base}/_matrix/client/v3/joined_rooms?{as_maths}&sg={canary}"
        ))
        .bearer_auth(&token)
        .send()
        .expect("joined_rooms");
    assert!(allowed.status().is_success());
    assert!(synapse.saw(&canary));
    let log = synapse.access_log();
    assert!(!log.contains(&refused_mark) && !log.contains(&denied_mark));
}

/// Every byte the audit log keeps of one gateway: SQLite's files on disk,
/// or the rows of its log in PostgreSQL.
fn audit_bytes(gateway: &Gateway) -> Vec<u8> {
    if gateway.audit_url.starts_with("sqlite:") {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let path = format!("{}{suffix}", gateway.audit_db.display());
            bytes.extend(std::fs::read(path).unwrap_or_default());
        }
        return bytes;
    }
    let origin = gateway.audit_origin.clone().expect("origin");
    support::runtime().block_on(async {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&gateway.audit_url)
            .await
            .expect("connect");
        let mut bytes = Vec::new();
        for query in [
            "SELECT origin || first_seq || recorded_at || encode(records, 'escape') || encode(hashes, 'hex') FROM audit_bundles WHERE origin = $1",
            "SELECT origin || size || encode(root, 'hex') || note || created_at FROM audit_checkpoints WHERE origin = $1",
            "SELECT origin || written_at FROM audit_health WHERE origin = $1",
        ] {
            let rows: Vec<(String,)> = sqlx::query_as(query)
                .bind(&origin)
                .fetch_all(&mut db)
                .await
                .expect("read the log");
            for (row,) in rows {
                bytes.extend(row.into_bytes());
            }
        }
        bytes
    })
}

#[test]
fn no_content_and_no_user_id_reaches_the_audit_database() {
    let synapse = Synapse::start(SynapseOptions::default());
    let on_sqlite = gateway_for(&synapse, "base");
    let on_postgres = Gateway::start(GatewayOptions {
        audit_database: Some(support::postgres::shared_url()),
        audit_origin: Some(format!("privacy.test/{}", marker("log"))),
        ..GatewayOptions::for_synapse(&synapse, "base")
    });
    for gateway in [&on_sqlite, &on_postgres] {
        let base = gateway.url.as_str();
        let localpart = marker("canaryuser");
        let user = register(base, &localpart);
        let display = marker("CanaryDisplayName");
        let body = marker("CanaryMessageBody");
        let room_name = marker("CanaryRoomName");
        let named = http()
            .put(format!(
                "{base}/_matrix/client/v3/profile/{}/displayname",
                encode(&user.user_id)
            ))
            .bearer_auth(&user.token)
            .json(&json!({"displayname": display}))
            .send()
            .expect("displayname");
        assert!(named.status().is_success(), "{}", named.status());
        let room = create_room(base, &user.token, json!({"name": room_name}));
        let sent = http()
            .put(format!(
                "{base}/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
                encode(&room),
                marker("txn")
            ))
            .bearer_auth(&user.token)
            .json(&json!({"msgtype": "m.text", "body": body}))
            .send()
            .expect("send");
        let sent_id = request_id(&sent);
        assert!(sent.status().is_success(), "{}", sent.status());
        // The decision names the user by pseudonym only.
        let decision = gateway.audit_record(&sent_id);
        let sectorgate_audit::Peer::User { pseudonym } = &decision.peer else {
            panic!(
                "the sender is not a pseudonymised user: {:?}",
                decision.peer
            );
        };
        assert!(!pseudonym.contains(&localpart));
        // Wait for the outcome records, written after the answers.
        support::wait_for(Duration::from_secs(10), || {
            let entries = gateway.audit_entries();
            let outcomes = entries
                .iter()
                .filter(|e| matches!(e, sectorgate_audit::Entry::Outcome(_)))
                .count();
            (outcomes * 2 >= entries.len()).then_some(())
        })
        .expect("outcomes written");

        let stored = audit_bytes(gateway);
        assert!(
            stored.len() > 1000,
            "nothing read from {}",
            gateway.audit_url
        );
        let text = String::from_utf8_lossy(&stored);
        for canary in [
            display.as_str(),
            body.as_str(),
            room_name.as_str(),
            localpart.as_str(),
            user.user_id.as_str(),
            user.token.as_str(),
            support::PASSWORD,
        ] {
            assert!(
                !text.contains(canary),
                "{canary:?} reached the audit database {}",
                gateway.audit_url
            );
        }
    }
}
