//! The file layer under the journal: [`Storage`], with [`Disk`] for real
//! files. Tests put a layer of their own under the journal that loses what
//! was not synced when it "crashes".

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// What the journal asks of the files it keeps in one directory.
pub trait Storage: Send + 'static {
    /// The names of the files in the directory.
    fn list(&self) -> io::Result<Vec<String>>;
    /// A file's whole content.
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;
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
}

/// Files in a directory on disk. Keeps the files it writes open.
#[derive(Debug)]
pub struct Disk {
    dir: PathBuf,
    open: HashMap<String, File>,
}

impl Disk {
    /// The directory `dir`, made if missing (the caller syncs its parent
    /// when that matters).
    pub fn new(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            open: HashMap::new(),
        })
    }

    /// The directory `dir` as it is, for reading: one that does not exist
    /// lists no files.
    pub fn reading(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            open: HashMap::new(),
        }
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
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(self.dir.join(name))?;
        // Allocated now, so that a commit's fdatasync has no size or
        // extent to write; where the file system cannot, a sparse file.
        if rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, len).is_err() {
            file.set_len(len)?;
        }
        file.sync_all()?;
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

    fn remove(&mut self, name: &str) -> io::Result<()> {
        self.open.remove(name);
        match std::fs::remove_file(self.dir.join(name)) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            removed => removed,
        }
    }
}
