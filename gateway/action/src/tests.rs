//! Unit tests for the catalog and classification.

#![allow(clippy::too_many_lines, reason = "a scenario reads as one story")]

use http::{HeaderMap, Method, Uri};

use crate::{Action, Api, Catalog, Classified, ClassifyError, Endpoint, classify};

const DEPTH: usize = 32;

fn run(method: Method, uri: &str, body: &str) -> Result<Classified, ClassifyError> {
    let uri: Uri = uri
        .parse()
        .map_err(|_| ClassifyError::InvalidParam(uri.to_owned()))?;
    let headers = HeaderMap::new();
    let request = crate::Request {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: body.as_bytes(),
    };
    classify(Catalog::global(), &request, DEPTH)
}

fn action(method: Method, uri: &str, body: &str) -> Action {
    match run(method, uri, body) {
        Ok(classified) => classified.action,
        Err(error) => Action::Unrecognized {
            method: Method::TRACE,
            path: format!("unexpected error: {error}"),
        },
    }
}

#[test]
fn the_catalog_builds_without_conflicts() {
    let catalog = Catalog::global();
    assert!(catalog.conflicts().is_empty(), "{:?}", catalog.conflicts());
    assert!(catalog.endpoints().count() > 200);
    assert!(catalog.contains(&Endpoint::client("get_media_preview")));
    assert!(catalog.contains(&Endpoint::federation("send_transaction_message")));
}

#[test]
fn a_message_send_is_typed_and_keeps_its_content() {
    let uri = "/_matrix/client/v3/rooms/!room:example.org/send/m.room.message/txn1";
    let body = r#"{"msgtype":"m.text","body":"hello"}"#;
    match action(Method::PUT, uri, body) {
        Action::SendMessageEvent {
            room_id,
            event_type,
            txn_id,
            content,
        } => {
            assert_eq!(room_id.as_str(), "!room:example.org");
            assert_eq!(event_type, "m.room.message");
            assert_eq!(txn_id.as_str(), "txn1");
            assert_eq!(content.get(), body);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_redaction_keeps_its_transaction_id_and_reason() {
    let uri = "/_matrix/client/v3/rooms/!r:x.org/redact/%24e:x.org/t1";
    match action(Method::PUT, uri, r#"{"reason":"typo"}"#) {
        Action::Redact {
            event_id,
            txn_id,
            reason,
            ..
        } => {
            assert_eq!(event_id.as_str(), "$e:x.org");
            assert_eq!(txn_id.as_str(), "t1");
            assert_eq!(reason.as_deref(), Some("typo"));
        }
        other => panic!("unexpected {other:?}"),
    }
    match action(Method::PUT, uri, "{}") {
        Action::Redact { reason, .. } => assert_eq!(reason, None),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn room_version_12_ids_without_a_server_part_classify() {
    let uri = "/_matrix/client/v3/rooms/%2131hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM/send/m.room.message/t";
    match action(Method::PUT, uri, r#"{"body":"x","msgtype":"m.text"}"#) {
        Action::SendMessageEvent { room_id, .. } => {
            assert!(!room_id.as_str().contains(':'));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn an_empty_state_key_is_a_trailing_slash() {
    let uri = "/_matrix/client/v3/rooms/!r:example.org/state/m.room.name/";
    match action(Method::PUT, uri, r#"{"name":"n"}"#) {
        Action::SendStateEvent { state_key, .. } => assert_eq!(state_key, ""),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn the_endpoints_policy_inspects_are_typed() {
    let cases: &[(Method, &str, &str, &str)] = &[
        (
            Method::POST,
            "/_matrix/client/v3/createRoom",
            r#"{"preset":"private_chat","invite":["@b:x.org"]}"#,
            "create_room",
        ),
        (
            Method::POST,
            "/_matrix/client/v3/rooms/!r:x.org/invite",
            r#"{"user_id":"@b:x.org"}"#,
            "invite_user",
        ),
        (
            Method::POST,
            "/_matrix/client/v3/join/%23alias:x.org",
            "{}",
            "join_room",
        ),
        (
            Method::POST,
            "/_matrix/client/v3/rooms/!r:x.org/join",
            "",
            "join_room",
        ),
        (
            Method::POST,
            "/_matrix/client/v3/knock/!r:x.org",
            "{}",
            "knock_room",
        ),
        (
            Method::POST,
            "/_matrix/client/v3/rooms/!r:x.org/leave",
            "{}",
            "leave_room",
        ),
        (
            Method::PUT,
            "/_matrix/client/v3/rooms/!r:x.org/redact/$e/t1",
            "{}",
            "redact_event",
        ),
        (
            Method::POST,
            "/_matrix/client/v3/rooms/!r:x.org/upgrade",
            r#"{"new_version":"11"}"#,
            "upgrade_room",
        ),
        (
            Method::PUT,
            "/_matrix/client/v3/user/@a:x.org/account_data/m.direct",
            "{}",
            "set_account_data",
        ),
        (
            Method::POST,
            "/_matrix/media/v3/upload?filename=a.png",
            "",
            "create_content",
        ),
        (
            Method::GET,
            "/_matrix/client/v1/media/download/x.org/abc",
            "",
            "get_content",
        ),
        (
            Method::GET,
            "/_matrix/media/v3/download/x.org/abc",
            "",
            "get_content",
        ),
        (
            Method::GET,
            "/_matrix/client/v1/media/thumbnail/x.org/abc?width=32&height=32",
            "",
            "get_content_thumbnail",
        ),
        (
            Method::GET,
            "/_matrix/client/versions",
            "",
            "get_supported_versions",
        ),
        (
            Method::GET,
            "/_matrix/client/v1/media/preview_url?url=https%3A%2F%2Fexample.org",
            "",
            "get_media_preview",
        ),
        (
            Method::PUT,
            "/_matrix/federation/v1/send/t1",
            r#"{"origin":"x.org","origin_server_ts":1,"pdus":[]}"#,
            "send_transaction_message",
        ),
        (
            Method::GET,
            "/_matrix/federation/v1/make_join/!r:x.org/@a:y.org?ver=11",
            "",
            "prepare_join_event",
        ),
        (
            Method::GET,
            "/_matrix/federation/v1/make_leave/!r:x.org/@a:y.org",
            "",
            "prepare_leave_event",
        ),
        (
            Method::GET,
            "/_matrix/federation/v1/backfill/!r:x.org?v=$e&limit=10",
            "",
            "get_backfill",
        ),
        (
            Method::GET,
            "/_matrix/federation/v1/state/!r:x.org?event_id=$e",
            "",
            "get_room_state",
        ),
        (
            Method::GET,
            "/_matrix/federation/v1/state_ids/!r:x.org?event_id=$e",
            "",
            "get_room_state",
        ),
        (
            Method::GET,
            "/_matrix/federation/v1/event/$e",
            "",
            "get_event",
        ),
        (
            Method::GET,
            "/_matrix/federation/v1/query/profile?user_id=@a:x.org",
            "",
            "get_profile_information",
        ),
        (
            Method::GET,
            "/_matrix/client/v3/profile/@a:x.org/displayname",
            "",
            "get_profile",
        ),
        (
            Method::POST,
            "/_matrix/client/v3/user_directory/search",
            r#"{"search_term":"a","limit":5}"#,
            "search_users",
        ),
        (
            Method::GET,
            "/_matrix/federation/v1/query/directory?room_alias=%23a:x.org",
            "",
            "get_room_information",
        ),
        (
            Method::POST,
            "/_matrix/client/v3/keys/query",
            r#"{"device_keys":{"@a:x.org":[]}}"#,
            "user_keys",
        ),
        (
            Method::GET,
            "/_matrix/federation/v1/user/devices/@a:x.org",
            "",
            "get_devices",
        ),
        (Method::GET, "/_matrix/key/v2/server", "", "server_keys"),
        (
            Method::GET,
            "/_matrix/client/v3/publicRooms",
            "",
            "public_rooms",
        ),
        (
            Method::GET,
            "/_matrix/client/v1/rooms/!r:x.org/hierarchy",
            "",
            "get_hierarchy",
        ),
        (
            Method::GET,
            "/_matrix/federation/v1/hierarchy/!r:x.org",
            "",
            "get_hierarchy",
        ),
        (
            Method::GET,
            "/_matrix/client/v3/sync?timeout=30000",
            "",
            "other",
        ),
    ];
    for (method, uri, body, kind) in cases {
        let got = action(method.clone(), uri, body);
        assert_eq!(got.kind(), *kind, "{method} {uri}: {got:?}");
    }
}

#[test]
fn a_federation_transaction_keeps_pdus_byte_for_byte() {
    let pdu = r#"{"type":"m.room.message","content":{"body":"ü"},"room_id":"!r"}"#;
    let body = format!(
        r#"{{"origin":"x.org","origin_server_ts":1,"pdus":[{pdu}],"edus":[{{"edu_type":"m.typing","content":{{}}}}]}}"#
    );
    match action(Method::PUT, "/_matrix/federation/v1/send/t1", &body) {
        Action::SendTransaction(txn) => {
            assert_eq!(txn.origin.as_str(), "x.org");
            assert_eq!(txn.pdus.len(), 1);
            assert_eq!(txn.pdus[0].get(), pdu);
            assert_eq!(txn.edus.len(), 1);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn unknown_paths_are_unrecognized_and_wrong_methods_are_refused() {
    let classified = run(Method::GET, "/_matrix/client/v3/nonsense", "");
    assert!(matches!(
        classified,
        Ok(Classified {
            endpoint: None,
            action: Action::Unrecognized { .. }
        })
    ));
    let wrong = run(Method::DELETE, "/_matrix/client/versions", "");
    assert!(matches!(wrong, Err(ClassifyError::MethodNotAllowed { .. })));
    let head = run(Method::HEAD, "/_matrix/client/versions", "");
    assert!(matches!(
        head,
        Ok(Classified {
            action: Action::GetVersions,
            ..
        })
    ));
    let preflight = run(Method::OPTIONS, "/_matrix/client/versions", "");
    assert!(matches!(
        preflight,
        Ok(Classified {
            action: Action::Preflight,
            ..
        })
    ));
}

#[test]
fn bad_bodies_are_told_apart() {
    let uri = "/_matrix/client/v3/rooms/!r:x.org/send/m.room.message/t";
    assert!(matches!(
        run(Method::PUT, uri, "not json"),
        Err(ClassifyError::NotJson(_))
    ));
    assert!(matches!(
        run(Method::PUT, uri, "[1,2]"),
        Err(ClassifyError::BadJson(_))
    ));
    let deep = format!("{}{}", "[".repeat(DEPTH + 1), "]".repeat(DEPTH + 1));
    assert!(matches!(
        run(Method::PUT, uri, &deep),
        Err(ClassifyError::TooDeep { .. })
    ));
    let create = "/_matrix/client/v3/createRoom";
    assert!(matches!(
        run(Method::POST, create, r#"{"invite":"nope"}"#),
        Err(ClassifyError::BadJson(_))
    ));
    let bad_id = "/_matrix/client/v3/rooms/notaroom/send/m.room.message/t";
    assert!(matches!(
        run(Method::PUT, bad_id, "{}"),
        Err(ClassifyError::InvalidParam(_))
    ));
}

#[test]
fn nesting_depth_is_the_byte_by_byte_scan_on_every_input() {
    // The scan as first written, one byte at a time: the reference.
    fn reference(body: &[u8]) -> usize {
        let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
        for &byte in body {
            if in_string {
                match (escaped, byte) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth += 1;
                    max = max.max(depth);
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        max
    }
    // Every string of up to 7 bytes over the characters that matter, and
    // long ones with escapes at every position near a quote.
    let alphabet = [b'{', b'[', b'}', b']', b'"', b'\\', b'a'];
    let mut bodies: Vec<Vec<u8>> = vec![Vec::new()];
    for _ in 0..7 {
        let longer: Vec<Vec<u8>> = bodies
            .iter()
            .filter(|body| body.len() == bodies.last().map_or(0, Vec::len))
            .flat_map(|body| {
                alphabet.iter().map(move |&byte| {
                    let mut next = body.clone();
                    next.push(byte);
                    next
                })
            })
            .collect();
        bodies.extend(longer);
    }
    for cut in 0..40 {
        let mut long = br#"{"a":[{"b":""#.to_vec();
        long.extend(std::iter::repeat_n(b'x', 100));
        long.extend_from_slice(br#"\"\\[{"#);
        long.extend(std::iter::repeat_n(b'y', 100));
        long.extend_from_slice(br#""}],"c":[[1]]}"#);
        long.truncate(long.len() - cut);
        bodies.push(long);
    }
    for body in &bodies {
        assert_eq!(
            crate::json::nesting_depth(body),
            reference(body),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn nesting_depth_ignores_brackets_inside_strings() {
    assert_eq!(crate::json::nesting_depth(br#"{"a":"[[[[\"{{"}"#), 1);
    assert_eq!(crate::json::nesting_depth(b"[[[]]]"), 3);
    assert_eq!(crate::json::nesting_depth(b""), 0);
}

#[test]
fn endpoint_names_read_as_api_dot_name() {
    assert_eq!(
        Endpoint::client("sync_events").to_string(),
        "client.sync_events"
    );
    assert_eq!(
        Endpoint {
            api: Api::Federation,
            name: "get_event"
        }
        .to_string(),
        "federation.get_event"
    );
}

/// A small deterministic generator for the no-panic sweep below.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

#[test]
fn no_input_makes_classification_panic() {
    let prefixes = [
        "/_matrix/client/v3/rooms/",
        "/_matrix/client/v3/",
        "/_matrix/federation/v1/",
        "/_matrix/federation/v2/",
        "/_matrix/media/v3/",
        "/_matrix/client/v1/media/",
        "/_matrix/key/v2/",
        "/.well-known/matrix/",
        "/",
    ];
    let segments = [
        "!r:x.org",
        "!r",
        "%21r%3Ax.org",
        "@a:x.org",
        "$e",
        "send",
        "state",
        "m.room.message",
        "txn",
        "",
        "%",
        "%ZZ",
        "%FF%FE",
        "..",
        "{}",
        "ü",
        "join",
        "invite",
        "send_join",
        "make_join",
        "download",
        "x.org",
        "media",
        "upload",
        "createRoom",
        "versions",
        "preview_url",
        "keys",
        "query",
        "claim",
        "user",
        "devices",
        "server",
        "backfill",
        "#a:x.org",
        "redact",
        "account_data",
        "hierarchy",
        "publicRooms",
        "sync",
    ];
    let queries = [
        "",
        "?",
        "?url=",
        "?limit=-1",
        "?v=$e&limit=x",
        "?ver=11&ver=",
        "?%zz=1",
        "?timeout=99999999999999999999",
    ];
    let bodies = [
        "",
        "{}",
        "[]",
        "null",
        "{",
        "\"",
        "{\"a\":",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        "\u{0}",
        "{\"origin\":1,\"pdus\":{}}",
        "{\"invite\":[1]}",
        "{\"user_id\":\"nope\"}",
        "{\"new_version\":\"\"}",
        "{\"device_keys\":{\"bad\":[]}}",
        "{\"pdus\":[1,2,{}],\"origin\":\"x.org\",\"origin_server_ts\":1}",
    ];
    let methods = [
        Method::GET,
        Method::PUT,
        Method::POST,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ];
    let mut rng = XorShift(0x0005_EC70_6A7E);
    for _ in 0..20_000 {
        let mut path = rng.pick(&prefixes).to_owned();
        for _ in 0..(rng.next() % 5) {
            path.push_str(rng.pick(&segments));
            path.push('/');
        }
        if rng.next().is_multiple_of(2) {
            path.pop();
        }
        path.push_str(rng.pick(&queries));
        let method = methods[(rng.next() % methods.len() as u64) as usize].clone();
        let body = rng.pick(&bodies);
        // Paths that are not valid URIs never reach classification.
        let _ = run(method, &path, body);
    }
}

#[test]
fn well_known_discovery_is_recognised() {
    for path in [
        "/.well-known/matrix/client",
        "/.well-known/matrix/server",
        "/.well-known/matrix/support",
    ] {
        let classified = run(Method::GET, path, "").expect(path);
        assert!(classified.endpoint.is_some(), "{path} not recognised");
    }
}

#[test]
fn a_state_path_without_the_trailing_slash_has_the_empty_state_key() {
    for (method, body) in [(Method::PUT, r#"{"topic":"t"}"#), (Method::GET, "")] {
        let classified = run(
            method.clone(),
            "/_matrix/client/v3/rooms/!room:example.org/state/m.room.topic",
            body,
        )
        .expect("classified");
        let expected = if method == Method::PUT {
            "send_state_event"
        } else {
            "get_state_event_for_key"
        };
        assert_eq!(classified.endpoint.map(|e| e.name), Some(expected));
        if let Action::SendStateEvent { state_key, .. } = classified.action {
            assert_eq!(state_key, "");
        }
    }
}

#[test]
fn a_delayed_event_is_checked_as_the_event_it_will_be() {
    let uri = "/_matrix/client/unstable/org.matrix.msc4140/rooms/!room:example.org/delayed_event/m.room.message/t1";
    let body = r#"{"delay":1000,"content":{"msgtype":"m.text","body":"later"}}"#;
    let classified = run(Method::PUT, uri, body).expect("classified");
    assert_eq!(
        classified.endpoint,
        Some(Endpoint::client("send_delayed_event"))
    );
    match classified.action {
        Action::SendMessageEvent { content, .. } => {
            assert_eq!(content.get(), r#"{"msgtype":"m.text","body":"later"}"#);
        }
        other => panic!("unexpected {other:?}"),
    }
    let listed = run(
        Method::GET,
        "/_matrix/client/unstable/org.matrix.msc4140/delayed_events",
        "",
    )
    .expect("classified");
    assert_eq!(
        listed.endpoint,
        Some(Endpoint::client("get_all_delayed_events"))
    );
}

#[test]
fn deprecated_endpoints_homeservers_still_serve_are_named() {
    let initial =
        run(Method::GET, "/_matrix/client/v3/initialSync?limit=1", "").expect("initialSync");
    assert_eq!(initial.endpoint, Some(Endpoint::client("initial_sync")));
    let stream = run(
        Method::GET,
        "/_matrix/client/v3/events?from=s1&timeout=0",
        "",
    )
    .expect("/events");
    assert_eq!(
        stream.endpoint,
        Some(Endpoint::client("listen_to_new_events"))
    );
    assert!(matches!(stream.action, Action::Other));
    let bad = run(
        Method::GET,
        "/_matrix/client/v3/events?room_id=not-a-room",
        "",
    );
    assert!(
        matches!(bad, Err(ClassifyError::InvalidParam(_))),
        "{bad:?}"
    );
}

#[test]
fn x_matrix_authorization_is_read_strictly() {
    use http::HeaderValue;
    let good =
        r#"X-Matrix origin="remote.example",destination="localhost",key="ed25519:k1",sig="ABCD""#;
    let headers = |values: &[&str]| {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(
                http::header::AUTHORIZATION,
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    };
    let parsed = crate::x_matrix(&headers(&[good])).expect("well formed");
    assert_eq!(
        parsed.map(|x| x.origin.to_string()).as_deref(),
        Some("remote.example")
    );
    assert!(matches!(crate::x_matrix(&headers(&[])), Ok(None)));
    assert!(matches!(crate::x_matrix(&headers(&["Bearer t"])), Ok(None)));
    for bad in [
        &[good, good][..],
        &["Bearer t", good][..],
        &[r#"X-Matrix origin="remote.example,key="ed25519:k1",sig="ABCD""#][..],
        &[r#"X-Matrix origin="a.example",origin="b.example",key="ed25519:k1",sig="ABCD""#][..],
        &[r#"X-Matrix origin="remote.example",key="ed25519:k1""#][..],
        &[r#"X-Matrix origin="not a server",key="ed25519:k1",sig="ABCD""#][..],
    ] {
        assert!(
            crate::x_matrix(&headers(bad)).is_err(),
            "{bad:?} was accepted"
        );
    }
}

#[test]
fn an_encoded_slash_inside_a_parameter_is_part_of_its_value() {
    let uri = "/_matrix/client/v3/rooms/!room:example.org/state/m.room.x/a%2Fb";
    match action(Method::PUT, uri, "{}") {
        Action::SendStateEvent { state_key, .. } => assert_eq!(state_key, "a/b"),
        other => panic!("unexpected {other:?}"),
    }
    let backup = "/_matrix/client/v3/room_keys/keys/!room:example.org/ab%2Fcd%2Bef?version=1";
    let classified = run(
        Method::PUT,
        backup,
        r#"{"first_message_index":0,"forwarded_count":0,"is_verified":false,"session_data":{}}"#,
    )
    .expect("a session id with a slash");
    assert_eq!(
        classified.endpoint,
        Some(Endpoint::client("add_backup_keys_for_session"))
    );
}

#[test]
fn messages_without_dir_are_read_as_the_older_versions_said() {
    let room = "/_matrix/client/v3/rooms/!room:example.org/messages";
    for query in ["", "?from=t1&limit=10", "?dir=b", "?limit=1&dir=f"] {
        let classified = run(Method::GET, &format!("{room}{query}"), "").expect(query);
        assert_eq!(
            classified.endpoint,
            Some(Endpoint::client("get_message_events")),
            "{query}"
        );
    }
    assert!(matches!(
        run(Method::GET, &format!("{room}?dir=sideways"), ""),
        Err(ClassifyError::InvalidParam(_))
    ));
}
