//! Where a log's frames are, kept small: a mark at the first frame of
//! each segment and at one frame in every [`MARK_EVERY`] bytes after it,
//! and the latest checkpoint. A read finds a frame by stepping from the
//! mark before it over the frames' heads, reading the segment a window at
//! a time. So the index grows by a few bytes per 64 KiB of log, not by a
//! few dozen per frame: a gateway that serves tiles or keeps a query
//! index for months keeps a small one.

use std::sync::Arc;

use crate::AuditError;
use crate::journal;
use crate::journal::frame::{self, Frame, Peek};
use crate::journal::recover::Place;
use crate::journal::segment::{self, Header};
use crate::journal::storage::{Disk, Storage};
use crate::store::{CheckpointRow, LeafRow, bundle};

/// Bytes of a segment from one mark to the next, at most (and a frame).
pub(super) const MARK_EVERY: u64 = 64 << 10;

/// How much of a segment is read at a time while stepping over frames.
const WINDOW: usize = 128 << 10;

/// A frame's place and what its head says.
#[derive(Clone, Debug)]
pub(super) struct FrameAt {
    pub(super) first_seq: u64,
    pub(super) count: u64,
    pub(super) recorded_at: i64,
    segment: Arc<str>,
    offset: u64,
    len: u64,
}

/// A frame to step on from.
#[derive(Clone, Debug)]
struct Mark {
    first_seq: u64,
    segment: Arc<str>,
    offset: u64,
}

/// Where the frames of a log are, as far as it was read.
#[derive(Debug, Default)]
pub(super) struct Index {
    marks: Vec<Mark>,
    /// The latest checkpoint read.
    pub(super) last_checkpoint: Option<CheckpointRow>,
    /// Records in the frames read.
    pub(super) size: u64,
    /// The last segment read and where its frames end.
    tail: Option<(Arc<str>, u64)>,
}

impl Index {
    /// The index of every frame of the log.
    pub(super) fn build(disk: &Disk, origin: &str) -> Result<Self, AuditError> {
        settled(|| {
            let mut index = Self::default();
            journal::read(disk, origin, |place, frame| {
                index.add(place, frame);
                Some(())
            })?;
            Ok(index)
        })
    }

    fn add(&mut self, place: Place<'_>, frame: Frame) {
        let segment = match &self.tail {
            Some((name, _)) if **name == *place.segment => Arc::clone(name),
            _ => Arc::from(place.segment),
        };
        let due = self.marks.last().is_none_or(|mark| {
            *mark.segment != *place.segment || place.offset >= mark.offset + MARK_EVERY
        });
        if due {
            self.marks.push(Mark {
                first_seq: frame.bundle.first_seq,
                segment: Arc::clone(&segment),
                offset: place.offset,
            });
        }
        self.size = frame.bundle.first_seq + frame.bundle.count;
        if frame.checkpoint.is_some() {
            self.last_checkpoint = frame.checkpoint;
        }
        self.tail = Some((segment, place.offset + place.len));
    }

    /// How many marks it keeps.
    #[cfg(test)]
    pub(super) fn marks(&self) -> usize {
        self.marks.len()
    }

    /// Reads what was added to the log since the index was brought up to
    /// date: frames after its tail, then the segments after it.
    pub(super) fn refresh(&mut self, disk: &Disk, origin: &str) -> Result<(), AuditError> {
        loop {
            let Some((name, end)) = self.tail.clone() else {
                // Nothing read yet: the first segment, once there is one.
                if !self.next_segment(disk, origin)? {
                    return Ok(());
                }
                continue;
            };
            let head = disk.read_at(&name, end, frame::HEAD_BYTES)?;
            if let Some(length) = frame::length_of(&head) {
                let bytes = disk.read_at(&name, end, length)?;
                if let Ok((frame, length)) = frame::decode(&bytes)
                    && frame.bundle.first_seq == self.size
                {
                    let place = Place {
                        segment: &name,
                        offset: end,
                        len: length as u64,
                    };
                    self.add(place, frame);
                    continue;
                }
                // Being written (not yet whole), or torn: not yet in the log.
                return Ok(());
            }
            if !self.next_segment(disk, origin)? {
                return Ok(());
            }
        }
    }

    /// Moves the tail to the segment of the next record, if there is one
    /// yet; whether there was.
    fn next_segment(&mut self, disk: &Disk, origin: &str) -> Result<bool, AuditError> {
        let name = segment::name(self.size);
        if self.tail.as_ref().is_some_and(|(tail, _)| **tail == *name) {
            // The segment read last is the one of the next record: no frame
            // has gone into it yet.
            return Ok(false);
        }
        let Ok(bytes) = disk.read_at(&name, 0, 4096) else {
            return Ok(false);
        };
        match Header::decode(&bytes) {
            Some((header, length)) if header.origin == origin && header.first_seq == self.size => {
                self.tail = Some((Arc::from(name.as_str()), length as u64));
                Ok(true)
            }
            // A segment being made: its header is not written yet.
            None if bytes.iter().all(|&byte| byte == 0) => Ok(false),
            _ => Err(AuditError::Corrupt(format!(
                "journal segment {name} of {origin}: its header is not this log's"
            ))),
        }
    }

    /// Calls `visit` with each frame that holds records, from the one
    /// holding record `from` on, until it returns `false` or the records
    /// read end. A frame not where the index has it (a prune rewrote its
    /// segment) is [`AuditError::Corrupt`]: the caller builds the index
    /// anew.
    pub(super) fn walk(
        &self,
        disk: &Disk,
        window: &mut Window,
        from: u64,
        mut visit: impl FnMut(&FrameAt, &mut Window) -> Result<bool, AuditError>,
    ) -> Result<(), AuditError> {
        let Some(mut mark) = self
            .marks
            .partition_point(|mark| mark.first_seq <= from)
            .checked_sub(1)
        else {
            return Ok(());
        };
        let Mark {
            first_seq: mut next,
            mut segment,
            mut offset,
        } = self.marks[mark].clone();
        while next < self.size {
            let Some(peek) = window.peek(disk, &segment, offset)? else {
                // The segment's frames end: on in the next segment, whose
                // first frame has a mark.
                let Some(later) = self.marks[mark..]
                    .iter()
                    .position(|later| *later.segment != *segment)
                else {
                    return Err(moved(&segment, offset));
                };
                mark += later;
                let following = &self.marks[mark];
                if following.first_seq != next {
                    return Err(moved(&following.segment, following.offset));
                }
                segment = Arc::clone(&following.segment);
                offset = following.offset;
                continue;
            };
            if peek.first_seq != next {
                return Err(moved(&segment, offset));
            }
            let at = FrameAt {
                first_seq: peek.first_seq,
                count: peek.count,
                recorded_at: peek.recorded_at,
                segment: Arc::clone(&segment),
                offset,
                len: peek.len,
            };
            next += peek.count;
            offset += peek.len;
            if at.count > 0 && next > from && !visit(&at, window)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Every checkpoint of the log, in the order they were made: the log
    /// read whole.
    pub(super) fn checkpoints(disk: &Disk, origin: &str) -> Result<Vec<CheckpointRow>, AuditError> {
        settled(|| {
            let mut checkpoints = Vec::new();
            journal::read(disk, origin, |_, frame| {
                checkpoints.extend(frame.checkpoint);
                Some(())
            })?;
            Ok(checkpoints)
        })
    }
}

/// A read of the whole log, once more if it found damage: a reader races
/// the writer, and a frame written while its segment is read can look torn
/// with the next frame already after it. Damage is found twice.
fn settled<T>(mut read: impl FnMut() -> Result<T, AuditError>) -> Result<T, AuditError> {
    match read() {
        Err(AuditError::Corrupt(_)) => read(),
        done => done,
    }
}

/// A segment's frame that does not read where the index has it.
fn moved(segment: &str, offset: u64) -> AuditError {
    AuditError::Corrupt(format!(
        "journal segment {segment}: no frame at byte {offset} where one was"
    ))
}

/// A part of a segment read once and stepped through.
#[derive(Debug, Default)]
pub(super) struct Window {
    segment: Option<Arc<str>>,
    at: u64,
    bytes: Vec<u8>,
}

impl Window {
    /// The part of `len` bytes at `offset` of `segment`, if the window
    /// holds it.
    fn holding(&self, segment: &str, offset: u64, len: usize) -> Option<&[u8]> {
        if self.segment.as_deref() != Some(segment) {
            return None;
        }
        let start = usize::try_from(offset.checked_sub(self.at)?).ok()?;
        self.bytes.get(start..start.checked_add(len)?)
    }

    /// The first fields of the frame at `offset` of `segment`; `None`
    /// where no frame starts.
    fn peek(
        &mut self,
        disk: &Disk,
        segment: &Arc<str>,
        offset: u64,
    ) -> Result<Option<Peek>, AuditError> {
        if self.holding(segment, offset, frame::PEEK_BYTES).is_none() {
            self.bytes = disk.read_at(segment, offset, WINDOW)?;
            self.at = offset;
            self.segment = Some(Arc::clone(segment));
        }
        Ok(self
            .holding(segment, offset, frame::PEEK_BYTES)
            .and_then(frame::peek))
    }

    /// The records of the frame at `at`, checked whole (its CRC).
    pub(super) fn rows(&self, disk: &Disk, at: &FrameAt) -> Result<Vec<LeafRow>, AuditError> {
        let length = usize::try_from(at.len).unwrap_or(usize::MAX);
        let read;
        let bytes = match self.holding(&at.segment, at.offset, length) {
            Some(bytes) => bytes,
            None => {
                read = disk.read_at(&at.segment, at.offset, length)?;
                &read
            }
        };
        let damaged = || {
            AuditError::Corrupt(format!(
                "journal segment {}: the frame at byte {} no longer reads as it did",
                at.segment, at.offset
            ))
        };
        let (frame, _) = frame::decode(bytes).map_err(|_| damaged())?;
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
}
