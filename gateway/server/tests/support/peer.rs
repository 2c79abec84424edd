//! A federation peer written here, with its own Ed25519 signing key: it
//! signs requests with ruma exactly as a homeserver does, and can be told
//! to lie (wrong destination, another server's name, a key nobody knows).

use std::path::Path;

use http::HeaderValue;
use ruma::api::federation::authentication::{XMatrix, XMatrixSigningInput};
use ruma::serde::Base64;
use ruma::signatures::Ed25519KeyPair;
use ruma::{OwnedServerName, ServerName};
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
