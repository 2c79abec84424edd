//! [`Pseudonymiser`]: keyed hashing of identifiers for the audit log.
//!
//! A pseudonym is `HMAC-SHA-256(key, domain ‖ 0x00 ‖ value)`, truncated to
//! 128 bits and hex-encoded. The same value always gives the same pseudonym
//! under one key, so an auditor can follow one actor through the log, but
//! cannot recover who it is without the key. The key lives apart from the log.

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::AuditError;

/// Keyed pseudonymisation of identifiers.
#[derive(Clone)]
pub struct Pseudonymiser {
    key: [u8; 32],
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymiser { key: <redacted> }")
    }
}

impl Pseudonymiser {
    /// A pseudonymiser with this key.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// Loads the key from `path` (64 hex characters), creating it with a
    /// random key (mode 0600) if the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, AuditError> {
        let error = |source| AuditError::Key {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let mut key = [0u8; 32];
                hex::decode_to_slice(text.trim(), &mut key)
                    .map_err(|e| error(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
                Ok(Self::new(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                write_private(path, &hex::encode(key)).map_err(error)?;
                Ok(Self::new(key))
            }
            Err(e) => Err(error(e)),
        }
    }

    /// The pseudonym of `value` within `domain` (e.g. `access_token`).
    pub fn pseudonym(&self, domain: &str, value: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            // HMAC takes keys of any length; this branch cannot be reached.
            return String::new();
        };
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        hex::encode(&digest[..16])
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}
