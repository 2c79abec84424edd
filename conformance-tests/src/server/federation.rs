//! The suite's federation peer: a server name of its own with a fresh
//! Ed25519 key, signing requests with ruma as a homeserver does.

use http::HeaderValue;
use ruma::api::federation::authentication::{XMatrix, XMatrixSigningInput};
use ruma::signatures::Ed25519KeyPair;
use ruma::{MilliSecondsSinceUnixEpoch, OwnedServerName};
use serde_json::json;

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
        let destination: OwnedServerName = destination
            .try_into()
            .map_err(|_| format!("{destination:?} is not a server name"))?;
        let path = format!("/_matrix/federation/v1/send/{}", super::txn_id());
        let body = json!({
            "origin": self.name,
            "origin_server_ts": MilliSecondsSinceUnixEpoch::now(),
            "pdus": [],
            "edus": [],
        })
        .to_string()
        .into_bytes();
        let signed = http::Request::builder()
            .method("PUT")
            .uri(&path)
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
            "PUT",
            &path,
            None,
            &[("authorization".to_owned(), header.to_owned())],
            body,
        )
    }
}
