//! The journal: the log as append-only files, one frame per group commit.
//!
//! A journal is a directory of [`segment`]s, each a pre-allocated file of
//! [`frame`]s. A commit encodes its records, their stored Merkle hashes
//! and any checkpoint into one frame, writes it with one write and makes
//! it durable with `fdatasync` before anyone is told it is written. A new
//! segment is made (from the spare file made ahead, `spare.rs`, if any),
//! its header written and synced, and the directory synced, before a frame
//! goes into it. Opening a journal reads it back
//! ([`recover`]): a torn last frame, never acknowledged, is cut; damage
//! anywhere else stops the open. A write or sync of a segment in use that
//! fails leaves the journal refusing every later write: after a failed
//! `fdatasync` what the file holds is unknown, so it is never written again
//! by this process; the next open reads what reached the disk. A new
//! segment that cannot be made (a full disk) is removed and made again by
//! the next commit. A segment is closed when the next frame does not fit
//! or when its first frame is older than the segment period (a day by
//! default), so that `prune`, which never touches the segment being
//! written, reaches records of a quiet log too; a segment closed for its
//! age is cut to the frames it holds.

pub mod frame;
pub mod recover;
pub mod segment;
pub(crate) mod spare;
pub mod storage;
mod thread;

use crate::AuditError;
use crate::merkle::{Frontier, from_blob, stored_count};
use crate::store::{Bundle, CheckpointRow};
use frame::Frame;
use recover::Tail;
use segment::Header;
use storage::Storage;
pub use thread::JournalThread;

/// A segment's size when none is configured: 64 MiB.
pub const SEGMENT_BYTES: u64 = 64 << 20;
/// How long a segment takes frames when none is configured: a day.
pub const SEGMENT_PERIOD_MS: i64 = 86_400_000;

/// How segments are cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segments {
    /// A new segment's size (more if one frame needs it).
    pub bytes: u64,
    /// A segment takes no frame made this long after its first one.
    pub period_ms: i64,
    /// Whether the next segment is made ahead, written with zeros (a
    /// spare, `spare.rs`; never on tmpfs). Off, each segment is allocated
    /// when it is begun and the disk is written once, not twice.
    pub spare: bool,
}

impl Default for Segments {
    fn default() -> Self {
        Self {
            bytes: SEGMENT_BYTES,
            period_ms: SEGMENT_PERIOD_MS,
            spare: true,
        }
    }
}

impl From<u64> for Segments {
    /// Segments of `bytes`, closed after the default period.
    fn from(bytes: u64) -> Self {
        Self {
            bytes,
            ..Self::default()
        }
    }
}

/// The segment frames go into.
#[derive(Debug)]
struct Active {
    name: String,
    /// Where the next frame goes.
    end: u64,
    capacity: u64,
    /// When the records of its first frame were made (ms), once it has one.
    opened_at: Option<i64>,
}

/// Why a frame was not written.
enum WriteError {
    /// The next segment could not be made: nothing went into a segment in
    /// use, and the next commit tries again.
    NewSegment(std::io::Error),
    /// Writing or syncing the segment in use failed.
    Segment(std::io::Error),
}

/// What opening a journal found.
#[derive(Debug)]
pub struct Recovered {
    /// The tree's edge.
    pub frontier: Frontier,
    /// The last checkpoint written.
    pub last_checkpoint: Option<CheckpointRow>,
    /// The bytes of a torn last frame that were cut (0: none).
    pub cut: u64,
}

/// The writing end of a journal.
pub struct Journal<S: Storage> {
    storage: S,
    origin: String,
    segments: Segments,
    active: Option<Active>,
    size: u64,
    /// The tree's edge after the last frame.
    frontier: Frontier,
    /// The last checkpoint written.
    last_checkpoint: Option<CheckpointRow>,
    /// The frame being written, kept to be reused.
    buffer: Vec<u8>,
    /// Why the journal takes no more writes.
    failed: Option<String>,
    /// Set while the last attempt to begin a segment failed.
    no_segment: bool,
}

impl<S: Storage> std::fmt::Debug for Journal<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("origin", &self.origin)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl<S: Storage> Journal<S> {
    /// Opens the journal of `origin` in `storage` for writing, after
    /// reading it back and cutting a torn last frame. New segments are cut
    /// as `segments` says.
    pub fn open(
        mut storage: S,
        origin: &str,
        segments: impl Into<Segments>,
    ) -> Result<(Self, Recovered), AuditError> {
        let segments = segments.into();
        let mut frontier = Frontier::default();
        let mut last_checkpoint = None;
        // The segment read last, and when its first records were made.
        let mut opened: Option<(String, Option<i64>)> = None;
        let scanned = recover::scan(&storage, origin, |place, frame| {
            if opened
                .as_ref()
                .is_none_or(|(name, _)| name != place.segment)
            {
                opened = Some((place.segment.to_owned(), None));
            }
            if let Some((_, at @ None)) = &mut opened {
                *at = made_at(&frame.bundle);
            }
            push_frame(&mut frontier, &frame.bundle)?;
            if frame.checkpoint.is_some() {
                last_checkpoint = frame.checkpoint;
            }
            Some(())
        })?;
        let opened_at = opened.and_then(|(segment, at)| at.map(|at| (segment, at)));
        let (active, cut) = resume(&mut storage, origin, scanned.size, scanned.tail, opened_at)?;
        let journal = Self {
            storage,
            origin: origin.to_owned(),
            segments,
            active,
            size: scanned.size,
            frontier: frontier.clone(),
            last_checkpoint: last_checkpoint.clone(),
            buffer: Vec::new(),
            failed: None,
            no_segment: false,
        };
        Ok((
            journal,
            Recovered {
                frontier,
                last_checkpoint,
                cut,
            },
        ))
    }

    /// Records in the journal.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends `bundle` (which must start at [`Journal::size`]) and
    /// `checkpoint` as one frame; returns once they are durable. A frame
    /// holds records, a checkpoint, or both.
    pub fn append(
        &mut self,
        bundle: &Bundle,
        checkpoint: Option<&CheckpointRow>,
    ) -> Result<(), AuditError> {
        self.check()?;
        let empty = bundle.count == 0 && checkpoint.is_none();
        if bundle.first_seq != self.size || empty {
            return Err(AuditError::Corrupt(format!(
                "a commit of records {}+{} to a journal of {}",
                bundle.first_seq, bundle.count, self.size
            )));
        }
        let mut frontier = self.frontier.clone();
        if push_frame(&mut frontier, bundle).is_none() {
            return Err(AuditError::Corrupt(format!(
                "a commit of records {}+{} whose blobs do not hold them",
                bundle.first_seq, bundle.count
            )));
        }
        frame::encode(bundle, checkpoint, &mut self.buffer);
        match self.write_frame(made_at(bundle)) {
            Err(WriteError::NewSegment(error)) => {
                self.no_segment = true;
                Err(AuditError::JournalSegment(error.to_string()))
            }
            Err(WriteError::Segment(error)) => {
                let why = error.to_string();
                self.failed = Some(why.clone());
                Err(AuditError::JournalFailed(why))
            }
            Ok(()) => {
                self.no_segment = false;
                self.size += bundle.count;
                self.frontier = frontier;
                if let Some(checkpoint) = checkpoint {
                    self.last_checkpoint = Some(checkpoint.clone());
                }
                Ok(())
            }
        }
    }

    /// Whether the journal takes writes: an error once one failed.
    pub fn check(&self) -> Result<(), AuditError> {
        match &self.failed {
            Some(why) => Err(AuditError::JournalFailed(why.clone())),
            None => Ok(()),
        }
    }

    /// The tree's edge and the last checkpoint, as the last frame left them.
    pub fn head(&self) -> (Frontier, Option<CheckpointRow>) {
        (self.frontier.clone(), self.last_checkpoint.clone())
    }

    /// Syncs the segment written last: whether the journal still takes
    /// durable writes. After a segment could not be begun, it tries to
    /// begin it now (the next commit would need it).
    pub fn probe(&mut self) -> Result<(), AuditError> {
        self.check()?;
        if self.no_segment {
            let active = self
                .start_segment(0)
                .map_err(|error| AuditError::JournalSegment(error.to_string()))?;
            self.active = Some(active);
            self.no_segment = false;
        }
        let Some(active) = &self.active else {
            return self.storage.sync_dir().map_err(Into::into);
        };
        if let Err(error) = self.storage.sync(&active.name) {
            let why = error.to_string();
            self.failed = Some(why.clone());
            return Err(AuditError::JournalFailed(why));
        }
        Ok(())
    }

    /// Writes the encoded frame, whose records were made at `made_at`, into
    /// the active segment, or a new one if it does not fit or the active
    /// one is past its period.
    fn write_frame(&mut self, made_at: Option<i64>) -> Result<(), WriteError> {
        let need = len(&self.buffer);
        let period = self.segments.period_ms;
        let mut active = match self.active.take() {
            Some(active)
                if active.end + need <= active.capacity && !aged(&active, made_at, period) =>
            {
                active
            }
            Some(mut aged) if aged.opened_at.is_some() && aged.end + need <= aged.capacity => {
                self.close_aged(&aged);
                // Cut: full, should it have to take the next frame after all.
                aged.capacity = aged.end;
                match self.start_segment(need) {
                    Ok(active) => active,
                    Err(error) => {
                        self.active = Some(aged);
                        return Err(WriteError::NewSegment(error));
                    }
                }
            }
            previous => {
                let previous = self.drop_if_empty(previous)?;
                match self.start_segment(need) {
                    Ok(active) => active,
                    Err(error) => {
                        self.active = previous;
                        return Err(WriteError::NewSegment(error));
                    }
                }
            }
        };
        let written = self
            .storage
            .write_at(&active.name, active.end, &self.buffer)
            .and_then(|()| self.storage.sync(&active.name));
        written.map_err(WriteError::Segment)?;
        active.end += need;
        active.opened_at = active.opened_at.or(made_at);
        // Half full: from here on the next segment's file is made ahead.
        if active.end > active.capacity / 2 {
            self.storage.prepare(self.segments.bytes);
        }
        self.active = Some(active);
        Ok(())
    }

    /// Cuts a segment closed for its age to the frames it holds (its room
    /// for more is not needed). A failure only leaves it long: logged.
    fn close_aged(&mut self, aged: &Active) {
        if let Err(error) = self.storage.truncate(&aged.name, aged.end) {
            tracing::warn!(segment = %aged.name, %error, "audit journal: a segment closed for its age could not be cut to its frames");
        }
    }

    /// `previous` unless it is the segment of the next record, which then
    /// holds no frame and is too small for the one to write: that one is
    /// removed, to be made again, larger.
    fn drop_if_empty(&mut self, previous: Option<Active>) -> Result<Option<Active>, WriteError> {
        match previous {
            Some(empty) if empty.name == segment::name(self.size) => {
                if let Err(error) = self.storage.remove(&empty.name) {
                    self.active = Some(empty);
                    return Err(WriteError::NewSegment(error));
                }
                Ok(None)
            }
            previous => Ok(previous),
        }
    }

    /// Makes the segment of the next record, with room for `need` bytes:
    /// header written and synced, then the directory synced. If any step
    /// fails (a full disk), the new file is removed: no frame went into
    /// it, so the next commit can make it again.
    fn start_segment(&mut self, need: u64) -> std::io::Result<Active> {
        let header = header(&self.origin, self.size).encode();
        let capacity = self.segments.bytes.max(len(&header) + need);
        let name = segment::name(self.size);
        let made = self.storage.create(&name, capacity).and_then(|()| {
            self.storage.write_at(&name, 0, &header)?;
            self.storage.sync(&name)?;
            self.storage.sync_dir()
        });
        if let Err(error) = made {
            if error.kind() != std::io::ErrorKind::AlreadyExists {
                let _ = self.storage.remove(&name);
            }
            return Err(error);
        }
        Ok(Active {
            name,
            end: len(&header),
            capacity,
            opened_at: None,
        })
    }
}

/// The segment the next frame goes into, as reading the journal back left
/// it (`tail`): a header that never became durable is written again, a
/// torn last frame is cut (how many bytes: the second value). `opened_at`
/// is when the records of the last segment read were made, and which.
fn resume<S: Storage>(
    storage: &mut S,
    origin: &str,
    size: u64,
    tail: Tail,
    opened_at: Option<(String, i64)>,
) -> Result<(Option<Active>, u64), AuditError> {
    let Tail::Segment {
        name,
        end,
        torn,
        capacity,
        unwritten,
    } = tail
    else {
        return Ok((None, 0));
    };
    if unwritten {
        let header = header(origin, size).encode();
        storage.write_at(&name, 0, &header)?;
        storage.sync(&name)?;
        storage.sync_dir()?;
        let active = Active {
            name,
            end: len(&header),
            capacity,
            opened_at: None,
        };
        return Ok((Some(active), 0));
    }
    if torn > 0 {
        let zeros = vec![0; usize::try_from(torn).unwrap_or(usize::MAX)];
        storage.write_at(&name, end, &zeros)?;
        storage.sync(&name)?;
        tracing::warn!(segment = %name, at = end, bytes = torn, "audit journal: a torn last frame, never acknowledged, was cut");
    }
    let opened_at = opened_at
        .filter(|(segment, _)| *segment == name)
        .map(|(_, at)| at);
    let active = Active {
        name,
        end,
        capacity,
        opened_at,
    };
    Ok((Some(active), torn))
}

/// When the records of a frame were made; `None` for a frame of a
/// checkpoint alone.
fn made_at(bundle: &Bundle) -> Option<i64> {
    (bundle.count > 0).then_some(bundle.recorded_at)
}

/// Whether a frame made at `made_at` is past the period of `active`.
fn aged(active: &Active, made_at: Option<i64>, period_ms: i64) -> bool {
    match (active.opened_at, made_at) {
        (Some(opened), Some(made)) => made.saturating_sub(opened) >= period_ms,
        _ => false,
    }
}

/// Every frame of the journal of `origin` in `storage`, in order, with
/// where it was read, without changing anything (a torn tail is left as it
/// is and not read). Returns the number of records.
pub fn read(
    storage: &impl Storage,
    origin: &str,
    visit: impl FnMut(recover::Place<'_>, Frame) -> Option<()>,
) -> Result<u64, AuditError> {
    Ok(recover::scan(storage, origin, visit)?.size)
}

/// Moves `frontier` past the records of `bundle`; `None` if its blobs do
/// not hold what its count says.
fn push_frame(frontier: &mut Frontier, bundle: &Bundle) -> Option<()> {
    let hashes = from_blob(&bundle.hashes)?;
    let mut hashes = hashes.as_slice();
    let mut records = bundle.records.as_slice();
    for _ in 0..bundle.count {
        let (stored, rest) = hashes.split_at_checked(stored_count(frontier.size()))?;
        hashes = rest;
        frontier.push_stored(stored)?;
        let (length, rest) = records.split_at_checked(4)?;
        let length = usize::try_from(u32::from_be_bytes(length.try_into().ok()?)).ok()?;
        records = rest.get(length..)?;
    }
    (hashes.is_empty() && records.is_empty()).then_some(())
}

fn header(origin: &str, first_seq: u64) -> Header {
    Header {
        leaf_format: segment::LEAF_COMMITTED,
        first_seq,
        origin: origin.to_owned(),
    }
}

fn len(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}
