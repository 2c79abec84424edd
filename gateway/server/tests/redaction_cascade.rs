//! End to end: redacting a message also redacts its edits under
//! `healthcare-tim-pro` (`tim.redaction_cascade`, gematik A_28355), and
//! not under `base`. The real binary in front of a real Synapse; the edits
//! are looked at as another member of the room sees them.

#![allow(
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "test helpers: a failed step fails the test; a scenario reads as one story"
)]

mod support;

use std::time::{Duration, Instant};

use sectorgate_audit::{Entry, Peer};
use serde_json::{Value, json};
use support::{
    Gateway, GatewayOptions, Synapse, SynapseOptions, User, encode, http, marker, register,
    request_id, wait_for,
};

/// The rule of healthcare-tim-pro that redacts edits.
const RULE: &str = "tim.redaction_cascade";

/// A message of alice's and its edit.
struct Edited {
    room: String,
    original: String,
    edit: String,
    /// The text only the edit carries.
    edited_text: String,
}

fn create_room(base: &str, token: &str, body: &Value) -> String {
    let response = http()
        .post(format!("{base}/_matrix/client/v3/createRoom"))
        .bearer_auth(token)
        .json(body)
        .send()
        .expect("createRoom");
    let status = response.status();
    let answer: Value = response.json().expect("createRoom JSON");
    assert!(status.is_success(), "createRoom: {status} {answer}");
    answer["room_id"].as_str().expect("room_id").to_owned()
}

/// A room of alice's that bob is in: public, or private and encrypted (as
/// the TI-Messenger's rooms are).
fn room_with_bob(base: &str, alice: &User, bob: &User, encrypted: bool) -> String {
    let body = if encrypted {
        json!({"preset": "private_chat", "invite": [bob.user_id], "initial_state": [
            {"type": "m.room.encryption", "state_key": "",
             "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]})
    } else {
        json!({"preset": "public_chat"})
    };
    let room = create_room(base, &alice.token, &body);
    let join = http()
        .post(format!("{base}/_matrix/client/v3/join/{}", encode(&room)))
        .bearer_auth(&bob.token)
        .json(&json!({}))
        .send()
        .expect("join");
    assert!(join.status().is_success(), "join: {}", join.status());
    room
}

fn send(base: &str, token: &str, room: &str, event_type: &str, content: &Value) -> String {
    let response = http()
        .put(format!(
            "{base}/_matrix/client/v3/rooms/{}/send/{event_type}/{}",
            encode(room),
            marker("txn")
        ))
        .bearer_auth(token)
        .json(content)
        .send()
        .expect("send");
    let status = response.status();
    let answer: Value = response.json().expect("send JSON");
    assert!(status.is_success(), "send {event_type}: {status} {answer}");
    answer["event_id"].as_str().expect("event_id").to_owned()
}

/// Alice sends a message and edits it. In an encrypted room both are
/// `m.room.encrypted` (the marked ciphertext stands for the new text) with
/// the relation in the clear, as clients send edits there.
fn send_edited(base: &str, alice: &User, room: String, encrypted: bool) -> Edited {
    let edited_text = marker("editedtext");
    let (event_type, original, edit) = if encrypted {
        let sealed = |text: &str| {
            json!({"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": text,
                   "sender_key": "curve", "device_id": "DEVICE", "session_id": "session"})
        };
        (
            "m.room.encrypted",
            sealed(&marker("original")),
            sealed(&edited_text),
        )
    } else {
        let original = json!({"msgtype": "m.text", "body": marker("original")});
        let edit = json!({"msgtype": "m.text", "body": format!("* {edited_text}"),
            "m.new_content": {"msgtype": "m.text", "body": edited_text}});
        ("m.room.message", original, edit)
    };
    let original_id = send(base, &alice.token, &room, event_type, &original);
    let mut edit = edit;
    edit["m.relates_to"] = json!({"rel_type": "m.replace", "event_id": original_id});
    let edit_id = send(base, &alice.token, &room, event_type, &edit);
    Edited {
        room,
        original: original_id,
        edit: edit_id,
        edited_text,
    }
}

/// An event as `user` sees it.
fn event_as(base: &str, user: &User, room: &str, event: &str) -> Value {
    http()
        .get(format!(
            "{base}/_matrix/client/v3/rooms/{}/event/{}",
            encode(room),
            encode(event)
        ))
        .bearer_auth(&user.token)
        .send()
        .expect("event")
        .json()
        .expect("event JSON")
}

/// The room's latest events as `user` reads them, as text.
fn messages_as(base: &str, user: &User, room: &str) -> String {
    let response = http()
        .get(format!(
            "{base}/_matrix/client/v3/rooms/{}/messages?dir=b&limit=50",
            encode(room)
        ))
        .bearer_auth(&user.token)
        .send()
        .expect("messages");
    assert!(response.status().is_success(), "{}", response.status());
    response.text().expect("messages text")
}

/// Whether `event` is redacted: its content emptied, and why said.
fn redacted(event: &Value) -> bool {
    event["content"] == json!({}) && event["unsigned"]["redacted_because"].is_object()
}

/// `redactor` redacts only the original; the answer's status and request id.
fn redact_original(base: &str, redactor: &User, edited: &Edited) -> (u16, String) {
    let response = http()
        .put(format!(
            "{base}/_matrix/client/v3/rooms/{}/redact/{}/{}",
            encode(&edited.room),
            encode(&edited.original),
            marker("txn")
        ))
        .bearer_auth(&redactor.token)
        .json(&json!({"reason": "typo"}))
        .send()
        .expect("redact");
    let status = response.status().as_u16();
    (status, request_id(&response))
}

/// The decisions `gateway` made about requests it made itself.
fn cascaded(gateway: &Gateway) -> Vec<sectorgate_audit::Decision> {
    gateway
        .audit_records()
        .into_iter()
        .filter(|record| record.by_gateway.is_some())
        .collect()
}

/// Checks the audit log of a client's redaction (`redaction`) and of the
/// one redaction the gateway made after it: its own request, the same
/// user's pseudonym, allowed by the cascade's rule, and a 200 from Synapse.
fn check_audit(gateway: &Gateway, redaction: &str, before: usize) {
    let original = gateway.audit_record(redaction);
    assert_eq!(original.by_gateway, None);
    assert!(matches!(original.peer, Peer::User { .. }), "{original:?}");
    let mine = cascaded(gateway);
    assert_eq!(mine.len(), before + 1, "one cascaded redaction: {mine:?}");
    let record = mine.last().expect("the cascaded redaction's record");
    assert_eq!(record.by_gateway.as_deref(), Some(RULE));
    assert_eq!(record.rule, RULE);
    assert_eq!(record.verdict, "allow");
    assert_eq!(record.peer, original.peer, "the same user's pseudonym");
    assert_eq!(record.endpoint.as_deref(), Some("client.redact_event"));
    assert_eq!(record.action, "redact_event");
    assert_ne!(
        record.request_id, original.request_id,
        "a request of its own"
    );
    assert_eq!(
        record.trace_id.as_deref(),
        Some(redaction),
        "linked to the client's redaction"
    );
    let outcome = wait_for(Duration::from_secs(15), || {
        gateway
            .audit_entries()
            .into_iter()
            .find_map(|entry| match entry {
                Entry::Outcome(outcome) if outcome.decision == record.id => Some(outcome),
                _ => None,
            })
    })
    .expect("the cascaded redaction's outcome");
    assert_eq!(outcome.status, 200, "{outcome:?}");
    assert_eq!(outcome.upstream_status, Some(200), "{outcome:?}");
}

/// Under healthcare-tim-pro, the edit disappears for `reader` once
/// `redactor` redacts the original; returns how long that took.
fn edit_disappears(
    synapse: &Synapse,
    gateway: &Gateway,
    (redactor, reader): (&User, &User),
    edited: &Edited,
) -> Duration {
    let base = gateway.url.as_str();
    let before = cascaded(gateway).len();
    let seen = event_as(base, reader, &edited.room, &edited.edit);
    assert!(
        seen.to_string().contains(&edited.edited_text),
        "the edit is seen first: {seen}"
    );
    let (status, redaction) = redact_original(base, redactor, edited);
    assert_eq!(status, 200, "the client gets the homeserver's answer");
    let started = Instant::now();
    let gone = wait_for(Duration::from_secs(30), || {
        redacted(&event_as(base, reader, &edited.room, &edited.edit)).then(|| started.elapsed())
    });
    assert!(
        gone.is_some(),
        "the edit was never redacted: {}\n{}",
        event_as(base, reader, &edited.room, &edited.edit),
        gateway.log()
    );
    let took = gone.unwrap_or_default();
    let messages = messages_as(base, reader, &edited.room);
    assert!(
        !messages.contains(&edited.edited_text),
        "the edited text is still read: {messages}"
    );
    assert!(
        synapse.saw(&format!("/redact/{}/sgcascade.", encode(&edited.edit))),
        "the gateway's redaction of the edit is not in Synapse's access log"
    );
    check_audit(gateway, &redaction, before);
    took
}

/// A moderator (bob) redacts alice's message: alice's edit is redacted
/// with bob's token and under his pseudonym; carol's "edit" of alice's
/// message, no edit at all, is left alone.
fn moderator_redacts_only_the_senders_edits(synapse: &Synapse, gateway: &Gateway) {
    let base = gateway.url.as_str();
    let alice = register(base, &marker("alice"));
    let bob = register(base, &marker("moderator"));
    let carol = register(base, &marker("carol"));
    let room = create_room(
        base,
        &alice.token,
        &json!({"preset": "public_chat", "power_level_content_override":
            {"users": {alice.user_id.as_str(): 100, bob.user_id.as_str(): 50}}}),
    );
    for user in [&bob, &carol] {
        let join = http()
            .post(format!("{base}/_matrix/client/v3/join/{}", encode(&room)))
            .bearer_auth(&user.token)
            .json(&json!({}))
            .send()
            .expect("join");
        assert!(join.status().is_success(), "join: {}", join.status());
    }
    let edited = send_edited(base, &alice, room, false);
    // Sent last, so listed first: it would be redacted before alice's edit.
    let foreign_text = marker("foreign");
    let foreign = send(
        base,
        &carol.token,
        &edited.room,
        "m.room.message",
        &json!({"msgtype": "m.text", "body": format!("* {foreign_text}"),
            "m.new_content": {"msgtype": "m.text", "body": foreign_text},
            "m.relates_to": {"rel_type": "m.replace", "event_id": edited.original}}),
    );
    edit_disappears(synapse, gateway, (&bob, &carol), &edited);
    let left = event_as(base, &carol, &edited.room, &foreign);
    assert!(!redacted(&left), "another sender's relation was redacted");
    assert!(left.to_string().contains(&foreign_text), "{left}");
}

#[test]
fn redacting_a_message_redacts_its_edits_under_tim_pro_and_not_under_base() {
    let synapse = Synapse::start(SynapseOptions::default());
    let tim = Gateway::start(GatewayOptions::for_synapse(&synapse, "healthcare-tim-pro"));
    let base = tim.url.as_str();
    let alice = register(base, &marker("alice"));
    let bob = register(base, &marker("bob"));

    // A public room, where edits are plaintext with `m.new_content`, and
    // an encrypted room, where only the relation is in the clear.
    let mut slowest = Duration::ZERO;
    for encrypted in [false, true] {
        let room = room_with_bob(base, &alice, &bob, encrypted);
        let edited = send_edited(base, &alice, room, encrypted);
        let took = edit_disappears(&synapse, &tim, (&alice, &bob), &edited);
        slowest = slowest.max(took);
    }
    moderator_redacts_only_the_senders_edits(&synapse, &tim);

    // Under base nothing follows the redaction: the edit stays visible,
    // for many times as long as the cascade took under healthcare.
    let plain = Gateway::start(GatewayOptions::for_synapse(&synapse, "base"));
    let base = plain.url.as_str();
    let room = room_with_bob(base, &alice, &bob, false);
    let edited = send_edited(base, &alice, room, false);
    let (status, _) = redact_original(base, &alice, &edited);
    assert_eq!(status, 200);
    let window = (slowest * 10).max(Duration::from_secs(3));
    let redacted_after_all = wait_for(window, || {
        redacted(&event_as(base, &bob, &edited.room, &edited.edit)).then_some(())
    });
    assert!(redacted_after_all.is_none(), "base redacted the edit");
    let seen = event_as(base, &bob, &edited.room, &edited.edit);
    assert!(seen.to_string().contains(&edited.edited_text), "{seen}");
    assert!(
        messages_as(base, &bob, &edited.room).contains(&edited.edited_text),
        "bob no longer reads the edit under base"
    );
    assert!(cascaded(&plain).is_empty(), "base made a request itself");
    assert!(
        !synapse
            .access_log()
            .contains(&format!("/relations/{}", encode(&edited.original))),
        "base looked for the edits"
    );

    in_shadow_mode_the_cascade_is_recorded_and_not_made(&synapse, (&alice, &bob));
}

/// Under healthcare-tim-pro in shadow mode, the cascaded redaction is
/// recorded (`shadow`, outcome 0) and not sent: the edit stays.
fn in_shadow_mode_the_cascade_is_recorded_and_not_made(
    synapse: &Synapse,
    (alice, bob): (&User, &User),
) {
    let folder = tempfile::tempdir().expect("profile folder");
    let profile = folder.path().join("tim-shadow");
    std::fs::create_dir_all(&profile).expect("mkdir");
    std::fs::write(
        profile.join("profile.yaml"),
        "id: tim-shadow\ntitle: TI-M Pro, rolled out\nextends: healthcare-tim-pro\nshadow: true\n",
    )
    .expect("write profile");
    let gateway = Gateway::start(GatewayOptions::for_synapse(
        synapse,
        profile.to_str().expect("utf-8 path"),
    ));
    let base = gateway.url.as_str();
    let room = room_with_bob(base, alice, bob, false);
    let edited = send_edited(base, alice, room, false);
    let (status, redaction) = redact_original(base, alice, &edited);
    assert_eq!(status, 200);
    let record = wait_for(Duration::from_secs(15), || cascaded(&gateway).pop())
        .expect("the cascaded redaction is recorded");
    assert_eq!(record.verdict, "shadow");
    assert_eq!(record.by_gateway.as_deref(), Some(RULE));
    assert_eq!(record.peer, gateway.audit_record(&redaction).peer);
    let outcome = wait_for(Duration::from_secs(15), || {
        gateway
            .audit_entries()
            .into_iter()
            .find_map(|entry| match entry {
                Entry::Outcome(outcome) if outcome.decision == record.id => Some(outcome),
                _ => None,
            })
    })
    .expect("its outcome");
    assert_eq!((outcome.status, outcome.upstream_status), (0, None));
    let seen = event_as(base, bob, &edited.room, &edited.edit);
    assert!(!redacted(&seen), "shadow mode redacted the edit: {seen}");
    assert!(
        !synapse
            .access_log()
            .contains(&format!("/redact/{}/", encode(&edited.edit))),
        "shadow mode sent the redaction"
    );
}
