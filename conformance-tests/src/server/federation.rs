//! The suite's federation peer: a server name of its own with a fresh
//! Ed25519 key, signing requests with ruma as a homeserver does. It can
//! publish its key over HTTPS (`/_matrix/key/v2/server`), so that a server
//! under test can verify it: then refusing the peer shows a membership
//! check, not a key that could not be fetched.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use ruma::api::federation::authentication::{XMatrix, XMatrixSigningInput};
use ruma::signatures::Ed25519KeyPair;
use ruma::{MilliSecondsSinceUnixEpoch, OwnedServerName};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

use super::client::{Answer, Client};
use crate::report::Exchange;

/// A federation peer.
pub struct Peer {
    name: OwnedServerName,
    key: Ed25519KeyPair,
}

impl Peer {
    /// A peer named `name` with a fresh key.
    pub fn new(name: &str) -> Result<Self, String> {
        let document = Ed25519KeyPair::generate();
        let key = Ed25519KeyPair::from_der(&document, "conformance".to_owned())
            .map_err(|e| format!("cannot read the key: {e}"))?;
        let name = name
            .try_into()
            .map_err(|_| format!("{name:?} is not a server name"))?;
        Ok(Self { name, key })
    }

    /// Sends an empty transaction to `destination` through `client`, signed
    /// as this peer.
    pub fn send_transaction(
        &self,
        client: &Client,
        trail: &mut Vec<Exchange>,
        destination: &str,
    ) -> Result<Answer, String> {
        let path = format!("/_matrix/federation/v1/send/{}", super::txn_id());
        let body = json!({
            "origin": self.name,
            "origin_server_ts": MilliSecondsSinceUnixEpoch::now(),
            "pdus": [],
            "edus": [],
        })
        .to_string()
        .into_bytes();
        self.send(client, trail, "PUT", &path, body, destination)
    }

    /// Sends a request to `destination` through `client`, signed as this
    /// peer (`X-Matrix`, over the method, the path and the JSON body).
    pub fn send(
        &self,
        client: &Client,
        trail: &mut Vec<Exchange>,
        method: &str,
        path: &str,
        body: Vec<u8>,
        destination: &str,
    ) -> Result<Answer, String> {
        let destination: OwnedServerName = destination
            .try_into()
            .map_err(|_| format!("{destination:?} is not a server name"))?;
        let signed = http::Request::builder()
            .method(method)
            .uri(path)
            .body(body.clone())
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let x_matrix = XMatrix::sign_http_request(
            &signed,
            XMatrixSigningInput::new(self.name.clone(), destination, &self.key),
        )
        .map_err(|e| format!("cannot sign: {e}"))?;
        let header = HeaderValue::from(&x_matrix);
        let header = header
            .to_str()
            .map_err(|_| "the signature is not a header value".to_owned())?;
        client.raw(
            trail,
            method,
            path,
            None,
            &[("authorization".to_owned(), header.to_owned())],
            body,
        )
    }
}

/// The longest request head the key server reads.
const MAX_HEAD: usize = 16 * 1024;

impl Peer {
    /// The `/_matrix/key/v2/server` answer, signed by the peer itself.
    fn key_answer(&self) -> Result<Value, String> {
        use base64::Engine;
        let public = base64::engine::general_purpose::STANDARD_NO_PAD.encode(self.key.public_key());
        let valid_until = MilliSecondsSinceUnixEpoch::now().get() + ruma::UInt::from(86_400_000u32);
        let mut object: ruma::CanonicalJsonObject = serde_json::from_value(json!({
            "server_name": self.name,
            "valid_until_ts": valid_until,
            "verify_keys": {format!("ed25519:{}", self.key.version()): {"key": public}},
            "old_verify_keys": {},
        }))
        .map_err(|e| format!("key answer: {e}"))?;
        ruma::signatures::sign_json(self.name.as_str(), &self.key, &mut object)
            .map_err(|e| format!("cannot sign the key answer: {e}"))?;
        serde_json::to_value(object).map_err(|e| e.to_string())
    }

    /// Serves the peer's key over HTTPS on `listen`, with this certificate
    /// chain and key (PEM), in threads of its own for as long as the
    /// process runs.
    pub fn publish(&self, listen: SocketAddr, cert: &Path, key: &Path) -> Result<(), String> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("{}: {e}", cert.display()))?;
        let private =
            PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| format!("the peer's certificate: {e}"))?;
        let config = Arc::new(config);
        let answer = Arc::new(self.key_answer()?.to_string());
        let listener =
            TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        std::thread::Builder::new()
            .name("peer-keys".to_owned())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (config, answer) = (Arc::clone(&config), Arc::clone(&answer));
                    std::thread::spawn(move || serve_key(stream, config, &answer));
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Answers one connection: the key for `GET /_matrix/key/v2/server`, 404
/// for anything else; then closes it.
fn serve_key(stream: TcpStream, config: Arc<rustls::ServerConfig>, answer: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(connection) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(connection, stream);
    let mut head = Vec::new();
    let mut buffer = [0u8; 2048];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") && head.len() < MAX_HEAD {
        match tls.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => head.extend_from_slice(&buffer[..read]),
        }
    }
    let first = String::from_utf8_lossy(&head);
    let target = first.split_whitespace().nth(1).unwrap_or_default();
    let (status, body) = if target == "/_matrix/key/v2/server" {
        ("200 OK", answer.to_owned())
    } else {
        (
            "404 Not Found",
            json!({"errcode": "M_NOT_FOUND", "error": "not here"}).to_string(),
        )
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tls.write_all(response.as_bytes());
    tls.conn.send_close_notify();
    let _ = tls.flush();
}
