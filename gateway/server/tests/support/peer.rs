//! A federation peer written here, with its own Ed25519 signing key: it
//! signs requests with ruma exactly as a homeserver does, and can be told
//! to lie (wrong destination, another server's name, a key nobody knows).

use std::path::Path;

use http::HeaderValue;
use ruma::api::federation::authentication::{XMatrix, XMatrixSigningInput};
use ruma::serde::Base64;
use ruma::signatures::Ed25519KeyPair;
use ruma::{OwnedServerName, ServerName};
use rustls_pki_types::pem::PemObject;
use serde_json::Value;

/// A server name and its signing key.
pub struct Peer {
    pub name: OwnedServerName,
    key: Ed25519KeyPair,
    client: reqwest::blocking::Client,
}

/// What a signed request says, and whom it is signed as.
pub struct Signing<'a> {
    /// The origin named in the `X-Matrix` header.
    pub origin: &'a ServerName,
    /// The destination named in the `X-Matrix` header.
    pub destination: &'a ServerName,
}

impl Peer {
    /// A peer named `name` with a fresh key `ed25519:<version>`, trusting `ca`.
    pub fn new(name: &str, version: &str, ca: &Path) -> Self {
        super::install_crypto_provider();
        let document = Ed25519KeyPair::generate();
        let key = Ed25519KeyPair::from_der(&document, version.to_owned()).expect("key pair");
        let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).expect("read CA"))
            .expect("CA certificate");
        let client = reqwest::blocking::Client::builder()
            .add_root_certificate(ca)
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("client");
        Self {
            name: name.try_into().expect("server name"),
            key,
            client,
        }
    }

    /// The key id, `ed25519:<version>`.
    pub fn key_id(&self) -> String {
        format!("ed25519:{}", self.key.version())
    }

    /// The public key, as unpadded base64 (for `pinned_keys`).
    pub fn public_key(&self) -> String {
        Base64::<ruma::serde::base64::Standard, _>::new(self.key.public_key().to_vec()).encode()
    }

    /// Sends a request to `base` (`https://host:port`) for `path`, signed
    /// as `signing` says; `None` sends it unsigned.
    pub fn send(
        &self,
        method: &str,
        base: &str,
        path: &str,
        body: Option<&Value>,
        signing: Option<Signing<'_>>,
    ) -> (u16, Value) {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let method: http::Method = method.parse().expect("method");
        let mut request = self
            .client
            .request(method.clone(), format!("{base}{path}"))
            .header("content-type", "application/json");
        if let Some(signing) = signing {
            let signed = http::Request::builder()
                .method(method)
                .uri(path)
                .body(bytes.clone())
                .expect("request");
            let x_matrix = XMatrix::sign_http_request(
                &signed,
                XMatrixSigningInput::new(
                    signing.origin.to_owned(),
                    signing.destination.to_owned(),
                    &self.key,
                ),
            )
            .expect("sign");
            request = request.header("authorization", HeaderValue::from(&x_matrix));
        }
        let response = request.body(bytes).send().expect("send");
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Sends a request signed honestly, as itself, to `destination`.
    pub fn send_as_self(
        &self,
        method: &str,
        base: &str,
        path: &str,
        body: Option<&Value>,
        destination: &ServerName,
    ) -> (u16, Value) {
        self.send(
            method,
            base,
            path,
            body,
            Some(Signing {
                origin: &self.name,
                destination,
            }),
        )
    }
}

/// The peer's own HTTPS server: it publishes its key, takes transactions,
/// and hands out the events it holds (for the other server's gap filling).
pub struct PeerServer {
    held: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl PeerServer {
    /// Serves on 127.0.0.1 at the peer's port, with the certificate and key
    /// of `pki`, in a thread of its own until the process ends.
    pub fn start(peer: &Peer, pki: &super::pki::TestPki) -> Self {
        use std::sync::Arc;

        let held: Arc<std::sync::Mutex<Vec<Value>>> = Arc::default();
        let key_answer = Arc::new(peer.key_answer());
        let port = peer.name.port().expect("the peer's name has a port");
        let chain = rustls_pki_types::CertificateDer::pem_file_iter(&pki.cert)
            .expect("cert")
            .collect::<Result<Vec<_>, _>>()
            .expect("cert");
        let key = rustls_pki_types::PrivateKeyDer::from_pem_file(&pki.key).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the peer");
        listener.set_nonblocking(true).expect("nonblocking");
        let served = Arc::clone(&held);
        std::thread::spawn(move || {
            let runtime = super::runtime();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (acceptor, held, key_answer) = (
                        acceptor.clone(),
                        Arc::clone(&served),
                        Arc::clone(&key_answer),
                    );
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        let service = hyper::service::service_fn(move |request| {
                            let answer = answer(&request, &held, &key_answer);
                            async move { Ok::<_, std::convert::Infallible>(answer) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                            .await;
                    });
                }
            });
        });
        Self { held }
    }

    /// Holds `event` for whoever asks for missing events or for it by id.
    pub fn hold(&self, event: Value) {
        self.held.lock().expect("held").push(event);
    }
}

fn answer(
    request: &http::Request<hyper::body::Incoming>,
    held: &std::sync::Mutex<Vec<Value>>,
    key_answer: &Value,
) -> http::Response<String> {
    let path = request.uri().path();
    let events = held.lock().expect("held").clone();
    let (status, body) = if path == "/_matrix/key/v2/server" {
        (200, key_answer.clone())
    } else if path.starts_with("/_matrix/federation/v1/send/") {
        (200, serde_json::json!({"pdus": {}}))
    } else if path.starts_with("/_matrix/federation/v1/get_missing_events/") {
        (200, serde_json::json!({"events": events}))
    } else {
        (
            404,
            serde_json::json!({"errcode": "M_NOT_FOUND", "error": "not here"}),
        )
    };
    let mut response = http::Response::new(body.to_string());
    *response.status_mut() = http::StatusCode::from_u16(status).expect("status");
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

impl Peer {
    /// The peer's `/_matrix/key/v2/server` answer, signed by itself.
    pub fn key_answer(&self) -> Value {
        let valid_until = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64
            + 86_400_000;
        let mut object: ruma::CanonicalJsonObject = serde_json::from_value(serde_json::json!({
            "server_name": self.name,
            "valid_until_ts": valid_until,
            "verify_keys": {self.key_id(): {"key": self.public_key()}},
            "old_verify_keys": {},
        }))
        .expect("key answer");
        ruma::signatures::sign_json(self.name.as_str(), &self.key, &mut object).expect("sign");
        serde_json::to_value(object).expect("JSON")
    }

    /// Hashes and signs `event` as this server; returns it with its id.
    pub fn sign_event(&self, event: Value, version: &ruma::RoomVersionId) -> (String, Value) {
        let rules = version.rules().expect("room version rules");
        let mut object: ruma::CanonicalJsonObject =
            serde_json::from_value(event).expect("an event object");
        ruma::signatures::hash_and_sign_event(
            self.name.as_str(),
            &self.key,
            &mut object,
            &rules.redaction,
        )
        .expect("sign the event");
        let id = format!(
            "${}",
            ruma::signatures::reference_hash(&object, &rules).expect("reference hash")
        );
        (id, serde_json::to_value(object).expect("JSON"))
    }

    /// The id of an event as it stands.
    pub fn event_id(event: &Value, version: &ruma::RoomVersionId) -> String {
        let rules = version.rules().expect("room version rules");
        let object: ruma::CanonicalJsonObject =
            serde_json::from_value(event.clone()).expect("an event object");
        format!(
            "${}",
            ruma::signatures::reference_hash(&object, &rules).expect("reference hash")
        )
    }
}
