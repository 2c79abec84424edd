//! Faults around the gateway: a homeserver that resets connections, stays
//! silent, cuts its answer off or goes away, and a clock that jumps. Each
//! gives a clean answer, and the gateway recovers by itself when the fault
//! clears. (The audit store's faults are in `audit.rs`.)

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test steps: a failed step fails the test"
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::{Gateway, GatewayOptions, http, upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the faulty homeserver does with the next request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Fault {
    /// Answers 200.
    None = 0,
    /// Reads the request, then resets the connection.
    Reset = 1,
    /// Reads the request and never answers.
    Silent = 2,
    /// Sends a head promising 1000 bytes, 10 of them, and closes.
    Truncate = 3,
    /// Not listening at all.
    Down = 4,
}

/// A homeserver whose fault can be switched while it runs.
struct Faulty {
    url: String,
    fault: Arc<AtomicU8>,
}

impl Faulty {
    fn set(&self, fault: Fault) {
        self.fault.store(fault as u8, Ordering::SeqCst);
        // Let a listener that must close or reopen see it.
        std::thread::sleep(Duration::from_millis(300));
    }
}

const BODY: &str = r#"{"versions":["v1.11"],"user_id":"@load:hs.test"}"#;

fn start_faulty() -> Faulty {
    let port = support::free_port();
    let fault = Arc::new(AtomicU8::new(Fault::None as u8));
    let current = Arc::clone(&fault);
    std::thread::spawn(move || {
        support::runtime().block_on(async move {
            let addr = format!("127.0.0.1:{port}");
            loop {
                if current.load(Ordering::SeqCst) == Fault::Down as u8 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
                // Serve until the homeserver is to go down.
                while current.load(Ordering::SeqCst) != Fault::Down as u8 {
                    let accepted =
                        tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
                    if let Ok(Ok((stream, _))) = accepted {
                        tokio::spawn(serve(stream, Arc::clone(&current)));
                    }
                }
            }
        });
    });
    let faulty = Faulty {
        url: format!("http://127.0.0.1:{port}"),
        fault,
    };
    support::wait_for(Duration::from_secs(5), || {
        std::net::TcpStream::connect(faulty.url.trim_start_matches("http://")).ok()
    })
    .expect("the faulty homeserver listens");
    faulty
}

/// Serves one connection's requests, each as the fault of the moment says.
async fn serve(mut stream: tokio::net::TcpStream, fault: Arc<AtomicU8>) {
    let mut buffer = Vec::new();
    loop {
        // One request head (these requests carry no body).
        while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
            let mut chunk = [0_u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let end = buffer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_default();
        buffer.drain(..end + 4);
        match fault.load(Ordering::SeqCst) {
            // A homeserver gone down takes its open connections with it.
            f if f == Fault::Reset as u8 || f == Fault::Down as u8 => {
                let _ = stream.set_zero_linger();
                return;
            }
            f if f == Fault::Silent as u8 => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
            f if f == Fault::Truncate as u8 => {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&BODY.as_bytes()[..10]).await;
                return;
            }
            _ => {
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
                    BODY.len()
                );
                if stream.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn versions(gateway: &Gateway) -> reqwest::blocking::Response {
    http()
        .get(format!("{}/_matrix/client/versions", gateway.url))
        .send()
        .expect("versions")
}

fn rule(response: reqwest::blocking::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().expect("a Matrix error");
    (
        status,
        body["org.sectorgate.rule"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

fn ready(gateway: &Gateway) -> u16 {
    http()
        .get(format!("{}/ready", gateway.admin_url))
        .send()
        .expect("ready")
        .status()
        .as_u16()
}

#[test]
fn a_failing_homeserver_gets_clean_answers_and_is_used_again_once_it_recovers() {
    let faulty = start_faulty();
    let gateway = Gateway::start(GatewayOptions {
        response_timeout: "1s",
        ..GatewayOptions::for_stand_in(&faulty.url, "base")
    });
    assert_eq!(versions(&gateway).status().as_u16(), 200);

    faulty.set(Fault::Reset);
    assert_eq!(
        rule(versions(&gateway)),
        (502, "upstream.unreachable".to_owned())
    );
    faulty.set(Fault::None);
    assert_eq!(versions(&gateway).status().as_u16(), 200, "after resets");

    faulty.set(Fault::Silent);
    assert_eq!(
        rule(versions(&gateway)),
        (504, "upstream.timeout".to_owned())
    );
    faulty.set(Fault::None);
    assert_eq!(versions(&gateway).status().as_u16(), 200, "after silence");

    // An answer cut off mid-body stays visibly cut off: the client is not
    // handed a short body as if it were whole. Whether the head reaches it
    // first depends on whether the cut came before the head was flushed.
    faulty.set(Fault::Truncate);
    let cut = http()
        .get(format!("{}/_matrix/client/versions", gateway.url))
        .send();
    if let Ok(cut) = cut {
        assert_eq!(cut.status().as_u16(), 200, "the homeserver's head");
        let body = cut.text();
        assert!(
            body.is_err(),
            "a truncated body was passed on as whole: {body:?}"
        );
    }
    faulty.set(Fault::None);
    assert_eq!(versions(&gateway).status().as_u16(), 200, "after a cut");

    faulty.set(Fault::Down);
    assert_eq!(
        rule(versions(&gateway)),
        (502, "upstream.unreachable".to_owned())
    );
    assert_eq!(ready(&gateway), 503);
    faulty.set(Fault::None);
    let back = support::wait_for(Duration::from_secs(10), || {
        (versions(&gateway).status().as_u16() == 200).then_some(())
    });
    assert!(back.is_some(), "the homeserver came back and was not used");
    assert_eq!(ready(&gateway), 200);
}

/// The time as the gateway's audit records give it.
fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_millis()).expect("ms")
}

#[test]
fn a_clock_jumping_back_and_forth_changes_timestamps_and_nothing_else() {
    let upstream = upstream::start();
    let clock = tempfile::NamedTempFile::new().expect("clock file");
    let set_clock = |offset: &str| {
        std::fs::write(clock.path(), offset).expect("set the clock");
    };
    set_clock("+0");
    let gateway = Gateway::start(GatewayOptions {
        env: vec![
            (
                "LD_PRELOAD",
                "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1".to_owned(),
            ),
            (
                "FAKETIME_TIMESTAMP_FILE",
                clock.path().display().to_string(),
            ),
            ("FAKETIME_NO_CACHE", "1".to_owned()),
            // Timers run on the monotonic clock, which does not jump.
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
        ],
        ..GatewayOptions::for_stand_in(&upstream.url, "base")
    });
    const DAY: i64 = 24 * 3600 * 1000;
    for (offset, shift) in [("+0", 0), ("-1d", -DAY), ("+40d", 40 * DAY), ("+0", 0)] {
        set_clock(offset);
        let response = http()
            .get(format!("{}/_matrix/client/v3/account/whoami", gateway.url))
            .bearer_auth("a-token")
            .send()
            .expect("whoami");
        assert_eq!(response.status().as_u16(), 200, "at {offset}");
        let record = gateway.audit_record(&support::request_id(&response));
        let expected = now_ms() + shift;
        assert!(
            (record.ts - expected).abs() < 60_000,
            "at {offset}: recorded {} for {expected}",
            record.ts
        );
        assert_eq!(record.peer.kind(), "user", "at {offset}");
    }
    // The log holds together: no gap, every hash and checkpoint.
    let (code, report) = gateway.audit_command(&["verify"]);
    assert_eq!(code, 0, "{report}");
}
