//! The edge against hostile input: the cases in `tests/hostile/cases.yaml`,
//! sent as raw bytes, first in front of a recording stand-in (where every
//! forwarded request is compared with what was audited), then in front of
//! a real Synapse (whose access log shows what arrived, and from whom).
//! Also HTTP/2 from the client, forwarded as HTTP/1.1.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    reason = "test steps: a failed step fails the test; a scenario reads as one story"
)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use sectorgate_action::Catalog;
use sectorgate_audit::Entry;
use serde::Deserialize;
use serde_json::{Value, json};
use support::raw::{self, Answer, CLIENT_ADDR};
use support::upstream::{self, Received};
use support::{
    Gateway, GatewayOptions, Synapse, SynapseOptions, encode, marker, register, wait_for,
};

/// One hostile-input case (see the file for the fields).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    send: String,
    answers: Vec<u16>,
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    forwarded: usize,
    #[serde(default)]
    synapse: Option<String>,
}

fn cases() -> Vec<Case> {
    let path = support::repo().join("gateway/server/tests/hostile/cases.yaml");
    let text = std::fs::read_to_string(&path).expect("cases file");
    serde_yaml_ng::from_str(&text).expect("cases parse")
}

/// What a case's placeholders stand for in one run.
struct Fill<'a> {
    host: &'a str,
    token: &'a str,
    room: &'a str,
}

/// The case's bytes, its placeholders filled, and its two markers.
fn bytes(case: &Case, fill: &Fill<'_>) -> (Vec<u8>, String, String) {
    let (forwarded, refused) = (marker("fwd"), marker("refused"));
    let mut text = case
        .send
        .replace("{host}", fill.host)
        .replace("{token}", fill.token)
        .replace("{room}", fill.room)
        .replace("{marker}", &forwarded)
        .replace("{refused}", &refused);
    while let Some(start) = text.find("{fill:") {
        let end = start + text[start..].find('}').expect("closed {fill:N}");
        let count: usize = text[start + 6..end].parse().expect("{fill:N}");
        text.replace_range(start..=end, &"a".repeat(count));
    }
    let mut bytes = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("{hex:") {
        bytes.extend_from_slice(&rest.as_bytes()[..start]);
        let end = start + rest[start..].find('}').expect("closed {hex:…}");
        bytes.extend(hex::decode(&rest[start + 5..end]).expect("{hex:…}"));
        rest = &rest[end + 1..];
    }
    bytes.extend_from_slice(rest.as_bytes());
    if let Some(at) = find(&bytes, b"{cl}") {
        let head_end = find(&bytes, b"\r\n\r\n").expect("a head") + 4;
        let body_len = bytes.len() - head_end;
        // The placeholder is in the head: the body's length does not change.
        bytes.splice(at..at + 4, body_len.to_string().into_bytes());
    }
    (bytes, forwarded, refused)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// How many refusals by `rule` the audit log holds.
fn refusals(entries: &[Entry], rule: &str) -> usize {
    entries
        .iter()
        .filter(
            |entry| matches!(entry, Entry::Decision(d) if d.rule == rule && d.verdict == "deny"),
        )
        .count()
}

/// The status recorded in the outcome of request `request_id`.
fn outcome_of(entries: &[Entry], request_id: &str) -> Option<u16> {
    let decision = entries.iter().find_map(|entry| match entry {
        Entry::Decision(d) if d.request_id == request_id => Some(d.id.as_str()),
        _ => None,
    })?;
    entries.iter().find_map(|entry| match entry {
        Entry::Outcome(o) if o.decision == decision => Some(o.status),
        _ => None,
    })
}

/// Sends one case and checks what the client got back and what the audit
/// log says. Returns the answers and the case's markers.
fn run_case(gateway: &Gateway, case: &Case, fill: &Fill<'_>) -> (Vec<Answer>, String, String) {
    let name = &case.name;
    let before = case
        .rule
        .as_ref()
        .map(|rule| refusals(&gateway.audit_entries(), rule));
    let (bytes, forwarded, refused) = bytes(case, fill);
    let answers = raw::exchange(fill.host, &bytes);
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, case.answers, "{name}: statuses");
    assert!(
        statuses.iter().all(|status| *status < 500),
        "{name}: a 5xx answer"
    );
    if let (Some(rule), Some(before)) = (&case.rule, before) {
        let last = answers.last().expect("an answer");
        if let Some(error) = last.json() {
            assert_eq!(
                error["org.sectorgate.rule"],
                rule.as_str(),
                "{name}: {error}"
            );
            assert!(error["errcode"].is_string(), "{name}: a Matrix error");
            assert!(last.header("x-request-id").is_some(), "{name}: request id");
        }
        let audited = wait_for(Duration::from_secs(10), || {
            let entries = gateway.audit_entries();
            let refused = refusals(&entries, rule) > before;
            // A body that breaks once forwarding began: an allowed decision
            // whose outcome is the client's error.
            let failed = last
                .header("x-request-id")
                .is_some_and(|id| outcome_of(&entries, id) == Some(last.status));
            (refused || failed).then_some(())
        });
        assert!(
            audited.is_some(),
            "{name}: the refusal by {rule} is not audited"
        );
    }
    // The gateway still serves a normal request.
    let normal = raw::exchange(
        fill.host,
        format!(
            "GET /_matrix/client/versions HTTP/1.1\r\nHost: {}\r\n\r\n",
            fill.host
        )
        .as_bytes(),
    );
    assert_eq!(
        normal.first().map(|a| a.status),
        Some(200),
        "{name}: no normal answer after the case"
    );
    (answers, forwarded, refused)
}

/// Every request the stand-in received (bar the gateway's own whoami
/// lookups) against its audit record: allowed, on the endpoint the request
/// that arrived names, with the body the gateway counted, from the client's
/// address, and without hop-by-hop headers.
fn check_forwarded(name: &str, received: &[Received], entries: &[Entry]) {
    for request in received {
        let request_id = request.header("x-request-id");
        let [request_id] = request_id.as_slice() else {
            panic!("{name}: forwarded without one request id: {request:?}");
        };
        let decision = entries
            .iter()
            .find_map(|entry| match entry {
                Entry::Decision(d) if d.request_id == *request_id => Some(d),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{name}: forwarded {request_id} is not audited"));
        assert_eq!(decision.verdict, "allow", "{name}");
        let method: http::Method = request.method.parse().expect("method");
        let path = request.target.split('?').next().unwrap_or_default();
        let endpoint = Catalog::global()
            .lookup(&method, path)
            .endpoint()
            .map(|endpoint| endpoint.to_string());
        assert_eq!(
            endpoint, decision.endpoint,
            "{name}: the homeserver got another endpoint than was decided on"
        );
        let outcome = entries.iter().find_map(|entry| match entry {
            Entry::Outcome(o) if o.decision == decision.id => Some(o),
            _ => None,
        });
        if let Some(outcome) = outcome {
            assert_eq!(
                outcome.bytes_in,
                request.body.len() as u64,
                "{name}: the body forwarded is not the body counted"
            );
        }
        assert_eq!(
            request.header("x-forwarded-for"),
            vec![CLIENT_ADDR],
            "{name}: forwarding headers"
        );
        assert_eq!(request.header("x-forwarded-proto"), vec!["http"], "{name}");
        for hop in [
            "connection",
            "keep-alive",
            "te",
            "upgrade",
            "proxy-authorization",
            "http2-settings",
            "x-private",
            "x-real-ip",
            "forwarded",
        ] {
            assert!(
                request.header(hop).is_empty(),
                "{name}: {hop} reached the homeserver"
            );
        }
        assert_eq!(request.version, "HTTP/1.1", "{name}");
    }
}

#[test]
fn hostile_input_against_a_recording_homeserver() {
    let upstream = upstream::start_recording();
    let gateway = Gateway::start(GatewayOptions::for_stand_in(&upstream.url, "base"));
    let host = gateway.url.trim_start_matches("http://");
    let fill = Fill {
        host,
        token: "stand-in-user-token",
        room: &encode("!room:hs.test"),
    };
    let mut seen = 0;
    for case in cases() {
        let (_, forwarded, refused) = run_case(&gateway, &case, &fill);
        // The gateway's own lookups (whoami) carry no marker; requests do.
        let received: Vec<Received> = upstream
            .received()
            .into_iter()
            .skip(seen)
            .filter(|r| !r.target.ends_with("/account/whoami"))
            .filter(|r| r.target != "/_matrix/client/versions")
            .collect();
        seen = upstream.received().len();
        assert_eq!(
            received.len(),
            case.forwarded,
            "{}: forwarded {received:?}",
            case.name
        );
        for request in &received {
            assert!(
                request.target.contains(&forwarded),
                "{}: not the case's request: {request:?}",
                case.name
            );
            assert!(!request.target.contains(&refused), "{}", case.name);
        }
        check_forwarded(&case.name, &received, &gateway.audit_entries());
    }
}

#[test]
fn hostile_input_against_synapse() {
    let synapse = Synapse::start(SynapseOptions::default());
    let gateway = Gateway::start(GatewayOptions::for_synapse(&synapse, "base"));
    let host = gateway.url.trim_start_matches("http://");
    let user = register(&gateway.url, &marker("edge"));
    let room = support::http()
        .post(format!("{}/_matrix/client/v3/createRoom", gateway.url))
        .bearer_auth(&user.token)
        .json(&json!({}))
        .send()
        .expect("createRoom")
        .json::<Value>()
        .expect("createRoom JSON")["room_id"]
        .as_str()
        .expect("room_id")
        .to_owned();
    let fill = Fill {
        host,
        token: &user.token,
        room: &encode(&room),
    };
    let mut expected: BTreeMap<String, (bool, String)> = BTreeMap::new();
    for case in cases() {
        if case.synapse.is_some() {
            continue;
        }
        let (_, forwarded, refused) = run_case(&gateway, &case, &fill);
        expected.insert(forwarded, (case.forwarded > 0, case.name.clone()));
        expected.insert(refused, (false, case.name));
    }
    // A last request, then Synapse's access log is complete up to it.
    let sentinel = marker("sentinel");
    let url = format!("{}/_matrix/client/versions?m={sentinel}", gateway.url);
    assert!(
        support::http()
            .get(url)
            .send()
            .expect("sentinel")
            .status()
            .is_success()
    );
    assert!(synapse.saw(&sentinel), "the sentinel never reached Synapse");
    let log = synapse.access_log();
    for (marker, (arrives, name)) in expected {
        let line = log.lines().find(|line| line.contains(&marker));
        match (arrives, line) {
            (true, Some(line)) => assert!(
                line.contains(CLIENT_ADDR),
                "{name}: Synapse was not told the client's address: {line}"
            ),
            (true, None) => panic!("{name}: never reached Synapse"),
            (false, Some(line)) => panic!("{name}: reached Synapse: {line}"),
            (false, None) => {}
        }
    }
}

#[test]
fn http2_from_the_client_is_forwarded_as_http1() {
    let synapse = Synapse::start(SynapseOptions::default());
    let gateway = Gateway::start(GatewayOptions::for_synapse(&synapse, "base"));
    let client = reqwest::blocking::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("h2c client");
    let mark = marker("h2");
    let response = client
        .get(format!("{}/_matrix/client/versions?m={mark}", gateway.url))
        .send()
        .expect("h2c request");
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status().as_u16(), 200);
    let request_id = support::request_id(&response);
    let body: Value = response.json().expect("versions JSON");
    assert!(body["versions"].is_array(), "{body}");
    assert!(
        synapse.saw(&mark),
        "the HTTP/2 request never reached Synapse"
    );
    let record = gateway.audit_record(&request_id);
    assert_eq!(record.verdict, "allow");
    let outcome = wait_for(Duration::from_secs(10), || {
        gateway
            .audit_entries()
            .into_iter()
            .find_map(|entry| match entry {
                Entry::Outcome(o) if o.decision == record.id => Some(o),
                _ => None,
            })
    })
    .expect("an outcome");
    assert_eq!((outcome.status, outcome.upstream_status), (200, Some(200)));
    // A refusal over HTTP/2 is the same Matrix error.
    let refused = client
        .get(format!("{}/_synapse/admin/v1/users", gateway.url))
        .send()
        .expect("h2c refusal");
    assert_eq!(refused.status().as_u16(), 404);
    let error: Value = refused.json().expect("error JSON");
    assert_eq!(error["org.sectorgate.rule"], "endpoint.unrecognized");
}

#[test]
fn rates_and_connections_are_bounded_per_address_and_per_origin() {
    let pki = support::pki::TestPki::new();
    let upstream = upstream::start_recording();
    let federation_port = support::free_port();
    let local = format!("localhost:{federation_port}");
    let peer = support::peer::Peer::new("peer.test", "rate", &pki.ca);
    let mut options = GatewayOptions::for_stand_in(&upstream.url, "base");
    options.extra = format!(
        "[limits]\nmax_connections_per_address = 2\nheader_read_timeout = \"20s\"\n\n\
         [rate_limits]\nclient = {{ per_second = 1, burst = 3 }}\n\
         federation = {{ per_second = 1, burst = 2 }}\n\n\
         [[listeners]]\nbind = \"127.0.0.1:0\"\nserves = [\"client\"]\n\n\
         [[listeners]]\nbind = \"127.0.0.1:{federation_port}\"\nserves = [\"federation\"]\n\n\
         [federation]\nserver_name = \"{local}\"\nallow = [\"{peer_name}\"]\n\n\
         [federation.pinned_keys.\"{peer_name}\"]\n\"{key_id}\" = \"{public}\"\n",
        peer_name = peer.name,
        key_id = peer.key_id(),
        public = peer.public_key(),
    );
    let gateway = Gateway::start(options);
    let host = gateway.url.trim_start_matches("http://");
    let versions = |from: &str| {
        let request = format!("GET /_matrix/client/versions HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let answers = raw::exchange_from(from, host, request.as_bytes());
        answers.into_iter().next().expect("an answer")
    };

    // A client address: its burst, then 429 with the wait.
    let before = upstream.received().len();
    for _ in 0..3 {
        assert_eq!(versions("127.0.0.3").status, 200);
    }
    let limited = versions("127.0.0.3");
    assert_eq!(limited.status, 429);
    let error = limited.json().expect("error JSON");
    assert_eq!(error["errcode"], "M_LIMIT_EXCEEDED", "{error}");
    assert_eq!(error["org.sectorgate.rule"], "limit.client_address");
    let wait = error["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!((1..=1000).contains(&wait), "{error}");
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(
        upstream.received().len(),
        before + 3,
        "the refused one was forwarded"
    );
    let record = gateway.audit_record(limited.header("x-request-id").expect("id"));
    assert_eq!(
        (record.verdict.as_str(), record.rule.as_str()),
        ("deny", "limit.client_address")
    );
    // Another address has its own allowance; this one has its back in time.
    assert_eq!(versions("127.0.0.4").status, 200);
    std::thread::sleep(Duration::from_millis(wait + 50));
    assert_eq!(versions("127.0.0.3").status, 200);

    // An origin server, once its signature verified: its burst, then 429.
    let base = format!("http://127.0.0.1:{federation_port}");
    let destination: &ruma::ServerName = local.as_str().try_into().expect("name");
    let query = |label: &str| {
        let path = format!(
            "/_matrix/federation/v1/query/profile?user_id=%40a%3A{local}&field={}",
            marker(label)
        );
        peer.send_as_self("GET", &base, &path, None, destination)
    };
    assert_eq!(query("first").0, 200);
    assert_eq!(query("second").0, 200);
    let (status, body) = query("third");
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["org.sectorgate.rule"], "limit.federation_origin");
    assert!(body["retry_after_ms"].as_u64().is_some(), "{body}");

    // Connections: two open ones from one address, and a third is closed
    // at once, unanswered; another address is still served.
    let hold = |from: &'static str| {
        support::runtime().block_on(async move {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket
                .bind(format!("{from}:0").parse().expect("addr"))
                .expect("bind");
            socket
                .connect(host.parse().expect("gateway addr"))
                .await
                .expect("connect")
                .into_std()
                .expect("std stream")
        })
    };
    let first = hold("127.0.0.5");
    let _second = hold("127.0.0.5");
    std::thread::sleep(Duration::from_millis(200));
    let request = format!("GET /_matrix/client/versions HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let refused = raw::exchange_from("127.0.0.5", host, request.as_bytes());
    assert!(
        refused.is_empty(),
        "a third connection was served: {refused:?}"
    );
    assert_eq!(versions("127.0.0.6").status, 200);
    drop(first);
    std::thread::sleep(Duration::from_millis(200));
    let served = raw::exchange_from("127.0.0.5", host, request.as_bytes());
    assert_eq!(
        served.first().map(|a| a.status),
        Some(200),
        "a freed place is not given back"
    );
    let closed = wait_for(Duration::from_secs(10), || {
        gateway
            .audit_records()
            .iter()
            .any(|r| r.rule == "limit.connections")
            .then_some(())
    });
    assert!(closed.is_some(), "the closed connection is not audited");
}
