//! One frame: the records of one group commit, their stored Merkle hashes
//! and, when one was due, the signed checkpoint, closed by a CRC32C.
//!
//! Layout (integers big-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `SGAF` |
//! | 4 | body length `B` |
//! | 8 | first sequence number |
//! | 4 | record count |
//! | 8 | when the first record was made (ms since the Unix epoch; 0: no records) |
//! | 4 + n | the records blob (see `store::bundle`) |
//! | 4 + n | the hashes blob |
//! | 4 + n | the checkpoint (0: none): size u64, root (32), made at i64, signed note |
//! | 4 | CRC32C (Castagnoli) of everything before it |
//!
//! The magic, the length and the CRC let recovery tell a frame from the
//! zeros a segment is pre-allocated with and from a write that was torn.

use crate::store::{Bundle, CheckpointRow};

/// Marks the start of a frame.
pub(super) const MAGIC: [u8; 4] = *b"SGAF";
/// Magic and body length.
const HEAD: usize = 8;
/// The CRC.
const TAIL: usize = 4;
/// The longest body a frame may claim (a commit holds at most a few MiB).
pub(super) const MAX_BODY: usize = 256 << 20;

/// CRC32C (Castagnoli), as the frames and segment headers use it; with
/// the processor's CRC instruction where it has one.
pub(super) fn crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// A frame as read back.
#[derive(Debug)]
pub struct Frame {
    /// Its records and their hashes.
    pub bundle: Bundle,
    /// The checkpoint written with them.
    pub checkpoint: Option<CheckpointRow>,
}

/// Why the bytes at an offset are not a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotAFrame {
    /// Zeros: the pre-allocated space no frame has used.
    Zeros,
    /// Fewer bytes than the frame claims.
    Short,
    /// Something else: a wrong magic, length or CRC, or a body that does
    /// not parse.
    Damaged,
}

/// Writes the frame of `bundle` and `checkpoint` into `out` (cleared first).
pub fn encode(bundle: &Bundle, checkpoint: Option<&CheckpointRow>, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&bundle.first_seq.to_be_bytes());
    out.extend_from_slice(&u32_of(bundle.count).to_be_bytes());
    out.extend_from_slice(&bundle.recorded_at.to_be_bytes());
    blob(out, &bundle.records);
    blob(out, &bundle.hashes);
    match checkpoint {
        None => out.extend_from_slice(&0u32.to_be_bytes()),
        Some(checkpoint) => {
            let length = 8 + checkpoint.root.len() + 8 + checkpoint.note.len();
            out.extend_from_slice(&u32_of(length as u64).to_be_bytes());
            out.extend_from_slice(&checkpoint.size.to_be_bytes());
            out.extend_from_slice(&checkpoint.root);
            out.extend_from_slice(&checkpoint.created_at.to_be_bytes());
            out.extend_from_slice(checkpoint.note.as_bytes());
        }
    }
    let body = u32_of((out.len() - HEAD) as u64);
    out[4..HEAD].copy_from_slice(&body.to_be_bytes());
    let crc = crc32c(out);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Bytes a frame's head (magic and body length) is.
pub const HEAD_BYTES: usize = HEAD;

/// The whole length of the frame whose head starts `head`, if it starts
/// with a frame's head.
pub fn length_of(head: &[u8]) -> Option<usize> {
    let head = head.get(..HEAD)?;
    let body = usize::try_from(read_u32(&head[4..])).ok()?;
    (head[..4] == MAGIC && body <= MAX_BODY).then_some(HEAD + body + TAIL)
}

/// What a frame's first fields say, read without its CRC: enough to step
/// over it to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peek {
    /// The whole frame's length.
    pub len: u64,
    /// Its first record's sequence number.
    pub first_seq: u64,
    /// Records in it.
    pub count: u64,
    /// When its first record was made (0: none).
    pub recorded_at: i64,
}

/// Bytes [`peek`] reads: the head, the first sequence number, the count
/// and when the first record was made.
pub const PEEK_BYTES: usize = HEAD + 20;

/// The first fields of the frame whose head starts `bytes`, if it starts
/// with a frame's head; its CRC is not checked.
pub fn peek(bytes: &[u8]) -> Option<Peek> {
    let len = length_of(bytes)?;
    let fields = bytes.get(HEAD..PEEK_BYTES)?;
    Some(Peek {
        len: len as u64,
        first_seq: u64::from_be_bytes(fields[..8].try_into().ok()?),
        count: u64::from(read_u32(&fields[8..12])),
        recorded_at: i64::from_be_bytes(fields[12..20].try_into().ok()?),
    })
}

/// Reads the frame at the start of `bytes`: the frame and its length in
/// bytes, or why there is none.
pub fn decode(bytes: &[u8]) -> Result<(Frame, usize), NotAFrame> {
    let Some(head) = bytes.get(..HEAD) else {
        return Err(if bytes.iter().all(|&byte| byte == 0) {
            NotAFrame::Zeros
        } else {
            NotAFrame::Short
        });
    };
    if head == [0; HEAD] {
        return Err(NotAFrame::Zeros);
    }
    if head[..4] != MAGIC {
        return Err(NotAFrame::Damaged);
    }
    let body = usize::try_from(read_u32(&head[4..])).map_err(|_| NotAFrame::Damaged)?;
    if body > MAX_BODY {
        return Err(NotAFrame::Damaged);
    }
    let length = HEAD + body + TAIL;
    let Some(whole) = bytes.get(..length) else {
        return Err(NotAFrame::Short);
    };
    let (covered, crc) = whole.split_at(HEAD + body);
    if crc32c(covered) != read_u32(crc) {
        return Err(NotAFrame::Damaged);
    }
    let frame = parse(&covered[HEAD..]).ok_or(NotAFrame::Damaged)?;
    Ok((frame, length))
}

/// The fields of a body whose CRC holds.
fn parse(mut body: &[u8]) -> Option<Frame> {
    let first_seq = u64::from_be_bytes(take(&mut body, 8)?.try_into().ok()?);
    let count = u64::from(read_u32(take(&mut body, 4)?));
    let recorded_at = i64::from_be_bytes(take(&mut body, 8)?.try_into().ok()?);
    let records = take_blob(&mut body)?.to_vec();
    let hashes = take_blob(&mut body)?.to_vec();
    let mut checkpoint = take_blob(&mut body)?;
    let checkpoint = if checkpoint.is_empty() {
        None
    } else {
        let size = u64::from_be_bytes(take(&mut checkpoint, 8)?.try_into().ok()?);
        let root = take(&mut checkpoint, 32)?.to_vec();
        let created_at = i64::from_be_bytes(take(&mut checkpoint, 8)?.try_into().ok()?);
        let note = String::from_utf8(checkpoint.to_vec()).ok()?;
        Some(CheckpointRow {
            size,
            root,
            note,
            created_at,
        })
    };
    body.is_empty().then_some(Frame {
        bundle: Bundle {
            first_seq,
            count,
            recorded_at,
            records,
            hashes,
        },
        checkpoint,
    })
}

/// Whether `bytes` holds, somewhere after its first byte, a whole frame
/// whose CRC holds: damage followed by written frames, not a torn tail.
pub fn any_frame_after_start(bytes: &[u8]) -> bool {
    let mut from = 1;
    while let Some(found) = memchr::memmem::find(bytes.get(from..).unwrap_or_default(), &MAGIC) {
        let at = from + found;
        if decode(&bytes[at..]).is_ok() {
            return true;
        }
        from = at + 1;
    }
    false
}

fn blob(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32_of(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn take<'a>(bytes: &mut &'a [u8], length: usize) -> Option<&'a [u8]> {
    let (taken, rest) = bytes.split_at_checked(length)?;
    *bytes = rest;
    Some(taken)
}

fn take_blob<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
    let length = usize::try_from(read_u32(take(bytes, 4)?)).ok()?;
    take(bytes, length)
}

fn read_u32(bytes: &[u8]) -> u32 {
    bytes
        .get(..4)
        .and_then(|bytes| bytes.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

/// A length as the frame writes it; a commit never comes near 4 GiB.
fn u32_of(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}
