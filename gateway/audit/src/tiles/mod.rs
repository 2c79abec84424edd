//! The log as C2SP tlog-tiles: static files any tlog-tiles client can
//! check without our code.
//!
//! For a checkpoint (size `N`): `checkpoint` (the signed note), the hash
//! tiles `tile/<L>/<n>[.p/<W>]` (level `L` holds the hashes of the complete
//! subtrees of 256^L records, 256 to a tile; the rightmost tile of a level
//! holds the `W` there are) and the entry bundles `tile/entries/<n>[.p/<W>]`
//! (the records, each as a big-endian 16-bit length and its bytes). A
//! bundle that holds a pruned record is not written (its hashes are).
//!
//! Two ways to them: [`TileFolder`] keeps them durable in a folder, brought
//! up to each new checkpoint off the hot path (`[audit] tiles`, and `audit
//! export --format tiles`); [`tile`] computes one from the store on request.

mod folder;
pub(crate) mod path;
mod read;

use std::path::Path;

use serde::Serialize;

use crate::AuditError;
use crate::store::Store;

pub use folder::{DiskTiles, TileFiles, TileFolder};
pub use read::tile;

/// Hashes (or entries) in a full tile.
const WIDTH: u64 = 256;
/// Tree levels a tile level spans.
const HEIGHT: u32 = 8;

/// What bringing a folder of tiles up to a checkpoint wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TilesWritten {
    /// The size of the tree the folder's checkpoint is of now.
    pub size: u64,
    /// Hash tiles written, every level.
    pub hash_tiles: u64,
    /// Entry bundles written.
    pub entry_bundles: u64,
    /// Entry bundles left out because they hold pruned records.
    pub pruned_bundles: u64,
}

/// Writes the tiles of `origin`'s log at its latest checkpoint into `dir`
/// (made if missing); what an earlier export there already holds is
/// brought up to it.
pub async fn export_tiles(
    store: &Store,
    origin: &str,
    dir: &Path,
) -> Result<TilesWritten, AuditError> {
    let folder = TileFolder::open(dir)?;
    match folder.catch_up(store, origin).await? {
        written if written.size > 0 => Ok(written),
        _ => Err(AuditError::Proof(
            "the log has no checkpoint yet; try again after the first one".into(),
        )),
    }
}
