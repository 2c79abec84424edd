//! The journal as a store (`journal:<directory>`): each origin's log in a
//! folder of its own, written by one [`JournalThread`] per origin, read
//! through a small [`Index`] of where the frames are (`index.rs`).
//!
//! The writing instance holds an exclusive lock on the folder's `lock`
//! file (its claim). Readers (`audit verify`, `export`, the admin
//! listener) need no lock: they read the segments, which only grow at
//! their end, and index them once, then only what was added since.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod index;
mod prune;

use crate::journal::storage::Disk;
use crate::journal::{Journal, JournalThread, Segments};
use crate::merkle::Frontier;
use crate::store::{Bundle, CheckpointRow, LeafRow};
use crate::{AuditError, Claim};
use index::{Index, Window};

/// One origin's log in this process.
#[derive(Debug, Default)]
struct Log {
    /// Set once this process writes the log.
    writer: tokio::sync::Mutex<Option<JournalThread>>,
    /// Built on the first read, then brought up to date on each. An async
    /// lock, taken before a blocking thread is asked for: a read that
    /// waits for another (the first build of a long log) and is given up
    /// leaves no thread behind waiting for it.
    index: Arc<tokio::sync::Mutex<Option<Index>>>,
}

/// The journal store: a directory of logs.
#[derive(Debug)]
pub struct JournalStore {
    dir: PathBuf,
    segments: Segments,
    logs: std::sync::Mutex<HashMap<String, Arc<Log>>>,
}

impl JournalStore {
    /// The store in `dir` (made if missing), whose segments are cut as
    /// `segments` says.
    pub fn open(dir: &Path, segments: impl Into<Segments>) -> Result<Self, AuditError> {
        make_durable_dir(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            segments: segments.into(),
            logs: std::sync::Mutex::default(),
        })
    }

    fn log(&self, origin: &str) -> Arc<Log> {
        let mut logs = self
            .logs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(logs.entry(origin.to_owned()).or_default())
    }

    /// The folder of `origin`'s log.
    fn folder(&self, origin: &str) -> PathBuf {
        self.dir.join(folder_name(origin))
    }

    /// Claims `origin`: an exclusive lock on its folder's `lock` file.
    pub fn claim(&self, origin: &str) -> Result<Claim, AuditError> {
        let folder = self.folder(origin);
        make_durable_dir(&folder)?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(folder.join("lock"))?;
        match file.try_lock() {
            Ok(()) => Ok(Claim::file(origin, file)),
            Err(TryLockError::WouldBlock) => Err(AuditError::Claimed(origin.to_owned())),
            Err(TryLockError::Error(error)) => Err(error.into()),
        }
    }

    /// The writer of `origin`'s log, opened (and its journal recovered) on
    /// first use. Only the holder of the origin's claim may ask.
    async fn writer(&self, origin: &str) -> Result<JournalThread, AuditError> {
        let log = self.log(origin);
        let mut slot = log.writer.lock().await;
        if let Some(writer) = &*slot {
            return Ok(writer.clone());
        }
        let folder = self.folder(origin);
        let owned = origin.to_owned();
        let segments = self.segments;
        let journal = tokio::task::spawn_blocking(move || {
            let mut disk = Disk::new(&folder)?;
            if !segments.spare {
                disk = disk.without_spares();
            }
            let (journal, recovered) = Journal::open(disk, &owned, segments)?;
            tracing::info!(origin = %owned, records = journal.size(), cut = recovered.cut, "audit journal opened");
            Ok::<_, AuditError>(journal)
        })
        .await
        .map_err(|_| AuditError::Closed)??;
        let writer = JournalThread::spawn(journal)?;
        *slot = Some(writer.clone());
        Ok(writer)
    }

    /// The tree's edge and the last checkpoint of `origin`'s log.
    pub async fn head(
        &self,
        origin: &str,
    ) -> Result<(Frontier, Option<CheckpointRow>), AuditError> {
        self.writer(origin).await?.head().await
    }

    /// Appends a commit to `origin`'s log; returns once it is durable.
    pub async fn append(
        &self,
        origin: &str,
        bundle: Bundle,
        checkpoint: Option<&CheckpointRow>,
    ) -> Result<(), AuditError> {
        let writer = self.writer(origin).await?;
        writer.append(bundle, checkpoint.cloned()).await
    }

    /// Whether `origin`'s journal still takes durable writes.
    pub async fn probe(&self, origin: &str) -> Result<(), AuditError> {
        self.writer(origin).await?.probe().await
    }

    /// Runs `read` on `origin`'s index, brought up to date first, on a
    /// thread for blocking work. When a frame no longer reads where the
    /// index has it (a prune rewrote its segment), the index is built
    /// anew and `read` runs once more.
    async fn indexed<T: Send + 'static>(
        &self,
        origin: &str,
        read: impl Fn(&Index, &Disk) -> Result<T, AuditError> + Send + 'static,
    ) -> Result<T, AuditError> {
        let mut index = Arc::clone(&self.log(origin).index).lock_owned().await;
        let folder = self.folder(origin);
        let origin = origin.to_owned();
        tokio::task::spawn_blocking(move || {
            let disk = Disk::reading(&folder);
            if let Some(current) = &mut *index {
                current.refresh(&disk, &origin)?;
                match read(current, &disk) {
                    Err(AuditError::Corrupt(_)) => {}
                    done => return done,
                }
            }
            let built = Index::build(&disk, &origin)?;
            let answer = read(&built, &disk);
            *index = Some(built);
            answer
        })
        .await
        .map_err(|_| AuditError::Closed)?
    }

    /// Empties the records of the frames wholly below `below` in every
    /// segment but the last (the one being written), after noting the
    /// prune; returns how many frames it emptied. Each segment is written
    /// anew beside the old one, synced, and renamed over it.
    pub async fn prune(&self, origin: &str, below: u64) -> Result<u64, AuditError> {
        let folder = self.folder(origin);
        let origin = origin.to_owned();
        tokio::task::spawn_blocking(move || prune::segments(&folder, &origin, below))
            .await
            .map_err(|_| AuditError::Closed)?
    }

    /// Records below this were pruned (0 if none were).
    pub async fn pruned_below(&self, origin: &str) -> Result<u64, AuditError> {
        let folder = self.folder(origin);
        tokio::task::spawn_blocking(move || prune::below(&folder))
            .await
            .map_err(|_| AuditError::Closed)?
    }

    /// Records in `origin`'s log.
    pub async fn size(&self, origin: &str) -> Result<u64, AuditError> {
        self.indexed(origin, |index, _| Ok(index.size)).await
    }

    /// The stored hash blobs of records `seqs`.
    pub async fn hashes(
        &self,
        origin: &str,
        seqs: &[u64],
    ) -> Result<Vec<(u64, Vec<u8>)>, AuditError> {
        let seqs = seqs.to_vec();
        self.indexed(origin, move |index, disk| {
            let mut found = Vec::with_capacity(seqs.len());
            let mut window = Window::default();
            for &seq in &seqs {
                index.walk(disk, &mut window, seq, |at, window| {
                    let row = window
                        .rows(disk, at)?
                        .into_iter()
                        .find(|row| row.seq == seq);
                    found.extend(row.map(|row| (seq, row.hashes)));
                    Ok(false)
                })?;
            }
            Ok(found)
        })
        .await
    }

    /// Up to `limit` records from `from` on, in order.
    pub async fn leaves(
        &self,
        origin: &str,
        from: u64,
        limit: u32,
    ) -> Result<Vec<LeafRow>, AuditError> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        self.indexed(origin, move |index, disk| {
            let mut leaves = Vec::new();
            index.walk(disk, &mut Window::default(), from, |at, window| {
                leaves.extend(
                    window
                        .rows(disk, at)?
                        .into_iter()
                        .filter(|row| row.seq >= from),
                );
                Ok(leaves.len() < limit)
            })?;
            leaves.truncate(limit);
            Ok(leaves)
        })
        .await
    }

    /// The start of the last frame begun before `since_ms` (0 if none):
    /// every frame's head read.
    pub async fn first_since(&self, origin: &str, since_ms: i64) -> Result<u64, AuditError> {
        self.indexed(origin, move |index, disk| {
            let mut first = 0;
            index.walk(disk, &mut Window::default(), 0, |at, _| {
                if at.recorded_at < since_ms {
                    first = first.max(at.first_seq);
                }
                Ok(true)
            })?;
            Ok(first)
        })
        .await
    }

    /// The log's checkpoints, in the order they were made: the log read
    /// whole.
    pub async fn checkpoints(&self, origin: &str) -> Result<Vec<CheckpointRow>, AuditError> {
        let name = origin.to_owned();
        self.indexed(origin, move |_, disk| Index::checkpoints(disk, &name))
            .await
    }

    /// The latest checkpoint, if any.
    pub async fn last_checkpoint(&self, origin: &str) -> Result<Option<CheckpointRow>, AuditError> {
        self.indexed(origin, |index, _| Ok(index.last_checkpoint.clone()))
            .await
    }

    /// How many marks the index of `origin`'s log keeps, once built.
    #[cfg(test)]
    pub(crate) fn index_marks(&self, origin: &str) -> Option<usize> {
        let log = self.log(origin);
        let index = log.index.try_lock().ok()?;
        index.as_ref().map(Index::marks)
    }

    /// The logs in this store: the origins its folders are named for.
    pub fn origins(&self) -> Result<Vec<String>, AuditError> {
        let mut origins = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir()
                && let Some(origin) = entry.file_name().to_str().and_then(origin_of)
            {
                origins.push(origin);
            }
        }
        origins.sort();
        Ok(origins)
    }
}

/// Makes `dir` if it is missing, and makes its name durable in its parent
/// (a log's first records are synced into a folder that a power cut must
/// not take away).
fn make_durable_dir(dir: &Path) -> Result<(), AuditError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    let parent = dir.parent().filter(|parent| !parent.as_os_str().is_empty());
    File::open(parent.unwrap_or(Path::new(".")))?.sync_all()?;
    Ok(())
}

/// The directory a `journal:` URL names (`journal:/var/lib/audit`,
/// `journal:///var/lib/audit` or `journal:relative/dir`) and how its
/// segments are cut: `?segment_bytes=N` (at least 1 KiB; default
/// [`crate::journal::SEGMENT_BYTES`]), `&segment_period=1day` (at least a minute; default
/// a day), `&spare=off` (no segment made ahead; default `on`).
pub fn directory(url: &str) -> Option<(PathBuf, Segments)> {
    let rest = url.strip_prefix("journal:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut segments = Segments::default();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("segment_bytes", value)) => {
                segments.bytes = value.parse().ok().filter(|&bytes| bytes >= 1024)?;
            }
            Some(("spare", "on")) => segments.spare = true,
            Some(("spare", "off")) => segments.spare = false,
            Some(("segment_period", value)) => {
                let period = humantime::parse_duration(value).ok()?;
                segments.period_ms = i64::try_from(period.as_millis())
                    .ok()
                    .filter(|&ms| ms >= 60_000)?;
            }
            _ => return None,
        }
    }
    (!path.is_empty()).then(|| (PathBuf::from(path), segments))
}

/// The folder name of `origin`: letters, digits, `.`, `-` and `_` as
/// they are, every other byte as `%XX`.
pub fn folder_name(origin: &str) -> String {
    let mut name = String::with_capacity(origin.len());
    for byte in origin.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_') {
            name.push(char::from(byte));
        } else {
            let _ = write!(name, "%{byte:02X}");
        }
    }
    name
}

/// The origin a folder is named for, if the name is one [`folder_name`]
/// makes.
fn origin_of(name: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(name.len());
    let mut rest = name.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    let origin = String::from_utf8(bytes).ok()?;
    (folder_name(&origin) == name).then_some(origin)
}
