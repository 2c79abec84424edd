//! A raw HTTP/1 client: bytes out, answers in, nothing normalised on the
//! way (unlike any HTTP client library), for the hostile-input tests.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// The address raw requests come from: not the gateway's own, so the
/// homeserver's logs show whose address it was told.
pub const CLIENT_ADDR: &str = "127.0.0.2";

/// One answer read off the connection.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Sends `bytes` on a new connection from [`CLIENT_ADDR`] to `addr`
/// (`host:port`), shuts the sending side (a half-close, as some tools do),
/// and reads every answer until the server closes (at most 20 s).
pub fn exchange(addr: &str, bytes: &[u8]) -> Vec<Answer> {
    exchange_from(CLIENT_ADDR, addr, bytes)
}

/// As [`exchange`], from the local address `from` (any of 127.0.0.0/8).
pub fn exchange_from(from: &str, addr: &str, bytes: &[u8]) -> Vec<Answer> {
    let addr = addr.parse().expect("socket address");
    let raw = super::runtime().block_on(async {
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .bind(format!("{from}:0").parse().expect("client addr"))
            .expect("bind a loopback address");
        let mut stream = socket.connect(addr).await.expect("connect");
        // The server may close before reading everything (a refused head).
        let _ = stream.write_all(bytes).await;
        let _ = stream.shutdown().await;
        let mut raw = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw));
        let _ = read.await;
        raw
    });
    parse_answers(&raw)
}

/// Splits a byte stream into the answers it holds.
pub fn parse_answers(mut raw: &[u8]) -> Vec<Answer> {
    let mut answers = Vec::new();
    while let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        raw = &raw[end + 4..];
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let body = if let Some(length) = find("content-length") {
            let length: usize = length.parse().expect("content-length");
            let body = raw[..length.min(raw.len())].to_vec();
            raw = &raw[length.min(raw.len())..];
            body
        } else if find("transfer-encoding").is_some() {
            let mut body = Vec::new();
            while let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") {
                let size = usize::from_str_radix(
                    String::from_utf8_lossy(&raw[..line_end])
                        .split(';')
                        .next()
                        .unwrap_or("0"),
                    16,
                )
                .expect("chunk size");
                raw = &raw[line_end + 2..];
                if size == 0 {
                    raw = raw.get(2..).unwrap_or_default();
                    break;
                }
                body.extend_from_slice(&raw[..size]);
                raw = &raw[size + 2..];
            }
            body
        } else {
            Vec::new()
        };
        answers.push(Answer {
            status,
            headers,
            body,
        });
    }
    answers
}
