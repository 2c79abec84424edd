//! A leaf: the bytes the Merkle tree hashes for one record.
//!
//! - **Committed** (new logs): `0x02`, a 16-byte random nonce, then the
//!   record's canonical bytes. Pruning deletes the record and its nonce
//!   together; the leaf hash that stays cannot be matched against a guess
//!   of the record, since the guess would need the nonce too.
//! - **Plain** (logs begun before commitments): the canonical bytes alone.
//!   A canonical record starts with `{`, so the first byte tells the two
//!   apart. A log keeps the kind it began with.

use crate::error::RecordError;

/// The first byte of a committed leaf.
pub const COMMITTED: u8 = 0x02;
/// The nonce's length.
pub const NONCE_BYTES: usize = 16;

/// The committed leaf of `record` with `nonce`.
pub fn committed_with(nonce: &[u8; NONCE_BYTES], record: &[u8]) -> Vec<u8> {
    let mut leaf = Vec::with_capacity(1 + NONCE_BYTES + record.len());
    leaf.push(COMMITTED);
    leaf.extend_from_slice(nonce);
    leaf.extend_from_slice(record);
    leaf
}

/// The committed leaf of `record`, with a fresh random nonce.
pub fn committed(record: &[u8]) -> Vec<u8> {
    committed_with(&rand::random(), record)
}

/// Whether `leaf` is a committed leaf.
pub fn is_committed(leaf: &[u8]) -> bool {
    leaf.first() == Some(&COMMITTED)
}

/// The nonce (of a committed leaf) and the record a leaf holds.
pub fn split(leaf: &[u8]) -> Result<(Option<&[u8]>, &[u8]), RecordError> {
    if !is_committed(leaf) {
        return Ok((None, leaf));
    }
    let nonce = leaf
        .get(1..=NONCE_BYTES)
        .ok_or_else(|| RecordError::Malformed("a committed leaf cut short".into()))?;
    Ok((Some(nonce), &leaf[1 + NONCE_BYTES..]))
}

/// `leaf` as the other kind: plain if it is committed, committed (with a
/// fresh nonce) if it is plain.
pub fn converted(leaf: &[u8], commit: bool) -> Result<Vec<u8>, RecordError> {
    let (_, record) = split(leaf)?;
    Ok(if commit {
        committed(record)
    } else {
        record.to_vec()
    })
}
