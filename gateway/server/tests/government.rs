//! Tchap's room access rules under the `government` profile, end to end:
//! the real gateway in front of a real Synapse, with agents and an external
//! user (`[profile.groups] external`) as real users of it. The `createRoom`
//! bodies Tchap's web client sends make the rooms Tchap makes (the state is
//! read back from Synapse); every refusal is answered with its rule,
//! audited under it, and never reaches Synapse (its access log is the
//! proof), whose state shows nothing changed.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed step fails the test"
)]

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{
    Gateway, GatewayOptions, Synapse, SynapseOptions, User, encode, http, marker, register,
};

/// Three months, in milliseconds: the longest a forum keeps messages.
const THREE_MONTHS_MS: u64 = 3 * 30 * 24 * 60 * 60 * 1000;

/// A Synapse, the gateway in front of it under `government`, two agents
/// and an external user.
struct Bench {
    synapse: Synapse,
    gateway: Gateway,
    agent: User,
    colleague: User,
    external: User,
}

impl Bench {
    fn start() -> Self {
        let synapse = Synapse::start(SynapseOptions::default());
        let gateway = Gateway::start(GatewayOptions {
            extra: "[profile.groups]\nexternal = [\"@ext-*:localhost\"]\n".to_owned(),
            ..GatewayOptions::for_synapse(&synapse, "government")
        });
        let user = |prefix: &str| register(&synapse.base_url, &format!("{prefix}{}", marker("")));
        let (agent, colleague, external) = (user("agent-"), user("colleague-"), user("ext-"));
        Self {
            synapse,
            gateway,
            agent,
            colleague,
            external,
        }
    }

    /// `method path` with `body` through the gateway as `user`, marked.
    fn send(&self, user: &User, method: Method, path: &str, body: &Value) -> Answer {
        let mark = marker("gov");
        let separator = if path.contains('?') { '&' } else { '?' };
        let response = http()
            .request(
                method,
                format!("{}{path}{separator}sg={mark}", self.gateway.url),
            )
            .bearer_auth(&user.token)
            .json(body)
            .send()
            .expect("request");
        Answer::of(response, mark)
    }

    /// A `createRoom` through the gateway as `user`.
    fn create(&self, user: &User, body: &Value) -> Answer {
        self.send(user, Method::POST, "/_matrix/client/v3/createRoom", body)
    }

    /// A room made through the gateway, which must pass; its id.
    fn room(&self, user: &User, body: &Value) -> String {
        let answer = self.create(user, body);
        self.passed(&answer);
        answer.body["room_id"].as_str().expect("room_id").to_owned()
    }

    /// A state event set through the gateway as `user`.
    fn put_state(&self, user: &User, room: &str, event_type: &str, content: &Value) -> Answer {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/{event_type}/",
            encode(room)
        );
        self.send(user, Method::PUT, &path, content)
    }

    /// The content of a room's state event (empty state key), as Synapse
    /// itself tells `user`.
    fn state(&self, user: &User, room: &str, event_type: &str) -> Option<Value> {
        self.state_of(user, room, event_type, "")
    }

    /// The content of a room's state event, as Synapse itself tells `user`.
    fn state_of(&self, user: &User, room: &str, event_type: &str, key: &str) -> Option<Value> {
        let response = http()
            .get(format!(
                "{}/_matrix/client/v3/rooms/{}/state/{event_type}/{}",
                self.synapse.base_url,
                encode(room),
                encode(key)
            ))
            .bearer_auth(&user.token)
            .send()
            .expect("state");
        response
            .status()
            .is_success()
            .then(|| response.json().expect("JSON"))
    }

    /// `user`'s membership in a room, as Synapse tells its creator.
    fn membership(&self, creator: &User, room: &str, user: &User) -> Option<String> {
        self.state_of(creator, room, "m.room.member", &user.user_id)
            .and_then(|content| content["membership"].as_str().map(str::to_owned))
    }

    /// Asserts that `answer` is the gateway's refusal by `rule`, answered
    /// with `status` and `errcode`, audited as such, and that its request
    /// never reached Synapse.
    fn refused(&self, answer: &Answer, (status, errcode, rule): (u16, &str, &str)) {
        assert_eq!(answer.status, status, "{}", answer.body);
        assert_eq!(answer.body["errcode"], errcode, "{}", answer.body);
        assert_eq!(answer.rule(), Some(rule), "{}", answer.body);
        let record = self.gateway.audit_record(&answer.request_id);
        assert_eq!(record.verdict, "deny");
        assert_eq!(record.rule, rule);
        assert!(
            !self.synapse.access_log().contains(&answer.mark),
            "the refused request {} reached Synapse",
            answer.mark
        );
    }

    /// Asserts that `answer` passed (2xx, no rule), was audited as allowed,
    /// and reached Synapse.
    fn passed(&self, answer: &Answer) {
        assert!(
            (200..300).contains(&answer.status) && answer.rule().is_none(),
            "expected to pass: {} {}",
            answer.status,
            answer.body
        );
        let record = self.gateway.audit_record(&answer.request_id);
        assert_eq!(record.verdict, "allow");
        assert!(
            self.synapse.saw(&answer.mark),
            "the allowed request {} never reached Synapse",
            answer.mark
        );
    }
}

/// An answer from the gateway.
struct Answer {
    status: u16,
    body: Value,
    request_id: String,
    mark: String,
}

impl Answer {
    fn of(response: reqwest::blocking::Response, mark: String) -> Self {
        let status = response.status().as_u16();
        let request_id = support::request_id(&response);
        let body = response.json().unwrap_or(Value::Null);
        Self {
            status,
            body,
            request_id,
            mark,
        }
    }

    fn rule(&self) -> Option<&str> {
        self.body["org.sectorgate.rule"].as_str()
    }
}

/// An access rule's state event, for `initial_state`.
fn access_rule(rule: &str) -> Value {
    json!({"type": "im.vector.room.access_rules", "state_key": "", "content": {"rule": rule}})
}

/// The body tchap-web sends for a private room ("salon"): restricted,
/// encrypted, invite only, history from the invitation.
fn tchap_private_room() -> Value {
    json!({
        "name": "Salon", "visibility": "private", "preset": "private_chat",
        "creation_content": {"m.federate": true},
        "initial_state": [
            access_rule("restricted"),
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}},
            {"type": "m.room.join_rules", "content": {"join_rule": "invite"}},
            {"type": "m.room.history_visibility", "content": {"history_visibility": "invited"}}
        ]
    })
}

/// The body tchap-web sends for a forum: listed, public, restricted to
/// agents, not encrypted, shared history.
fn tchap_forum() -> Value {
    json!({
        "name": "Forum", "visibility": "public", "preset": "public_chat",
        "creation_content": {"m.federate": true},
        "initial_state": [
            access_rule("restricted"),
            {"type": "m.room.join_rules", "content": {"join_rule": "public"}},
            {"type": "m.room.history_visibility", "content": {"history_visibility": "shared"}}
        ]
    })
}

/// The body tchap-web sends for a room open to external users.
fn tchap_external_room() -> Value {
    let mut body = tchap_private_room();
    body["name"] = json!("Salon externe");
    body["initial_state"][0] = access_rule("unrestricted");
    body
}

/// The body tchap-web sends for a direct chat with `with`: no access rule
/// (the homeserver sets it), trusted, encrypted when `encrypted`.
fn tchap_direct_chat(with: &User, encrypted: bool) -> Value {
    let state: Vec<Value> = encrypted
        .then(|| json!({"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}))
        .into_iter()
        .collect();
    json!({
        "preset": "trusted_private_chat", "visibility": "private",
        "invite": [with.user_id], "is_direct": true, "initial_state": state
    })
}

/// Asserts a room's state as Synapse holds it: its access rule, join rule,
/// whether it is encrypted, and Tchap's power levels (`invite` as given).
fn assert_tchap_room(
    bench: &Bench,
    room: &str,
    (rule, join_rule, encrypted): (&str, &str, bool),
    invite: u64,
) {
    let agent = &bench.agent;
    let rules = bench.state(agent, room, "im.vector.room.access_rules");
    assert_eq!(rules.expect("an access rule")["rule"], rule, "{room}");
    let join = bench
        .state(agent, room, "m.room.join_rules")
        .expect("a join rule");
    assert_eq!(join["join_rule"], join_rule, "{room}");
    let encryption = bench.state(agent, room, "m.room.encryption");
    assert_eq!(encryption.is_some(), encrypted, "{room}: {encryption:?}");
    let levels = bench
        .state(agent, room, "m.room.power_levels")
        .expect("power levels");
    for (key, level) in [
        ("invite", invite),
        ("state_default", 100),
        ("events_default", 0),
        ("users_default", 0),
        ("ban", 50),
        ("kick", 50),
        ("redact", 50),
    ] {
        assert_eq!(levels[key], level, "{room} {key}: {levels}");
    }
    for (event_type, level) in [
        ("m.room.power_levels", 100),
        ("m.room.name", 50),
        ("m.room.encryption", 100),
        ("m.room.tombstone", 100),
        ("m.call.member", 0),
    ] {
        assert_eq!(
            levels["events"][event_type], level,
            "{room} {event_type}: {levels}"
        );
    }
}

#[test]
fn the_rooms_tchap_web_asks_for_are_made_as_tchap_makes_them() {
    let bench = Bench::start();
    let private = bench.room(&bench.agent, &tchap_private_room());
    assert_tchap_room(&bench, &private, ("restricted", "invite", true), 50);
    let history = bench.state(&bench.agent, &private, "m.room.history_visibility");
    assert_eq!(history.expect("history")["history_visibility"], "invited");

    let forum = bench.room(&bench.agent, &tchap_forum());
    assert_tchap_room(&bench, &forum, ("restricted", "public", false), 0);
    let retention = bench
        .state(&bench.agent, &forum, "m.room.retention")
        .expect("retention");
    assert_eq!(retention["max_lifetime"], THREE_MONTHS_MS);

    let external = bench.room(&bench.agent, &tchap_external_room());
    assert_tchap_room(&bench, &external, ("unrestricted", "invite", true), 50);
    assert!(
        bench
            .state(&bench.agent, &external, "m.room.retention")
            .is_none()
    );

    // A direct chat: no rule in the request, direct in the room; its two
    // members are both administrators, as the trusted preset makes them
    // (in room version 12, by making the invitee a creator too).
    for encrypted in [true, false] {
        let direct = bench.room(
            &bench.agent,
            &tchap_direct_chat(&bench.colleague, encrypted),
        );
        assert_tchap_room(&bench, &direct, ("direct", "invite", true), 50);
        let levels = bench
            .state(&bench.agent, &direct, "m.room.power_levels")
            .expect("levels");
        let create = bench
            .state(&bench.agent, &direct, "m.room.create")
            .expect("create");
        let colleague = json!(bench.colleague.user_id);
        let creator = create["additional_creators"]
            .as_array()
            .is_some_and(|creators| creators.contains(&colleague));
        assert!(
            creator || levels["users"][&bench.colleague.user_id] == 100,
            "{create} {levels}"
        );
        assert_eq!(
            bench
                .membership(&bench.agent, &direct, &bench.colleague)
                .as_deref(),
            Some("invite")
        );
    }

    // A bare request: Tchap's homeserver fills the rest in, and so does
    // the gateway.
    let bare = bench.room(&bench.agent, &json!({"name": "Bare"}));
    assert_tchap_room(&bench, &bare, ("restricted", "invite", true), 50);
    let history = bench.state(&bench.agent, &bare, "m.room.history_visibility");
    assert_eq!(history.expect("history")["history_visibility"], "invited");
}

#[test]
fn a_room_is_never_created_weaker_than_tchap_allows() {
    let bench = Bench::start();
    let refusals = [
        (
            json!({"preset": "private_chat", "power_level_content_override": {"invite": 0}}),
            (400, "M_INVALID_ROOM_STATE", "gov.invite_level_minimum"),
        ),
        (
            json!({"preset": "private_chat", "initial_state": [
                {"type": "m.room.power_levels", "state_key": "", "content": {"state_default": 50}}]}),
            (400, "M_INVALID_ROOM_STATE", "gov.state_level_minimum"),
        ),
        (
            json!({"preset": "private_chat", "initial_state": [access_rule("direct")]}),
            (400, "M_INVALID_ROOM_STATE", "gov.direct_needs_is_direct"),
        ),
        (
            json!({"preset": "trusted_private_chat", "is_direct": true,
                   "initial_state": [access_rule("restricted")]}),
            (400, "M_INVALID_ROOM_STATE", "gov.direct_is_direct"),
        ),
        (
            json!({"preset": "public_chat", "is_direct": true}),
            (403, "M_FORBIDDEN", "gov.direct_never_public"),
        ),
        (
            json!({"preset": "public_chat", "initial_state": [
                {"type": "m.room.retention", "state_key": "", "content": {"max_lifetime": THREE_MONTHS_MS + 1}}]}),
            (403, "M_FORBIDDEN", "gov.forum_retention"),
        ),
        (
            json!({"preset": "private_chat", "visibility": "public", "initial_state": [access_rule("unrestricted")]}),
            (403, "M_FORBIDDEN", "gov.directory_restricted_only"),
        ),
        (
            json!({"preset": "trusted_private_chat", "is_direct": true,
                   "invite": [bench.colleague.user_id, bench.external.user_id]}),
            (403, "M_FORBIDDEN", "gov.direct_two_members"),
        ),
    ];
    let rooms_before = joined_rooms(&bench, &bench.agent);
    for (body, refusal) in refusals {
        bench.refused(&bench.create(&bench.agent, &body), refusal);
    }
    // Synapse made none of them.
    assert_eq!(joined_rooms(&bench, &bench.agent), rooms_before);
}

/// The rooms `user` is joined to, as Synapse says.
fn joined_rooms(bench: &Bench, user: &User) -> Vec<Value> {
    let response = http()
        .get(format!(
            "{}/_matrix/client/v3/joined_rooms",
            bench.synapse.base_url
        ))
        .bearer_auth(&user.token)
        .send()
        .expect("joined_rooms");
    let body: Value = response.json().expect("JSON");
    body["joined_rooms"].as_array().cloned().unwrap_or_default()
}

#[test]
fn external_users_create_no_room_find_no_one_and_join_only_when_invited() {
    let bench = Bench::start();
    let (agent, external) = (&bench.agent, &bench.external);
    bench.refused(
        &bench.create(external, &tchap_private_room()),
        (403, "M_FORBIDDEN", "gov.externals_create_no_rooms"),
    );
    assert!(joined_rooms(&bench, external).is_empty());

    // The user directory: nobody for the external user, answered by the
    // gateway itself; an agent's search goes to Synapse, which finds them.
    let search = json!({"search_term": "colleague"});
    let path = "/_matrix/client/v3/user_directory/search";
    let nobody = bench.send(external, Method::POST, path, &search);
    assert_eq!(nobody.status, 200, "{}", nobody.body);
    assert_eq!(nobody.body["results"], json!([]));
    assert_eq!(nobody.rule(), Some("gov.externals_find_no_one"));
    let record = bench.gateway.audit_record(&nobody.request_id);
    assert_eq!(record.verdict, "deny");
    assert_eq!(record.rule, "gov.externals_find_no_one");
    assert!(!bench.synapse.access_log().contains(&nobody.mark));
    let found = support::wait_for(std::time::Duration::from_secs(15), || {
        let answer = bench.send(agent, Method::POST, path, &search);
        let listed = answer.body["results"]
            .to_string()
            .contains(&bench.colleague.user_id);
        listed.then_some(answer)
    });
    bench.passed(&found.expect("the agent finds their colleague"));

    // A forum: agents walk in, the external user who knows its id does not.
    let forum = bench.room(agent, &tchap_forum());
    let join = |user: &User, room: &str| {
        bench.send(
            user,
            Method::POST,
            &format!("/_matrix/client/v3/join/{}", encode(room)),
            &json!({}),
        )
    };
    bench.refused(
        &join(external, &forum),
        (403, "M_FORBIDDEN", "gov.external_join_by_invite"),
    );
    assert_eq!(bench.membership(agent, &forum, external), None);
    bench.passed(&join(&bench.colleague, &forum));
    assert_eq!(
        bench.membership(agent, &forum, &bench.colleague).as_deref(),
        Some("join")
    );

    // A room open to external users and to anyone with its link: the
    // external user needs an invitation all the same; invited, they join.
    let mut linked = tchap_external_room();
    linked["initial_state"][2] =
        json!({"type": "m.room.join_rules", "content": {"join_rule": "public"}});
    let open = bench.room(agent, &linked);
    bench.refused(
        &join(external, &open),
        (403, "M_FORBIDDEN", "gov.external_join_by_invite"),
    );
    assert_eq!(bench.membership(agent, &open, external), None);
    let invite = json!({"user_id": external.user_id});
    let invite_path = format!("/_matrix/client/v3/rooms/{}/invite", encode(&open));
    bench.passed(&bench.send(agent, Method::POST, &invite_path, &invite));
    bench.passed(&join(external, &open));
    assert_eq!(
        bench.membership(agent, &open, external).as_deref(),
        Some("join")
    );
}

#[test]
fn external_users_stay_out_of_restricted_rooms_and_powerless_in_open_ones() {
    let bench = Bench::start();
    let (agent, external) = (&bench.agent, &bench.external);
    let private = bench.room(agent, &tchap_private_room());
    // Invited neither by /invite nor by setting their membership.
    let invite_path = format!("/_matrix/client/v3/rooms/{}/invite", encode(&private));
    let invite = json!({"user_id": external.user_id});
    bench.refused(
        &bench.send(agent, Method::POST, &invite_path, &invite),
        (403, "M_FORBIDDEN", "gov.external_only_unrestricted"),
    );
    let member = format!("m.room.member/{}", encode(&external.user_id));
    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/{member}",
        encode(&private)
    );
    bench.refused(
        &bench.send(agent, Method::PUT, &path, &json!({"membership": "invite"})),
        (403, "M_FORBIDDEN", "gov.external_only_unrestricted"),
    );
    assert_eq!(bench.membership(agent, &private, external), None);

    // In a room open to them, they get no power level, and nobody gets
    // one by default.
    let open = bench.room(agent, &tchap_external_room());
    let levels = bench
        .state(agent, &open, "m.room.power_levels")
        .expect("levels");
    let mut raised = levels.clone();
    raised["users"][&external.user_id] = json!(50);
    bench.refused(
        &bench.put_state(agent, &open, "m.room.power_levels", &raised),
        (403, "M_FORBIDDEN", "gov.externals_no_power"),
    );
    let mut by_default = levels.clone();
    by_default["users_default"] = json!(10);
    bench.refused(
        &bench.put_state(agent, &open, "m.room.power_levels", &by_default),
        (403, "M_FORBIDDEN", "gov.unrestricted_users_default"),
    );
    assert_eq!(
        bench.state(agent, &open, "m.room.power_levels"),
        Some(levels.clone())
    );
    // An agent may be made a moderator there.
    let mut moderator = levels;
    moderator["users"][&bench.colleague.user_id] = json!(50);
    bench.passed(&bench.put_state(agent, &open, "m.room.power_levels", &moderator));
    let now = bench
        .state(agent, &open, "m.room.power_levels")
        .expect("levels");
    assert_eq!(now["users"][&bench.colleague.user_id], 50);
}

#[test]
fn a_direct_chat_holds_two_members_and_stays_as_created() {
    let bench = Bench::start();
    let (agent, colleague) = (&bench.agent, &bench.colleague);
    let direct = bench.room(agent, &tchap_direct_chat(colleague, true));
    let third = register(&bench.synapse.base_url, &marker("third-"));
    let invite_path = format!("/_matrix/client/v3/rooms/{}/invite", encode(&direct));
    bench.refused(
        &bench.send(
            agent,
            Method::POST,
            &invite_path,
            &json!({"user_id": third.user_id}),
        ),
        (403, "M_FORBIDDEN", "gov.direct_two_members"),
    );
    assert_eq!(bench.membership(agent, &direct, &third), None);
    let unchanged = [
        (
            "m.room.name",
            json!({"name": "Renamed"}),
            "gov.direct_stays_as_created",
        ),
        (
            "m.room.topic",
            json!({"topic": "A topic"}),
            "gov.direct_stays_as_created",
        ),
        (
            "m.room.avatar",
            json!({"url": "mxc://localhost/a"}),
            "gov.direct_stays_as_created",
        ),
        (
            "m.room.join_rules",
            json!({"join_rule": "knock"}),
            "gov.direct_stays_as_created",
        ),
        (
            "m.room.join_rules",
            json!({"join_rule": "public"}),
            "gov.direct_never_public",
        ),
        (
            "im.vector.room.access_rules",
            json!({"rule": "restricted"}),
            "gov.access_rule_changes",
        ),
    ];
    for (event_type, content, rule) in unchanged {
        let answer = bench.put_state(agent, &direct, event_type, &content);
        bench.refused(&answer, (403, "M_FORBIDDEN", rule));
    }
    assert!(bench.state(agent, &direct, "m.room.name").is_none());
    let join_rule = bench
        .state(agent, &direct, "m.room.join_rules")
        .expect("join rule");
    assert_eq!(join_rule["join_rule"], "invite");
    let rule = bench
        .state(agent, &direct, "im.vector.room.access_rules")
        .expect("rule");
    assert_eq!(rule["rule"], "direct");
}

#[test]
fn an_access_rule_only_opens_and_never_in_a_listed_room_or_a_forum() {
    let bench = Bench::start();
    let agent = &bench.agent;
    let rule_of = |room: &str| {
        bench
            .state(agent, room, "im.vector.room.access_rules")
            .expect("rule")["rule"]
            .clone()
    };
    let private = bench.room(agent, &tchap_private_room());
    // A moderator may not open it; its administrator (its creator) may.
    let moderator = make_moderator(&bench, &private);
    bench.refused(
        &bench.put_state(
            moderator,
            &private,
            "im.vector.room.access_rules",
            &json!({"rule": "unrestricted"}),
        ),
        (403, "M_FORBIDDEN", "gov.access_rule_by_admins"),
    );
    assert_eq!(rule_of(&private), "restricted");
    bench.passed(&bench.put_state(
        agent,
        &private,
        "im.vector.room.access_rules",
        &json!({"rule": "unrestricted"}),
    ));
    assert_eq!(rule_of(&private), "unrestricted");
    bench.refused(
        &bench.put_state(
            agent,
            &private,
            "im.vector.room.access_rules",
            &json!({"rule": "restricted"}),
        ),
        (403, "M_FORBIDDEN", "gov.access_rule_changes"),
    );
    assert_eq!(rule_of(&private), "unrestricted");
    // Now open to external users, it cannot be listed in the directory.
    let directory = format!(
        "/_matrix/client/v3/directory/list/room/{}",
        encode(&private)
    );
    bench.refused(
        &bench.send(
            agent,
            Method::PUT,
            &directory,
            &json!({"visibility": "public"}),
        ),
        (403, "M_FORBIDDEN", "gov.directory_restricted_only"),
    );
    assert_eq!(listing(&bench, &private), "private");

    // A restricted room listed in the directory stays restricted.
    let mut listed = tchap_private_room();
    listed["visibility"] = json!("public");
    let listed = bench.room(agent, &listed);
    assert_eq!(listing(&bench, &listed), "public");
    bench.refused(
        &bench.put_state(
            agent,
            &listed,
            "im.vector.room.access_rules",
            &json!({"rule": "unrestricted"}),
        ),
        (403, "M_FORBIDDEN", "gov.listed_rooms_stay_restricted"),
    );
    assert_eq!(rule_of(&listed), "restricted");

    // A forum, even one not listed, keeps its rule.
    let mut unlisted_forum = tchap_forum();
    unlisted_forum["visibility"] = json!("private");
    let forum = bench.room(agent, &unlisted_forum);
    assert_eq!(listing(&bench, &forum), "private");
    bench.refused(
        &bench.put_state(
            agent,
            &forum,
            "im.vector.room.access_rules",
            &json!({"rule": "unrestricted"}),
        ),
        (403, "M_FORBIDDEN", "gov.forum_keeps_its_rule"),
    );
    assert_eq!(rule_of(&forum), "restricted");
}

/// Has the colleague join `room` and makes them a moderator (50), all
/// through the gateway; the colleague.
fn make_moderator<'b>(bench: &'b Bench, room: &str) -> &'b User {
    let (agent, colleague) = (&bench.agent, &bench.colleague);
    let invite_path = format!("/_matrix/client/v3/rooms/{}/invite", encode(room));
    let invite = json!({"user_id": colleague.user_id});
    bench.passed(&bench.send(agent, Method::POST, &invite_path, &invite));
    let join_path = format!("/_matrix/client/v3/join/{}", encode(room));
    bench.passed(&bench.send(colleague, Method::POST, &join_path, &json!({})));
    let mut levels = bench
        .state(agent, room, "m.room.power_levels")
        .expect("levels");
    levels["users"][&colleague.user_id] = json!(50);
    bench.passed(&bench.put_state(agent, room, "m.room.power_levels", &levels));
    colleague
}

/// Whether Synapse lists a room in its directory (`public` or `private`).
fn listing(bench: &Bench, room: &str) -> Value {
    let response = http()
        .get(format!(
            "{}/_matrix/client/v3/directory/list/room/{}",
            bench.synapse.base_url,
            encode(room)
        ))
        .send()
        .expect("directory");
    let body: Value = response.json().expect("JSON");
    body["visibility"].clone()
}

#[test]
fn a_forum_stays_public_unencrypted_and_keeps_messages_three_months_at_most() {
    let bench = Bench::start();
    let agent = &bench.agent;
    let forum = bench.room(agent, &tchap_forum());
    let refusals = [
        (
            "m.room.encryption",
            json!({"algorithm": "m.megolm.v1.aes-sha2"}),
            "gov.forum_unencrypted",
        ),
        (
            "m.room.join_rules",
            json!({"join_rule": "invite"}),
            "gov.forum_stays_public",
        ),
        (
            "m.room.retention",
            json!({"max_lifetime": THREE_MONTHS_MS + 1}),
            "gov.forum_retention",
        ),
        ("m.room.retention", json!({}), "gov.forum_retention"),
    ];
    for (event_type, content, rule) in refusals {
        let answer = bench.put_state(agent, &forum, event_type, &content);
        bench.refused(&answer, (403, "M_FORBIDDEN", rule));
    }
    assert!(bench.state(agent, &forum, "m.room.encryption").is_none());
    let join_rule = bench
        .state(agent, &forum, "m.room.join_rules")
        .expect("join rule");
    assert_eq!(join_rule["join_rule"], "public");
    let two_months = json!({"max_lifetime": THREE_MONTHS_MS / 3 * 2});
    bench.passed(&bench.put_state(agent, &forum, "m.room.retention", &two_months));
    assert_eq!(
        bench.state(agent, &forum, "m.room.retention"),
        Some(two_months)
    );

    // A private room opened by link (encrypted) may be closed again.
    let private = bench.room(agent, &tchap_private_room());
    for join_rule in ["public", "invite"] {
        let content = json!({"join_rule": join_rule});
        bench.passed(&bench.put_state(agent, &private, "m.room.join_rules", &content));
    }
}

#[test]
fn an_upgraded_room_keeps_its_access_rule_which_the_gateway_sets_as_the_user() {
    let bench = Bench::start();
    let agent = &bench.agent;
    let rule_of = |room: &str| {
        bench
            .state(agent, room, "im.vector.room.access_rules")
            .map(|content| content["rule"].clone())
    };
    let upgrade = |base: &str, room: &str| {
        let response = http()
            .post(format!(
                "{base}/_matrix/client/v3/rooms/{}/upgrade",
                encode(room)
            ))
            .bearer_auth(&agent.token)
            .json(&json!({"new_version": "11"}))
            .send()
            .expect("upgrade");
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body: Value = response.json().expect("JSON");
        let replacement = body["replacement_room"]
            .as_str()
            .expect("replacement")
            .to_owned();
        (replacement, request_id)
    };

    // A room of version 10 (as Tchap's rooms are), upgraded to 11.
    let mut older = tchap_external_room();
    older["room_version"] = json!("10");
    // Synapse alone does not carry the access rule into the new room.
    let bare = bench.room(agent, &older);
    let (bare_new, _) = upgrade(&bench.synapse.base_url, &bare);
    assert_eq!(rule_of(&bare_new), None, "Synapse copied the access rule");

    // Through the gateway, the new room gets the old room's rule, set by
    // the gateway as the user, recorded under the rule.
    let open = bench.room(agent, &older);
    let (replacement, upgrade_id) = upgrade(&bench.gateway.url, &open);
    let carried = support::wait_for(std::time::Duration::from_secs(15), || rule_of(&replacement));
    assert_eq!(carried, Some(json!("unrestricted")));
    let upgrade_record = bench.gateway.audit_record(&upgrade_id.expect("request id"));
    assert_eq!(upgrade_record.verdict, "allow");
    assert_eq!(upgrade_record.by_gateway, None);
    let records = bench.gateway.audit_records();
    let mine: Vec<_> = records
        .iter()
        .filter(|record| record.by_gateway.as_deref() == Some("gov.upgrade_keeps_access_rule"))
        .collect();
    assert_eq!(mine.len(), 1, "one request on the user's behalf: {mine:?}");
    let record = mine[0];
    assert_eq!(record.rule, "gov.upgrade_keeps_access_rule");
    assert_eq!(record.verdict, "allow");
    assert_eq!(record.peer, upgrade_record.peer, "as the same user");
    assert_eq!(record.endpoint.as_deref(), Some("client.send_state_event"));
    assert_ne!(record.request_id, upgrade_record.request_id);
    let outcome = support::wait_for(std::time::Duration::from_secs(10), || {
        bench
            .gateway
            .audit_entries()
            .into_iter()
            .find_map(|entry| match entry {
                sectorgate_audit::Entry::Outcome(o) if o.decision == record.id => Some(o.status),
                _ => None,
            })
    });
    assert_eq!(outcome, Some(200));
}
