//! The Merkle tree over the log's records, as RFC 6962/9162 define it:
//! leaf = SHA-256(0x00 ‖ record), node = SHA-256(0x01 ‖ left ‖ right).
//!
//! The hashing, the proofs and their checks are `tlog_tiles`' (a port of
//! Go's `sumdb/tlog`). Storage follows that package's model: appending
//! record `n` stores its leaf hash and the hash of every subtree it
//! completes (one more for each trailing one bit of `n`). Those hashes are
//! kept with the record, in one blob, so the hashes of pruned records stay
//! and every later proof can still be made.

use tlog_tiles::{EMPTY_HASH, HASH_SIZE, Hash, HashReader, node_hash, split_stored_hash_index};

/// The right edge of the tree: the roots of its perfect subtrees, largest
/// first. Enough to append and to compute the root.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frontier {
    nodes: Vec<Hash>,
    size: u64,
}

impl Frontier {
    /// The frontier of a tree of `size` records from its subtree roots, in
    /// the order `tlog_tiles::sub_tree_index(0, size, …)` lists them.
    pub fn from_subtrees(size: u64, nodes: Vec<Hash>) -> Option<Self> {
        (nodes.len() == usize::try_from(size.count_ones()).ok()?).then_some(Self { nodes, size })
    }

    /// Records in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a record's leaf hash; hands `keep` the hashes stored with
    /// it: the leaf hash, then each subtree it completes, lowest first.
    pub fn push(&mut self, leaf: Hash, mut keep: impl FnMut(Hash)) {
        keep(leaf);
        let mut hash = leaf;
        let mut n = self.size;
        while n & 1 == 1 {
            let Some(left) = self.nodes.pop() else {
                break;
            };
            hash = node_hash(left, hash);
            keep(hash);
            n >>= 1;
        }
        self.nodes.push(hash);
        self.size += 1;
    }

    /// Appends the next record by the hashes stored with it (as [`Frontier::push`]
    /// hands them out), without hashing; `None` if they are not as many as
    /// its sequence number calls for.
    pub fn push_stored(&mut self, stored: &[Hash]) -> Option<()> {
        let (&top, _) = stored.split_last()?;
        if stored.len() != stored_count(self.size) || self.nodes.len() < stored.len() - 1 {
            return None;
        }
        self.nodes.truncate(self.nodes.len() - (stored.len() - 1));
        self.nodes.push(top);
        self.size += 1;
        Some(())
    }

    /// The root hash (RFC 6962's MTH of the whole tree).
    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some(last) = nodes.next() else {
            return EMPTY_HASH;
        };
        nodes.fold(*last, |right, left| node_hash(*left, right))
    }
}

/// How many hashes are stored with record `seq`.
pub fn stored_count(seq: u64) -> usize {
    1 + usize::try_from(seq.trailing_ones()).unwrap_or(0)
}

/// Where the stored hash with `tlog_tiles` index `index` lives: the record
/// that completed it, and its position in that record's blob.
pub fn locate(index: u64) -> (u64, usize) {
    let (level, n) = split_stored_hash_index(index);
    (((n + 1) << level) - 1, usize::from(level))
}

/// Splits a blob into hashes; `None` unless its length is a multiple of 32.
pub fn from_blob(blob: &[u8]) -> Option<Vec<Hash>> {
    if !blob.len().is_multiple_of(HASH_SIZE) {
        return None;
    }
    blob.chunks_exact(HASH_SIZE)
        .map(|chunk| chunk.try_into().ok().map(Hash))
        .collect()
}

/// Every record's stored hashes, in memory: a [`HashReader`] for proofs.
#[derive(Debug, Default)]
pub struct MemoryHashes {
    /// The blobs, indexed by sequence number.
    pub blobs: Vec<Vec<Hash>>,
}

impl HashReader for MemoryHashes {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&index| {
                let (seq, position) = locate(index);
                usize::try_from(seq)
                    .ok()
                    .and_then(|seq| self.blobs.get(seq))
                    .and_then(|blob| blob.get(position))
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}
