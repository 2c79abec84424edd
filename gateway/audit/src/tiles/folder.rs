//! Durable tiles in a folder, brought up to the log's latest checkpoint
//! off the hot path: by the gateway as checkpoints come (`[audit] tiles`)
//! and by `audit export --format tiles`.
//!
//! Order of writes: each tile under a temporary name, synced, renamed into
//! place; then every folder a tile went into is synced; only then is
//! `checkpoint` replaced the same way and its folder synced. The folder's
//! checkpoint therefore never covers a tile that a crash could lose. Tiles
//! past it (left by a crash or a failed write) are written again by the
//! next catch-up, which starts at the tile the published checkpoint ends
//! in. Once a checkpoint is published, the partial tiles of tiles now full
//! are removed (a client falls back to the full tile); a crash just then
//! leaves some, each a prefix of its full tile, so right for any client.
//! [`TileFolder::forget`] removes the entry bundles of pruned records. A
//! lock file keeps the gateway and the `audit` commands from writing one
//! folder at once.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::path::{parse_tile_path, tile_path};
use super::read::{leaf_tile, subtree_hashes};
use super::{HEIGHT, TilesWritten, WIDTH};
use crate::AuditError;
use crate::store::Store;

/// The signed note of the tree the folder's tiles are of.
const CHECKPOINT: &str = "checkpoint";
/// Levels a tree of up to 2^64 records has tiles on.
const LEVELS: u32 = 64 / HEIGHT;

/// What a folder of tiles asks of the files under it. Paths are relative
/// to the folder, `/`-separated.
pub trait TileFiles: Send + 'static {
    /// A file's content; `None` if it does not exist.
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>>;
    /// Writes a file whole: under a temporary name, synced, renamed to
    /// `path` (its folders made as needed). The name is durable once
    /// [`TileFiles::sync_dir`] has synced its folder and those above.
    fn put(&mut self, path: &str, bytes: &[u8]) -> io::Result<()>;
    /// Makes a folder's entries durable (`""`: the top folder). A folder
    /// that does not exist has nothing to sync.
    fn sync_dir(&mut self, dir: &str) -> io::Result<()>;
    /// Removes a file, or a folder with all it holds; whether there was one.
    fn remove(&mut self, path: &str) -> io::Result<bool>;
    /// Holds the folder against other writers until the value is dropped.
    fn lock(&self) -> io::Result<Option<File>>;
}

/// Tiles in a folder on disk.
#[derive(Debug)]
pub struct DiskTiles {
    dir: PathBuf,
}

impl DiskTiles {
    /// The folder `dir`, made if missing.
    pub fn new(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }
}

impl TileFiles for DiskTiles {
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.dir.join(path)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn put(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let target = self.dir.join(path);
        let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
            return Err(io::Error::other(format!("{path} names no file")));
        };
        std::fs::create_dir_all(parent)?;
        let temporary = parent.join(format!(".{}.tmp", name.to_string_lossy()));
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_data()?;
        std::fs::rename(&temporary, &target)
    }

    fn sync_dir(&mut self, dir: &str) -> io::Result<()> {
        match File::open(self.dir.join(dir)) {
            Ok(folder) => folder.sync_all(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error),
        }
    }

    fn remove(&mut self, path: &str) -> io::Result<bool> {
        let target = self.dir.join(path);
        let removed = match std::fs::symlink_metadata(&target) {
            Ok(found) if found.is_dir() => std::fs::remove_dir_all(&target),
            Ok(_) => std::fs::remove_file(&target),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(error),
        };
        removed.map(|()| true)
    }

    fn lock(&self) -> io::Result<Option<File>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(".lock"))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
        Ok(Some(file))
    }
}

/// A folder of C2SP tiles of one log, kept durable.
pub struct TileFolder<F: TileFiles = DiskTiles> {
    files: Arc<Mutex<F>>,
    /// Taken before the lock file: one writer of this process at a time.
    writing: tokio::sync::Mutex<()>,
    /// The folder, as errors name it.
    name: String,
}

impl TileFolder<DiskTiles> {
    /// The folder `dir` on disk, made if missing.
    pub fn open(dir: &Path) -> Result<Self, AuditError> {
        let name = dir.display().to_string();
        let files = DiskTiles::new(dir).map_err(|error| AuditError::Tiles {
            dir: name.clone(),
            reason: error.to_string(),
        })?;
        Ok(Self::new(files, name))
    }
}

impl<F: TileFiles> TileFolder<F> {
    /// A folder whose files are `files`, named `name` in errors.
    pub fn new(files: F, name: String) -> Self {
        Self {
            files: Arc::new(Mutex::new(files)),
            writing: tokio::sync::Mutex::new(()),
            name,
        }
    }

    /// Brings the folder up to `origin`'s latest checkpoint: writes the
    /// tiles from the one its published checkpoint ends in, makes them
    /// durable, then publishes the new checkpoint. Nothing to do when the
    /// folder is there already.
    pub async fn catch_up(&self, store: &Store, origin: &str) -> Result<TilesWritten, AuditError> {
        let _writing = self.writing.lock().await;
        let _lock = self.run(|files| files.lock()).await?;
        let from = match self.run(|files| files.read(CHECKPOINT)).await? {
            Some(note) => self.published_size(&note, origin)?,
            None => 0,
        };
        let mut written = TilesWritten {
            size: from,
            ..TilesWritten::default()
        };
        let checkpoint = store.last_checkpoint(origin).await?;
        let size = checkpoint.as_ref().map_or(0, |checkpoint| checkpoint.size);
        if size < from {
            return Err(self.error(format!(
                "they are of a tree of {from} records; the log's latest checkpoint covers {size}"
            )));
        }
        let Some(checkpoint) = checkpoint.filter(|_| size > from) else {
            return Ok(written);
        };
        let mut dirs = BTreeSet::new();
        let mut now_full = Vec::new();
        for level in 0..LEVELS {
            let items = size >> (HEIGHT * level);
            if items == 0 {
                break;
            }
            let kind = level.to_string();
            for n in (from >> (HEIGHT * level)) / WIDTH..items.div_ceil(WIDTH) {
                let width = (items - n * WIDTH).min(WIDTH);
                if level == 0 {
                    let (hashes, entries) = leaf_tile(store, origin, n, width).await?;
                    self.put(&mut dirs, tile_path(&kind, n, width), hashes)
                        .await?;
                    match entries {
                        Some(bundle) => {
                            self.put(&mut dirs, tile_path("entries", n, width), bundle)
                                .await?;
                            written.entry_bundles += 1;
                        }
                        None => written.pruned_bundles += 1,
                    }
                } else {
                    let hashes = subtree_hashes(store, origin, level, n * WIDTH, width).await?;
                    self.put(&mut dirs, tile_path(&kind, n, width), hashes)
                        .await?;
                }
                written.hash_tiles += 1;
                if width == WIDTH {
                    now_full.push(tile_path(&kind, n, WIDTH));
                    if level == 0 {
                        now_full.push(tile_path("entries", n, WIDTH));
                    }
                }
            }
        }
        // Every folder a tile went into (and those above it) is durable
        // before the checkpoint that covers the tiles.
        self.run(move |files| dirs.iter().rev().try_for_each(|dir| files.sync_dir(dir)))
            .await?;
        let note = checkpoint.note.into_bytes();
        self.run(move |files| {
            files.put(CHECKPOINT, &note)?;
            files.sync_dir("")
        })
        .await?;
        written.size = size;
        self.run(move |files| {
            for full in &now_full {
                files.remove(&format!("{full}.p"))?;
            }
            Ok(())
        })
        .await?;
        Ok(written)
    }

    /// Removes the entry bundles that hold records below `below` (pruned
    /// ones), durably; how many files it removed. The hash tiles stay.
    pub async fn forget(&self, below: u64) -> Result<u64, AuditError> {
        let _writing = self.writing.lock().await;
        let _lock = self.run(|files| files.lock()).await?;
        self.run(move |files| {
            let mut removed = 0;
            let mut dirs = BTreeSet::new();
            for n in 0..below.div_ceil(WIDTH) {
                let full = tile_path("entries", n, WIDTH);
                for path in [format!("{full}.p"), full] {
                    if files.remove(&path)? {
                        removed += 1;
                        folders_of(&path, &mut dirs);
                    }
                }
            }
            dirs.iter().rev().try_for_each(|dir| files.sync_dir(dir))?;
            Ok(removed)
        })
        .await
    }

    /// One file of the folder by its tile path (`checkpoint`,
    /// `tile/<L>/<n>[.p/<W>]`, `tile/entries/…`); `None` for a path that
    /// is not a tile's or a tile the folder does not hold.
    pub async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, AuditError> {
        if path != CHECKPOINT && parse_tile_path(path).is_none() {
            return Ok(None);
        }
        let path = path.to_owned();
        self.run(move |files| files.read(&path)).await
    }

    /// Runs `op` on the files (tests look at what a crash would leave).
    #[cfg(test)]
    pub(crate) fn with_files<T>(&self, op: impl FnOnce(&mut F) -> T) -> T {
        op(&mut self.files.lock().expect("not poisoned"))
    }

    /// Writes one tile, noting the folders it went into.
    async fn put(
        &self,
        dirs: &mut BTreeSet<String>,
        path: String,
        bytes: Vec<u8>,
    ) -> Result<(), AuditError> {
        folders_of(&path, dirs);
        self.run(move |files| files.put(&path, &bytes)).await
    }

    /// The size of the tree the folder's checkpoint is of.
    fn published_size(&self, note: &[u8], origin: &str) -> Result<u64, AuditError> {
        let mut lines = std::str::from_utf8(note).unwrap_or_default().lines();
        match (lines.next(), lines.next().map(str::parse::<u64>)) {
            (Some(line), Some(Ok(size))) if line == origin => Ok(size),
            (Some(line), Some(Ok(_))) => Err(self.error(format!(
                "they are of another log ({line:?}), not of {origin:?}"
            ))),
            _ => Err(self.error(format!("{CHECKPOINT} is not a checkpoint"))),
        }
    }

    /// Runs `op` on the files on a thread that may block.
    async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut F) -> io::Result<T> + Send + 'static,
    ) -> Result<T, AuditError> {
        let files = Arc::clone(&self.files);
        let done = tokio::task::spawn_blocking(move || {
            let mut files = files
                .lock()
                .map_err(|_| io::Error::other("an earlier write failed midway"))?;
            op(&mut files)
        })
        .await
        .map_err(|error| io::Error::other(error.to_string()))
        .and_then(|done| done);
        done.map_err(|error| self.error(error.to_string()))
    }

    fn error(&self, reason: String) -> AuditError {
        AuditError::Tiles {
            dir: self.name.clone(),
            reason,
        }
    }
}

/// Notes the folders `path` lies in, up to the top one (`""`).
fn folders_of(path: &str, dirs: &mut BTreeSet<String>) {
    let mut rest = path;
    while let Some((folder, _)) = rest.rsplit_once('/') {
        dirs.insert(folder.to_owned());
        rest = folder;
    }
    dirs.insert(String::new());
}
