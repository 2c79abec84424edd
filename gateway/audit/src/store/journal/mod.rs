//! The journal as a store (`journal:<directory>`): each origin's log in a
//! folder of its own, written by one [`JournalThread`] per origin, read
//! through an [`Index`] of where each frame is.
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

mod prune;

use crate::journal::recover::Place;
use crate::journal::segment::{self, Header};
use crate::journal::storage::{Disk, Storage};
use crate::journal::{self, Journal, JournalThread, Segments, frame};
use crate::merkle::Frontier;
use crate::store::{Bundle, CheckpointRow, LeafRow, bundle};
use crate::{AuditError, Claim};

/// A frame's place and what it holds.
#[derive(Clone, Debug)]
struct FrameAt {
    first_seq: u64,
    count: u64,
    recorded_at: i64,
    segment: Arc<str>,
    offset: u64,
    len: u64,
}

/// Where each frame of a log is.
#[derive(Debug, Default)]
struct Index {
    frames: Vec<FrameAt>,
    checkpoints: Vec<CheckpointRow>,
    size: u64,
    /// The last segment read and where its frames end.
    tail: Option<(Arc<str>, u64)>,
}

impl Index {
    fn add(&mut self, place: Place<'_>, frame: journal::frame::Frame) {
        let segment = match &self.tail {
            Some((name, _)) if **name == *place.segment => Arc::clone(name),
            _ => Arc::from(place.segment),
        };
        self.size = frame.bundle.first_seq + frame.bundle.count;
        // A frame of a checkpoint alone holds no record to find.
        if frame.bundle.count > 0 {
            self.frames.push(FrameAt {
                first_seq: frame.bundle.first_seq,
                count: frame.bundle.count,
                recorded_at: frame.bundle.recorded_at,
                segment: Arc::clone(&segment),
                offset: place.offset,
                len: place.len,
            });
        }
        self.checkpoints.extend(frame.checkpoint);
        self.tail = Some((segment, place.offset + place.len));
    }

    /// The frame holding record `seq`.
    fn holding(&self, seq: u64) -> Option<&FrameAt> {
        let after = self.frames.partition_point(|frame| frame.first_seq <= seq);
        self.frames
            .get(after.checked_sub(1)?)
            .filter(|frame| seq < frame.first_seq + frame.count)
    }
}

/// One origin's log in this process.
#[derive(Debug, Default)]
struct Log {
    /// Set once this process writes the log.
    writer: tokio::sync::Mutex<Option<JournalThread>>,
    /// Built on the first read, then brought up to date on each.
    index: std::sync::Mutex<Option<Index>>,
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
            let (journal, recovered) = Journal::open(Disk::new(&folder)?, &owned, segments)?;
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
        let log = self.log(origin);
        let folder = self.folder(origin);
        let origin = origin.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut index = log
                .index
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let disk = Disk::reading(&folder);
            if let Some(current) = &mut *index {
                refresh(current, &disk, &origin)?;
                match read(current, &disk) {
                    Err(AuditError::Corrupt(_)) => {}
                    done => return done,
                }
            }
            let built = build(&disk, &origin)?;
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
            for &seq in &seqs {
                let Some(at) = index.holding(seq) else {
                    continue;
                };
                if let Some(row) = rows(disk, at)?.into_iter().find(|row| row.seq == seq) {
                    found.push((seq, row.hashes));
                }
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
            let start = index
                .frames
                .partition_point(|frame| frame.first_seq + frame.count <= from);
            let mut leaves = Vec::new();
            for at in &index.frames[start..] {
                if leaves.len() >= limit {
                    break;
                }
                leaves.extend(rows(disk, at)?.into_iter().filter(|row| row.seq >= from));
            }
            leaves.truncate(limit);
            Ok(leaves)
        })
        .await
    }

    /// The start of the last frame begun before `since_ms` (0 if none).
    pub async fn first_since(&self, origin: &str, since_ms: i64) -> Result<u64, AuditError> {
        self.indexed(origin, move |index, _| {
            Ok(index
                .frames
                .iter()
                .filter(|frame| frame.recorded_at < since_ms)
                .map(|frame| frame.first_seq)
                .max()
                .unwrap_or(0))
        })
        .await
    }

    /// The log's checkpoints, in the order they were made.
    pub async fn checkpoints(&self, origin: &str) -> Result<Vec<CheckpointRow>, AuditError> {
        self.indexed(origin, |index, _| Ok(index.checkpoints.clone()))
            .await
    }

    /// The latest checkpoint, if any.
    pub async fn last_checkpoint(&self, origin: &str) -> Result<Option<CheckpointRow>, AuditError> {
        self.indexed(origin, |index, _| Ok(index.checkpoints.last().cloned()))
            .await
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

/// The index of every frame of the log.
fn build(disk: &Disk, origin: &str) -> Result<Index, AuditError> {
    let mut index = Index::default();
    journal::read(disk, origin, |place, frame| {
        index.add(place, frame);
        Some(())
    })?;
    Ok(index)
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

/// Reads what was added to the log since `index` was brought up to date:
/// frames after its tail, then the segments after it.
fn refresh(index: &mut Index, disk: &Disk, origin: &str) -> Result<(), AuditError> {
    loop {
        let Some((name, end)) = index.tail.clone() else {
            // Nothing read yet: the first segment, once there is one.
            if !next_segment(index, disk, origin)? {
                return Ok(());
            }
            continue;
        };
        let head = disk.read_at(&name, end, frame::HEAD_BYTES)?;
        if let Some(length) = frame::length_of(&head) {
            let bytes = disk.read_at(&name, end, length)?;
            if let Ok((frame, length)) = frame::decode(&bytes)
                && frame.bundle.first_seq == index.size
            {
                let place = Place {
                    segment: &name,
                    offset: end,
                    len: length as u64,
                };
                index.add(place, frame);
                continue;
            }
            // Being written (not yet whole), or torn: not yet in the log.
            return Ok(());
        }
        if !next_segment(index, disk, origin)? {
            return Ok(());
        }
    }
}

/// Moves the index's tail to the segment of its next record, if there is
/// one yet; whether there was.
fn next_segment(index: &mut Index, disk: &Disk, origin: &str) -> Result<bool, AuditError> {
    let name = segment::name(index.size);
    if index.tail.as_ref().is_some_and(|(tail, _)| **tail == *name) {
        // The segment read last is the one of the next record: no frame
        // has gone into it yet.
        return Ok(false);
    }
    let Ok(bytes) = disk.read_at(&name, 0, 4096) else {
        return Ok(false);
    };
    match Header::decode(&bytes) {
        Some((header, length)) if header.origin == origin && header.first_seq == index.size => {
            index.tail = Some((Arc::from(name.as_str()), length as u64));
            Ok(true)
        }
        // A segment being made: its header is not written yet.
        None if bytes.iter().all(|&byte| byte == 0) => Ok(false),
        _ => Err(AuditError::Corrupt(format!(
            "journal segment {name} of {origin}: its header is not this log's"
        ))),
    }
}

/// The records of the frame at `at`.
fn rows(disk: &Disk, at: &FrameAt) -> Result<Vec<LeafRow>, AuditError> {
    let length = usize::try_from(at.len).unwrap_or(usize::MAX);
    let bytes = disk.read_at(&at.segment, at.offset, length)?;
    let damaged = || {
        AuditError::Corrupt(format!(
            "journal segment {}: the frame at byte {} no longer reads as it did",
            at.segment, at.offset
        ))
    };
    let (frame, _) = frame::decode(&bytes).map_err(|_| damaged())?;
    let bundle = &frame.bundle;
    if bundle.first_seq != at.first_seq || bundle.count != at.count {
        return Err(damaged());
    }
    bundle::decode(
        bundle.first_seq,
        bundle.count,
        bundle.recorded_at,
        Some(&bundle.records),
        &bundle.hashes,
    )
    .ok_or_else(damaged)
}

/// The directory a `journal:` URL names (`journal:/var/lib/audit`,
/// `journal:///var/lib/audit` or `journal:relative/dir`) and how its
/// segments are cut: `?segment_bytes=N` (at least 1 KiB; default
/// [`crate::journal::SEGMENT_BYTES`]), `&segment_period=1day` (at least a minute; default
/// a day).
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
