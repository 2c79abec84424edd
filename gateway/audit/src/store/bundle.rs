//! A bundle: the records of one commit, stored as one row (as C2SP
//! tlog-tiles bundles entries), so a commit costs one row however many
//! records it holds. The Merkle tree is over the records, not the bundles.
//!
//! `records`: each record as a 4-byte big-endian length and its bytes; a
//! pruned record has length 0 (a record is never empty). `hashes`: each
//! record's stored hashes in order (see `merkle`), 32 bytes each; their
//! number follows from the record's sequence number.

use tlog_tiles::Hash;

use crate::merkle::stored_count;
use crate::store::LeafRow;

/// A commit's records, framed as they are stored, built record by record.
#[derive(Debug)]
pub struct Bundle {
    /// The sequence number of its first record.
    pub first_seq: u64,
    /// Records in it.
    pub count: u64,
    /// When its first record was made, in milliseconds since the Unix epoch.
    pub recorded_at: i64,
    /// The `records` blob.
    pub records: Vec<u8>,
    /// The `hashes` blob.
    pub hashes: Vec<u8>,
}

impl Bundle {
    /// An empty bundle whose first record will be `first_seq`, with room
    /// for `records` records of about `record_bytes` bytes each.
    pub fn starting_at(first_seq: u64, records: usize, record_bytes: usize) -> Self {
        Self {
            first_seq,
            count: 0,
            recorded_at: 0,
            records: Vec::with_capacity(records * (4 + record_bytes)),
            hashes: Vec::with_capacity(records * 2 * 32),
        }
    }

    /// Adds the next record (its stored hashes go in with [`Bundle::add_hash`]).
    pub fn add_record(&mut self, recorded_at: i64, record: &[u8]) {
        if self.count == 0 {
            self.recorded_at = recorded_at;
        }
        self.count += 1;
        frame(&mut self.records, record);
    }

    /// Adds one of the last record's stored hashes.
    pub fn add_hash(&mut self, hash: Hash) {
        self.hashes.extend_from_slice(&hash.0);
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Appends one record to a `records` blob: its length, then its bytes.
fn frame(blob: &mut Vec<u8>, record: &[u8]) {
    let length = u32::try_from(record.len()).unwrap_or(u32::MAX);
    blob.extend_from_slice(&length.to_be_bytes());
    blob.extend_from_slice(&record[..usize::try_from(length).unwrap_or(0)]);
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
