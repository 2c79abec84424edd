//! Reading a journal back: every segment in order, every frame up to the
//! first that does not check, and what to make of the first that does not.
//!
//! Frames are written one at a time, each synced before the next is
//! written, so only the last frame of the last segment can be partly on
//! disk, and it was never acknowledged: a bad frame there, with nothing
//! after it but bytes that are no frame, is a **torn tail**, cut on
//! recovery. A bad frame anywhere else (in an earlier segment, or followed
//! by a frame whose CRC holds), a frame out of sequence, a segment missing
//! or of another log is **damage**: reported, never repaired.

use super::frame::{self, Frame};
use super::segment::{self, Header};
use super::storage::Storage;
use crate::AuditError;

/// Where the log ends on disk.
#[derive(Debug, PartialEq, Eq)]
pub enum Tail {
    /// No segment yet.
    Empty,
    /// The last segment; its frames end at `end`, and after `end` come
    /// the `torn` bytes of a frame that was never completed (0: none).
    Segment {
        /// Its file name.
        name: String,
        /// Where its frames end.
        end: u64,
        /// How far the bytes of a torn frame reach past `end`.
        torn: u64,
        /// Its length.
        capacity: u64,
        /// Whether its header must be written again: the last segment was
        /// made but its header never became durable, nor any frame.
        unwritten: bool,
    },
}

/// Where a frame was read.
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    /// The segment's file name.
    pub segment: &'a str,
    /// The frame's offset in it.
    pub offset: u64,
    /// The frame's length.
    pub len: u64,
}

/// What a scan found.
#[derive(Debug)]
pub struct Scanned {
    /// Records in the log (the next sequence number).
    pub size: u64,
    /// Where it ends.
    pub tail: Tail,
}

/// How much of a segment is read at a time: reading a log holds about
/// this much of it in memory (and a frame, if one is larger), not a whole
/// segment. The unit tests read 4 KiB at a time, so that their frames lie
/// across windows and some are larger than one.
const WINDOW: usize = if cfg!(test) { 4 << 10 } else { 1 << 20 };

/// Reads every frame of the log of `origin` in `storage`, in order,
/// handing each to `visit` with where it was read (`visit` may refuse one
/// as damaged by returning `None`).
pub fn scan<S: Storage>(
    storage: &S,
    origin: &str,
    mut visit: impl FnMut(Place<'_>, Frame) -> Option<()>,
) -> Result<Scanned, AuditError> {
    let mut names: Vec<(u64, String)> = storage
        .list()?
        .into_iter()
        .filter_map(|name| Some((segment::first_seq_of(&name)?, name)))
        .collect();
    names.sort();
    let mut size = 0;
    let mut tail = Tail::Empty;
    let count = names.len();
    for (index, (first_seq, name)) in names.iter().enumerate() {
        let last = index + 1 == count;
        let damaged = |what: String| AuditError::Corrupt(format!("journal segment {name}: {what}"));
        if first_seq != &size {
            return Err(damaged(format!(
                "it starts at record {first_seq}, the segments before it end at {size}"
            )));
        }
        let mut segment = Windows::open(storage, name)?;
        let capacity = segment.capacity;
        let Some((header, start)) = Header::decode(segment.bytes(0, WINDOW)?) else {
            // A new segment's header is synced, and then its name, before
            // any frame goes in: a last segment with no good header and
            // no frame was made by a commit that never completed.
            if last && !frame::any_frame_after_start(&storage.read(name)?) {
                tail = Tail::Segment {
                    name: name.clone(),
                    end: 0,
                    torn: 0,
                    capacity,
                    unwritten: true,
                };
                break;
            }
            return Err(damaged("its header is damaged".into()));
        };
        let expected = Header {
            leaf_format: segment::LEAF_COMMITTED,
            first_seq: *first_seq,
            origin: origin.to_owned(),
        };
        if header != expected {
            return Err(damaged(format!(
                "its header says {header:?}, this log is {expected:?}"
            )));
        }
        let (end, next) = frames(&mut segment, start as u64, *first_seq, &mut visit)?;
        size = next;
        let torn = if segment.zeros_from(end)? {
            0
        } else {
            // What follows the last good frame, read whole only here: after
            // a crash, or where the segment is damaged.
            let left = usize::try_from(capacity.saturating_sub(end)).unwrap_or(usize::MAX);
            let rest = storage.read_at(name, end, left)?;
            let torn = torn_bytes(&rest);
            if torn > 0 && !last {
                return Err(damaged(format!(
                    "byte {end}: a damaged frame, and segments follow it"
                )));
            }
            if torn > 0 && frame::any_frame_after_start(&rest) {
                return Err(damaged(format!(
                    "byte {end}: a damaged frame, and written frames follow it"
                )));
            }
            torn
        };
        tail = Tail::Segment {
            name: name.clone(),
            end,
            torn,
            capacity,
            unwritten: false,
        };
    }
    Ok(Scanned { size, tail })
}

/// Reads the frames of a segment from `at`: where they end and the next
/// sequence number; damage where a frame with a good CRC breaks the
/// sequence or does not parse.
fn frames<S: Storage>(
    segment: &mut Windows<'_, S>,
    mut at: u64,
    mut next: u64,
    visit: &mut impl FnMut(Place<'_>, Frame) -> Option<()>,
) -> Result<(u64, u64), AuditError> {
    let name = segment.name;
    let damaged = |at: u64, what: String| {
        AuditError::Corrupt(format!("journal segment {name}: byte {at}: {what}"))
    };
    loop {
        // Zeros end the segment; anything else is judged by the caller.
        let Some(length) = frame::length_of(segment.bytes(at, frame::HEAD_BYTES)?) else {
            return Ok((at, next));
        };
        let Ok((frame, length)) = frame::decode(segment.bytes(at, length)?) else {
            return Ok((at, next));
        };
        let bundle = &frame.bundle;
        let empty = bundle.count == 0 && frame.checkpoint.is_none();
        if bundle.first_seq != next || empty {
            return Err(damaged(
                at,
                format!(
                    "a frame of records {}+{} where record {next} comes next",
                    bundle.first_seq, bundle.count
                ),
            ));
        }
        next += bundle.count;
        let place = Place {
            segment: name,
            offset: at,
            len: length as u64,
        };
        visit(place, frame)
            .ok_or_else(|| damaged(at, "a frame whose records do not parse".into()))?;
        at += length as u64;
    }
}

/// A segment read a window at a time.
struct Windows<'a, S> {
    storage: &'a S,
    name: &'a str,
    /// The segment's length.
    capacity: u64,
    /// Where the window read last starts, and its bytes.
    at: u64,
    bytes: Vec<u8>,
}

impl<'a, S: Storage> Windows<'a, S> {
    fn open(storage: &'a S, name: &'a str) -> Result<Self, AuditError> {
        Ok(Self {
            storage,
            name,
            capacity: storage.len(name)?,
            at: 0,
            bytes: Vec::new(),
        })
    }

    /// The segment's bytes from `offset` on, at least `len` of them where
    /// the segment holds that many: from the window read last, or from a
    /// new one read at `offset`.
    fn bytes(&mut self, offset: u64, len: usize) -> Result<&[u8], AuditError> {
        let window_end = self.at + self.bytes.len() as u64;
        let held = offset >= self.at
            && offset <= window_end
            && (offset + len as u64 <= window_end || window_end >= self.capacity);
        if !held {
            let wanted = len.max(WINDOW);
            let left = usize::try_from(self.capacity.saturating_sub(offset)).unwrap_or(usize::MAX);
            self.bytes = self.storage.read_at(self.name, offset, wanted.min(left))?;
            self.at = offset;
        }
        let start = usize::try_from(offset - self.at).unwrap_or(usize::MAX);
        Ok(self.bytes.get(start..).unwrap_or_default())
    }

    /// Whether every byte from `offset` to the segment's end is zero.
    fn zeros_from(&mut self, mut offset: u64) -> Result<bool, AuditError> {
        while offset < self.capacity {
            let window = self.bytes(offset, WINDOW)?;
            if window.is_empty() {
                break;
            }
            if !zeros(window) {
                return Ok(false);
            }
            offset += window.len() as u64;
        }
        Ok(true)
    }
}

/// Whether `bytes` are all zeros, compared a block at a time (a `memcmp`).
fn zeros(bytes: &[u8]) -> bool {
    bytes
        .chunks(ZEROS.len())
        .all(|block| block == &ZEROS[..block.len()])
}

const ZEROS: [u8; 4096] = [0; 4096];

/// How many bytes at the start of `rest` (what follows the last good
/// frame) are not zeros: up to the last byte that is not zero. `rest` is
/// most of a pre-allocated segment, so it is compared with zeros a block
/// at a time (a `memcmp`), and only the block that is not zero byte by
/// byte.
fn torn_bytes(rest: &[u8]) -> u64 {
    let mut end = rest.len();
    for block in rest.rchunks(ZEROS.len()) {
        if block != &ZEROS[..block.len()] {
            let last = block.iter().rposition(|&byte| byte != 0).unwrap_or(0);
            return len(&rest[..end - block.len() + last + 1]);
        }
        end -= block.len();
    }
    0
}

fn len(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::torn_bytes;

    /// Block by block, the same answer as byte by byte: for a last byte
    /// that is not zero at each place around the blocks' edges, and none.
    #[test]
    fn torn_bytes_reach_the_last_byte_that_is_not_zero() {
        for size in [0, 1, 4095, 4096, 4097, 3 * 4096 + 17] {
            let mut rest = vec![0u8; size];
            assert_eq!(torn_bytes(&rest), 0, "{size} zeros");
            for last in [0, 1, 4094, 4095, 4096, 4097, 8191, size.saturating_sub(1)] {
                if last >= size {
                    continue;
                }
                rest.fill(0);
                rest[0] = 0x53;
                rest[last] = 0x01;
                let expected = rest
                    .iter()
                    .rposition(|&byte| byte != 0)
                    .map_or(0, |at| at + 1);
                assert_eq!(
                    torn_bytes(&rest),
                    expected as u64,
                    "{size} bytes, last {last}"
                );
            }
        }
    }
}
