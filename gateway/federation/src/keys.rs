//! Other servers' signing keys: pinned in the config, or fetched from the
//! server itself (`GET /_matrix/key/v2/server`, never through a notary),
//! checked to be self-signed, and cached until their `valid_until_ts`, for
//! at most seven days.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ruma::canonical_json::CanonicalJsonObject;
use ruma::serde::Base64;
use ruma::signatures::{PublicKeyMap, PublicKeySet};
use ruma::{CanonicalJsonValue, OwnedServerName, ServerName};

use crate::resolve::Resolver;
use crate::{KeyAnswerError, KeyError, KeyFetchError};

/// The longest time fetched keys are believed, whatever they say.
pub const MAX_KEY_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// After a fetch, the shortest wait before the same server is asked again
/// for a key it did not have, or after a failed fetch.
const REFETCH_AFTER: Duration = Duration::from_secs(60);

/// Where a key was found.
enum Source {
    Pinned,
    Cache,
    Fetch,
}

#[derive(Clone, Debug)]
struct Cached {
    keys: PublicKeySet,
    valid_until_ms: u64,
    fetched_at_ms: u64,
}

/// How many key lookups were answered from each source.
#[derive(Debug, Default)]
struct Lookups {
    pinned: AtomicU64,
    cache: AtomicU64,
    fetch: AtomicU64,
    failed: AtomicU64,
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Signing keys by server.
#[derive(Debug)]
pub struct KeyStore {
    lookups: Lookups,
    pinned: BTreeMap<OwnedServerName, PublicKeySet>,
    cache: Mutex<HashMap<OwnedServerName, Cached>>,
    /// When a fetch from a server last failed, and why.
    failed: Mutex<HashMap<OwnedServerName, (u64, Arc<KeyFetchError>)>>,
    client: reqwest::Client,
    resolver: Resolver,
}

impl KeyStore {
    /// A store with `pinned` keys, fetching others with `client`.
    pub fn new(
        pinned: BTreeMap<OwnedServerName, PublicKeySet>,
        client: reqwest::Client,
        resolver: Resolver,
    ) -> Self {
        Self {
            lookups: Lookups::default(),
            pinned,
            cache: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
            client,
            resolver,
        }
    }

    /// The key map to verify a signature by `server`'s `key_id` with. The
    /// caller has checked that `server` is allowed: only such servers are
    /// ever contacted.
    pub async fn key_map(
        &self,
        server: &ServerName,
        key_id: &str,
        now_ms: u64,
    ) -> Result<PublicKeyMap, KeyError> {
        let found = self.look_up(server, key_id, now_ms).await;
        let lookups = &self.lookups;
        count(match &found {
            Ok((_, Source::Pinned)) => &lookups.pinned,
            Ok((_, Source::Cache)) => &lookups.cache,
            Ok((_, Source::Fetch)) => &lookups.fetch,
            Err(_) => &lookups.failed,
        });
        found.map(|(map, _)| map)
    }

    /// Key lookups so far, by source: `pinned`, `cache`, `fetch` (a fetch
    /// that found the key) and `failed` (no key, for whatever reason).
    pub fn lookups(&self) -> [(&'static str, u64); 4] {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let lookups = &self.lookups;
        [
            ("pinned", read(&lookups.pinned)),
            ("cache", read(&lookups.cache)),
            ("fetch", read(&lookups.fetch)),
            ("failed", read(&lookups.failed)),
        ]
    }

    async fn look_up(
        &self,
        server: &ServerName,
        key_id: &str,
        now_ms: u64,
    ) -> Result<(PublicKeyMap, Source), KeyError> {
        if let Some(pinned) = self.pinned.get(server) {
            return pinned
                .get(key_id)
                .map(|key| (single(server, key_id, key), Source::Pinned))
                .ok_or_else(|| KeyError::NotPinned {
                    server: server.to_owned(),
                    key_id: key_id.to_owned(),
                });
        }
        let cached = self.cached(server);
        if let Some(entry) = &cached
            && entry.valid_until_ms > now_ms
            && let Some(key) = entry.keys.get(key_id)
        {
            return Ok((single(server, key_id, key), Source::Cache));
        }
        if let Some(entry) = &cached
            && now_ms.saturating_sub(entry.fetched_at_ms) < millis(REFETCH_AFTER)
            && entry.valid_until_ms > now_ms
        {
            return Err(not_published(server, key_id));
        }
        if let Some((at, why)) = self.failed.lock().ok().and_then(|f| f.get(server).cloned())
            && now_ms.saturating_sub(at) < millis(REFETCH_AFTER)
        {
            return Err(KeyError::Fetch(why));
        }
        let fetched = match self.fetch(server, now_ms).await {
            Ok(fetched) => fetched,
            Err(why) => {
                let why = Arc::new(why);
                if let Ok(mut failed) = self.failed.lock() {
                    failed.insert(server.to_owned(), (now_ms, Arc::clone(&why)));
                }
                return Err(KeyError::Fetch(why));
            }
        };
        let found = fetched
            .keys
            .get(key_id)
            .map(|key| (single(server, key_id, key), Source::Fetch));
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(server.to_owned(), fetched);
        }
        found.ok_or_else(|| not_published(server, key_id))
    }

    /// Where `server` is reached (`host:port`).
    pub async fn address(&self, server: &ServerName) -> String {
        self.resolver.address(&self.client, server).await
    }

    fn cached(&self, server: &ServerName) -> Option<Cached> {
        self.cache.lock().ok()?.get(server).cloned()
    }

    async fn fetch(&self, server: &ServerName, now_ms: u64) -> Result<Cached, KeyFetchError> {
        let address = self.resolver.address(&self.client, server).await;
        let url = format!("https://{address}/_matrix/key/v2/server");
        let response = match self.client.get(&url).send().await {
            Ok(response) => response,
            Err(source) => return Err(KeyFetchError::Request { url, source }),
        };
        if !response.status().is_success() {
            let status = response.status();
            return Err(KeyFetchError::Status { url, status });
        }
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(source) => return Err(KeyFetchError::Body { url, source }),
        };
        let keys = self_signed_keys(server, &body)?;
        let tracing_keys: Vec<&String> = keys.0.keys().collect();
        tracing::info!(%server, keys = ?tracing_keys, "fetched server keys");
        Ok(Cached {
            keys: keys.0,
            valid_until_ms: keys.1.min(now_ms + millis(MAX_KEY_LIFETIME)),
            fetched_at_ms: now_ms,
        })
    }
}

/// The current verify keys in a `/_matrix/key/v2/server` answer, and how long
/// they are valid, once the answer is shown to be `server`'s own and signed
/// by those keys.
pub fn self_signed_keys(
    server: &ServerName,
    body: &[u8],
) -> Result<(PublicKeySet, u64), KeyAnswerError> {
    let mut object: CanonicalJsonObject =
        serde_json::from_slice(body).map_err(KeyAnswerError::NotJson)?;
    let named = match object.get("server_name") {
        Some(CanonicalJsonValue::String(name)) => name.clone(),
        _ => return Err(KeyAnswerError::NoServerName),
    };
    if named != server.as_str() {
        return Err(KeyAnswerError::OtherServer {
            named,
            server: server.to_owned(),
        });
    }
    let valid_until_ms = match object.get("valid_until_ts") {
        Some(CanonicalJsonValue::Integer(ts)) => u64::try_from(i64::from(*ts)).unwrap_or(0),
        _ => return Err(KeyAnswerError::NoValidUntil),
    };
    let mut keys = PublicKeySet::new();
    if let Some(CanonicalJsonValue::Object(verify_keys)) = object.get("verify_keys") {
        for (id, entry) in verify_keys {
            let Some(CanonicalJsonValue::String(key)) = entry_key(entry) else {
                return Err(KeyAnswerError::KeyMissing { id: id.clone() });
            };
            let key = Base64::parse(key).map_err(|source| KeyAnswerError::BadKey {
                id: id.clone(),
                source,
            })?;
            keys.insert(id.clone(), key);
        }
    }
    if keys.is_empty() {
        return Err(KeyAnswerError::NoVerifyKeys);
    }
    // Only the server's own signature counts; a notary's is not asked for.
    match object.get_mut("signatures") {
        Some(CanonicalJsonValue::Object(signatures))
            if signatures.contains_key(server.as_str()) =>
        {
            signatures.retain(|entity, _| entity == server.as_str());
        }
        _ => {
            return Err(KeyAnswerError::Unsigned {
                server: server.to_owned(),
            });
        }
    }
    let map = PublicKeyMap::from([(server.to_string(), keys.clone())]);
    ruma::signatures::verify_json(&map, &object).map_err(KeyAnswerError::BadSignature)?;
    Ok((keys, valid_until_ms))
}

fn not_published(server: &ServerName, key_id: &str) -> KeyError {
    KeyError::NotPublished {
        server: server.to_owned(),
        key_id: key_id.to_owned(),
    }
}

fn entry_key(entry: &CanonicalJsonValue) -> Option<&CanonicalJsonValue> {
    match entry {
        CanonicalJsonValue::Object(object) => object.get("key"),
        _ => None,
    }
}

fn single(server: &ServerName, key_id: &str, key: &Base64) -> PublicKeyMap {
    PublicKeyMap::from([(
        server.to_string(),
        PublicKeySet::from([(key_id.to_owned(), key.clone())]),
    )])
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, reason = "tests")]

    use ruma::signatures::Ed25519KeyPair;
    use serde_json::json;

    use super::*;

    fn key_answer(
        server: &str,
        signer: Option<&Ed25519KeyPair>,
        published: &Ed25519KeyPair,
    ) -> Vec<u8> {
        let public =
            Base64::<ruma::serde::base64::Standard, _>::new(published.public_key().to_vec());
        let mut object: CanonicalJsonObject = serde_json::from_value(json!({
            "server_name": server,
            "valid_until_ts": 4_000_000_000_000_u64,
            "verify_keys": {"ed25519:k1": {"key": public.encode()}},
            "old_verify_keys": {},
        }))
        .expect("object");
        if let Some(signer) = signer {
            ruma::signatures::sign_json(server, signer, &mut object).expect("sign");
        }
        serde_json::to_vec(&object).expect("bytes")
    }

    fn key(version: &str) -> Ed25519KeyPair {
        Ed25519KeyPair::from_der(&Ed25519KeyPair::generate(), version.to_owned()).expect("key")
    }

    #[test]
    fn a_self_signed_answer_gives_its_keys() {
        let key = key("k1");
        let server: &ServerName = "hs2.example.org".try_into().expect("name");
        let (keys, valid_until) =
            self_signed_keys(server, &key_answer("hs2.example.org", Some(&key), &key))
                .expect("keys");
        assert!(keys.contains_key("ed25519:k1"));
        assert_eq!(valid_until, 4_000_000_000_000);
    }

    #[test]
    fn unsigned_foreign_or_forged_answers_are_refused() {
        let key = key("k1");
        let other = key_pair_other();
        let server: &ServerName = "hs2.example.org".try_into().expect("name");
        let refusal = |answer: Vec<u8>| self_signed_keys(server, &answer).expect_err("refused");
        let unsigned = refusal(key_answer("hs2.example.org", None, &key));
        assert!(
            matches!(unsigned, KeyAnswerError::Unsigned { .. }),
            "{unsigned:?}"
        );
        assert_eq!(
            unsigned.to_string(),
            "the key answer is not signed by hs2.example.org"
        );
        let foreign = refusal(key_answer("hs3.example.org", Some(&key), &key));
        assert_eq!(
            foreign.to_string(),
            "the key answer is for hs3.example.org, not hs2.example.org"
        );
        let forged = refusal(key_answer("hs2.example.org", Some(&other), &key));
        assert!(
            matches!(forged, KeyAnswerError::BadSignature(_)),
            "{forged:?}"
        );
        let not_an_object = refusal(b"[]".to_vec());
        assert!(
            matches!(not_an_object, KeyAnswerError::NotJson(_)),
            "{not_an_object:?}"
        );
    }

    #[tokio::test]
    async fn a_key_a_pinned_server_lacks_is_named() {
        let key = key("k1");
        let server: OwnedServerName = "hs2.example.org".try_into().expect("name");
        let public = Base64::new(key.public_key().to_vec());
        let pinned = BTreeMap::from([(
            server.clone(),
            PublicKeySet::from([("ed25519:k1".to_owned(), public)]),
        )]);
        let client = crate::tls::http_client(&[], Duration::from_secs(1)).expect("client");
        let keys = KeyStore::new(pinned, client, Resolver::new(BTreeMap::new()));
        assert!(keys.key_map(&server, "ed25519:k1", 0).await.is_ok());
        let missing = keys
            .key_map(&server, "ed25519:k2", 0)
            .await
            .expect_err("not pinned");
        assert!(matches!(missing, KeyError::NotPinned { .. }), "{missing:?}");
        assert_eq!(
            missing.to_string(),
            "ed25519:k2 is not among hs2.example.org's pinned keys"
        );
    }

    fn key_pair_other() -> Ed25519KeyPair {
        key("k1")
    }
}
