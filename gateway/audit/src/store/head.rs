//! [`StoredHead`]: what a writer needs of a log to go on appending to it,
//! read from whichever store holds it.

use tlog_tiles::sub_tree_index;

use super::{CheckpointRow, Store};
use crate::merkle::{Frontier, from_blob, locate};
use crate::{AuditError, leaf};

/// The edge of a stored log.
#[derive(Debug)]
pub struct StoredHead {
    /// The tree's right edge.
    pub frontier: Frontier,
    /// The latest checkpoint.
    pub last_checkpoint: Option<CheckpointRow>,
    /// Whether its leaves are committed (see [`crate::leaf`]): a log keeps
    /// the kind it began with.
    pub commit: bool,
}

impl Store {
    /// The edge of `origin`'s log: a database reads the subtree hashes of
    /// the edge (a handful of rows, whatever the size) and its last record
    /// (a new log, or one pruned to the end, is committed); the journal
    /// knows its edge from reading itself back, and is always committed.
    pub async fn head(&self, origin: &str) -> Result<StoredHead, AuditError> {
        if let Self::Journal(journal, _) = self {
            let (frontier, last_checkpoint) = journal.head(origin).await?;
            return Ok(StoredHead {
                frontier,
                last_checkpoint,
                commit: true,
            });
        }
        let size = self.size(origin).await?;
        let places: Vec<(u64, usize)> = sub_tree_index(0, size, vec![])
            .into_iter()
            .map(locate)
            .collect();
        let seqs: Vec<u64> = places.iter().map(|(seq, _)| *seq).collect();
        let blobs = self.hashes(origin, &seqs).await?;
        let corrupt = || AuditError::Corrupt(format!("the stored hashes of {origin} are damaged"));
        let mut nodes = Vec::with_capacity(places.len());
        for ((seq, position), (found, blob)) in places.iter().zip(&blobs) {
            if seq != found {
                return Err(corrupt());
            }
            let hashes = from_blob(blob).ok_or_else(corrupt)?;
            nodes.push(*hashes.get(*position).ok_or_else(corrupt)?);
        }
        let frontier = Frontier::from_subtrees(size, nodes).ok_or_else(corrupt)?;
        let commit = match size.checked_sub(1) {
            Some(seq) => self
                .leaves(origin, seq, 1)
                .await?
                .first()
                .and_then(|row| row.record.as_deref())
                .is_none_or(leaf::is_committed),
            None => true,
        };
        Ok(StoredHead {
            frontier,
            last_checkpoint: self.last_checkpoint(origin).await?,
            commit,
        })
    }
}
