//! Who may look whom up, end to end: the real gateway in front of a real
//! Synapse. Under TI-M Pro a profile lookup needs an authenticated user
//! (A_26289); under TI-M ePA a user looks up only themselves and the users
//! they share a room with, in profiles and in the user directory. Every
//! refusal is answered with its rule, audited, and never reaches Synapse
//! (its access log is the proof); Synapse itself would have answered.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed step fails the test"
)]

mod support;

use std::time::Duration;

use reqwest::blocking::RequestBuilder;
use sectorgate_audit::Peer;
use serde_json::{Value, json};
use support::{
    Gateway, GatewayOptions, Synapse, SynapseOptions, User, encode, http, marker, register,
};

/// A Synapse whose user directory shows every local user, and which
/// answers any profile lookup (its defaults): without the gateway, anyone
/// could be found.
fn open_synapse() -> Synapse {
    Synapse::start(SynapseOptions {
        settings: vec!["user_directory.search_all_users=true"],
        ..SynapseOptions::default()
    })
}

/// An answer: status, body, request id.
struct Answer {
    status: u16,
    body: Value,
    request_id: String,
}

impl Answer {
    fn of(request: RequestBuilder) -> Self {
        let response = request.send().expect("request");
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.json().unwrap_or(Value::Null);
        Self {
            status,
            body,
            request_id,
        }
    }

    fn rule(&self) -> Option<&str> {
        self.body["org.sectorgate.rule"].as_str()
    }
}

/// `GET {base}/_matrix/client/v3/profile/{user}{tail}?sg={mark}`, with
/// `token` if any.
fn lookup(base: &str, user: &str, tail: &str, mark: &str, token: Option<&str>) -> Answer {
    let url = format!(
        "{base}/_matrix/client/v3/profile/{}{tail}?sg={mark}",
        encode(user)
    );
    let request = http().get(url);
    Answer::of(match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    })
}

/// The user directory searched for `term` through `base` as `user`.
fn search(base: &str, user: &User, term: &str, mark: &str) -> Answer {
    Answer::of(
        http()
            .post(format!(
                "{base}/_matrix/client/v3/user_directory/search?sg={mark}"
            ))
            .bearer_auth(&user.token)
            .json(&json!({"search_term": term, "limit": 50})),
    )
}

/// The user ids a directory answer lists.
fn listed(answer: &Answer) -> Vec<String> {
    answer.body["results"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .filter_map(|result| result["user_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts that `answer` is the gateway's refusal by `rule` with `status`
/// and `errcode`, audited as such, and that its request never reached
/// Synapse.
fn refused(
    (gateway, synapse): (&Gateway, &Synapse),
    answer: &Answer,
    mark: &str,
    (status, errcode, rule): (u16, &str, &str),
) -> sectorgate_audit::Decision {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["errcode"], errcode, "{}", answer.body);
    assert_eq!(answer.rule(), Some(rule), "{}", answer.body);
    let record = gateway.audit_record(&answer.request_id);
    assert_eq!(record.verdict, "deny");
    assert_eq!(record.rule, rule);
    assert!(
        !synapse.access_log().contains(mark),
        "the refused request {mark} reached Synapse"
    );
    record
}

/// Asserts that `answer` passed (2xx, no rule), was audited as allowed by
/// `rule`, and reached Synapse.
fn passed((gateway, synapse): (&Gateway, &Synapse), answer: &Answer, mark: &str, rule: &str) {
    assert!(
        (200..300).contains(&answer.status) && answer.rule().is_none(),
        "expected to pass: {} {}",
        answer.status,
        answer.body
    );
    let record = gateway.audit_record(&answer.request_id);
    assert_eq!(record.verdict, "allow");
    assert_eq!(record.rule, rule);
    assert!(
        synapse.saw(mark),
        "the allowed request {mark} never reached Synapse"
    );
}

/// The four ways to look a profile up: whole, display name, avatar, and
/// any other field.
const PROFILE_PATHS: [&str; 4] = ["", "/displayname", "/avatar_url", "/m.tz"];

#[test]
fn profile_lookups_need_an_authenticated_user_under_tim_pro_and_pass_anonymously_under_base() {
    let synapse = Synapse::start(SynapseOptions::default());
    let pro = Gateway::start(GatewayOptions::for_synapse(&synapse, "healthcare-tim-pro"));
    let base = Gateway::start(GatewayOptions::for_synapse(&synapse, "base"));
    let alice = register(&synapse.base_url, &marker("alice"));
    for tail in PROFILE_PATHS {
        // Under TI-M Pro: no token, 401 M_MISSING_TOKEN, never forwarded.
        let mark = marker("anonymous");
        let answer = lookup(&pro.url, &alice.user_id, tail, &mark, None);
        let record = refused(
            (&pro, &synapse),
            &answer,
            &mark,
            (401, "M_MISSING_TOKEN", "tim.profile_requires_auth"),
        );
        assert_eq!(record.peer, Peer::Anonymous, "{tail}");
        assert!(
            record
                .endpoint
                .is_some_and(|e| e.starts_with("client.get_"))
        );

        // Under base: the same request goes to Synapse, which answers it.
        let mark = marker("base");
        let answer = lookup(&base.url, &alice.user_id, tail, &mark, None);
        assert!(answer.rule().is_none(), "base refused: {}", answer.body);
        assert!(synapse.saw(&mark), "base did not forward {tail}");
    }
    let mark = marker("whole");
    let whole = lookup(&base.url, &alice.user_id, "", &mark, None);
    assert_eq!(
        whole.status, 200,
        "Synapse answers anonymous lookups: {}",
        whole.body
    );

    // A token the homeserver does not know: 401 M_UNKNOWN_TOKEN, as the
    // homeserver would say, and still never forwarded.
    let mark = marker("unknown");
    let answer = lookup(
        &pro.url,
        &alice.user_id,
        "/displayname",
        &mark,
        Some("sg-no-such-token"),
    );
    let record = refused(
        (&pro, &synapse),
        &answer,
        &mark,
        (401, "M_UNKNOWN_TOKEN", "tim.profile_requires_auth"),
    );
    assert!(
        matches!(record.peer, Peer::Token { .. }),
        "{:?}",
        record.peer
    );

    // An authenticated user looks up as before.
    let mark = marker("authenticated");
    let answer = lookup(&pro.url, &alice.user_id, "", &mark, Some(&alice.token));
    passed(
        (&pro, &synapse),
        &answer,
        &mark,
        "tim.profile_requires_auth",
    );
    assert!(answer.body["displayname"].is_string(), "{}", answer.body);
}

/// Makes a room on Synapse itself as `owner` and has `guest` join it.
fn shared_room(synapse: &Synapse, owner: &User, guest: &User) {
    let hs = &synapse.base_url;
    let created = Answer::of(
        http()
            .post(format!("{hs}/_matrix/client/v3/createRoom"))
            .bearer_auth(&owner.token)
            .json(&json!({"preset": "private_chat", "invite": [guest.user_id]})),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let room = created.body["room_id"].as_str().expect("room_id");
    let joined = Answer::of(
        http()
            .post(format!("{hs}/_matrix/client/v3/join/{}", encode(room)))
            .bearer_auth(&guest.token)
            .json(&json!({})),
    );
    assert_eq!(joined.status, 200, "{}", joined.body);
}

/// Searches the directory through `base` as `user` until `done` holds of
/// the answer (Synapse's own directory briefly lists nobody while it
/// catches up with new rooms); `hidden` is never listed in any answer.
/// The last answer and its mark.
fn search_until(
    base: &str,
    (user, term): (&User, &str),
    hidden: &User,
    done: impl Fn(&Answer) -> bool,
) -> (Answer, String) {
    let mut last = None;
    for _ in 0..60 {
        let mark = marker("search");
        let answer = search(base, user, term, &mark);
        assert!(
            !listed(&answer).contains(&hidden.user_id),
            "{} is listed: {}",
            hidden.user_id,
            answer.body
        );
        if done(&answer) {
            return (answer, mark);
        }
        last = Some(answer);
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!(
        "the directory never answered as expected: {:?}",
        last.map(|a| a.body)
    );
}

/// Waits until Synapse's own directory, searched as `user`, lists every
/// one of `users`.
fn directory_lists(synapse: &Synapse, user: &User, term: &str, users: &[&User]) {
    let found = support::wait_for(Duration::from_secs(30), || {
        let answer = search(&synapse.base_url, user, term, &marker("direct"));
        let ids = listed(&answer);
        users
            .iter()
            .all(|wanted| ids.contains(&wanted.user_id))
            .then_some(())
    });
    assert!(found.is_some(), "Synapse's directory never listed them all");
}

#[test]
fn under_epa_a_user_finds_only_themselves_and_users_they_share_a_room_with() {
    let synapse = open_synapse();
    let epa = Gateway::start(GatewayOptions::for_synapse(&synapse, "healthcare-tim-epa"));
    let sides = (&epa, &synapse);
    let term = marker("dir");
    let alice = register(&synapse.base_url, &format!("{term}-alice"));
    let bob = register(&synapse.base_url, &format!("{term}-bob"));
    let carol = register(&synapse.base_url, &format!("{term}-carol"));
    shared_room(&synapse, &alice, &bob);

    // Without the gateway, Synapse shows alice everyone.
    directory_lists(&synapse, &alice, &term, &[&bob, &carol]);
    let direct = lookup(
        &synapse.base_url,
        &carol.user_id,
        "",
        "direct",
        Some(&alice.token),
    );
    assert_eq!(direct.status, 200, "{}", direct.body);

    let mark = marker("bob");
    let answer = lookup(&epa.url, &bob.user_id, "", &mark, Some(&alice.token));
    passed(sides, &answer, &mark, "epa.profile_shared_rooms_only");
    assert_eq!(answer.body["displayname"], format!("{term}-bob"));

    for tail in PROFILE_PATHS {
        let mark = marker("carol");
        let answer = lookup(&epa.url, &carol.user_id, tail, &mark, Some(&alice.token));
        refused(
            sides,
            &answer,
            &mark,
            (403, "M_FORBIDDEN", "epa.profile_shared_rooms_only"),
        );
    }

    let mark = marker("self");
    let answer = lookup(
        &epa.url,
        &alice.user_id,
        "/displayname",
        &mark,
        Some(&alice.token),
    );
    passed(sides, &answer, &mark, "epa.profile_shared_rooms_only");

    // The directory: forwarded, and filtered on its way back.
    let (answer, mark) = search_until(&epa.url, (&alice, &term), &carol, |answer| {
        listed(answer).contains(&bob.user_id)
    });
    passed(sides, &answer, &mark, "epa.profile_shared_rooms_only");
    assert_eq!(answer.body["limited"], false, "{}", answer.body);
}

#[test]
fn a_requester_in_more_rooms_than_the_gateway_asks_about_is_not_taken_for_a_stranger() {
    let synapse = open_synapse();
    let epa = Gateway::start(GatewayOptions::for_synapse(&synapse, "healthcare-tim-epa"));
    let term = marker("busy");
    let dave = register(&synapse.base_url, &format!("{term}-dave"));
    let carol = register(&synapse.base_url, &format!("{term}-carol"));
    // One room more than the gateway asks about, none shared with carol.
    for _ in 0..=100 {
        let created = Answer::of(
            http()
                .post(format!("{}/_matrix/client/v3/createRoom", synapse.base_url))
                .bearer_auth(&dave.token)
                .json(&json!({"preset": "private_chat"})),
        );
        assert_eq!(created.status, 200, "{}", created.body);
    }

    let mark = marker("busy");
    let answer = lookup(&epa.url, &carol.user_id, "", &mark, Some(&dave.token));
    refused(
        (&epa, &synapse),
        &answer,
        &mark,
        (403, "M_FORBIDDEN", "lookup.shared_rooms_unavailable"),
    );

    // In the directory, carol is left out, and the answer says it is not
    // whole, once Synapse's own lists her again.
    directory_lists(&synapse, &dave, &term, &[&carol]);
    let (answer, mark) = search_until(&epa.url, (&dave, &term), &carol, |answer| {
        answer.body["limited"] == true
    });
    passed(
        (&epa, &synapse),
        &answer,
        &mark,
        "epa.profile_shared_rooms_only",
    );
    let others = listed(&answer).into_iter().any(|id| id != dave.user_id);
    assert!(!others, "{}", answer.body);
}
