//! The next segment's file, made ahead on a thread of its own: written
//! full of zeros and synced, so that a commit's `fdatasync` in it only
//! flushes data. A file allocated with `fallocate` holds *unwritten*
//! extents, and the first write into each makes its sync convert the
//! extent too, a metadata commit of the file system's own journal per
//! `fdatasync` (on ext4 about 40 % more CPU a sync, measured in
//! docs/benchmarks.md). Writing a segment's worth of zeros when a segment
//! is begun would stop every commit for that long; made ahead, it costs the
//! commits nothing. A spare is begun once the segment in use is half full,
//! so a gateway that starts, or a log that stays small, writes nothing
//! more than before; a segment begun before its spare is made is
//! allocated as before: nothing waits. On tmpfs no spare is made.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Instant;

/// The spare's file name: no segment's, so reading a journal skips it.
pub(crate) const NAME: &str = "next-segment.spare";

/// Zeros written (and synced) at a time.
const CHUNK: usize = 1 << 20;

/// How much longer the spare's thread rests after a chunk than the chunk
/// took: it keeps the disk at most a fifth of the time.
const REST: u32 = 4;

/// A spare file of `len` bytes, made or being made.
#[derive(Debug)]
pub(crate) struct Spare {
    len: u64,
    making: JoinHandle<io::Result<()>>,
}

impl Spare {
    /// Starts making a spare of `len` zero bytes in `dir`, in place of any
    /// earlier one.
    pub(crate) fn start(dir: &Path, len: u64) -> io::Result<Self> {
        let path = dir.join(NAME);
        let making = std::thread::Builder::new()
            .name("audit-spare".into())
            .spawn(move || make(&path, len))?;
        Ok(Self { len, making })
    }

    /// Whether this spare is of `len` bytes.
    pub(crate) fn fits(&self, len: u64) -> bool {
        self.len == len
    }

    /// Whether the spare is made (or failed to be): [`Spare::take`] would
    /// not wait.
    pub(crate) fn ready(&self) -> bool {
        self.making.is_finished()
    }

    /// Renames the spare, once made, to `name` in `dir`, unless a file of
    /// that name exists. `None` if the spare could not be made or renamed:
    /// the caller allocates the file itself.
    pub(crate) fn take(self, dir: &Path, name: &str) -> io::Result<Option<File>> {
        let made = self
            .making
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the spare's thread panicked")));
        let from = dir.join(NAME);
        if let Err(error) = made {
            tracing::debug!(%error, "audit journal: no spare segment");
            remove(&from);
            return Ok(None);
        }
        let to: PathBuf = dir.join(name);
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            &from,
            rustix::fs::CWD,
            &to,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => return Err(io::ErrorKind::AlreadyExists.into()),
            Err(error) => {
                tracing::debug!(%error, "audit journal: the spare segment could not be renamed");
                remove(&from);
                return Ok(None);
            }
        }
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(&to)
            .map(Some)
    }
}

/// tmpfs's magic number, as `statfs` gives it.
const TMPFS_MAGIC: i128 = 0x0102_1994;

/// Whether spares save anything in `dir`: not on tmpfs, whose files hold
/// no unwritten extents, so that writing zeros there only costs (measured
/// in docs/benchmarks.md).
pub(crate) fn worth_making(dir: &Path) -> bool {
    rustix::fs::statfs(dir).map_or(true, |fs| i128::from(fs.f_type) != TMPFS_MAGIC)
}

/// Removes a spare an earlier process left in `dir`.
pub(crate) fn remove_left(dir: &Path) {
    remove(&dir.join(NAME));
}

fn remove(path: &Path) {
    if let Err(error) = std::fs::remove_file(path)
        && error.kind() != io::ErrorKind::NotFound
    {
        tracing::debug!(%error, "audit journal: a spare segment could not be removed");
    }
}

/// Writes the spare a chunk at a time, each synced before the next, so that
/// it never holds more than a chunk unwritten in the page cache (a sync of
/// the segment in use may have to wait for what is), and rests
/// [`REST`] times as long as each chunk took, so that the segment's
/// syncs have the disk most of the time.
fn make(path: &Path, len: u64) -> io::Result<()> {
    remove(path);
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    let zeros = vec![0; CHUNK];
    let mut left = len;
    while left > 0 {
        let part = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
        let began = Instant::now();
        file.write_all(&zeros[..part])?;
        file.sync_data()?;
        left -= part as u64;
        std::thread::sleep(began.elapsed() * REST);
    }
    file.sync_all()
}
