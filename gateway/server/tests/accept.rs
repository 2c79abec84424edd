//! The accept step's limits on request heads, against the real binary.

#![allow(
    clippy::expect_used,
    reason = "test steps: a failed step fails the test"
)]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use sectorgate_audit::Entry;
use support::{Gateway, GatewayOptions, http, wait_for};

fn gateway() -> Gateway {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let homeserver = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    Gateway::start(GatewayOptions {
        extra:
            "[limits]\nmax_headers = 20\nmax_header_bytes = 8192\nheader_read_timeout = \"1s\"\n"
                .to_owned(),
        ..GatewayOptions::for_stand_in(&homeserver, "healthcare-tim-pro")
    })
}

#[test]
fn too_many_or_too_large_headers_are_refused() {
    let gateway = gateway();
    let url = format!("{}/_matrix/client/versions", gateway.url);
    let mut many = http().get(&url);
    for i in 0..40 {
        many = many.header(format!("x-extra-{i}"), "1");
    }
    let status = many.send().expect("send").status().as_u16();
    assert_eq!(status, 431);
    let large = http()
        .get(&url)
        .header("x-large", "a".repeat(16 * 1024))
        .send()
        .expect("send")
        .status()
        .as_u16();
    assert_eq!(large, 431);
    let normal = http().get(&url).send().expect("send").status().as_u16();
    assert_eq!(
        normal, 502,
        "an ordinary request still passes the accept step"
    );
    // Each refusal is in the audit log, with its outcome.
    let refused = wait_for(Duration::from_secs(10), || {
        let entries = gateway.audit_entries();
        let decisions = refusals(&entries, "request.head_too_large");
        (decisions.len() == 2).then_some((decisions, entries))
    });
    let (decisions, entries) = refused.expect("both 431s are audited");
    for decision in decisions {
        assert_eq!(outcome_status(&entries, &decision), Some(431));
    }
}

/// The ids of the refusals by `rule`.
fn refusals(entries: &[Entry], rule: &str) -> Vec<String> {
    entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::Decision(d) if d.rule == rule && d.verdict == "deny" => Some(d.id.clone()),
            _ => None,
        })
        .collect()
}

/// The status the outcome of decision `id` records.
fn outcome_status(entries: &[Entry], id: &str) -> Option<u16> {
    entries.iter().find_map(|entry| match entry {
        Entry::Outcome(o) if o.decision == id => Some(o.status),
        _ => None,
    })
}

#[test]
fn a_client_that_never_finishes_its_head_is_disconnected() {
    let gateway = gateway();
    let addr = gateway.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .write_all(b"GET /_matrix/client/versions HTTP/1.1\r\nhost: x\r\n")
        .expect("write");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("read timeout");
    let mut rest = Vec::new();
    // The gateway closes the connection (after the 1 s header timeout)
    // instead of waiting for the rest of the head forever.
    let closed = stream.read_to_end(&mut rest);
    assert!(closed.is_ok(), "the connection stayed open: {closed:?}");
    // The closed connection is in the audit log, with no status given.
    let audited = wait_for(Duration::from_secs(10), || {
        let entries = gateway.audit_entries();
        let decisions = refusals(&entries, "request.head_timeout");
        let id = decisions.first()?;
        outcome_status(&entries, id)
    });
    assert_eq!(audited, Some(0), "the header timeout is not audited");
    // A client that connects and sends nothing at all is disconnected too.
    let mut silent = TcpStream::connect(addr).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("read timeout");
    let mut rest = Vec::new();
    let closed = silent.read_to_end(&mut rest);
    assert!(
        closed.is_ok(),
        "the silent connection stayed open: {closed:?}"
    );
}
