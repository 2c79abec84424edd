//! The pipeline in process, in front of a small echoing upstream: what
//! reaches the homeserver, and what does not.

#![allow(
    clippy::expect_used,
    reason = "test setup: a failed step fails the test"
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::response::IntoResponse;
use http::StatusCode;
use sectorgate_audit::{
    AuditLog, CheckpointSigner, CheckpointSink, Entry, LogConfig, Pseudonymiser, Store,
};
use sectorgate_policy::Profile;
use sectorgate_proxy::{Gateway, Limits, ProxyConfig};
use tokio::net::TcpListener;

/// What the upstream saw: method, raw path and query, headers, body.
#[derive(Clone, Debug)]
struct Seen {
    uri: String,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn upstream() -> (String, Log) {
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let app = axum::Router::new().fallback(move |request: Request| {
        let seen = Arc::clone(&seen);
        async move {
            let (parts, body) = request.into_parts();
            let body = to_bytes(body, usize::MAX).await.unwrap_or_default();
            seen.lock().expect("log").push(Seen {
                uri: parts.uri.to_string(),
                headers: parts.headers,
                body: body.to_vec(),
            });
            (
                [
                    ("connection", "x-secret"),
                    ("x-secret", "hop"),
                    ("content-type", "application/json"),
                ],
                "{}",
            )
                .into_response()
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), log)
}

async fn gateway(homeserver: &str, dir: &tempfile::TempDir) -> String {
    gateway_with(homeserver, dir, "base").await
}

async fn gateway_with(homeserver: &str, dir: &tempfile::TempDir, profile: &str) -> String {
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let store = Store::open(&url, Duration::from_secs(1))
        .await
        .expect("store");
    let origin = "test.sectorgate/pipeline";
    let claim = store.claim(origin, Duration::ZERO).await.expect("claim");
    let log = AuditLog::spawn(
        store,
        claim,
        CheckpointSigner::load_or_create(&dir.path().join("checkpoint.key"), origin)
            .expect("checkpoint key"),
        LogConfig {
            origin: origin.to_owned(),
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(10),
        },
        CheckpointSink::none(),
    );
    let pseudonyms = Pseudonymiser::open(&dir.path().join("keys"), Duration::from_secs(86_400))
        .expect("pseudonym keys");
    let config = ProxyConfig {
        homeserver: homeserver.parse().expect("uri"),
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(5),
        limits: Limits {
            max_json_body_bytes: 4096,
            max_json_depth: 8,
            max_upload_bytes: 1 << 20,
            body_read_timeout: Duration::from_millis(500),
            ..Limits::default()
        },
        trusted_proxies: Vec::new(),
        appservice_token: None,
        appservices: Vec::new(),
        rate_limits: sectorgate_proxy::RateLimits::default(),
        support: None,
    };
    let gateway = Gateway::new(
        config,
        Profile::bundled(profile).expect("profile"),
        log,
        Arc::new(pseudonyms),
        None,
    );
    let app = sectorgate_proxy::router(Arc::new(gateway))
        .into_make_service_with_connect_info::<SocketAddr>();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn send(request: http::Request<Body>) -> (StatusCode, http::HeaderMap, Vec<u8>) {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let response = client.request(request).await.expect("request");
    let (parts, body) = response.into_parts();
    let body = http_body_util::BodyExt::collect(body)
        .await
        .expect("body")
        .to_bytes();
    (parts.status, parts.headers, body.to_vec())
}

#[tokio::test]
async fn the_request_arrives_unchanged_but_for_forwarding_headers() {
    let (upstream, seen) = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let base = gateway(&upstream, &dir).await;
    let path = "/_matrix/client/v3/rooms/%21room%3Aexample.org/send/m.room.message/t%201?ts=1";
    let body = r#"{"msgtype":"m.text", "body":"spacing kept"}"#;
    let request = http::Request::put(format!("{base}{path}"))
        .header("authorization", "Bearer token")
        .header("x-forwarded-for", "203.0.113.9")
        .header("connection", "keep-alive, x-drop-me")
        .header("x-drop-me", "1")
        .header("te", "trailers")
        .body(Body::from(body))
        .expect("request");
    let (status, headers, _) = send(request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains_key("x-request-id"));
    assert!(
        !headers.contains_key("x-secret"),
        "a hop-by-hop response header leaked"
    );

    // The gateway asked who the token is (for the audit record's user
    // pseudonym), then forwarded the request itself.
    let seen = seen.lock().expect("log").clone();
    assert_eq!(seen.len(), 2);
    assert!(seen[0].uri.ends_with("/_matrix/client/v3/account/whoami"));
    assert_eq!(seen[0].headers["authorization"], "Bearer token");
    let request = &seen[1];
    assert!(request.uri.ends_with(path), "path changed: {}", request.uri);
    assert_eq!(request.body, body.as_bytes());
    assert_eq!(request.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(request.headers["x-forwarded-proto"], "http");
    assert_eq!(request.headers["authorization"], "Bearer token");
    assert!(request.headers.contains_key("x-request-id"));
    for hop in ["x-drop-me", "te"] {
        assert!(!request.headers.contains_key(hop), "{hop} was forwarded");
    }
}

#[tokio::test]
async fn refused_requests_never_reach_the_upstream() {
    let (upstream, seen) = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let base = gateway_with(&upstream, &dir, "healthcare-tim-pro").await;
    let send_path = "/_matrix/client/v3/rooms/!r:x.org/send/m.room.message/t";
    let cases = [
        ("PUT", send_path.to_owned(), "not json".to_owned(), 400),
        (
            "PUT",
            send_path.to_owned(),
            format!("{}{}", "[".repeat(9), "]".repeat(9)),
            400,
        ),
        (
            "PUT",
            send_path.to_owned(),
            format!("{{\"body\":\"{}\"}}", "x".repeat(5000)),
            413,
        ),
        (
            "GET",
            "/_matrix/client/v1/media/preview_url?url=x".to_owned(),
            String::new(),
            404,
        ),
        (
            "GET",
            "/_synapse/admin/v1/users".to_owned(),
            String::new(),
            404,
        ),
        (
            "DELETE",
            "/_matrix/client/versions".to_owned(),
            String::new(),
            405,
        ),
    ];
    for (method, path, body, status) in cases {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{base}{path}"))
            .body(Body::from(body))
            .expect("request");
        let (got, headers, body) = send(request).await;
        assert_eq!(got.as_u16(), status, "{method} {path}");
        assert_eq!(
            headers["access-control-allow-origin"], "*",
            "{method} {path}"
        );
        let error: serde_json::Value = serde_json::from_slice(&body).expect("error JSON");
        assert!(error["org.sectorgate.rule"].is_string(), "{error}");
    }
    assert!(
        seen.lock().expect("log").is_empty(),
        "a refused request was forwarded"
    );
}

#[tokio::test]
async fn a_streamed_upload_over_the_limit_is_refused_by_its_length() {
    let (upstream, seen) = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let base = gateway(&upstream, &dir).await;
    let request = http::Request::post(format!("{base}/_matrix/media/v3/upload"))
        .header("content-length", (2u64 << 20).to_string())
        .body(Body::from(vec![0u8; 2 << 20]))
        .expect("request");
    let (status, _, _) = send(request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(seen.lock().expect("log").is_empty());
}

#[tokio::test]
async fn a_chunked_upload_that_outgrows_the_limit_is_cut_off_with_413() {
    let (upstream, _seen) = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let base = gateway(&upstream, &dir).await;
    let chunks = (0..32).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![1u8; 64 * 1024])));
    let request = http::Request::post(format!("{base}/_matrix/media/v3/upload"))
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .expect("request");
    let (status, headers, body) = send(request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let error: serde_json::Value = serde_json::from_slice(&body).expect("error JSON");
    assert_eq!(error["errcode"], "M_TOO_LARGE");

    // The decision (made on the head) allowed it; its outcome says what
    // the client got, and how much of the body had passed.
    let request_id = headers["x-request-id"].to_str().expect("id").to_owned();
    let mut found = None;
    for _ in 0..100 {
        let entries = entries(&dir).await;
        let decision = entries.iter().find_map(|entry| match entry {
            Entry::Decision(d) if d.request_id == request_id => Some(d.clone()),
            _ => None,
        });
        let outcome = decision.as_ref().and_then(|decision| {
            entries.iter().find_map(|entry| match entry {
                Entry::Outcome(o) if o.decision == decision.id => Some(o.clone()),
                _ => None,
            })
        });
        if let (Some(decision), Some(outcome)) = (decision, outcome) {
            found = Some((decision, outcome));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (decision, outcome) = found.expect("a decision and its outcome");
    assert_eq!(decision.verdict, "allow");
    assert_eq!(outcome.status, 413);
    assert!(outcome.bytes_in <= 1 << 20, "{outcome:?}");
}

/// Every entry of the test gateway's log.
async fn entries(dir: &tempfile::TempDir) -> Vec<Entry> {
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let store = Store::open(&url, Duration::from_secs(1))
        .await
        .expect("store");
    store
        .leaves("test.sectorgate/pipeline", 0, u32::MAX)
        .await
        .expect("leaves")
        .into_iter()
        .map(|row| Entry::decode_leaf(&row.record.expect("content")).expect("entry"))
        .collect()
}

#[tokio::test]
async fn a_body_that_never_finishes_arriving_gets_408_and_is_not_forwarded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (upstream, seen) = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let base = gateway(&upstream, &dir).await;
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = "PUT /_matrix/client/v3/rooms/!r:x.org/send/m.room.message/t HTTP/1.1\r\n\
                host: gateway\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"body\":";
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 1024];
        loop {
            let n = stream.read(&mut buffer).await.unwrap_or(0);
            answer.extend_from_slice(&buffer[..n]);
            if n == 0 || answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer to a stalled body");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(seen.lock().expect("log").is_empty());
}

#[tokio::test]
async fn a_malformed_x_matrix_authorization_is_refused_with_401() {
    let (upstream, seen) = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let base = gateway(&upstream, &dir).await;
    let path = "/_matrix/federation/v1/query/profile?user_id=%40a%3Alocalhost";
    let good =
        r#"X-Matrix origin="remote.example",destination="localhost",key="ed25519:k1",sig="ABCD""#;
    let malformed: [&[&str]; 4] = [
        &[good, good],
        &[r#"X-Matrix origin="remote.example,key="ed25519:k1",sig="ABCD""#],
        &[r#"X-Matrix origin="a.example",origin="b.example",key="ed25519:k1",sig="ABCD""#],
        &[r#"X-Matrix origin="remote.example",destination="localhost""#],
    ];
    for headers in malformed {
        let mut request = http::Request::get(format!("{base}{path}"));
        for value in headers {
            request = request.header("authorization", *value);
        }
        let (status, _, body) = send(request.body(Body::empty()).expect("request")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}");
        let error: serde_json::Value = serde_json::from_slice(&body).expect("error JSON");
        assert_eq!(error["errcode"], "M_UNAUTHORIZED");
        assert_eq!(error["org.sectorgate.rule"], "federation.bad_authorization");
    }
    assert!(
        seen.lock().expect("log").is_empty(),
        "a malformed request was forwarded"
    );
    // A well-formed one is not forwarded either: without `[federation]`,
    // federation is closed.
    let request = http::Request::get(format!("{base}{path}"))
        .header("authorization", good)
        .body(Body::empty())
        .expect("request");
    let (status, _, body) = send(request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let error: serde_json::Value = serde_json::from_slice(&body).expect("error JSON");
    assert_eq!(error["org.sectorgate.rule"], "federation.disabled");
    assert!(seen.lock().expect("log").is_empty());
}
