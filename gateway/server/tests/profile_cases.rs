//! Every bundled profile's decision cases, end to end: each case's request
//! goes through the real gateway, running that profile, in front of a real
//! Synapse. A refused request must get the case's answer and rule, be
//! audited with that rule, and never reach Synapse (its access log is the
//! proof); an allowed one must reach Synapse unchanged and succeed there.
//!
//! `{room}` and `{event}` are real: a room with the case's facts and an
//! event in it are made directly on Synapse, bypassing the gateway. The
//! case's acting user is the test's user (named so in the path too); an
//! anonymous case is sent without its token. Cases marked `e2e_skip` say
//! why they cannot run here (another server's users, an event older than
//! the test).

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed step fails the test"
)]

mod support;

use std::collections::BTreeMap;

use reqwest::Method;
use sectorgate_policy::Profile;
use sectorgate_policy::cases::{self, Case, CaseRoom};
use sectorgate_policy::profile::ProfileSource;
use serde_json::{Value, json};
use support::{
    Gateway, GatewayOptions, Synapse, SynapseOptions, User, encode, http, marker, register,
};

/// Rooms and events made for cases, by the room's facts.
struct Fixtures<'s> {
    synapse: &'s Synapse,
    user: &'s User,
    rooms: BTreeMap<String, (String, String)>,
}

impl Fixtures<'_> {
    /// A room with these facts, and an event in it (made once, then reused).
    fn room(&mut self, facts: Option<&CaseRoom>) -> (String, String) {
        let facts = facts.cloned().unwrap_or_default();
        let key = format!(
            "{}|{:?}|{:?}",
            facts.encrypted, facts.join_rule, facts.state
        );
        if let Some(found) = self.rooms.get(&key) {
            return found.clone();
        }
        let mut initial_state = Vec::new();
        if facts.encrypted {
            initial_state.push(json!({"type": "m.room.encryption", "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"}}));
        }
        for (event_type, content) in &facts.state {
            initial_state.push(json!({"type": event_type, "state_key": "", "content": content}));
        }
        let preset = match facts.join_rule.as_deref() {
            Some("public") => "public_chat",
            _ => "private_chat",
        };
        let base = &self.synapse.base_url;
        let created = self.post(
            &format!("{base}/_matrix/client/v3/createRoom"),
            &json!({"preset": preset, "initial_state": initial_state}),
        );
        let room = created["room_id"].as_str().expect("room_id").to_owned();
        let sent = http()
            .put(format!(
                "{base}/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
                encode(&room),
                marker("fixture")
            ))
            .bearer_auth(&self.user.token)
            .json(&json!({"msgtype": "m.text", "body": "an event to relate to"}))
            .send()
            .expect("send fixture event")
            .json::<Value>()
            .expect("send JSON");
        let event = sent["event_id"].as_str().expect("event_id").to_owned();
        self.rooms.insert(key, (room.clone(), event.clone()));
        (room, event)
    }

    fn post(&self, url: &str, body: &Value) -> Value {
        let response = http()
            .post(url)
            .bearer_auth(&self.user.token)
            .json(body)
            .send()
            .expect("fixture request");
        let status = response.status();
        let body: Value = response.json().expect("fixture JSON");
        assert!(status.is_success(), "fixture: {status} {body}");
        body
    }
}

/// What one case's run left to check against the audit log and Synapse's
/// access log.
struct Sent {
    label: String,
    marker: String,
    request_id: String,
    case: Case,
}

fn run_case(gateway: &Gateway, fixtures: &mut Fixtures<'_>, case: &Case) -> Result<Sent, String> {
    let (room, event) = fixtures.room(case.context.room.as_ref());
    let marker = marker("case");
    let acting = case.context.user.as_deref().unwrap_or(cases::DEFAULT_USER);
    let path = case
        .path(&room, &event, &marker)
        .replace(acting, &fixtures.user.user_id);
    let mut url = format!("{}{path}", gateway.url);
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&format!("sgcase={marker}"));
    let method: Method = case
        .request
        .method
        .parse()
        .map_err(|_| "bad method".to_owned())?;
    let mut request = http()
        .request(method, &url)
        .body(case.body(&room, &event, &marker));
    if !case.context.anonymous {
        request = request.bearer_auth(&fixtures.user.token);
    }
    for (name, value) in &case.request.headers {
        if !name.eq_ignore_ascii_case("content-length") {
            request = request.header(name, value);
        }
    }
    let response = request.send().map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().unwrap_or(Value::Null);
    let rule = body.get("org.sectorgate.rule").and_then(Value::as_str);
    let expected = &case.expect;
    match expected.verdict.as_str() {
        "deny" => {
            if expected.status.is_some_and(|want| want != status) {
                return Err(format!(
                    "status {status}, expected {:?}: {body}",
                    expected.status
                ));
            }
            if let Some(errcode) = &expected.errcode
                && body["errcode"] != errcode.as_str()
            {
                return Err(format!("errcode {}, expected {errcode}", body["errcode"]));
            }
            if rule != Some(expected.rule.as_str()) {
                return Err(format!("rule {rule:?}, expected {}", expected.rule));
            }
        }
        _ => {
            if rule.is_some() || !(200..300).contains(&status) {
                return Err(format!("expected to pass, got {status} {body}"));
            }
        }
    }
    Ok(Sent {
        label: case.name.clone(),
        marker,
        request_id,
        case: case.clone(),
    })
}

#[test]
fn every_bundled_profiles_decision_cases_hold_end_to_end() {
    let synapse = Synapse::start(SynapseOptions::default());
    let user = register(&synapse.base_url, &marker("cases"));
    let mut fixtures = Fixtures {
        synapse: &synapse,
        user: &user,
        rooms: BTreeMap::new(),
    };
    let mut failures = Vec::new();
    let mut refused = Vec::new();
    let mut passed = Vec::new();
    let (mut ran, mut skipped) = (0, 0);
    for id in Profile::bundled_ids() {
        let gateway = Gateway::start(GatewayOptions::for_synapse(&synapse, id));
        let source = ProfileSource::bundled(id).expect("bundled");
        let files = cases::load(&source).unwrap_or_else(|problems| panic!("{problems:?}"));
        let mut sent = Vec::new();
        for (file, cases) in files {
            for case in cases {
                if case.e2e_skip.is_some() {
                    skipped += 1;
                    continue;
                }
                ran += 1;
                match run_case(&gateway, &mut fixtures, &case) {
                    Ok(done) => sent.push(done),
                    Err(why) => failures.push(format!("{file}: {}: {why}", case.name)),
                }
            }
        }
        // The audit log names the same rule for every decision.
        let records = gateway.audit_records();
        for done in &sent {
            let record = records.iter().find(|r| r.request_id == done.request_id);
            match record {
                Some(record)
                    if record.rule == done.case.expect.rule
                        && record.verdict == done.case.expect.verdict => {}
                other => failures.push(format!(
                    "{id}: {}: audit record {other:?}, expected {} {}",
                    done.label, done.case.expect.verdict, done.case.expect.rule
                )),
            }
        }
        for done in sent {
            if done.case.expect.verdict == "deny" {
                refused.push((format!("{id}: {}", done.label), done.marker));
            } else {
                passed.push((format!("{id}: {}", done.label), done.marker));
            }
        }
    }
    // Allowed requests reached Synapse; refused ones never did.
    for (label, marker) in &passed {
        if !synapse.saw(marker) {
            failures.push(format!(
                "{label}: the allowed request never reached Synapse"
            ));
        }
    }
    let log = synapse.access_log();
    for (label, marker) in &refused {
        if log.contains(marker.as_str()) {
            failures.push(format!("{label}: the refused request reached Synapse"));
        }
    }
    eprintln!(
        "profile cases end to end: {ran} ran ({} refused, {} passed), {skipped} skipped",
        refused.len(),
        passed.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {ran} cases fail end to end:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        ran >= 40,
        "only {ran} cases ran end to end ({skipped} skipped)"
    );
    assert!(!refused.is_empty() && !passed.is_empty());
}

#[test]
fn a_rule_in_shadow_mode_forwards_the_request_and_records_shadow() {
    let synapse = Synapse::start(SynapseOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("rollout");
    std::fs::create_dir_all(&profile).expect("mkdir");
    std::fs::write(
        profile.join("profile.yaml"),
        "id: rollout\ntitle: TI-M Pro, invite limit in shadow mode\nextends: healthcare-tim-pro\n\
         rooms:\n  create:\n    max_invites: {id: tim.create_room_one_invite, limit: 1, shadow: true}\n",
    )
    .expect("write profile");
    let gateway = Gateway::start(GatewayOptions::for_synapse(
        &synapse,
        profile.to_str().expect("path"),
    ));
    let alice = register(&synapse.base_url, &marker("alice"));
    let bob = register(&synapse.base_url, &marker("bob"));
    let carol = register(&synapse.base_url, &marker("carol"));
    let shadowed = marker("shadowed");
    let response = http()
        .post(format!(
            "{}/_matrix/client/v3/createRoom?sg={shadowed}",
            gateway.url
        ))
        .bearer_auth(&alice.token)
        .json(&json!({
            "invite": [bob.user_id, carol.user_id],
            "initial_state": [{"type": "m.room.encryption", "state_key": "",
                               "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
        }))
        .send()
        .expect("createRoom");
    let status = response.status();
    let request_id = support::request_id(&response);
    let body: Value = response.json().expect("JSON");
    assert!(
        status.is_success(),
        "the shadowed request was refused: {status} {body}"
    );
    assert!(
        synapse.saw(&shadowed),
        "the shadowed request never reached Synapse"
    );
    let record = gateway.audit_record(&request_id);
    assert_eq!(
        (record.verdict.as_str(), record.rule.as_str()),
        ("shadow", "tim.create_room_one_invite")
    );
    assert!(
        gateway
            .log()
            .lines()
            .any(|line| line.contains("\"verdict\":\"shadow\"")),
        "no log line says shadow"
    );

    // The profile's other rules still refuse: no encryption, no room.
    let refused = http()
        .post(format!("{}/_matrix/client/v3/createRoom", gateway.url))
        .bearer_auth(&alice.token)
        .json(&json!({"preset": "private_chat"}))
        .send()
        .expect("createRoom");
    assert_eq!(refused.status().as_u16(), 403);
}

/// Sends `body` to `path` through `base` as `user`, marked; the status and
/// the rule that refused it, if one did.
fn through(
    base: &str,
    user: &User,
    method: Method,
    path: &str,
    body: Value,
) -> (u16, Option<String>, String) {
    let mark = marker("rule");
    let separator = if path.contains('?') { '&' } else { '?' };
    let response = http()
        .request(method, format!("{base}{path}{separator}sg={mark}"))
        .bearer_auth(&user.token)
        .json(&body)
        .send()
        .expect("request");
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap_or(Value::Null);
    let rule = body["org.sectorgate.rule"].as_str().map(str::to_owned);
    (status, rule, mark)
}

/// Sends a raw request head to the gateway at `url` and reads the answer
/// until the gateway closes the connection.
fn raw_head(url: &str, head: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(head.as_bytes()).expect("write head");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn invite_path(room: &str) -> String {
    format!("/_matrix/client/v3/rooms/{}/invite", encode(room))
}

/// The rules about groups of users and about old events, which the bundled
/// cases state with users of other servers and events of other days, hold
/// end to end too: with the groups configured for this Synapse's users, and
/// an event back-dated by an application service (`?ts=`). One test per
/// profile.
mod group_and_age_rules_hold_end_to_end {
    use super::*;

    /// ePA: insured persons cannot invite each other.
    #[test]
    fn epa() {
        let synapse = synapse_with_archive_bridge();
        let mut refused_marks = Vec::new();
        let epa = gateway_with_groups(
            &synapse,
            "healthcare-tim-epa",
            "insured = [\"@ins-*:localhost\"]\n",
        );
        let ins_a = user_named(&synapse, "ins-a-");
        let ins_b = user_named(&synapse, "ins-b-");
        let doctor = user_named(&synapse, "dr-");
        let room = create_room(&synapse, &ins_a, encrypted_room());
        let (status, rule, mark) = through(
            &epa.url,
            &ins_a,
            Method::POST,
            &invite_path(&room),
            json!({"user_id": ins_b.user_id}),
        );
        assert_eq!(
            (status, rule.as_deref()),
            (403, Some("epa.no_invites_between_insured"))
        );
        refused_marks.push(mark);
        let (status, rule, _) = through(
            &epa.url,
            &ins_a,
            Method::POST,
            &invite_path(&room),
            json!({"user_id": doctor.user_id}),
        );
        assert_eq!(
            (status, rule),
            (200, None),
            "an insured person may invite a practitioner"
        );
        assert_never_reached(&synapse, refused_marks);
    }

    /// Government: external users only into unrestricted rooms.
    #[test]
    fn government() {
        let synapse = synapse_with_archive_bridge();
        let mut refused_marks = Vec::new();
        let gov = gateway_with_groups(
            &synapse,
            "government",
            "external = [\"@ext-*:localhost\"]\n",
        );
        let agent = user_named(&synapse, "agent-");
        let external = user_named(&synapse, "ext-x-");
        let with_rule = |rule: &str| {
            json!({"initial_state": [
                {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}},
                {"type": "im.vector.room.access_rules", "state_key": "", "content": {"rule": rule}}]})
        };
        let restricted = create_room(&synapse, &agent, with_rule("restricted"));
        let unrestricted = create_room(&synapse, &agent, with_rule("unrestricted"));
        let (status, rule, mark) = through(
            &gov.url,
            &agent,
            Method::POST,
            &invite_path(&restricted),
            json!({"user_id": external.user_id}),
        );
        assert_eq!(
            (status, rule.as_deref()),
            (403, Some("gov.external_only_unrestricted"))
        );
        refused_marks.push(mark);
        let (status, rule, _) = through(
            &gov.url,
            &agent,
            Method::POST,
            &invite_path(&unrestricted),
            json!({"user_id": external.user_id}),
        );
        assert_eq!(
            (status, rule),
            (200, None),
            "an external user into an unrestricted room"
        );
        assert_never_reached(&synapse, refused_marks);
    }

    /// Education: pupils only from the school; pupils publish no rooms;
    /// uploads above 20 MiB are refused.
    #[test]
    fn education() {
        let synapse = synapse_with_archive_bridge();
        let mut refused_marks = Vec::new();
        let school = gateway_with_groups(
            &synapse,
            "education",
            "minors = [\"@pupil-*:localhost\"]\nschool = [\"@pupil-*:localhost\", \"@teacher-*:localhost\"]\n",
        );
        let pupil = user_named(&synapse, "pupil-p-");
        let teacher = user_named(&synapse, "teacher-t-");
        let stranger = user_named(&synapse, "stranger-");
        let (status, rule, mark) = through(
            &school.url,
            &stranger,
            Method::POST,
            "/_matrix/client/v3/createRoom",
            json!({"is_direct": true, "preset": "trusted_private_chat", "invite": [pupil.user_id]}),
        );
        assert_eq!(
            (status, rule.as_deref()),
            (403, Some("edu.minors_only_from_school"))
        );
        refused_marks.push(mark);
        let (status, rule, _) = through(
            &school.url,
            &teacher,
            Method::POST,
            "/_matrix/client/v3/createRoom",
            json!({"is_direct": true, "preset": "trusted_private_chat", "invite": [pupil.user_id]}),
        );
        assert_eq!(
            (status, rule),
            (200, None),
            "a teacher opens a direct chat with a pupil"
        );
        let (status, rule, mark) = through(
            &school.url,
            &pupil,
            Method::POST,
            "/_matrix/client/v3/createRoom",
            json!({"visibility": "public", "preset": "public_chat"}),
        );
        assert_eq!(
            (status, rule.as_deref()),
            (403, Some("edu.no_room_directory_entry"))
        );
        refused_marks.push(mark);
        refused_marks.push(refuse_oversized_upload(&school, &teacher));
        assert_never_reached(&synapse, refused_marks);
    }

    /// Uploads above 20 MiB are refused on their declared length, before any
    /// of the body is read: the head alone is sent. The upload's mark.
    fn refuse_oversized_upload(school: &Gateway, teacher: &User) -> String {
        let upload_mark = marker("film");
        let answer = raw_head(
            &school.url,
            &format!(
                "POST /_matrix/media/v3/upload?filename={upload_mark}.mp4 HTTP/1.1\r\nHost: gateway\r\n\
                 Authorization: Bearer {}\r\nContent-Type: video/mp4\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n",
                teacher.token,
                21 * 1024 * 1024
            ),
        );
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(
            answer.contains("\"org.sectorgate.rule\":\"edu.upload_size\""),
            "{answer}"
        );
        upload_mark
    }

    /// TI-M Pro: no redaction of events older than 24 hours. The archive
    /// bridge back-dates an event, directly on Synapse.
    #[test]
    fn tim_pro() {
        let synapse = synapse_with_archive_bridge();
        let mut refused_marks = Vec::new();
        let pro = Gateway::start(GatewayOptions::for_synapse(&synapse, "healthcare-tim-pro"));
        let owner = user_named(&synapse, "owner-");
        let room = create_room(&synapse, &owner, encrypted_room());
        let bridge = ArchiveBridge::join(&synapse, &owner, &room);
        let day_and_more_ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis()
            - 25 * 3600 * 1000;
        let old = bridge.send(&format!("&ts={day_and_more_ago}"), &marker("old"));
        let recent = bridge.send("", &marker("new"));
        let redact = |event: &Value| {
            let event = event["event_id"].as_str().expect("event_id");
            let path = format!(
                "/_matrix/client/v3/rooms/{}/redact/{}/{}",
                encode(&room),
                encode(event),
                marker("txn")
            );
            through(
                &pro.url,
                &owner,
                Method::PUT,
                &path,
                json!({"reason": "mistake"}),
            )
        };
        let (status, rule, mark) = redact(&old);
        assert_eq!((status, rule.as_deref()), (403, Some("tim.redaction_24h")));
        refused_marks.push(mark);
        let (status, rule, _) = redact(&recent);
        assert_eq!(
            (status, rule),
            (200, None),
            "a recent event may be redacted"
        );
        assert_never_reached(&synapse, refused_marks);
    }

    /// The archive bridge's bot in a room, acting directly on Synapse.
    struct ArchiveBridge<'s> {
        synapse: &'s Synapse,
        token: String,
        room: &'s str,
    }

    impl<'s> ArchiveBridge<'s> {
        /// The bot in the room `room` that `owner` made: invited by the owner,
        /// then joined.
        fn join(synapse: &'s Synapse, owner: &User, room: &'s str) -> Self {
            let hs = synapse.base_url.as_str();
            let token = synapse.bridges["archive"]["as_token"]
                .as_str()
                .expect("as_token")
                .to_owned();
            call(
                Method::POST,
                format!("{hs}{}", invite_path(room)),
                &owner.token,
                json!({"user_id": ARCHIVE_BOT}),
            );
            call(
                Method::POST,
                format!(
                    "{hs}/_matrix/client/v3/rooms/{}/join?{ARCHIVE_BOT_QUERY}",
                    encode(room)
                ),
                &token,
                json!({}),
            );
            Self {
                synapse,
                token,
                room,
            }
        }

        /// Sends an encrypted event as the bot, with the transaction id `txn`
        /// and `query` after the bot's user id (`&ts=` to back-date it); the
        /// answer.
        fn send(&self, query: &str, txn: &str) -> Value {
            call(
                Method::PUT,
                format!(
                    "{}/_matrix/client/v3/rooms/{}/send/m.room.encrypted/{txn}?{ARCHIVE_BOT_QUERY}{query}",
                    self.synapse.base_url,
                    encode(self.room),
                ),
                &self.token,
                json!({"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEn", "session_id": "s1"}),
            )
        }
    }

    /// The archive bridge's bot.
    const ARCHIVE_BOT: &str = "@archive_bot:localhost";

    /// The query that makes a request the archive bot's.
    const ARCHIVE_BOT_QUERY: &str = "user_id=%40archive_bot%3Alocalhost";

    /// Sends `body` to `url` with `token`, directly; the answer, which must be
    /// a success.
    fn call(method: Method, url: String, token: &str, body: Value) -> Value {
        let response = http()
            .request(method, url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .expect("call");
        let status = response.status();
        let body: Value = response.json().unwrap_or(Value::Null);
        assert!(status.is_success(), "{status} {body}");
        body
    }

    /// A Synapse with the archive bridge registered, for the group and age
    /// rules.
    fn synapse_with_archive_bridge() -> Synapse {
        Synapse::start(SynapseOptions {
            bridges: vec!["archive:archive_bot:@archive_.*"],
            ..SynapseOptions::default()
        })
    }

    /// A gateway for `synapse` under the bundled `profile`, with `groups` (a
    /// `[profile.groups]` table's lines) configured.
    fn gateway_with_groups(synapse: &Synapse, profile: &str, groups: &str) -> Gateway {
        Gateway::start(GatewayOptions {
            extra: format!("[profile.groups]\n{groups}"),
            ..GatewayOptions::for_synapse(synapse, profile)
        })
    }

    /// A new user on `synapse` whose localpart starts with `prefix`.
    fn user_named(synapse: &Synapse, prefix: &str) -> User {
        register(&synapse.base_url, &format!("{prefix}{}", marker("")))
    }

    /// An encrypted room's initial state, as a `createRoom` body.
    fn encrypted_room() -> Value {
        json!({"initial_state": [{"type": "m.room.encryption", "state_key": "",
            "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]})
    }

    /// Makes a room on `synapse` itself as `user`; its id.
    fn create_room(synapse: &Synapse, user: &User, body: Value) -> String {
        let response = http()
            .post(format!("{}/_matrix/client/v3/createRoom", synapse.base_url))
            .bearer_auth(&user.token)
            .json(&body)
            .send()
            .expect("createRoom");
        let body: Value = response.json().expect("JSON");
        body["room_id"].as_str().expect("room_id").to_owned()
    }

    /// Asserts that none of the refused requests, by their marks, reached
    /// `synapse`.
    fn assert_never_reached(synapse: &Synapse, refused_marks: Vec<String>) {
        let log = synapse.access_log();
        for mark in refused_marks {
            assert!(!log.contains(&mark), "a refused request reached Synapse");
        }
    }
}
