//! Idle HTTP/1 connections are parked outside hyper and serve their next
//! requests as if nothing happened: the same socket, no `Connection:
//! close`, bytes pipelined across the wake-up kept in order, and a request
//! whose body is slow to come never parked half-way.

#![allow(
    clippy::expect_used,
    reason = "test code: a failed step fails the test"
)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::{Gateway, GatewayOptions, marker, upstream, wait_for};

/// Waits until `name` reads `value`.
fn gauge_reaches(gateway: &Gateway, name: &str, value: u64) {
    let seen = wait_for(Duration::from_secs(10), || {
        (gateway.metric(name) == value).then_some(())
    });
    assert!(seen.is_some(), "{name} never read {value}");
}

/// Reads one answer: its status line, its head (lower-cased) and body.
fn answer(reader: &mut BufReader<TcpStream>) -> (String, String, Vec<u8>) {
    let mut status = String::new();
    reader.read_line(&mut status).expect("status line");
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().expect("length");
        }
        head.push_str(&lower);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    (status, head, body)
}

#[test]
fn an_idle_connection_is_parked_and_serves_its_next_requests_on_the_same_socket() {
    let upstream = upstream::start_recording();
    let gateway = Gateway::start(GatewayOptions::for_stand_in(&upstream.url, "base"));
    let host = gateway.url.trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(&host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let get = |mark: &str| {
        format!("GET /_matrix/client/versions?m={mark} HTTP/1.1\r\nHost: {host}\r\n\r\n")
    };
    let received = |mark: &str| {
        upstream
            .received()
            .iter()
            .any(|request| request.target.contains(mark))
    };

    let first = marker("first");
    writer.write_all(get(&first).as_bytes()).expect("send");
    let (status, head, _) = answer(&mut reader);
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(!head.contains("connection: close"), "{head}");
    assert!(received(&first));

    // Idle, and so parked.
    gauge_reaches(&gateway, "sectorgate_connections_parked", 1);
    assert_eq!(gateway.metric("sectorgate_connections_open"), 1);

    // Two requests in one write wake it: both answered, in order.
    let (second, third) = (marker("second"), marker("third"));
    writer
        .write_all(format!("{}{}", get(&second), get(&third)).as_bytes())
        .expect("send");
    for mark in [&second, &third] {
        let (status, head, _) = answer(&mut reader);
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        assert!(!head.contains("connection: close"), "{head}");
        assert!(received(mark), "{mark} did not reach the homeserver");
    }
    assert_eq!(gateway.metric("sectorgate_connections_parked"), 0);

    // A request whose body comes late is under way: never parked mid-way.
    gauge_reaches(&gateway, "sectorgate_connections_parked", 1);
    let slow = marker("slow");
    let body = format!("{{\"type\":\"m.login.password\",\"password\":\"{slow}\"}}");
    writer
        .write_all(
            format!(
                "POST /_matrix/client/v3/login HTTP/1.1\r\nHost: {host}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .expect("send head");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(gateway.metric("sectorgate_connections_parked"), 0);
    writer.write_all(body.as_bytes()).expect("send body");
    let (status, _, _) = answer(&mut reader);
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let bodies: Vec<Vec<u8>> = upstream
        .received()
        .into_iter()
        .map(|request| request.body)
        .collect();
    assert!(
        bodies.iter().any(|b| b.as_slice() == body.as_bytes()),
        "the slow body did not reach the homeserver whole"
    );

    // Closed by the client while parked: counted neither parked nor open.
    gauge_reaches(&gateway, "sectorgate_connections_parked", 1);
    drop(writer);
    drop(reader);
    gauge_reaches(&gateway, "sectorgate_connections_parked", 0);
    gauge_reaches(&gateway, "sectorgate_connections_open", 0);
}
