//! Pruning a journal: the records of whole frames are emptied (each record
//! becomes a zero length, as a pruned bundle's are), their hashes and any
//! checkpoint stay, so the tree, every checkpoint and every later proof
//! hold. The segment being written is never touched; its frames wait until
//! the next segment is begun.
//!
//! The prune is noted first (the `pruned` file: the sequence number below
//! which records may be gone). A segment is rewritten beside itself
//! (`<name>.pruning`), synced, renamed over the old one, and the folder
//! synced: a prune cut short leaves every segment whole, old or new.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::AuditError;
use crate::journal::frame::{self, Frame};
use crate::journal::segment::{self, Header};

/// The file that notes the prunes.
const NOTE: &str = "pruned";

/// Records below this were pruned (0 if none were).
pub(super) fn below(folder: &Path) -> Result<u64, AuditError> {
    match fs::read_to_string(folder.join(NOTE)) {
        Ok(text) => text.trim().parse().map_err(|_| {
            AuditError::Corrupt(format!(
                "{}: not a record number",
                folder.join(NOTE).display()
            ))
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(error) => Err(error.into()),
    }
}

/// Empties the frames wholly below `below` in every segment of `origin`'s
/// log in `folder` but the last; how many frames it emptied.
pub(super) fn segments(folder: &Path, origin: &str, below: u64) -> Result<u64, AuditError> {
    note(folder, below)?;
    let mut names: Vec<(u64, String)> = fs::read_dir(folder)?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            Some((segment::first_seq_of(&name)?, name))
        })
        .collect();
    names.sort();
    // The last segment is the one being written.
    names.pop();
    let mut emptied = 0;
    for (first_seq, name) in names {
        if first_seq >= below {
            break;
        }
        emptied += segment(folder, &name, origin, below)?;
    }
    Ok(emptied)
}

/// Notes that records below `below` may be gone (never lowering the note).
fn note(folder: &Path, below: u64) -> Result<(), AuditError> {
    let below = below.max(self::below(folder)?);
    replace(folder, NOTE, format!("{below}\n").as_bytes())
}

/// Empties the frames of one segment wholly below `below`.
fn segment(folder: &Path, name: &str, origin: &str, below: u64) -> Result<u64, AuditError> {
    let bytes = fs::read(folder.join(name))?;
    let damaged = |what: &str| AuditError::Corrupt(format!("journal segment {name}: {what}"));
    let (header, start) = Header::decode(&bytes).ok_or_else(|| damaged("its header is damaged"))?;
    if header.origin != origin {
        return Err(damaged("it is another log's"));
    }
    let mut rewritten = bytes[..start].to_vec();
    let mut at = start;
    let mut emptied = 0;
    let mut buffer = Vec::new();
    while let Ok((frame, length)) = frame::decode(&bytes[at..]) {
        let Frame {
            mut bundle,
            checkpoint,
        } = frame;
        let whole = bundle.first_seq + bundle.count <= below;
        let empty = vec![0; 4 * usize::try_from(bundle.count).unwrap_or(0)];
        if whole && bundle.count > 0 && bundle.records != empty {
            bundle.records = empty;
            frame::encode(&bundle, checkpoint.as_ref(), &mut buffer);
            rewritten.extend_from_slice(&buffer);
            emptied += 1;
        } else {
            rewritten.extend_from_slice(&bytes[at..at + length]);
        }
        at += length;
    }
    if emptied == 0 {
        return Ok(0);
    }
    rewritten.resize(bytes.len(), 0);
    replace(folder, name, &rewritten)?;
    Ok(emptied)
}

/// Writes `name` in `folder` anew: beside it, synced, renamed over it, and
/// the folder synced.
fn replace(folder: &Path, name: &str, bytes: &[u8]) -> Result<(), AuditError> {
    let temporary = folder.join(format!("{name}.pruning"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, folder.join(name))?;
    File::open(folder)?.sync_all()?;
    Ok(())
}
