//! Signed federation lists: fetched from a URL (gematik's directory) or read
//! from a file, verified ([`jws`]), and kept while they are fresh.
//!
//! - A list that does not verify, does not parse or is older than the one
//!   in force is refused; the one in force stays.
//! - The age of the list in force counts from the last time a valid list
//!   was had (a `204` for "nothing newer" counts). Past the maximum age the
//!   allowlist admits nobody until a valid list arrives again.
//! - The last valid list is kept in a cache file, so a restart does not
//!   lose it (its age still counts from when it was had).

pub mod jws;
mod payload;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use x509_cert::Certificate;

use crate::ListError;

pub use payload::{DomainEntry, Payload};

/// Where the list comes from.
#[derive(Clone, Debug)]
pub enum ListSource {
    /// An HTTPS URL (asked with `?version=N` once a list is in force).
    Url {
        /// The list's URL.
        url: String,
        /// A bearer token file for the directory, if it needs one.
        token_file: Option<PathBuf>,
    },
    /// A file, read again at every refresh.
    File(PathBuf),
}

impl std::fmt::Display for ListSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Url { url, .. } => f.write_str(url),
            Self::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// How a signed list is had and checked.
#[derive(Clone, Debug)]
pub struct ListConfig {
    /// Where it comes from.
    pub source: ListSource,
    /// The certificates the signer must chain to.
    pub anchors: Vec<Certificate>,
    /// How often it is fetched.
    pub refresh: Duration,
    /// How old it may grow before federation closes.
    pub max_age: Duration,
    /// Where the last valid list is kept.
    pub cache_file: Option<PathBuf>,
}

/// The list in force.
#[derive(Clone, Debug)]
pub struct InForce {
    /// Its payload.
    pub payload: Payload,
    /// When a valid list was last had.
    pub had_at: SystemTime,
    /// The signer's certificate subject.
    pub signer: String,
}

/// What `federation list` and the admin endpoint show.
#[derive(Clone, Debug, Serialize)]
pub struct ListStatus {
    /// Where the list comes from.
    pub source: String,
    /// The version in force, if any.
    pub version: Option<u64>,
    /// Its age in seconds.
    pub age_secs: Option<u64>,
    /// The maximum age in seconds.
    pub max_age_secs: u64,
    /// Whether it is past its maximum age (or missing): federation is closed.
    pub stale: bool,
    /// How many servers it names.
    pub domains: usize,
    /// Who signed it.
    pub signer: Option<String>,
    /// Why the last refresh failed, if it did.
    pub last_error: Option<String>,
}

/// A signed list and its state.
#[derive(Debug)]
pub struct SignedList {
    config: ListConfig,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    in_force: Option<InForce>,
    last_error: Option<String>,
}

/// What a fetch brought.
enum Fetched {
    /// A list to verify.
    List(String),
    /// The source has nothing newer than the version in force.
    NothingNewer,
}

impl SignedList {
    /// A list not yet had; [`load_cache`](Self::load_cache) and
    /// [`refresh`](Self::refresh) bring one.
    pub fn new(config: ListConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::default()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ListConfig {
        &self.config
    }

    /// The list in force, if any.
    pub fn in_force(&self) -> Option<InForce> {
        self.state.lock().ok()?.in_force.clone()
    }

    /// Whether the list in force is missing or past its maximum age.
    pub fn is_stale(&self, now: SystemTime) -> bool {
        self.in_force().is_none_or(|list| {
            now.duration_since(list.had_at)
                .is_ok_and(|age| age > self.config.max_age)
        })
    }

    /// Puts the cached list in force, dated by the cache file's time.
    pub fn load_cache(&self, now: SystemTime) {
        let Some(path) = &self.config.cache_file else {
            return;
        };
        let (Ok(text), Ok(modified)) = (
            std::fs::read_to_string(path),
            std::fs::metadata(path).and_then(|m| m.modified()),
        ) else {
            return;
        };
        match self.accept(&text, now) {
            Ok(mut list) => {
                list.had_at = modified.min(now);
                tracing::info!(version = list.payload.version, cache = %path.display(), "federation list loaded from the cache");
                self.put(list, None);
            }
            Err(error) => {
                tracing::warn!(%error, cache = %path.display(), "the cached federation list is not used")
            }
        }
    }

    /// Fetches and verifies the list; on success it is in force (and
    /// cached), on failure the one in force stays and the error is kept.
    pub async fn refresh(
        &self,
        client: &reqwest::Client,
        now: SystemTime,
    ) -> Result<u64, ListError> {
        let result = match self.fetch(client).await {
            Ok(Fetched::NothingNewer) => match self.in_force() {
                Some(mut list) => {
                    list.had_at = now;
                    let version = list.payload.version;
                    self.put(list, None);
                    return Ok(version);
                }
                None => Err(ListError::NoList),
            },
            Ok(Fetched::List(text)) => self.accept(&text, now).map(|list| (list, text)),
            Err(error) => Err(error),
        };
        match result {
            Ok((list, text)) => {
                let version = list.payload.version;
                if let Some(path) = &self.config.cache_file
                    && let Err(error) = std::fs::write(path, text)
                {
                    tracing::warn!(%error, cache = %path.display(), "cannot cache the federation list");
                }
                self.put(list, None);
                Ok(version)
            }
            Err(error) => {
                tracing::error!(%error, source = %self.config.source, "federation list refused; the one in force stays");
                if let Ok(mut state) = self.state.lock() {
                    state.last_error = Some(error.to_string());
                }
                Err(error)
            }
        }
    }

    /// Verifies a list and checks it is not older than the one in force.
    fn accept(&self, text: &str, now: SystemTime) -> Result<InForce, ListError> {
        let verified = jws::verify(text, &self.config.anchors, now)?;
        let payload = Payload::parse(&verified.payload)?;
        if let Some(current) = self.in_force()
            && payload.version < current.payload.version
        {
            return Err(ListError::Older {
                version: payload.version,
                current: current.payload.version,
            });
        }
        Ok(InForce {
            payload,
            had_at: now,
            signer: verified.signer,
        })
    }

    fn put(&self, list: InForce, error: Option<String>) {
        if let Ok(mut state) = self.state.lock() {
            state.in_force = Some(list);
            state.last_error = error;
        }
    }

    async fn fetch(&self, client: &reqwest::Client) -> Result<Fetched, ListError> {
        match &self.config.source {
            ListSource::File(path) => read_file(path).map(Fetched::List),
            ListSource::Url { url, token_file } => {
                let url = match self.in_force() {
                    Some(list) => {
                        let join = if url.contains('?') { '&' } else { '?' };
                        format!("{url}{join}version={}", list.payload.version)
                    }
                    None => url.clone(),
                };
                let mut request = client.get(&url);
                if let Some(path) = token_file {
                    request = request.bearer_auth(read_file(path)?.trim());
                }
                let response = match request.send().await {
                    Ok(response) => response,
                    Err(source) => return Err(ListError::Request { url, source }),
                };
                match response.status().as_u16() {
                    204 => Ok(Fetched::NothingNewer),
                    200 => match response.text().await {
                        Ok(text) => Ok(Fetched::List(text)),
                        Err(source) => Err(ListError::Body { url, source }),
                    },
                    status => Err(ListError::Status { url, status }),
                }
            }
        }
    }

    /// The state, for operators (`last_error` is the message of the last
    /// refresh's [`ListError`]).
    pub fn status(&self, now: SystemTime) -> ListStatus {
        let (in_force, last_error) = match self.state.lock() {
            Ok(state) => (state.in_force.clone(), state.last_error.clone()),
            Err(_) => (None, Some("the list's state is unreadable".to_owned())),
        };
        ListStatus {
            source: self.config.source.to_string(),
            version: in_force.as_ref().map(|list| list.payload.version),
            age_secs: in_force
                .as_ref()
                .and_then(|list| now.duration_since(list.had_at).ok())
                .map(|age| age.as_secs()),
            max_age_secs: self.config.max_age.as_secs(),
            stale: self.is_stale(now),
            domains: in_force
                .as_ref()
                .map_or(0, |list| list.payload.domains.len()),
            signer: in_force.map(|list| list.signer),
            last_error,
        }
    }
}

/// The text of a file the list is read from (the list, or a token).
fn read_file(path: &Path) -> Result<String, ListError> {
    std::fs::read_to_string(path).map_err(|source| ListError::File {
        path: path.to_path_buf(),
        source,
    })
}
