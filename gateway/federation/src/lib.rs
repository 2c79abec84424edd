//! Federation: who is part of it, and proof of who is asking.
//!
//! [`Federation`] holds the homeserver's server name, the allowlist in
//! force (swapped whole when a source changes) and the other servers'
//! signing keys. The pipeline asks it to [`authenticate`](Federation::authenticate)
//! a signed request; what is allowed is then decided by the policy core
//! with the [`FederationFacts`] it hands out.

mod error;
mod keys;
pub mod list;
mod refresh;
mod resolve;
pub mod tls;

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use ruma::api::federation::authentication::{XMatrix, XMatrixVerificationError};
use ruma::{OwnedServerName, ServerName};
use sectorgate_policy::Unauthenticated;
use sectorgate_policy::federation::{Allowlist, FederationFacts};

pub use error::{
    JwsError, KeyAnswerError, KeyError, KeyFetchError, ListError, PayloadError, TlsError,
};
pub use keys::{KeyStore, MAX_KEY_LIFETIME, self_signed_keys};
pub use list::{ListStatus, SignedList};
pub use refresh::spawn_refresher;
pub use resolve::Resolver;

/// The gateway's view of federation.
#[derive(Debug)]
pub struct Federation {
    local: OwnedServerName,
    static_list: ArcSwap<Allowlist>,
    signed: Option<SignedList>,
    allowlist: ArcSwap<Allowlist>,
    /// Held while the allowlist in force is built, so that two sources
    /// changing at once cannot leave the older view in force.
    recomposing: std::sync::Mutex<()>,
    keys: KeyStore,
    client: reqwest::Client,
    wanted: tokio::sync::Notify,
}

impl Federation {
    /// Federation for the homeserver `local`: the static allowlist, and a
    /// signed list when one is configured (until it is had, federation is
    /// closed). `client` fetches the list.
    pub fn new(
        local: OwnedServerName,
        static_list: Allowlist,
        signed: Option<SignedList>,
        keys: KeyStore,
        client: reqwest::Client,
    ) -> Self {
        let federation = Self {
            local,
            allowlist: ArcSwap::from_pointee(static_list.clone()),
            static_list: ArcSwap::from_pointee(static_list),
            recomposing: std::sync::Mutex::new(()),
            signed,
            keys,
            client,
            wanted: tokio::sync::Notify::new(),
        };
        if let Some(signed) = &federation.signed {
            signed.load_cache(SystemTime::now());
        }
        federation.recompose(SystemTime::now());
        federation
    }

    /// Where `server` is reached (`host:port`): configured, explicit, or
    /// by its `.well-known/matrix/server` delegation.
    pub async fn address(&self, server: &ServerName) -> String {
        self.keys.address(server).await
    }

    /// The signed list, when one is configured.
    pub fn signed_list(&self) -> Option<&SignedList> {
        self.signed.as_ref()
    }

    /// Builds the allowlist in force from the static list and the signed
    /// list (stale when the signed list is missing or too old).
    pub fn recompose(&self, now: SystemTime) {
        let _one_at_a_time = self
            .recomposing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut allowlist = Allowlist::clone(&self.static_list.load());
        if let Some(signed) = &self.signed {
            let source = format!("signed list ({})", signed.config().source);
            match signed.in_force() {
                Some(list) => {
                    let domains = &list.payload.domains;
                    allowlist.extend(
                        domains.iter().filter_map(|d| {
                            sectorgate_policy::federation::ServerPattern::parse(&d.domain)
                        }),
                        domains
                            .iter()
                            .filter(|d| d.is_insurance)
                            .map(|d| d.domain.clone()),
                        format!("{source} version {}", list.payload.version),
                    );
                }
                None => allowlist.extend([], [], source),
            }
            if signed.is_stale(now) {
                allowlist.mark_stale();
            }
        }
        self.allowlist.store(Arc::new(allowlist));
    }

    /// Puts a new static allowlist (from a reloaded config) in force,
    /// with the signed list as it is.
    pub fn replace_static(&self, static_list: Allowlist) {
        self.static_list.store(Arc::new(static_list));
        self.recompose(SystemTime::now());
    }

    /// Asks for the signed list to be fetched soon (an unknown server
    /// showed up); the refresher limits how often this is done.
    pub fn want_refresh(&self) {
        if self.signed.is_some() {
            self.wanted.notify_one();
        }
    }

    /// Signing-key lookups so far, by source (see [`KeyStore::lookups`]).
    pub fn key_lookups(&self) -> [(&'static str, u64); 4] {
        self.keys.lookups()
    }

    /// The homeserver's server name.
    pub fn local(&self) -> &ServerName {
        &self.local
    }

    /// The allowlist in force now.
    pub fn allowlist(&self) -> Arc<Allowlist> {
        self.allowlist.load_full()
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
            .map_err(|error| Unauthenticated::KeysUnavailable(error.to_string()))?;
        x_matrix
            .verify_http_request(request, &self.local, &key_map)
            .map_err(|error| match error {
                XMatrixVerificationError::DestinationMismatch => Unauthenticated::WrongDestination(
                    x_matrix
                        .destination
                        .as_ref()
                        .map_or_else(|| "(none)".to_owned(), ToString::to_string),
                ),
                other => Unauthenticated::BadSignature(other.to_string()),
            })?;
        Ok(x_matrix.origin.clone())
    }
}
