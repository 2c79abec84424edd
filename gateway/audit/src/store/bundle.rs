//! A bundle: the records of one commit, stored as one row (as C2SP
//! tlog-tiles bundles entries), so a commit costs one row however many
//! records it holds. The Merkle tree is over the records, not the bundles.
//!
//! `records`: each record as a 4-byte big-endian length and its bytes; a
//! pruned record has length 0 (a record is never empty). `hashes`: each
//! record's stored hashes in order (see `merkle`), 32 bytes each; their
//! number follows from the record's sequence number.

use crate::merkle::stored_count;
use crate::store::LeafRow;

/// The `records` blob of `records` (`None`: pruned).
pub fn encode_records<'a>(records: impl IntoIterator<Item = Option<&'a [u8]>>) -> Vec<u8> {
    let mut blob = Vec::new();
    for record in records {
        let bytes = record.unwrap_or_default();
        let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        blob.extend_from_slice(&length.to_be_bytes());
        blob.extend_from_slice(&bytes[..usize::try_from(length).unwrap_or(0)]);
    }
    blob
}

/// Splits a bundle into its rows; `None` if its blobs do not hold exactly
/// `count` records from `first_seq` on. A `records` of `None` (the whole
/// bundle pruned) gives rows without content.
pub fn decode(
    first_seq: u64,
    count: u64,
    recorded_at: i64,
    records: Option<&[u8]>,
    hashes: &[u8],
) -> Option<Vec<LeafRow>> {
    let count = usize::try_from(count).ok()?;
    let mut rows = Vec::with_capacity(count);
    let mut records = records;
    let mut hashes = hashes;
    for index in 0..count {
        let seq = first_seq.checked_add(u64::try_from(index).ok()?)?;
        let (stored, rest) = hashes.split_at_checked(stored_count(seq) * 32)?;
        hashes = rest;
        let record = match &mut records {
            None => None,
            Some(blob) => {
                let (length, rest) = blob.split_at_checked(4)?;
                let length = usize::try_from(u32::from_be_bytes(length.try_into().ok()?)).ok()?;
                let (bytes, rest) = rest.split_at_checked(length)?;
                *blob = rest;
                (length > 0).then(|| bytes.to_vec())
            }
        };
        rows.push(LeafRow {
            seq,
            recorded_at,
            record,
            hashes: stored.to_vec(),
        });
    }
    let whole = hashes.is_empty() && records.is_none_or(<[u8]>::is_empty);
    whole.then_some(rows)
}
