//! The pure core's cost per request: classify (ruma parse included) and
//! decide (canonical JSON, schemas, event and room rules), for a 1 KB
//! message event under each bundled profile, and a `/versions` call; and
//! how it grows with the profile: `healthcare-tim-pro` extended by 10, 100
//! and 1,000 event rules and as many content schemas (criterion group
//! `profile_size`), for a message no added rule names and for an event of
//! the type the last added rule and schema name.

#![allow(clippy::expect_used, reason = "benchmark setup")]
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method, Uri};
use sectorgate_action::{Catalog, Request, classify};
use sectorgate_policy::{Context, Decision, Peer, Profile, RoomFacts, decide};
use serde_json::json;

/// Each bundled profile classifies and decides a 1 KB message, plain and
/// encrypted, sent to a public room (the plain one is refused where every
/// room must be encrypted).
fn bench_message_events(c: &mut Criterion) {
    let headers = headers();
    let message = text_message();
    let encrypted = encrypted_message();
    let send = uri("/_matrix/client/v3/rooms/!bench:localhost/send/m.room.message/txn1");
    let send_encrypted =
        uri("/_matrix/client/v3/rooms/!bench:localhost/send/m.room.encrypted/txn1");
    let room = public_room();
    let context = context(&room);
    for id in Profile::bundled_ids() {
        let profile = Profile::bundled(id).expect("profile");
        for (label, uri, body) in [
            ("m.room.message 1 KB", &send, &message),
            ("m.room.encrypted 1 KB", &send_encrypted, &encrypted),
        ] {
            let request = put(uri, &headers, body);
            let once = || classify_and_decide(&request, &profile, &context);
            // A profile that encrypts every room refuses the plaintext
            // message: that decision is measured too, and named so.
            let expected = once();
            let refused = if expected.is_allowed() {
                ""
            } else {
                " (refused)"
            };
            c.bench_function(&format!("classify+decide {label} / {id}{refused}"), |b| {
                b.iter(|| {
                    let decision = once();
                    assert_eq!(decision, expected, "{id}");
                    black_box(decision)
                })
            });
        }
    }
}

/// TI-M Pro classifies and decides a `GET /versions`.
fn bench_versions(c: &mut Criterion) {
    let headers = headers();
    let versions = uri("/_matrix/client/versions");
    let room = public_room();
    let context = context(&room);
    let profile = Profile::bundled("healthcare-tim-pro").expect("profile");
    c.bench_function("classify+decide GET /versions / healthcare-tim-pro", |b| {
        b.iter(|| {
            let request = Request {
                method: &Method::GET,
                uri: &versions,
                headers: &headers,
                body: &[],
            };
            black_box(classify_and_decide(&request, &profile, &context))
        })
    });
}

/// Rules and schemas a profile of each measured size adds.
const ADDED: [usize; 3] = [10, 100, 1000];

/// Classify and decide under `healthcare-tim-pro` extended by `n` event
/// rules and `n` content schemas, each for an event type of its own.
fn bench_profile_size(c: &mut Criterion) {
    let headers = headers();
    let message = text_message();
    let send = uri("/_matrix/client/v3/rooms/!bench:localhost/send/m.room.message/txn1");
    let room = public_room();
    let context = context(&room);
    let folder =
        std::env::temp_dir().join(format!("sectorgate-bench-profiles-{}", std::process::id()));
    let mut group = c.benchmark_group("profile_size");
    for n in ADDED {
        let profile =
            Profile::from_dir(&grown_profile(&folder, n)).expect("the grown profile loads");
        let last: Uri = format!(
            "/_matrix/client/v3/rooms/!bench:localhost/send/x.bench.t{}/txn1",
            n - 1
        )
        .parse()
        .expect("uri");
        let content = json!({"k": "fine", "pad": "x".repeat(900)}).to_string();
        for (label, uri, body) in [
            ("m.room.message 1 KB", &send, &message),
            ("the last rule's type 1 KB", &last, &content),
        ] {
            let request = put(uri, &headers, body);
            let once = || classify_and_decide(&request, &profile, &context);
            assert!(once().is_allowed(), "{label} under {n} added rules");
            group.bench_function(BenchmarkId::new(label, n), |b| b.iter(|| black_box(once())));
        }
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&folder);
}

/// Writes a profile folder extending `healthcare-tim-pro` with `n` event
/// rules and `n` content schemas (event types `x.bench.t0` …).
fn grown_profile(folder: &std::path::Path, n: usize) -> std::path::PathBuf {
    let dir = folder.join(format!("grown-{n}"));
    std::fs::create_dir_all(dir.join("schemas")).expect("profile folder");
    let mut yaml = format!(
        "id: bench-grown-{n}\ntitle: grown\nversion: \"1.0.0\"\nspec_version: v1.16\nextends: healthcare-tim-pro\nevents:\n  schemas:\n"
    );
    for i in 0..n {
        yaml.push_str(&format!("    x.bench.t{i}: schemas/t{i}.json\n"));
        let schema = json!({
            "type": "object",
            "required": ["k"],
            "properties": {"k": {"type": "string", "maxLength": 64}},
        });
        std::fs::write(dir.join(format!("schemas/t{i}.json")), schema.to_string()).expect("schema");
    }
    yaml.push_str("  rules:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "    - id: bench.r{i}\n      types: [x.bench.t{i}]\n      on: [send]\n      field: /k\n      forbid: [refused]\n"
        ));
    }
    std::fs::write(dir.join("profile.yaml"), yaml).expect("profile.yaml");
    dir
}

/// A `PUT` of `body` to `uri`.
fn put<'a>(uri: &'a Uri, headers: &'a HeaderMap, body: &'a str) -> Request<'a> {
    Request {
        method: &Method::PUT,
        uri,
        headers,
        body: body.as_bytes(),
    }
}

/// What the pure core does with a request: classify it, then decide.
fn classify_and_decide(
    request: &Request<'_>,
    profile: &Profile,
    context: &Context<'_>,
) -> Decision {
    let classified = classify(Catalog::global(), black_box(request), 64).expect("classify");
    decide(&classified, profile, context)
}

/// A client's headers: its token and a JSON body.
fn headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_static("Bearer benchtoken"),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers
}

/// A 1 KB text message with formatting, as clients send them.
fn text_message() -> String {
    let text = "x".repeat(450);
    let message = json!({
        "msgtype": "m.text",
        "body": text,
        "format": "org.matrix.custom.html",
        "formatted_body": format!("<p>{text}</p>"),
        "m.mentions": {},
    })
    .to_string();
    assert!((1000..1100).contains(&message.len()), "{}", message.len());
    message
}

/// A 1 KB Megolm-encrypted message.
fn encrypted_message() -> String {
    json!({
        "algorithm": "m.megolm.v1.aes-sha2",
        "ciphertext": "A".repeat(880),
        "sender_key": "k",
        "device_id": "DEVICE",
        "session_id": "s".repeat(43),
    })
    .to_string()
}

/// `path` as a request URI.
fn uri(path: &'static str) -> Uri {
    path.parse().expect("uri")
}

/// A public, unencrypted room: the plaintext message passes everywhere.
fn public_room() -> RoomFacts {
    RoomFacts {
        state: BTreeMap::from([(
            "m.room.join_rules".to_owned(),
            json!({"join_rule": "public"}),
        )]),
        ..RoomFacts::default()
    }
}

/// A request from localhost about `room`, at a fixed time.
fn context(room: &RoomFacts) -> Context<'_> {
    Context {
        peer: Peer {
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        },
        now_ms: 1_767_225_600_000,
        user: None,
        token: false,
        room: Some(room),
        event: None,
        invitees: None,
        shares_room: None,
        membership: None,
        appservice: None,
        federation: None,
    }
}

criterion_group!(
    benches,
    bench_message_events,
    bench_versions,
    bench_profile_size
);
criterion_main!(benches);
