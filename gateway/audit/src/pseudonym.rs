//! [`Pseudonymiser`]: keyed pseudonyms of identifiers, under keys that rotate.
//!
//! A pseudonym is `<key id>:<hex>`, where the hex is
//! `HMAC-SHA-256(key, domain ‖ 0x00 ‖ value)` truncated to 128 bits. Time is
//! cut into periods of fixed length (epoch-aligned); each period has its own
//! random key, in its own file `<key id>.key` in the key folder, named by the
//! period's first day (`2026-11-01`). The same user gets the same pseudonym
//! within a period, so an auditor can follow one actor, and different ones
//! across periods. Deleting a period's key (`audit prune`) makes its
//! pseudonyms unlinkable for good; the log still verifies, since it holds
//! the pseudonyms, not the keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::AuditError;

const DAY_MS: i64 = 86_400_000;

/// A period's keyed HMAC state and its key's id.
type PeriodKey = (Hmac<Sha256>, Arc<str>);

/// Keyed pseudonymisation of identifiers, with a key per period.
pub struct Pseudonymiser {
    dir: PathBuf,
    period_ms: i64,
    /// Keyed HMAC states by period, with the key's id: cloning one skips
    /// the keying.
    keys: Mutex<BTreeMap<i64, PeriodKey>>,
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pseudonymiser")
            .field("dir", &self.dir)
            .field("period_ms", &self.period_ms)
            .finish_non_exhaustive()
    }
}

impl Pseudonymiser {
    /// Keys in `dir` (created, mode 0700, if missing), one per `period`
    /// (rounded to whole days, at least one).
    pub fn open(dir: &Path, period: Duration) -> Result<Self, AuditError> {
        create_private_dir(dir).map_err(|source| key_error(dir, source))?;
        let days = i64::try_from(period.as_secs() / 86_400).unwrap_or(i64::MAX / DAY_MS);
        Ok(Self {
            dir: dir.to_owned(),
            period_ms: days.max(1) * DAY_MS,
            keys: Mutex::new(BTreeMap::new()),
        })
    }

    /// The pseudonym of `value` within `domain` (`user`, `server`,
    /// `access_token`) under the key of the period holding `at_ms`.
    pub fn pseudonym(&self, domain: &str, value: &str, at_ms: i64) -> Result<String, AuditError> {
        let period = at_ms.div_euclid(self.period_ms);
        let (mut mac, key_id) = self.key(period)?;
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let mut digits = [0; 32];
        // 16 bytes are exactly 32 hex digits.
        let _ = hex::encode_to_slice(&mac.finalize().into_bytes()[..16], &mut digits);
        let mut pseudonym = String::with_capacity(key_id.len() + 1 + digits.len());
        pseudonym.push_str(&key_id);
        pseudonym.push(':');
        pseudonym.push_str(std::str::from_utf8(&digits).unwrap_or_default());
        Ok(pseudonym)
    }

    /// The key ids (first day of their period) of the keys whose period
    /// ended before `before_ms`; `audit prune` deletes them.
    pub fn expired(&self, before_ms: i64) -> Result<Vec<String>, AuditError> {
        let mut expired = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(|e| key_error(&self.dir, e))? {
            let name = entry.map_err(|e| key_error(&self.dir, e))?.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".key")) else {
                continue;
            };
            if let Some(start) = day_ms(id)
                && start + self.period_ms <= before_ms
            {
                expired.push(id.to_owned());
            }
        }
        expired.sort();
        Ok(expired)
    }

    /// Deletes the key `id` (as listed by [`Self::expired`]).
    pub fn delete(&self, id: &str) -> Result<(), AuditError> {
        let path = self.dir.join(format!("{id}.key"));
        std::fs::remove_file(&path).map_err(|e| key_error(&path, e))?;
        if let (Some(start), Ok(mut keys)) = (day_ms(id), self.keys.lock()) {
            keys.remove(&start.div_euclid(self.period_ms));
        }
        Ok(())
    }

    fn key_id(&self, period: i64) -> String {
        let start =
            UNIX_EPOCH + Duration::from_millis(u64::try_from(period * self.period_ms).unwrap_or(0));
        humantime::format_rfc3339(start)
            .to_string()
            .chars()
            .take(10)
            .collect()
    }

    /// The keyed HMAC state of a period and its key's id, the key loaded or
    /// created.
    fn key(&self, period: i64) -> Result<PeriodKey, AuditError> {
        let mut keys = self.keys.lock().map_err(|_| AuditError::Closed)?;
        if let Some((mac, id)) = keys.get(&period) {
            return Ok((mac.clone(), Arc::clone(id)));
        }
        let id: Arc<str> = self.key_id(period).into();
        let path = self.dir.join(format!("{id}.key"));
        let key = load_or_create(&path)?;
        // HMAC takes keys of any length: this cannot fail.
        let mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| AuditError::Closed)?;
        keys.insert(period, (mac.clone(), Arc::clone(&id)));
        Ok((mac, id))
    }
}

/// Milliseconds since the epoch of a `YYYY-MM-DD` key id.
fn day_ms(id: &str) -> Option<i64> {
    let at = humantime::parse_rfc3339(&format!("{id}T00:00:00Z")).ok()?;
    let ms = at.duration_since(UNIX_EPOCH).ok()?.as_millis();
    i64::try_from(ms).ok()
}

fn key_error(path: &Path, source: std::io::Error) -> AuditError {
    AuditError::Key {
        path: path.display().to_string(),
        source,
    }
}

/// Reads a key (64 hex characters), or creates a random one (mode 0600).
pub(crate) fn load_or_create(path: &Path) -> Result<[u8; 32], AuditError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut key = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut key).map_err(|e| {
                key_error(
                    path,
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            })?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = rand::random();
            match write_private(path, &hex::encode(key)) {
                Ok(()) => Ok(key),
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(path),
                Err(e) => Err(key_error(path, e)),
            }
        }
        Err(e) => Err(key_error(path, e)),
    }
}

/// Creates `path` with `text`, readable by its owner only; fails if it exists.
#[cfg(unix)]
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}
