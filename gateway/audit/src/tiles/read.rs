//! Tiles computed from the store on request: a level-0 tile and its entry
//! bundle from the records, a higher level's from the stored hashes.

use super::path::parse_tile_path;
use super::{HEIGHT, WIDTH};
use crate::AuditError;
use crate::merkle::{from_blob, locate};
use crate::store::Store;

/// The level-0 tile `n` (leaf hashes), `width` wide, and its entry
/// bundle (`None` when a record in it was pruned).
pub(super) async fn leaf_tile(
    store: &Store,
    origin: &str,
    n: u64,
    width: u64,
) -> Result<(Vec<u8>, Option<Vec<u8>>), AuditError> {
    let first = n * WIDTH;
    let rows = store
        .leaves(origin, first, u32::try_from(width).unwrap_or(u32::MAX))
        .await?;
    if u64::try_from(rows.len()).ok() != Some(width) {
        return Err(AuditError::Corrupt(format!(
            "records {first} to {} are not all there",
            first + width
        )));
    }
    let mut hashes = Vec::with_capacity(rows.len() * 32);
    let mut entries = Some(Vec::new());
    for (seq, row) in (first..).zip(&rows) {
        if row.seq != seq {
            return Err(AuditError::Corrupt(format!("record {seq} is missing")));
        }
        let leaf = from_blob(&row.hashes)
            .and_then(|blob| blob.first().copied())
            .ok_or_else(|| AuditError::Corrupt(format!("the hashes of record {seq}")))?;
        hashes.extend_from_slice(&leaf.0);
        entries = match (entries, &row.record) {
            (Some(mut bundle), Some(record)) => {
                let length = u16::try_from(record.len()).map_err(|_| {
                    AuditError::Proof(format!("record {seq} is too long for an entry bundle"))
                })?;
                bundle.extend_from_slice(&length.to_be_bytes());
                bundle.extend_from_slice(record);
                Some(bundle)
            }
            _ => None,
        };
    }
    Ok((hashes, entries))
}

/// The hashes of the complete subtrees `from..from + width` of 256^`level`
/// records each: each is stored with the last record it covers.
pub(super) async fn subtree_hashes(
    store: &Store,
    origin: &str,
    level: u32,
    from: u64,
    width: u64,
) -> Result<Vec<u8>, AuditError> {
    let height = HEIGHT * level;
    let places: Vec<(u64, usize)> = (from..from + width)
        .map(|k| {
            locate(tlog_tiles::stored_hash_index(
                u8::try_from(height).unwrap_or(u8::MAX),
                k,
            ))
        })
        .collect();
    let seqs: Vec<u64> = places.iter().map(|(seq, _)| *seq).collect();
    let blobs = store.hashes(origin, &seqs).await?;
    let mut data = Vec::with_capacity(places.len() * 32);
    for ((seq, position), (found, blob)) in places.iter().zip(&blobs) {
        let hash = (seq == found)
            .then(|| from_blob(blob))
            .flatten()
            .and_then(|hashes| hashes.get(*position).copied())
            .ok_or_else(|| AuditError::Corrupt(format!("the stored hashes of record {seq}")))?;
        data.extend_from_slice(&hash.0);
    }
    if blobs.len() != places.len() {
        return Err(AuditError::Corrupt(format!(
            "the hashes of records to {}",
            from + width
        )));
    }
    Ok(data)
}

/// One file of the tiles of `origin`'s log at its latest checkpoint, by
/// its path (`checkpoint`, `tile/<L>/<n>[.p/<W>]`, `tile/entries/…`), as
/// the admin listener serves them; `None` if the tree has no such tile
/// (or its entries were pruned).
pub async fn tile(store: &Store, origin: &str, path: &str) -> Result<Option<Vec<u8>>, AuditError> {
    let Some(checkpoint) = store.last_checkpoint(origin).await? else {
        return Ok(None);
    };
    if path == "checkpoint" {
        return Ok(Some(checkpoint.note.into_bytes()));
    }
    let Some((kind, n, width)) = parse_tile_path(path) else {
        return Ok(None);
    };
    let level = match kind {
        "entries" => None,
        level => match level.parse::<u32>() {
            Ok(level) if level < 8 && level.to_string() == kind => Some(level),
            _ => return Ok(None),
        },
    };
    // The items of this tile's level the tree has.
    let items = checkpoint
        .size
        .checked_shr(HEIGHT * level.unwrap_or(0))
        .unwrap_or(0);
    let end = n
        .checked_mul(WIDTH)
        .and_then(|first| first.checked_add(width));
    if end.is_none_or(|end| end > items) {
        return Ok(None);
    }
    match level {
        None => Ok(leaf_tile(store, origin, n, width).await?.1),
        Some(0) => Ok(Some(leaf_tile(store, origin, n, width).await?.0)),
        Some(level) => Ok(Some(
            subtree_hashes(store, origin, level, n * WIDTH, width).await?,
        )),
    }
}
