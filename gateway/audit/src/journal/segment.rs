//! A segment: one pre-allocated file of frames, named by the sequence
//! number of its first record, opened by a header that names the log.
//!
//! Header (integers big-endian): magic `SGAJRNL` and format 1 (8 bytes),
//! leaf format (1 byte; 2: committed leaves, see `record::leaf`), first
//! sequence number (8), origin length (2) and origin, CRC32C of all of it
//! (4). Frames follow it back to back; the rest of the file is zeros.

use super::frame::crc32c;

const MAGIC: [u8; 8] = *b"SGAJRNL\x01";
/// Leaves are committed: `0x02`, a nonce, the record (`record::leaf`).
pub const LEAF_COMMITTED: u8 = 2;
const SUFFIX: &str = ".journal";

/// What a segment's header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// How leaves are made from what the frames hold.
    pub leaf_format: u8,
    /// The sequence number of its first record.
    pub first_seq: u64,
    /// The log's origin line.
    pub origin: String,
}

impl Header {
    /// The header's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let origin = self.origin.as_bytes();
        let mut out = Vec::with_capacity(MAGIC.len() + 15 + origin.len());
        out.extend_from_slice(&MAGIC);
        out.push(self.leaf_format);
        out.extend_from_slice(&self.first_seq.to_be_bytes());
        out.extend_from_slice(
            &u16::try_from(origin.len())
                .unwrap_or(u16::MAX)
                .to_be_bytes(),
        );
        out.extend_from_slice(&origin[..origin.len().min(usize::from(u16::MAX))]);
        let crc = crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// The header at the start of `bytes` and its length; `None` if there
    /// is none whose CRC holds.
    pub fn decode(bytes: &[u8]) -> Option<(Self, usize)> {
        let fixed = MAGIC.len() + 1 + 8 + 2;
        let head = bytes.get(..fixed)?;
        if head[..MAGIC.len()] != MAGIC {
            return None;
        }
        let leaf_format = head[MAGIC.len()];
        let first_seq = u64::from_be_bytes(head[MAGIC.len() + 1..fixed - 2].try_into().ok()?);
        let origin_length = usize::from(u16::from_be_bytes(head[fixed - 2..].try_into().ok()?));
        let length = fixed + origin_length + 4;
        let whole = bytes.get(..length)?;
        let (covered, crc) = whole.split_at(length - 4);
        if crc32c(covered) != u32::from_be_bytes(crc.try_into().ok()?) {
            return None;
        }
        let origin = String::from_utf8(covered[fixed..].to_vec()).ok()?;
        Some((
            Self {
                leaf_format,
                first_seq,
                origin,
            },
            length,
        ))
    }
}

/// The file name of the segment whose first record is `first_seq`.
pub fn name(first_seq: u64) -> String {
    format!("{first_seq:020}{SUFFIX}")
}

/// The first sequence number a segment's file name gives, if it names one.
pub fn first_seq_of(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    (digits.len() == 20 && digits.bytes().all(|byte| byte.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}
