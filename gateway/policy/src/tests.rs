//! Unit tests for profiles and decisions, including every decision case
//! of every profile folder under `profiles/`.

use std::path::{Path, PathBuf};

use sectorgate_action::Endpoint;

use crate::profile::ProfileSource;
use crate::{Profile, ProfileError, cases};

/// A fixed "now" for cases (2026-01-01T00:00:00Z).
const NOW_MS: u64 = 1_767_225_600_000;

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sectorgate-policy-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn problems(result: Result<Profile, ProfileError>) -> Vec<crate::Problem> {
    match result {
        Ok(profile) => panic!("profile {} loaded", profile.id),
        Err(error) => error.problems(),
    }
}

#[test]
fn every_decision_case_holds() {
    let mut checked = 0;
    for entry in std::fs::read_dir(profiles_dir()).expect("profiles dir") {
        let dir = entry.expect("entry").path();
        let source = ProfileSource::dir(&dir);
        let profile = Profile::from_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        match cases::run_all(&source, &profile, NOW_MS) {
            Ok(count) => checked += count,
            Err(problems) => {
                let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
                panic!("cases fail:\n{}", list.join("\n"));
            }
        }
    }
    assert!(checked >= 40, "only {checked} cases found");
}

#[test]
fn bundled_profiles_match_the_folders() {
    let ids = Profile::bundled_ids();
    for id in [
        "matrix-core",
        "base",
        "healthcare-tim-pro",
        "healthcare-tim-epa",
        "government",
        "defence",
        "education",
    ] {
        assert!(ids.contains(&id), "{id} is not bundled: {ids:?}");
    }
    for id in ids {
        let bundled = Profile::bundled(id).unwrap_or_else(|e| panic!("{e}"));
        let folder = Profile::from_dir(&profiles_dir().join(id)).expect("folder");
        assert_eq!(bundled.id, folder.id);
        assert_eq!(bundled.digest, folder.digest, "{id}");
        assert_eq!(bundled.rules.len(), folder.rules.len());
        assert_eq!(
            bundled.events.schemas.by_type.len(),
            folder.events.schemas.by_type.len()
        );
    }
}

#[test]
fn matrix_core_schemas_compile_and_base_inherits_them() {
    let base = Profile::bundled("base").expect("base");
    for event_type in [
        "m.room.message",
        "m.room.member",
        "m.room.create",
        "m.room.power_levels",
        "m.room.join_rules",
        "m.room.history_visibility",
        "m.room.guest_access",
        "m.room.encryption",
        "m.room.name",
        "m.room.topic",
        "m.room.avatar",
        "m.room.pinned_events",
        "m.room.server_acl",
        "m.room.tombstone",
        "m.room.redaction",
        "m.reaction",
        "m.room.encrypted",
    ] {
        assert!(
            base.events.schemas.by_type.contains_key(event_type),
            "no schema for {event_type}"
        );
    }
    for msgtype in [
        "m.text",
        "m.emote",
        "m.notice",
        "m.image",
        "m.file",
        "m.audio",
        "m.video",
        "m.location",
    ] {
        assert!(
            base.events.schemas.by_msgtype.contains_key(msgtype),
            "no schema for {msgtype}"
        );
    }
}

#[test]
fn healthcare_denies_url_previews_and_base_allows_them() {
    let preview = Endpoint::client("get_media_preview");
    let healthcare = Profile::bundled("healthcare-tim-pro").expect("healthcare");
    let base = Profile::bundled("base").expect("base");
    assert!(healthcare.rule_for(&preview).is_some());
    assert!(base.rule_for(&preview).is_none());
}

#[test]
fn an_unknown_key_is_reported_with_file_and_path() {
    let dir = scratch("unknown-key");
    write(
        &dir,
        "p/profile.yaml",
        "id: p\ntitle: t\nevents:\n  rules:\n    - id: x\n      field: /a\n      forbid: [1]\n      frobid: [2]\n",
    );
    let found = problems(Profile::from_dir(&dir.join("p")));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].file.ends_with("p/profile.yaml"), "{found:?}");
    assert!(found[0].path.starts_with("events.rules[0]"), "{found:?}");
    assert!(found[0].message.contains("frobid"), "{found:?}");
}

#[test]
fn an_unknown_endpoint_is_reported_with_its_path() {
    let dir = scratch("unknown-endpoint");
    write(
        &dir,
        "p/profile.yaml",
        "id: p\ntitle: t\nendpoints:\n  rules:\n    - id: x\n      verdict: deny\n      endpoints: [client.get_media_previews]\n",
    );
    let found = problems(Profile::from_dir(&dir.join("p")));
    assert_eq!(
        found[0].path, "endpoints.rules[0].endpoints[0]",
        "{found:?}"
    );
}

#[test]
fn the_digest_follows_every_file_and_not_where_it_is_read_from() {
    let digest = |name: &str, topic_type: &str, title: &str| {
        let dir = scratch(name);
        write(
            &dir,
            "p/profile.yaml",
            &format!(
                "id: p\ntitle: {title}\nextends: base\nevents:\n  schemas:\n    m.room.topic: schemas/topic.json\n"
            ),
        );
        write(
            &dir,
            "p/schemas/topic.json",
            &format!(
                r#"{{"type": "object", "properties": {{"topic": {{"type": "{topic_type}"}}}}}}"#
            ),
        );
        Profile::from_dir(&dir.join("p")).expect("loads").digest
    };
    let first = digest("digest-a", "string", "t");
    assert!(
        first.starts_with("sha256:") && first.len() == 7 + 64,
        "{first}"
    );
    assert_eq!(first, digest("digest-b", "string", "t"));
    assert_ne!(first, digest("digest-c", "object", "t"), "a schema changed");
    assert_ne!(
        first,
        digest("digest-d", "string", "u"),
        "profile.yaml changed"
    );
    let base = Profile::bundled("base").expect("base").digest;
    assert_ne!(first, base);
}

#[test]
fn a_broken_schema_is_reported_with_its_file_and_location() {
    let dir = scratch("broken-schema");
    write(
        &dir,
        "p/profile.yaml",
        "id: p\ntitle: t\nevents:\n  schemas:\n    m.room.topic: schemas/topic.json\n",
    );
    write(
        &dir,
        "p/schemas/topic.json",
        r#"{"type": "object", "properties": {"topic": {"type": "strin"}}}"#,
    );
    let found = problems(Profile::from_dir(&dir.join("p")));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].file.ends_with("p/schemas/topic.json"), "{found:?}");
    assert!(found[0].path.contains("properties/topic"), "{found:?}");
}

#[test]
fn an_extends_cycle_is_reported() {
    let dir = scratch("cycle");
    write(&dir, "a/profile.yaml", "id: a\ntitle: a\nextends: b\n");
    write(&dir, "b/profile.yaml", "id: b\ntitle: b\nextends: a\n");
    let found = problems(Profile::from_dir(&dir.join("a")));
    assert_eq!(found[0].path, "extends", "{found:?}");
    assert!(found[0].message.contains("circular"), "{found:?}");
}

#[test]
fn a_wrong_case_is_reported_with_file_and_case() {
    let dir = scratch("wrong-case");
    write(&dir, "p/profile.yaml", "id: p\ntitle: t\nextends: base\n");
    write(
        &dir,
        "p/cases/wrong.yaml",
        "- name: versions is refused\n  request: {method: GET, path: /_matrix/client/versions}\n  expect: {verdict: deny, rule: endpoint.denied}\n",
    );
    let source = ProfileSource::dir(&dir.join("p"));
    let profile = Profile::from_dir(&dir.join("p")).expect("loads");
    let found = cases::run_all(&source, &profile, NOW_MS).expect_err("the case is wrong");
    assert!(found[0].file.ends_with("p/cases/wrong.yaml"), "{found:?}");
    assert_eq!(found[0].path, "[0] versions is refused");
    assert!(found[0].message.contains("verdict allow"), "{found:?}");
}

#[test]
fn a_child_overrides_its_parent() {
    let dir = scratch("override");
    write(
        &dir,
        "p/profile.yaml",
        "id: p\ntitle: t\nextends: healthcare-tim-pro\nrooms:\n  create:\n    max_invites: {id: p.invites, limit: 5}\nevents:\n  schemas:\n    m.room.topic: null\n",
    );
    let profile = Profile::from_dir(&dir.join("p")).expect("loads");
    assert_eq!(profile.rooms.max_invites.as_ref().map(|m| m.limit), Some(5));
    assert!(!profile.events.schemas.by_type.contains_key("m.room.topic"));
    assert!(profile.events.schemas.by_type.contains_key("m.room.name"));
    assert!(
        profile.events.encryption.is_some(),
        "the parent's encryption rule is inherited"
    );
    assert_eq!(
        profile.extends,
        ["healthcare-tim-pro", "base", "matrix-core"]
    );
}

/// A redaction the profile lets pass carries what follows it: the cascade
/// to its replacements, with the client's transaction id and reason, in
/// shadow mode when the rule is; a refused one carries none.
#[test]
fn an_allowed_redaction_carries_its_cascade() {
    let case = |age: &str| -> cases::Case {
        serde_yaml_ng::from_str(&format!(
            "name: r\nrequest: {{method: PUT, path: '/_matrix/client/v3/rooms/{{room}}/redact/{{event}}/t1', body: {{reason: typo}}}}\ncontext: {{event_age: {age}}}\nexpect: {{verdict: allow, rule: endpoint.allowed}}\n"
        ))
        .expect("case")
    };
    let pro = Profile::bundled("healthcare-tim-pro").expect("pro");
    let decision = case("1h").decide(&pro, NOW_MS).expect("decides");
    let cascade = decision.cascade().expect("a cascade follows");
    assert_eq!(cascade.rule.as_str(), "tim.redaction_cascade");
    assert!(!cascade.shadow);
    assert_eq!(cascade.room_id.as_str(), cases::PLACEHOLDER_ROOM);
    assert_eq!(cascade.event_id.as_str(), cases::PLACEHOLDER_EVENT);
    assert_eq!(cascade.txn_id.as_str(), "t1");
    assert_eq!(cascade.reason.as_deref(), Some("typo"));
    let late = case("25h").decide(&pro, NOW_MS).expect("decides");
    assert_eq!(late.verdict_str(), "deny");
    assert_eq!(late.cascade(), None, "a refused redaction is not followed");

    let dir = scratch("cascade-shadow");
    write(
        &dir,
        "p/profile.yaml",
        "id: p\ntitle: t\nextends: healthcare-tim-pro\nshadow: true\n",
    );
    let shadowed = Profile::from_dir(&dir.join("p")).expect("loads");
    let late = case("25h").decide(&shadowed, NOW_MS).expect("decides");
    assert_eq!(late.verdict_str(), "shadow");
    let cascade = late.cascade().expect("a forwarded redaction is followed");
    assert!(
        cascade.shadow,
        "in shadow mode the cascade is only recorded"
    );

    let base = Profile::bundled("base").expect("base");
    assert_eq!(
        case("1h").decide(&base, NOW_MS).expect("decides").cascade(),
        None
    );
}

#[test]
fn an_unknown_bundled_profile_is_an_error() {
    assert!(matches!(
        Profile::bundled("nope"),
        Err(ProfileError::UnknownBundled(..))
    ));
}

/// Bodies near the cases' own, cut short and with single bytes changed,
/// through classify and decide under every bundled profile: a decision
/// each time, never a panic.
#[test]
fn mangled_case_bodies_are_decided_without_panicking() {
    use http::{HeaderMap, Method, Uri};
    use sectorgate_action::{Catalog, classify};

    let mut decided = 0;
    for id in Profile::bundled_ids() {
        let profile = Profile::bundled(id).expect("profile");
        let source = ProfileSource::bundled(id).expect("source");
        for (_, cases) in cases::load(&source).expect("cases") {
            for case in cases {
                let body = case.body("!r:localhost", "$e:localhost", "t1");
                let path = case.path("!r:localhost", "$e:localhost", "t1");
                let (Ok(method), Ok(uri)) =
                    (case.request.method.parse::<Method>(), path.parse::<Uri>())
                else {
                    continue;
                };
                let mut variants: Vec<Vec<u8>> = (0..body.len())
                    .step_by(3)
                    .map(|n| body[..n].to_vec())
                    .collect();
                for at in (0..body.len()).step_by(2) {
                    for byte in [b'"', b'{', b'[', b'\\', b'1', b'e', b'.', b'-', 0xff] {
                        let mut changed = body.clone();
                        changed[at] = byte;
                        variants.push(changed);
                    }
                }
                for variant in variants {
                    let headers = HeaderMap::new();
                    let request = sectorgate_action::Request {
                        method: &method,
                        uri: &uri,
                        headers: &headers,
                        body: &variant,
                    };
                    if let Ok(classified) = classify(Catalog::global(), &request, 64) {
                        let context = crate::Context::bare(
                            crate::Peer {
                                addr: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                            },
                            NOW_MS,
                        );
                        let _ = crate::decide(&classified, &profile, &context);
                        decided += 1;
                    }
                }
            }
        }
    }
    assert!(
        decided > 1000,
        "only {decided} mangled requests were decided"
    );
}

#[test]
fn allowlist_entries_match_exact_names_and_subdomains() {
    use crate::federation::{Admission, Allowlist, ServerPattern};
    let entries = ["hs2.example.org", "*.sector.example", "localhost:8448"];
    let patterns = entries
        .iter()
        .map(|entry| ServerPattern::parse(entry).expect("entry"))
        .collect();
    let list = Allowlist::new(patterns, "test");
    let admits = |name: &str| list.admits(name.try_into().expect("server name"));
    for member in [
        "hs2.example.org",
        "HS2.example.org",
        "a.sector.example",
        "a.b.sector.example:8448",
        "localhost:8448",
    ] {
        assert_eq!(admits(member), Admission::Member, "{member}");
    }
    for outsider in [
        "example.org",
        "hs2.example.org:8448",
        "sector.example",
        "evilsector.example",
        "localhost",
        "localhost:8449",
    ] {
        assert_eq!(admits(outsider), Admission::NotMember, "{outsider}");
    }
    for bad in ["*", "*.", "*.a*.example", "a b", "*.example.org:443"] {
        assert!(ServerPattern::parse(bad).is_none(), "{bad}");
    }
    let mut stale = list.clone();
    stale.mark_stale();
    assert_eq!(
        stale.admits("hs2.example.org".try_into().expect("name")),
        Admission::Stale
    );
}

/// The decision on one case, written as YAML, under `profile`.
fn decide_case(profile: &Profile, case: &str) -> crate::Decision {
    let case: cases::Case = serde_yaml_ng::from_str(case).expect("a case");
    case.decide(profile, NOW_MS).expect("decided")
}

/// A profile extending base with `lookups` (YAML lines under it).
fn with_lookups(name: &str, lookups: &str) -> Profile {
    let dir = scratch(name);
    write(
        &dir,
        "p/profile.yaml",
        &format!("id: p\ntitle: t\nextends: base\nlookups:\n{lookups}"),
    );
    Profile::from_dir(&dir.join("p")).expect("loads")
}

const LOOKUP_OF_A_STRANGER: &str = "name: n\nrequest: {method: GET, path: \"/_matrix/client/v3/profile/@s:localhost\"}\ncontext: {shares_room: false}\nexpect: {verdict: deny, rule: r}\n";

#[test]
fn a_lookup_whose_shared_room_cannot_be_learned_is_refused_as_such() {
    let epa = Profile::bundled("healthcare-tim-epa").expect("epa");
    let decision = decide_case(
        &epa,
        "name: n\nrequest: {method: GET, path: \"/_matrix/client/v3/profile/@s:localhost\"}\nexpect: {verdict: deny, rule: r}\n",
    );
    assert_eq!(decision.rule, crate::rules::SHARED_ROOMS_UNAVAILABLE);
    assert_eq!(decision.verdict_str(), "deny");
}

#[test]
fn nobody_shares_a_room_and_a_shadowed_rule_refuses_and_filters_nothing() {
    let enforced = with_lookups("lookups-enforced", "  shared_rooms: {id: p.shared}\n");
    let anonymous = decide_case(
        &enforced,
        "name: n\nrequest: {method: GET, path: \"/_matrix/client/v3/profile/@s:localhost\"}\ncontext: {anonymous: true}\nexpect: {verdict: deny, rule: r}\n",
    );
    assert_eq!(
        (anonymous.verdict_str(), anonymous.rule.as_str()),
        ("deny", "p.shared")
    );
    let search = sectorgate_action::Action::SearchUsers;
    assert!(crate::directory_filter(&search, &enforced).is_some());

    let shadowed = with_lookups(
        "lookups-shadow",
        "  shared_rooms: {id: p.shared, shadow: true}\n",
    );
    let stranger = decide_case(&shadowed, LOOKUP_OF_A_STRANGER);
    assert_eq!(
        (stranger.verdict_str(), stranger.rule.as_str()),
        ("shadow", "p.shared")
    );
    assert!(crate::directory_filter(&search, &shadowed).is_none());
}

#[test]
fn requester_narrows_only_an_allowing_rule_and_a_verified_server_is_authenticated() {
    let dir = scratch("requester");
    write(
        &dir,
        "deny/profile.yaml",
        "id: deny\ntitle: t\nextends: base\nendpoints:\n  rules:\n    - {id: d.x, verdict: deny, requester: authenticated, endpoints: [client.get_profile]}\n",
    );
    let found = problems(Profile::from_dir(&dir.join("deny")));
    assert!(
        found
            .iter()
            .any(|p| p.to_string().contains("endpoints.rules[0].requester")),
        "{found:?}"
    );
    write(
        &dir,
        "fed/profile.yaml",
        "id: fed\ntitle: t\nextends: base\nendpoints:\n  rules:\n    - {id: f.auth, verdict: allow, requester: authenticated, endpoints: [federation.get_profile_information]}\n",
    );
    let fed = Profile::from_dir(&dir.join("fed")).expect("loads");
    let query = "request: {method: GET, path: \"/_matrix/federation/v1/query/profile?user_id=@u:localhost\"}\nexpect: {verdict: allow, rule: r}\n";
    let signed = decide_case(
        &fed,
        &format!(
            "name: n\n{query}context: {{anonymous: true, federation: {{allow: [hs2.example], origin: hs2.example}}}}\n"
        ),
    );
    assert_eq!(
        (signed.verdict_str(), signed.rule.as_str()),
        ("allow", "f.auth")
    );
}

/// A profile extending base with these sections (YAML at the top level).
fn with_sections(name: &str, sections: &str) -> Profile {
    let dir = scratch(name);
    write(
        &dir,
        "p/profile.yaml",
        &format!(
            "id: p\ntitle: t\nextends: base\nuser_groups: {{ext: {{users: [\"@*:ext.example\"]}}}}\n{sections}"
        ),
    );
    Profile::from_dir(&dir.join("p")).expect("loads")
}

#[test]
fn conditions_field_rules_and_answers_are_checked_when_the_profile_loads() {
    let dir = scratch("when-problems");
    write(
        &dir,
        "p/profile.yaml",
        "id: p\ntitle: t\nextends: base\nevents:\n  rules:\n    - {id: a, types: [x], when: [{state: s, request: /r, allow: [1]}], field: /f, allow: [1]}\n    - {id: b, types: [x], allow: [1]}\n    - {id: c, types: [x], field: /f}\n    - {id: d, types: [x], when: [{state: s, field: f, allow: [1]}]}\nanswers:\n  - {id: e, endpoints: [client.nothing_such], status: 600, body: {}}\n",
    );
    let found: Vec<String> = problems(Profile::from_dir(&dir.join("p")))
        .iter()
        .map(ToString::to_string)
        .collect();
    for at in [
        "events.rules[0].when[0]",
        "events.rules[1]",
        "events.rules[2]",
        "events.rules[3].when[0]",
        "answers[0].endpoints[0]",
        "answers[0].status",
    ] {
        assert!(
            found.iter().any(|p| p.contains(at)),
            "{at} not in {found:?}"
        );
    }
}

#[test]
fn state_defaults_apply_the_first_entry_whose_conditions_hold_and_merge_only_when_told() {
    let profile = with_sections(
        "state-defaults",
        "rooms:\n  create:\n    state_defaults:\n      - {type: x.rule, when: [{request: /is_direct, allow: [true]}], content: {rule: direct}}\n      - {type: x.rule, content: {rule: plain, extra: 1}}\n      - {type: m.room.power_levels, merge: true, content: {invite: 50, events: {a: 1, b: 2}}}\n",
    );
    let created = |body: &str| {
        let decision = decide_case(
            &profile,
            &format!(
                "name: n\nrequest: {{method: POST, path: /_matrix/client/v3/createRoom, body: {body}}}\nexpect: {{verdict: allow, rule: r}}\n"
            ),
        );
        let forwarded: serde_json::Value =
            serde_json::from_slice(decision.amended_body.as_deref().expect("amended"))
                .expect("json");
        crate::created_room_state(&forwarded)
    };
    let direct = created("{is_direct: true}");
    assert_eq!(direct["x.rule"], serde_json::json!({"rule": "direct"}));
    assert_eq!(
        direct["m.room.power_levels"],
        serde_json::json!({"invite": 50, "events": {"a": 1, "b": 2}})
    );
    // The request's own state is kept as it is (no merge), its power
    // levels are completed key by key.
    let own = created(
        "{initial_state: [{type: x.rule, state_key: '', content: {rule: mine}}], power_level_content_override: {invite: 100, events: {a: 9}}}",
    );
    assert_eq!(own["x.rule"], serde_json::json!({"rule": "mine"}));
    assert_eq!(
        own["m.room.power_levels"],
        serde_json::json!({"invite": 100, "events": {"a": 9, "b": 2}})
    );
}

#[test]
fn facts_a_rule_reads_and_cannot_learn_refuse_by_their_own_rule() {
    let government = Profile::bundled("government").expect("government");
    let decide = |request: &str, context: &str| {
        decide_case(
            &government,
            &format!("name: n\nrequest: {request}\ncontext: {context}\nexpect: {{verdict: deny, rule: r}}\n"),
        )
        .rule
    };
    let name = "{method: PUT, path: \"/_matrix/client/v3/rooms/{room}/state/m.room.name/\", body: {name: n}}";
    assert_eq!(decide(name, "{}"), crate::rules::ROOM_STATE_UNAVAILABLE);
    let invite = "{method: POST, path: \"/_matrix/client/v3/rooms/{room}/invite\", body: {user_id: \"@m:localhost\"}}";
    let direct = "{room: {encrypted: true, state: {im.vector.room.access_rules: {rule: direct}}}}";
    assert_eq!(decide(invite, direct), crate::rules::MEMBERS_UNAVAILABLE);
    let join = "{method: POST, path: \"/_matrix/client/v3/join/{room}\", body: {}}";
    let external = "{user: \"@j:ext.example\", groups: {external: [\"@*:ext.example\"]}}";
    assert_eq!(decide(join, external), crate::rules::MEMBERSHIP_UNAVAILABLE);
    // A rule that cannot apply needs no fact: a restricted room's name.
    let restricted =
        "{room: {encrypted: true, state: {im.vector.room.access_rules: {rule: restricted}}}}";
    assert_eq!(decide(name, restricted), crate::rules::ENDPOINT_ALLOWED);
}

#[test]
fn an_answer_in_shadow_mode_is_recorded_and_forwarded() {
    let profile = with_sections(
        "answers-shadow",
        "answers:\n  - {id: p.none, endpoints: [client.search_users], requester: {groups: [ext]}, status: 200, body: {results: []}, shadow: true}\n",
    );
    let search = "name: n\nrequest: {method: POST, path: /_matrix/client/v3/user_directory/search, body: {search_term: a}}\ncontext: {user: \"@j:ext.example\"}\nexpect: {verdict: deny, rule: r}\n";
    let decision = decide_case(&profile, search);
    assert_eq!(
        (decision.verdict_str(), decision.rule.as_str()),
        ("shadow", "p.none")
    );
    let agent = decide_case(&profile, &search.replace("@j:ext.example", "@a:localhost"));
    assert_eq!(agent.verdict_str(), "allow");
}

#[test]
fn the_rule_index_gives_every_rule_for_a_type_in_order_and_only_those_that_could_apply() {
    let dir = scratch("rule-index");
    write(
        &dir,
        "profile.yaml",
        r#"id: rule-index
title: rule index
version: "1.0.0"
spec_version: v1.16
extends: healthcare-tim-pro
events:
  rules:
    - {id: x.a, types: [x.a, x.b], on: [send], field: /k, forbid: [no]}
    - {id: x.glob, types: ["x.*"], on: [send], field: /k, forbid: [no]}
    - {id: x.every, on: [send], field: /k, forbid: [no]}
    - {id: x.b, types: [x.b, x.b], on: [send], field: /k, forbid: [no]}
    - {id: x.c, types: [x.c, "y.*"], on: [send], field: /k, forbid: [no]}
"#,
    );
    let mut profiles: Vec<Profile> = Profile::bundled_ids()
        .into_iter()
        .map(|id| Profile::bundled(id).expect("bundled"))
        .collect();
    profiles.push(Profile::from_dir(&dir).expect("the profile loads"));
    let types = [
        "x.a",
        "x.b",
        "x.c",
        "x.d",
        "y.z",
        "m.room.message",
        "m.room.join_rules",
        "m.room.power_levels",
        "m.reaction",
        "de.gematik.tim.room.name",
        "",
        "x.",
    ];
    for profile in &profiles {
        for event_type in types {
            let indexed: Vec<usize> = profile
                .events
                .index
                .candidates(event_type)
                .filter(|&at| profile.events.rules[at].applies_to(event_type))
                .collect();
            let scanned: Vec<usize> = (0..profile.events.rules.len())
                .filter(|&at| profile.events.rules[at].applies_to(event_type))
                .collect();
            assert_eq!(indexed, scanned, "{} / {event_type:?}", profile.id);
        }
    }
    // The grown profile: an event of a type no rule names is looked at by
    // the rules for every type and those with patterns only.
    let grown = profiles.last().expect("grown");
    let looked_at = grown.events.index.candidates("x.unnamed").count();
    let named_elsewhere = grown
        .events
        .rules
        .iter()
        .filter(|rule| {
            rule.types
                .as_ref()
                .is_some_and(|types| types.iter().all(|t| t.literal().is_some()))
        })
        .count();
    assert_eq!(looked_at, grown.events.rules.len() - named_elsewhere);
}
