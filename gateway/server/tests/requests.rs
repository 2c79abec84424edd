//! What real clients send that a strict edge must still pass, and what the
//! gateway answers itself, against a real Synapse: identifiers holding a
//! `/` (Megolm session ids, state keys) through matrix-nio, `/messages`
//! without `dir`, the support contacts of `[support]`, and a streamed
//! upload that breaks off, which the homeserver must never complete.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step fails the test"
)]

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::{
    Gateway, GatewayOptions, Synapse, SynapseOptions, encode, http, marker, register, repo,
    request_id,
};

fn create_room(base: &str, token: &str) -> String {
    let created: Value = http()
        .post(format!("{base}/_matrix/client/v3/createRoom"))
        .bearer_auth(token)
        .json(&json!({
            "preset": "private_chat",
            "initial_state": [{
                "type": "m.room.encryption",
                "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"},
            }],
        }))
        .send()
        .expect("createRoom")
        .json()
        .expect("createRoom JSON");
    created["room_id"]
        .as_str()
        .unwrap_or_else(|| panic!("createRoom: {created}"))
        .to_owned()
}

#[test]
fn identifiers_with_a_slash_pass_through_matrix_nio_under_healthcare() {
    let synapse = Synapse::start(SynapseOptions::default());
    let gateway = Gateway::start(GatewayOptions::for_synapse(&synapse, "healthcare-tim-pro"));
    let user = register(&gateway.url, &marker("slash"));
    let room = create_room(&gateway.url, &user.token);
    let mut command = Command::new(support::python());
    command
        .arg(repo().join("gateway/server/tests/clients/nio_slashes.py"))
        .args([&gateway.url, &user.user_id, &user.token, &room]);
    let (ok, summary) = support::run_client(command);
    assert!(ok, "the flow failed: {summary}\n{}", gateway.log());
    let summary: Value = serde_json::from_str(&summary).expect("summary JSON");
    let sessions = summary["sessions"].as_array().expect("sessions");
    let with_slash = sessions
        .iter()
        .find(|session| session["slash"] == true)
        .expect("a session id with a slash");
    assert_eq!(with_slash["restored"], true, "{summary}");
    assert_eq!(with_slash["deleted"], true, "{summary}");
    // The session id reached Synapse with its slash encoded, as nio sent it
    // (the HTTP library may write other characters either way: `+`, `!`).
    let path = with_slash["path"].as_str().expect("path");
    assert!(path.contains("%2F"), "{path}");
    let session = with_slash["session_id"].as_str().expect("session_id");
    let (before, _) = session.split_once('/').expect("a slash");
    let tail = before.rsplit('+').next().unwrap_or(before);
    let sent = format!("{tail}%2F");
    assert!(synapse.saw(&sent), "{sent} never reached Synapse");
    assert!(synapse.saw("/state/org.sectorgate.test.ward/ward%2F7"));
    let allowed = |endpoint: &str| {
        gateway
            .audit_records()
            .iter()
            .any(|record| record.endpoint.as_deref() == Some(endpoint) && record.verdict == "allow")
    };
    for endpoint in [
        "client.add_backup_keys_for_session",
        "client.get_backup_keys_for_session",
        "client.delete_backup_keys_for_session",
        "client.send_state_event",
        "client.get_state_event_for_key",
    ] {
        assert!(allowed(endpoint), "no allowed {endpoint} in the audit log");
    }
}

#[test]
fn messages_without_dir_reach_the_homeserver_as_older_clients_send_them() {
    let synapse = Synapse::start(SynapseOptions::default());
    let gateway = Gateway::start(GatewayOptions::for_synapse(&synapse, "base"));
    let user = register(&gateway.url, &marker("older"));
    let room = create_room(&gateway.url, &user.token);
    let mark = marker("nodir");
    let response = http()
        .get(format!(
            "{}/_matrix/client/v3/rooms/{}/messages?limit=5&m={mark}",
            gateway.url,
            encode(&room)
        ))
        .bearer_auth(&user.token)
        .send()
        .expect("messages");
    assert_eq!(response.status().as_u16(), 200);
    let record = gateway.audit_record(&request_id(&response));
    assert_eq!(
        record.endpoint.as_deref(),
        Some("client.get_message_events")
    );
    assert_eq!(record.verdict, "allow");
    let body: Value = response.json().expect("messages JSON");
    assert!(body["chunk"].is_array(), "{body}");
    assert!(synapse.saw(&mark));
}

#[test]
fn the_gateway_answers_the_support_contacts_itself_without_a_token() {
    let synapse = Synapse::start(SynapseOptions::default());
    let mut options = GatewayOptions::for_synapse(&synapse, "healthcare-tim-pro");
    options.extra = "[support]\npage = \"https://support.example.org/matrix\"\n\n\
         [[support.contacts]]\nrole = \"m.role.admin\"\nmatrix_id = \"@admin:localhost\"\n\
         email = \"admin@example.org\"\n"
        .to_owned();
    let gateway = Gateway::start(options);
    let mark = marker("support");
    let url = |base: &str| format!("{base}/.well-known/matrix/support?m={mark}");
    let response = http().get(url(&gateway.url)).send().expect("support");
    assert_eq!(response.status().as_u16(), 200);
    let record = gateway.audit_record(&request_id(&response));
    assert_eq!(record.endpoint.as_deref(), Some("client.discover_support"));
    assert_eq!(record.verdict, "allow");
    assert_eq!(record.rule, "endpoint.allowed");
    assert_eq!(record.peer.kind(), "anonymous");
    let body: Value = response.json().expect("support JSON");
    assert_eq!(
        body,
        json!({
            "support_page": "https://support.example.org/matrix",
            "contacts": [{
                "role": "m.role.admin",
                "matrix_id": "@admin:localhost",
                "email_address": "admin@example.org",
            }],
        })
    );

    // Without [support], the homeserver is asked: this one has no answer.
    let plain = Gateway::start(GatewayOptions::for_synapse(&synapse, "healthcare-tim-pro"));
    let forwarded = http().get(url(&plain.url)).send().expect("support");
    assert_eq!(forwarded.status().as_u16(), 404);
    assert!(
        synapse.saw(&mark),
        "the request without [support] was not forwarded"
    );
    // The gateway's own answer never went there: only one request has the marker.
    assert_eq!(synapse.access_log().matches(&mark).count(), 1);
}

#[test]
fn an_upload_whose_chunked_body_breaks_is_never_completed_at_the_homeserver() {
    let synapse = Synapse::start(SynapseOptions::default());
    let gateway = Gateway::start(GatewayOptions::for_synapse(&synapse, "base"));
    let user = register(&gateway.url, &marker("upload"));
    // A whole upload first: the media store takes it, so it can be counted.
    let whole = http()
        .post(format!(
            "{}/_matrix/media/v3/upload?filename=ok.bin",
            gateway.url
        ))
        .bearer_auth(&user.token)
        .header("content-type", "application/octet-stream")
        .body(vec![7u8; 4096])
        .send()
        .expect("upload");
    assert_eq!(whole.status().as_u16(), 200);
    let stored = synapse.media_files();
    assert!(stored > 0, "the whole upload left no file");

    let mark = marker("broken");
    let host = gateway.url.trim_start_matches("http://");
    let chunk = vec![b'x'; 64 * 1024];
    let mut bytes = format!(
        "POST /_matrix/media/v3/upload?filename={mark} HTTP/1.1\r\nHost: {host}\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/octet-stream\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        user.token,
        chunk.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&chunk);
    bytes.extend_from_slice(b"\r\nzz\r\nnot a chunk\r\n0\r\n\r\n");
    let answers = support::raw::exchange(host, &bytes);
    assert_eq!(answers.first().map(|answer| answer.status), Some(400));
    let refused: Value = serde_json::from_slice(&answers[0].body).expect("a Matrix error");
    assert_eq!(refused["org.sectorgate.rule"], "request.body_unreadable");

    // Synapse never finished the request: no access-log line, no new media.
    let sentinel = marker("sentinel");
    let after = http()
        .get(format!(
            "{}/_matrix/client/versions?m={sentinel}",
            gateway.url
        ))
        .send()
        .expect("sentinel");
    assert!(after.status().is_success());
    assert!(synapse.saw(&sentinel));
    assert!(
        !synapse.access_log().contains(&mark),
        "Synapse completed the broken upload"
    );
    assert_eq!(
        synapse.media_files(),
        stored,
        "Synapse stored the broken upload"
    );
}
