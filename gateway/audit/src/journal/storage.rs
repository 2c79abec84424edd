//! The file layer under the journal: [`Storage`], with [`Disk`] for real
//! files. Tests put a layer of their own under the journal that loses what
//! was not synced when it "crashes".

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::spare::{self, Spare};

/// What the journal asks of the files it keeps in one directory.
pub trait Storage: Send + 'static {
    /// The names of the files in the directory.
    fn list(&self) -> io::Result<Vec<String>>;
    /// A file's whole content.
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;
    /// A file's length.
    fn len(&self, name: &str) -> io::Result<u64>;
    /// Up to `len` bytes of a file from `offset` (fewer at its end).
    fn read_at(&self, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    /// Makes a new file of `len` zero bytes, its space allocated; it is
    /// durable in the directory only after [`Storage::sync_dir`].
    fn create(&mut self, name: &str, len: u64) -> io::Result<()>;
    /// Writes `bytes` at `offset`, in one write.
    fn write_at(&mut self, name: &str, offset: u64, bytes: &[u8]) -> io::Result<()>;
    /// Makes what was written to the file durable (`fdatasync`).
    fn sync(&mut self, name: &str) -> io::Result<()>;
    /// Makes the directory's entries durable.
    fn sync_dir(&mut self) -> io::Result<()>;
    /// Removes a file (one that does not exist is no error).
    fn remove(&mut self, name: &str) -> io::Result<()>;
    /// Cuts a file to `len` bytes, durably.
    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()>;
    /// Says that the next [`Storage::create`] will likely ask for `len`
    /// bytes: a storage may make that file ahead, off the caller's path.
    /// Called for each frame once the segment in use is half full.
    fn prepare(&mut self, _len: u64) {}
}

/// Files in a directory on disk. Keeps the files it writes open, and makes
/// the next segment's file ahead when asked to (a spare, `spare.rs`).
#[derive(Debug)]
pub struct Disk {
    dir: PathBuf,
    open: HashMap<String, File>,
    spare: Option<Spare>,
    /// Whether spares are made here (not on tmpfs).
    spares: bool,
}

impl Disk {
    /// The directory `dir`, made if missing (the caller syncs its parent
    /// when that matters), for writing: a spare file an earlier process
    /// left is removed.
    pub fn new(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        spare::remove_left(dir);
        Ok(Self {
            dir: dir.to_owned(),
            open: HashMap::new(),
            spare: None,
            spares: spare::worth_making(dir),
        })
    }

    /// The same, making no spare (see [`super::Segments::spare`]).
    #[must_use]
    pub fn without_spares(mut self) -> Self {
        self.spares = false;
        self
    }

    /// The directory `dir` as it is, for reading: one that does not exist
    /// lists no files.
    pub fn reading(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            open: HashMap::new(),
            spare: None,
            spares: false,
        }
    }

    /// A new file of `len` zero bytes named `name`: the spare, if one of
    /// that size was asked for and is made, or else allocated now.
    fn new_file(&mut self, name: &str, len: u64) -> io::Result<File> {
        if let Some(spare) = self.spare.take_if(|spare| spare.fits(len) && spare.ready())
            && let Some(file) = spare.take(&self.dir, name)?
        {
            return Ok(file);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(self.dir.join(name))?;
        // Allocated now, so that a commit's fdatasync has no size to write;
        // where the file system cannot, a sparse file.
        if rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, len).is_err() {
            file.set_len(len)?;
        }
        file.sync_all()?;
        Ok(file)
    }

    fn file(&mut self, name: &str) -> io::Result<&File> {
        if !self.open.contains_key(name) {
            let file = OpenOptions::new().write(true).open(self.dir.join(name))?;
            self.open.insert(name.to_owned(), file);
        }
        self.open
            .get(name)
            .ok_or_else(|| io::Error::other("file not open"))
    }
}

impl Storage for Disk {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(names),
            entries => entries?,
        };
        for entry in entries {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.dir.join(name))
    }

    fn len(&self, name: &str) -> io::Result<u64> {
        Ok(std::fs::metadata(self.dir.join(name))?.len())
    }

    fn read_at(&self, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let file = File::open(self.dir.join(name))?;
        let mut bytes = vec![0; len];
        let mut filled = 0;
        while filled < len {
            match file.read_at(&mut bytes[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        bytes.truncate(filled);
        Ok(bytes)
    }

    fn create(&mut self, name: &str, len: u64) -> io::Result<()> {
        let file = self.new_file(name, len)?;
        // One file is written at a time: the others are closed.
        self.open.clear();
        self.open.insert(name.to_owned(), file);
        Ok(())
    }

    fn write_at(&mut self, name: &str, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.file(name)?.write_all_at(bytes, offset)
    }

    fn sync(&mut self, name: &str) -> io::Result<()> {
        self.file(name)?.sync_data()
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()> {
        let file = self.file(name)?;
        file.set_len(len)?;
        file.sync_data()
    }

    fn prepare(&mut self, len: u64) {
        if !self.spares || self.spare.as_ref().is_some_and(|spare| spare.fits(len)) {
            return;
        }
        match Spare::start(&self.dir, len) {
            Ok(spare) => self.spare = Some(spare),
            Err(error) => tracing::debug!(%error, "audit journal: no spare segment"),
        }
    }

    fn remove(&mut self, name: &str) -> io::Result<()> {
        self.open.remove(name);
        match std::fs::remove_file(self.dir.join(name)) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            removed => removed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeros(dir: &Path, name: &str) -> Option<u64> {
        let bytes = std::fs::read(dir.join(name)).ok()?;
        bytes
            .iter()
            .all(|byte| *byte == 0)
            .then_some(bytes.len() as u64)
    }

    /// A disk that makes spares wherever the test's folder is.
    fn spares_in(dir: &Path) -> Disk {
        let mut disk = Disk::new(dir).unwrap();
        disk.spares = true;
        disk
    }

    /// Waits until the spare `disk` is making is made.
    fn made(disk: &Disk) {
        while disk.spare.as_ref().is_some_and(|spare| !spare.ready()) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn a_new_segment_of_the_prepared_size_is_the_spare_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let mut disk = spares_in(dir.path());
        disk.prepare(4096);
        made(&disk);
        disk.create("a", 4096).unwrap();
        assert_eq!(zeros(dir.path(), "a"), Some(4096));
        assert!(!dir.path().join(spare::NAME).exists(), "the spare was used");
        disk.write_at("a", 10, b"frame").unwrap();
        disk.sync("a").unwrap();
        assert_eq!(
            &std::fs::read(dir.path().join("a")).unwrap()[10..15],
            b"frame"
        );
    }

    #[test]
    fn another_size_is_allocated_and_the_spare_kept_for_later() {
        let dir = tempfile::tempdir().unwrap();
        let mut disk = spares_in(dir.path());
        disk.prepare(4096);
        disk.create("big", 8192).unwrap();
        assert_eq!(zeros(dir.path(), "big"), Some(8192));
        made(&disk);
        disk.create("next", 4096).unwrap();
        assert_eq!(zeros(dir.path(), "next"), Some(4096));
        assert!(!dir.path().join(spare::NAME).exists());
    }

    #[test]
    fn the_spare_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"kept").unwrap();
        let mut disk = spares_in(dir.path());
        disk.prepare(4096);
        made(&disk);
        let error = disk.create("a", 4096).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"kept");
        // Without a spare, as before.
        assert_eq!(
            disk.create("a", 4096).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
    }

    #[test]
    fn a_spare_left_by_an_earlier_process_is_removed_and_never_listed_as_a_segment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(spare::NAME), b"half made").unwrap();
        assert!(super::super::segment::first_seq_of(spare::NAME).is_none());
        let disk = Disk::new(dir.path()).unwrap();
        assert!(disk.list().unwrap().is_empty());
    }
}
