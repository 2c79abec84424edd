//! `audit prune`: retention. Removes the content of records made before a
//! date, keeping every record's hashes (so every checkpoint still verifies
//! and every later record can still be proved), and deletes the pseudonym
//! keys whose period has ended, which makes their pseudonyms unlinkable.

use serde::Serialize;

use crate::store::Store;
use crate::{AuditError, Pseudonymiser};

/// What a prune did.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Pruned {
    /// Records below this sequence number have no content any more.
    pub below: u64,
    /// Bundles (the records of one commit) emptied now.
    pub bundles: u64,
    /// Pseudonym keys deleted (their ids).
    pub keys: Vec<String>,
}

/// Prunes the log `origin` of records made before `before_ms`, by whole
/// bundles (a record made just before it may stay). Only records a
/// checkpoint covers are pruned: the rest wait for the next checkpoint.
pub async fn prune(
    store: &Store,
    origin: &str,
    before_ms: i64,
    now_ms: i64,
    pseudonyms: Option<&Pseudonymiser>,
) -> Result<Pruned, AuditError> {
    let covered = store
        .last_checkpoint(origin)
        .await?
        .map_or(0, |checkpoint| checkpoint.size);
    let below = store.first_since(origin, before_ms).await?.min(covered);
    let bundles = store.prune(origin, below, now_ms).await?;
    let mut keys = Vec::new();
    if let Some(pseudonyms) = pseudonyms {
        for id in pseudonyms.expired(before_ms)? {
            pseudonyms.delete(&id)?;
            keys.push(id);
        }
    }
    Ok(Pruned {
        below,
        bundles,
        keys,
    })
}
