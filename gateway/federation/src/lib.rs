//! Federation: who is part of it, and proof of who is asking.
//!
//! [`Federation`] holds the homeserver's server name, the allowlist in
//! force (swapped whole when a source changes) and the other servers'
//! signing keys. The pipeline asks it to [`authenticate`](Federation::authenticate)
//! a signed request; what is allowed is then decided by the policy core
//! with the [`FederationFacts`] it hands out.

mod keys;
mod resolve;
pub mod tls;

use std::sync::Arc;

use arc_swap::ArcSwap;
use ruma::api::federation::authentication::{XMatrix, XMatrixVerificationError};
use ruma::{OwnedServerName, ServerName};
use sectorgate_policy::Unauthenticated;
use sectorgate_policy::federation::{Allowlist, FederationFacts};

pub use keys::{KeyStore, MAX_KEY_LIFETIME, self_signed_keys};
pub use resolve::Resolver;

/// The gateway's view of federation.
#[derive(Debug)]
pub struct Federation {
    local: OwnedServerName,
    allowlist: ArcSwap<Allowlist>,
    keys: KeyStore,
}

impl Federation {
    /// Federation for the homeserver `local`, with an initial allowlist.
    pub fn new(local: OwnedServerName, allowlist: Allowlist, keys: KeyStore) -> Self {
        Self {
            local,
            allowlist: ArcSwap::from_pointee(allowlist),
            keys,
        }
    }

    /// The homeserver's server name.
    pub fn local(&self) -> &ServerName {
        &self.local
    }

    /// The allowlist in force now.
    pub fn allowlist(&self) -> Arc<Allowlist> {
        self.allowlist.load_full()
    }

    /// Puts a new allowlist in force.
    pub fn set_allowlist(&self, allowlist: Allowlist) {
        self.allowlist.store(Arc::new(allowlist));
    }

    /// The facts `decide` needs, over an allowlist snapshot.
    pub fn facts<'a>(
        &'a self,
        allowlist: &'a Allowlist,
        origin: Option<&'a ServerName>,
    ) -> FederationFacts<'a> {
        FederationFacts {
            local: &self.local,
            allowlist,
            origin,
        }
    }

    /// Verifies a signed request: addressed to this server, signed by a key
    /// its origin publishes. The caller has checked that the origin is
    /// allowed, so that only allowed servers are asked for keys.
    pub async fn authenticate(
        &self,
        x_matrix: &XMatrix,
        request: &http::Request<&[u8]>,
        now_ms: u64,
    ) -> Result<OwnedServerName, Unauthenticated> {
        if let Some(destination) = &x_matrix.destination
            && destination != &self.local
        {
            return Err(Unauthenticated::WrongDestination(destination.to_string()));
        }
        let key_map = self
            .keys
            .key_map(&x_matrix.origin, x_matrix.key.as_str(), now_ms)
            .await
            .map_err(Unauthenticated::KeysUnavailable)?;
        x_matrix
            .verify_http_request(request, &self.local, &key_map)
            .map_err(|error| match error {
                XMatrixVerificationError::DestinationMismatch => {
                    Unauthenticated::WrongDestination(format!("{:?}", x_matrix.destination))
                }
                other => Unauthenticated::BadSignature(other.to_string()),
            })?;
        Ok(x_matrix.origin.clone())
    }
}
