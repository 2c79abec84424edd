//! Proofs an auditor can check offline: that a record is in the tree a
//! signed checkpoint commits to (inclusion, RFC 9162 §2.1.3), and that a
//! tree is a prefix of a larger one (consistency, §2.1.4), which witnesses
//! check. (Consistency with a checkpoint kept elsewhere is checked by
//! `verify`, which recomputes the root at its size.)

use std::cell::RefCell;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use tlog_tiles::{Hash, HashReader, check_record, prove_record, prove_tree, record_hash};

use crate::checkpoint::check;
use crate::merkle::{MemoryHashes, from_blob, locate};
use crate::store::Store;
use crate::{AuditError, InclusionError, leaf};

/// That record `seq` is in the tree of `tree_size` records the
/// `checkpoint` signs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct InclusionProof {
    /// The log.
    pub origin: String,
    /// The record's sequence number (leaf index).
    pub seq: u64,
    /// The tree's size.
    pub tree_size: u64,
    /// The record's canonical bytes, as text; `None` if pruned.
    pub record: Option<String>,
    /// The nonce of a committed leaf, hex (see [`crate::leaf`]): the leaf
    /// is `0x02 ‖ nonce ‖ record`. `None` for a plain leaf or when pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The record's leaf hash, base64.
    pub leaf_hash: String,
    /// The audit path, leaf to root, base64.
    pub proof: Vec<String>,
    /// The signed checkpoint note of the tree.
    pub checkpoint: String,
}

/// Proves record `seq` against the latest checkpoint.
pub async fn prove_inclusion(
    store: &Store,
    origin: &str,
    seq: u64,
) -> Result<InclusionProof, AuditError> {
    let checkpoint = store
        .last_checkpoint(origin)
        .await?
        .filter(|checkpoint| checkpoint.size > seq)
        .ok_or_else(|| {
            AuditError::Proof(format!(
                "record {seq} is not covered by a checkpoint yet; try again after the next one"
            ))
        })?;
    let tree_size = checkpoint.size;
    let proof = with_hashes(store, origin, |reader| {
        prove_record(tree_size, seq, &reader)
    })
    .await?;
    let row = store
        .leaves(origin, seq, 1)
        .await?
        .into_iter()
        .find(|row| row.seq == seq)
        .ok_or_else(|| AuditError::Proof(format!("record {seq} is not in the log")))?;
    let leaf = from_blob(&row.hashes)
        .and_then(|hashes| hashes.first().copied())
        .ok_or_else(|| AuditError::Corrupt(format!("the hashes of record {seq}")))?;
    let (nonce, record) = match &row.record {
        Some(data) => {
            let (nonce, record) =
                leaf::split(data).map_err(|e| AuditError::Corrupt(format!("record {seq}: {e}")))?;
            (
                nonce.map(hex::encode),
                Some(String::from_utf8_lossy(record).into_owned()),
            )
        }
        None => (None, None),
    };
    Ok(InclusionProof {
        origin: origin.to_owned(),
        seq,
        tree_size,
        record,
        nonce,
        leaf_hash: STANDARD.encode(leaf.0),
        proof: proof.iter().map(|hash| STANDARD.encode(hash.0)).collect(),
        checkpoint: checkpoint.note,
    })
}

/// Checks an inclusion proof offline, with the log's verifier key.
pub fn check_inclusion(proof: &InclusionProof, vkey: &str) -> Result<(), InclusionError> {
    let checkpoint = check(&proof.checkpoint, vkey)?;
    if checkpoint.origin != proof.origin || checkpoint.size != proof.tree_size {
        return Err(InclusionError::OtherTree);
    }
    let leaf = decode_hash(&proof.leaf_hash)?;
    if let Some(record) = &proof.record {
        let data = match &proof.nonce {
            Some(nonce) => {
                let nonce: [u8; leaf::NONCE_BYTES] = hex::decode(nonce)
                    .ok()
                    .and_then(|bytes| bytes.try_into().ok())
                    .ok_or(InclusionError::LeafHash)?;
                leaf::committed_with(&nonce, record.as_bytes())
            }
            None => record.as_bytes().to_vec(),
        };
        if record_hash(&data) != leaf {
            return Err(InclusionError::LeafHash);
        }
    }
    let path = proof
        .proof
        .iter()
        .map(|hash| decode_hash(hash))
        .collect::<Result<Vec<_>, _>>()?;
    check_record(&path, proof.tree_size, checkpoint.root, proof.seq, leaf)
        .map_err(InclusionError::DoesNotHold)
}

fn decode_hash(text: &str) -> Result<Hash, InclusionError> {
    Hash::parse_hash(text).map_err(|source| InclusionError::BadHash {
        text: text.to_owned(),
        source,
    })
}

/// Runs `prove` twice: once to learn which stored hashes it reads, then with
/// just those read from the store.
/// The consistency proof from the tree of the first `old` records to the
/// tree of the first `size` (`0 < old <= size`).
pub(crate) async fn prove_consistency(
    store: &Store,
    origin: &str,
    old: u64,
    size: u64,
) -> Result<Vec<Hash>, AuditError> {
    with_hashes(store, origin, |reader| prove_tree(size, old, &reader)).await
}

async fn with_hashes<T>(
    store: &Store,
    origin: &str,
    prove: impl Fn(Reader<'_>) -> Result<T, tlog_tiles::Error>,
) -> Result<T, AuditError> {
    let wanted = Recording::default();
    prove(Reader::Recording(&wanted)).map_err(|e| AuditError::Proof(e.to_string()))?;
    let indexes = wanted.indexes.into_inner();
    let seqs: Vec<u64> = indexes.iter().map(|&index| locate(index).0).collect();
    let mut hashes = MemoryHashes::default();
    for (seq, blob) in store.hashes(origin, &seqs).await? {
        let index = usize::try_from(seq).map_err(|_| AuditError::Proof("too large".into()))?;
        if hashes.blobs.len() <= index {
            hashes.blobs.resize(index + 1, Vec::new());
        }
        hashes.blobs[index] =
            from_blob(&blob).ok_or_else(|| AuditError::Corrupt(format!("the hashes of {seq}")))?;
    }
    prove(Reader::Memory(&hashes)).map_err(|e| AuditError::Proof(e.to_string()))
}

/// The two readers `with_hashes` gives its prover.
enum Reader<'a> {
    Recording(&'a Recording),
    Memory(&'a MemoryHashes),
}

impl HashReader for Reader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        match self {
            Self::Recording(reader) => reader.read_hashes(indexes),
            Self::Memory(reader) => reader.read_hashes(indexes),
        }
    }
}

/// Answers any read with zero hashes, noting what was asked.
#[derive(Default)]
struct Recording {
    indexes: RefCell<Vec<u64>>,
}

impl HashReader for Recording {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        self.indexes.borrow_mut().extend_from_slice(indexes);
        Ok(vec![Hash::default(); indexes.len()])
    }
}
