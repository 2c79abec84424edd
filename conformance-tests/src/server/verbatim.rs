//! Requests sent byte for byte as a case writes them, for paths an HTTP
//! library would change on the way (dot segments, which clients resolve
//! before sending), and for bodies a server may refuse on their declared
//! length before reading them (`Expect: 100-continue`, as curl sends a large
//! upload): HTTP/1.1 on a connection of its own, with TLS for an `https`
//! base, closed after the answer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

/// The largest answer read.
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// Whether `path_and_query` holds a `.` or `..` segment.
pub fn has_dot_segments(path_and_query: &str) -> bool {
    let path = path_and_query.split('?').next().unwrap_or_default();
    path.split('/')
        .any(|segment| segment == "." || segment == "..")
}

/// How to reach the base URL.
#[derive(Clone, Debug, Default)]
pub struct Reach {
    /// An extra CA to trust (PEM), besides the public roots.
    pub ca: Option<std::path::PathBuf>,
    /// The connection's read and write timeout.
    pub timeout: Duration,
}

/// How long a request that expects `100 Continue` waits for it (or for an
/// early answer) before it sends its body anyway, as curl does.
const CONTINUE_WAIT: Duration = Duration::from_secs(1);

/// Sends one request as written; its status and body. With `continued`,
/// the head asks `Expect: 100-continue` and the body follows only when the
/// server does not answer first.
pub fn send(
    reach: &Reach,
    base: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    body: &[u8],
    continued: bool,
) -> Result<(u16, Vec<u8>), String> {
    let uri: http::Uri = base.parse().map_err(|e| format!("{base}: {e}"))?;
    let host = uri.host().ok_or_else(|| format!("{base} names no host"))?;
    let tls = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let authority = uri
        .authority()
        .map_or_else(|| host.to_owned(), ToString::to_string);
    let mut head = format!(
        "{method} {path_and_query} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n\
         content-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if continued {
        head.push_str("expect: 100-continue\r\n");
    }
    head.push_str("\r\n");
    let stream = TcpStream::connect((host.trim_matches(['[', ']']), port))
        .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    let timeout = reach.timeout.max(Duration::from_secs(1));
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let wait = |first: bool| {
        stream
            .set_read_timeout(Some(if first { CONTINUE_WAIT } else { timeout }))
            .map_err(|e| e.to_string())
    };
    let answer = if tls {
        let config = client_config(reach.ca.as_deref())?;
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
            .map_err(|e| format!("{host}: {e}"))?;
        let connection = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        let tls = rustls::StreamOwned::new(connection, &stream);
        exchange(tls, head.as_bytes(), body, continued, wait)?
    } else {
        exchange(&stream, head.as_bytes(), body, continued, wait)?
    };
    parse(&answer)
}

/// Sends the head, then the body (with `continued`, after `100 Continue`,
/// or once the server has stayed silent for [`CONTINUE_WAIT`], and not at
/// all when it answered first); reads the answer to its end. `wait` sets
/// how long a read waits: the first, for the early answer, or the rest.
fn exchange(
    mut stream: impl Read + Write,
    head: &[u8],
    body: &[u8],
    continued: bool,
    wait: impl Fn(bool) -> Result<(), String>,
) -> Result<Vec<u8>, String> {
    let sent = |result: std::io::Result<()>| result.map_err(|e| format!("cannot send: {e}"));
    sent(stream.write_all(head).and_then(|()| stream.flush()))?;
    let mut answer = Vec::new();
    if continued {
        wait(true)?;
        let mut buffer = [0u8; 4096];
        if let Ok(read) = stream.read(&mut buffer) {
            answer.extend_from_slice(&buffer[..read]);
        }
        if answer.starts_with(b"HTTP/1.1 100") {
            answer.clear();
        }
    }
    if answer.is_empty() {
        sent(stream.write_all(body).and_then(|()| stream.flush()))?;
    }
    wait(false)?;
    match stream.take(MAX_ANSWER).read_to_end(&mut answer) {
        Ok(_) => Ok(answer),
        // A peer that closes without TLS's close_notify still answered.
        Err(_) if !answer.is_empty() => Ok(answer),
        Err(error) => Err(format!("no answer: {error}")),
    }
}

fn client_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca) = ca {
        for certificate in CertificateDer::pem_file_iter(ca).map_err(|e| e.to_string())? {
            roots
                .add(certificate.map_err(|e| e.to_string())?)
                .map_err(|e| format!("{}: {e}", ca.display()))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The status and body of an HTTP/1.1 answer (chunked or not).
fn parse(answer: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let end = answer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or("an answer without a complete head")?;
    let head = String::from_utf8_lossy(&answer[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or("an answer without a status")?;
    let chunked = lines.any(|line| {
        line.to_ascii_lowercase()
            .replace(' ', "")
            .starts_with("transfer-encoding:chunked")
    });
    let body = &answer[end + 4..];
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|window| window == b"\r\n")
            .ok_or("a cut chunk")?;
        let size = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "a bad chunk size")?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).ok_or("a cut chunk")?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_plain_or_chunked_and_dot_segments_are_found() {
        let plain = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse(plain), Ok((400, b"{}".to_vec())));
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse(chunked), Ok((200, b"{\"a\":1}".to_vec())));
        assert!(parse(b"HTTP/1.1 200").is_err());
        assert!(has_dot_segments("/_synapse/client/../admin"));
        assert!(has_dot_segments("/a/./b?x=.."));
        assert!(!has_dot_segments("/a/..b/c?x=/../"));
    }
}
