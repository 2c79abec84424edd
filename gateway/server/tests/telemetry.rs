//! Telemetry end to end: spans reach an OTLP/HTTP collector when an endpoint
//! is configured, and the gateway stops cleanly on SIGTERM.

#![allow(
    clippy::expect_used,
    reason = "test steps: a failed step fails the test"
)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use support::{Gateway, GatewayOptions, http};

/// A minimal HTTP collector: records each request's first line and
/// content type, and answers 200.
fn collector() -> (String, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind collector");
    let addr = listener.local_addr().expect("addr");
    let (sender, received) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let (mut length, mut content_type) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if let Some(value) = lower.strip_prefix("content-type:") {
                    content_type = value.trim().to_owned();
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = sender.send((first.trim().to_owned(), content_type));
        }
    });
    (format!("http://{addr}/v1/traces"), received)
}

#[test]
fn spans_are_exported_over_otlp_when_an_endpoint_is_set() {
    let (endpoint, received) = collector();
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let homeserver = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let mut gateway = Gateway::start(GatewayOptions {
        otlp_endpoint: Some(endpoint),
        ..GatewayOptions::for_stand_in(&homeserver, "healthcare-tim-pro")
    });
    let response = http()
        .get(format!("{}/_matrix/client/versions", gateway.url))
        .send()
        .expect("request");
    assert_eq!(response.status().as_u16(), 502);

    let status = gateway.terminate();
    assert!(status.success(), "gateway exited with {status}");
    let (line, content_type) = received
        .recv_timeout(Duration::from_secs(15))
        .expect("no spans reached the collector");
    assert_eq!(line, "POST /v1/traces HTTP/1.1");
    assert_eq!(content_type, "application/x-protobuf");
}

#[test]
fn json_logs_carry_the_request_span() {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let homeserver = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let mut gateway = Gateway::start(GatewayOptions::for_stand_in(
        &homeserver,
        "healthcare-tim-pro",
    ));
    let response = http()
        .get(format!(
            "{}/_matrix/client/v1/media/preview_url?url=x",
            gateway.url
        ))
        .send()
        .expect("request");
    assert_eq!(response.status().as_u16(), 404);
    let status = gateway.terminate();
    assert!(status.success());
    let done = gateway
        .log()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["fields"]["message"] == "request done")
        .expect("a JSON 'request done' line");
    let span = &done["span"];
    assert_eq!(span["rule"], "tim.url_preview_disabled");
    assert_eq!(span["verdict"], "deny");
    assert_eq!(span["endpoint"], "client.get_media_preview");
    assert!(span["request_id"].is_string());
    assert!(span["latency_ms"].is_number());
}

/// The `traceparent` the homeserver received with the request that carried
/// `mark`, if any.
fn traceparent_at(upstream: &support::upstream::Upstream, mark: &str) -> Option<String> {
    upstream
        .received()
        .into_iter()
        .find(|request| request.target.contains(mark))?
        .header("traceparent")
        .first()
        .map(|value| (*value).to_owned())
}

#[test]
fn the_trace_continues_from_the_client_through_the_gateway_to_the_homeserver() {
    let (endpoint, _received) = collector();
    let upstream = support::upstream::start_recording();
    let gateway = Gateway::start(GatewayOptions {
        otlp_endpoint: Some(endpoint),
        ..GatewayOptions::for_stand_in(&upstream.url, "base")
    });
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let send = |mark: &str, traceparent: Option<String>| {
        let mut request = http().get(format!("{}/_matrix/client/versions?m={mark}", gateway.url));
        if let Some(value) = traceparent {
            request = request.header("traceparent", value);
        }
        assert_eq!(request.send().expect("request").status().as_u16(), 200);
    };

    // A client's trace: the homeserver hears the same trace, with the
    // gateway's span as the parent.
    let joined = support::marker("joined");
    send(&joined, Some(format!("00-{trace}-{client_span}-01")));
    let passed = traceparent_at(&upstream, &joined).expect("a traceparent reached the homeserver");
    let parts: Vec<&str> = passed.split('-').collect();
    assert_eq!(parts.len(), 4, "{passed}");
    assert_eq!(parts[1], trace, "the trace id changed: {passed}");
    assert_ne!(
        parts[2], client_span,
        "the gateway's span is not the parent: {passed}"
    );
    assert_eq!(parts[2].len(), 16, "{passed}");

    // No trace from the client: the gateway's starts one.
    let started = support::marker("started");
    send(&started, None);
    let passed = traceparent_at(&upstream, &started).expect("a traceparent reached the homeserver");
    assert!(passed.starts_with("00-") && passed.len() == 55, "{passed}");
    assert!(!passed.contains(trace));
}
