//! `audit export --format tiles`: the log as C2SP tlog-tiles, static files
//! any tlog-tiles client can check without our code.
//!
//! For the latest checkpoint (size `N`) it writes `checkpoint` (the signed
//! note), the hash tiles `tile/<L>/<n>[.p/<W>]` (level `L` holds the hashes
//! of the complete subtrees of 256^L records, 256 to a tile; the rightmost
//! tile of a level holds the `W` there are) and the entry bundles
//! `tile/entries/<n>[.p/<W>]` (the records, each as a big-endian 16-bit
//! length and its bytes). `n` is written three digits to a path element,
//! all but the last with an `x`: 1234067 is `x001/x234/067`. A bundle that
//! holds a pruned record is not written (its hashes are).

use std::path::Path;

use serde::Serialize;

use crate::AuditError;
use crate::merkle::{from_blob, locate};
use crate::store::Store;

/// Hashes (or entries) in a full tile.
const WIDTH: u64 = 256;
/// Tree levels a tile level spans.
const HEIGHT: u32 = 8;

/// What an export of tiles wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TilesWritten {
    /// The size of the tree the tiles and the checkpoint are of.
    pub size: u64,
    /// Hash tiles written, every level.
    pub hash_tiles: u64,
    /// Entry bundles written.
    pub entry_bundles: u64,
    /// Entry bundles left out because they hold pruned records.
    pub pruned_bundles: u64,
}

/// Writes the tiles of `origin`'s log at its latest checkpoint into `dir`.
pub async fn export_tiles(
    store: &Store,
    origin: &str,
    dir: &Path,
) -> Result<TilesWritten, AuditError> {
    let checkpoint = store.last_checkpoint(origin).await?.ok_or_else(|| {
        AuditError::Proof("the log has no checkpoint yet; try again after the first one".into())
    })?;
    let size = checkpoint.size;
    let mut written = TilesWritten {
        size,
        hash_tiles: 0,
        entry_bundles: 0,
        pruned_bundles: 0,
    };
    for n in 0..size.div_ceil(WIDTH) {
        let width = (size - n * WIDTH).min(WIDTH);
        let (hashes, entries) = leaf_tile(store, origin, n, width).await?;
        write(dir, &tile_path("0", n, width), &hashes)?;
        written.hash_tiles += 1;
        match entries {
            Some(bundle) => {
                write(dir, &tile_path("entries", n, width), &bundle)?;
                written.entry_bundles += 1;
            }
            None => written.pruned_bundles += 1,
        }
    }
    for level in 1.. {
        let Some(nodes) = size.checked_shr(HEIGHT * level).filter(|&nodes| nodes > 0) else {
            break;
        };
        for n in 0..nodes.div_ceil(WIDTH) {
            let width = (nodes - n * WIDTH).min(WIDTH);
            let data = subtree_hashes(store, origin, level, n * WIDTH, width).await?;
            write(dir, &tile_path(&level.to_string(), n, width), &data)?;
            written.hash_tiles += 1;
        }
    }
    write(dir, "checkpoint", checkpoint.note.as_bytes())?;
    Ok(written)
}

/// The level-0 tile `n` (leaf hashes), `width` wide, and its entry
/// bundle (`None` when a record in it was pruned).
async fn leaf_tile(
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
async fn subtree_hashes(
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

/// The kind (level or `entries`), number and width a tile path names.
fn parse_tile_path(path: &str) -> Option<(&str, u64, u64)> {
    let rest = path.strip_prefix("tile/")?;
    let (kind, rest) = rest.split_once('/')?;
    let (number, width) = match rest.split_once(".p/") {
        Some((number, width)) => {
            let width: u64 = width.parse().ok().filter(|&w| (1..WIDTH).contains(&w))?;
            (number, width)
        }
        None => (rest, WIDTH),
    };
    let groups: Vec<&str> = number.split('/').collect();
    let (last, leading) = groups.split_last()?;
    let mut n: u64 = 0;
    for group in leading
        .iter()
        .map(|group| group.strip_prefix('x'))
        .chain([Some(*last)])
    {
        let group = group?;
        if group.len() != 3 || !group.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(group.parse().ok()?)?;
    }
    (tile_path(kind, n, width) == path).then_some((kind, n, width))
}

/// `tile/<kind>/<n>`, with `.p/<width>` when the tile is partial (only
/// the rightmost of a level can be).
fn tile_path(kind: &str, n: u64, width: u64) -> String {
    let digits = n.to_string();
    let padded = format!("{}{digits}", "0".repeat((3 - digits.len() % 3) % 3));
    let groups: Vec<&str> = padded
        .as_bytes()
        .chunks(3)
        .filter_map(|chunk| std::str::from_utf8(chunk).ok())
        .collect();
    let (last, rest) = groups
        .split_last()
        .map_or(("000", &[][..]), |(last, rest)| (*last, rest));
    let mut path = format!("tile/{kind}/");
    for group in rest {
        path.push('x');
        path.push_str(group);
        path.push('/');
    }
    path.push_str(last);
    if width < WIDTH {
        path.push_str(&format!(".p/{width}"));
    }
    path
}

fn write(dir: &Path, path: &str, bytes: &[u8]) -> Result<(), AuditError> {
    let file = dir.join(path);
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(file, bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{parse_tile_path, tile_path};

    #[test]
    fn tile_paths_read_back() {
        for (kind, n, width) in [
            ("0", 0, 256),
            ("entries", 1_234_067, 7),
            ("3", 999, 256),
            ("1", 1000, 1),
        ] {
            let path = tile_path(kind, n, width);
            assert_eq!(parse_tile_path(&path), Some((kind, n, width)), "{path}");
        }
        for bad in [
            "tile/0/1",
            "tile/0/x000/001",
            "tile/0/001.p/256",
            "tile/0/001.p/0",
            "tile/0/abc",
            "tile/0/001/",
            "checkpoints",
            "tile/0/x01/001",
        ] {
            assert_eq!(parse_tile_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn tile_paths_are_as_c2sp_writes_them() {
        assert_eq!(tile_path("0", 0, 256), "tile/0/000");
        assert_eq!(tile_path("0", 3, 232), "tile/0/003.p/232");
        assert_eq!(
            tile_path("entries", 1_234_067, 256),
            "tile/entries/x001/x234/067"
        );
        assert_eq!(tile_path("2", 1000, 5), "tile/2/x001/000.p/5");
    }
}
