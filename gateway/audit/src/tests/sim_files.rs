//! A file layer for the journal's tests that remembers what was synced:
//! written bytes are pending until their file is synced, a new file's
//! name is pending until its directory is synced, and [`SimFiles::crash`]
//! gives the files as a power cut could leave them. A sync can be made to
//! fail, and every operation is logged so that tests can check the order.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use crate::journal::storage::Storage;

/// One operation the journal did, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Create(String),
    Write { name: String, offset: u64, len: u64 },
    Sync(String),
    SyncDir,
    Remove(String),
    Truncate(String, u64),
}

#[derive(Clone, Debug, Default)]
struct File {
    /// What survives a crash whatever happens.
    durable: Vec<u8>,
    /// Writes not yet synced, in order: (offset, bytes).
    pending: Vec<(u64, Vec<u8>)>,
    /// Whether its name survives a crash.
    linked: bool,
}

impl File {
    fn current(&self) -> Vec<u8> {
        let mut bytes = self.durable.clone();
        for (offset, data) in &self.pending {
            put(&mut bytes, *offset, data);
        }
        bytes
    }
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<String, File>,
    ops: Vec<Op>,
    /// Syncs (of files or the directory) done so far.
    syncs: usize,
    /// The sync (counted from 0) that fails, if one should.
    fail_sync: Option<usize>,
    /// Whether new files cannot be made (a full disk).
    full: bool,
    /// The sizes the journal said it would ask for next
    /// ([`Storage::prepare`]), in order: no file is made for them.
    prepared: Vec<u64>,
}

/// The simulated directory; clones share it.
#[derive(Clone, Debug, Default)]
pub struct SimFiles(Arc<Mutex<State>>);

/// How a crash treats what was not synced.
#[derive(Clone, Copy)]
pub struct Crash<'a> {
    /// Whether files whose directory was never synced keep their name.
    pub keep_unlinked: bool,
    /// Whether the unsynced byte at an offset reached the disk.
    pub survives: &'a dyn Fn(u64) -> bool,
}

impl SimFiles {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes sync number `n` (counted from now) fail.
    pub fn fail_sync_in(&self, n: usize) {
        let mut state = self.state();
        state.fail_sync = Some(state.syncs + n);
    }

    /// Makes new files fail to be made (a full disk), or not.
    pub fn set_full(&self, full: bool) {
        self.state().full = full;
    }

    /// Syncs done so far.
    pub fn syncs(&self) -> usize {
        self.state().syncs
    }

    /// The operations done so far.
    pub fn ops(&self) -> Vec<Op> {
        self.state().ops.clone()
    }

    /// How many times the journal said what it would ask for next.
    pub fn prepared(&self) -> usize {
        self.state().prepared.len()
    }

    /// The offsets of the bytes written and not yet synced, lowest and
    /// one past the highest, if there are any.
    pub fn pending_span(&self) -> Option<(u64, u64)> {
        let state = self.state();
        let spans = state
            .files
            .values()
            .flat_map(|file| &file.pending)
            .map(|(offset, data)| (*offset, offset + data.len() as u64));
        spans.reduce(|(low, high), (from, to)| (low.min(from), high.max(to)))
    }

    /// Every file's name and current content.
    pub fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let state = self.state();
        state
            .files
            .iter()
            .map(|(name, file)| (name.clone(), file.current()))
            .collect()
    }

    /// Changes one byte of a file behind the journal's back.
    pub fn flip(&self, name: &str, offset: u64) {
        let mut state = self.state();
        let file = state.files.get_mut(name).expect("no such file");
        let at = usize::try_from(offset).expect("offset");
        file.durable[at] ^= 0x40;
    }

    /// Removes a file behind the journal's back.
    pub fn remove(&self, name: &str) {
        self.state().files.remove(name);
    }

    /// The files a crash now would leave, as a new directory.
    pub fn crash(&self, crash: Crash<'_>) -> Self {
        let state = self.state();
        let mut files = BTreeMap::new();
        for (name, file) in &state.files {
            if !file.linked && !crash.keep_unlinked {
                continue;
            }
            let mut durable = file.durable.clone();
            for (offset, data) in &file.pending {
                for (index, byte) in data.iter().enumerate() {
                    let at = offset + index as u64;
                    if (crash.survives)(at) {
                        put(&mut durable, at, &[*byte]);
                    }
                }
            }
            let file = File {
                durable,
                pending: Vec::new(),
                linked: true,
            };
            files.insert(name.clone(), file);
        }
        Self(Arc::new(Mutex::new(State {
            files,
            ..State::default()
        })))
    }

    fn sync_op(&self, op: Op) -> io::Result<()> {
        let mut state = self.state();
        let number = state.syncs;
        state.syncs += 1;
        if state.fail_sync == Some(number) {
            return Err(io::Error::other("simulated sync failure"));
        }
        match &op {
            Op::Sync(name) => {
                let file = state.files.get_mut(name).ok_or(io::ErrorKind::NotFound)?;
                for (offset, data) in std::mem::take(&mut file.pending) {
                    put(&mut file.durable, offset, &data);
                }
            }
            _ => state.files.values_mut().for_each(|file| file.linked = true),
        }
        state.ops.push(op);
        Ok(())
    }
}

fn put(bytes: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let at = usize::try_from(offset).expect("offset");
    if bytes.len() < at + data.len() {
        bytes.resize(at + data.len(), 0);
    }
    bytes[at..at + data.len()].copy_from_slice(data);
}

impl Storage for SimFiles {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.state().files.keys().cloned().collect())
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let state = self.state();
        let file = state.files.get(name).ok_or(io::ErrorKind::NotFound)?;
        Ok(file.current())
    }

    fn len(&self, name: &str) -> io::Result<u64> {
        Ok(self.read(name)?.len() as u64)
    }

    fn read_at(&self, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let bytes = self.read(name)?;
        let from = usize::try_from(offset).expect("offset").min(bytes.len());
        Ok(bytes[from..(from + len).min(bytes.len())].to_vec())
    }

    fn create(&mut self, name: &str, len: u64) -> io::Result<()> {
        let mut state = self.state();
        if state.files.contains_key(name) {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        if state.full {
            return Err(io::ErrorKind::StorageFull.into());
        }
        let file = File {
            durable: vec![0; usize::try_from(len).expect("length")],
            ..File::default()
        };
        state.files.insert(name.to_owned(), file);
        state.ops.push(Op::Create(name.to_owned()));
        Ok(())
    }

    fn write_at(&mut self, name: &str, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.state();
        let file = state.files.get_mut(name).ok_or(io::ErrorKind::NotFound)?;
        file.pending.push((offset, bytes.to_vec()));
        state.ops.push(Op::Write {
            name: name.to_owned(),
            offset,
            len: bytes.len() as u64,
        });
        Ok(())
    }

    fn sync(&mut self, name: &str) -> io::Result<()> {
        self.sync_op(Op::Sync(name.to_owned()))
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        self.sync_op(Op::SyncDir)
    }

    fn remove(&mut self, name: &str) -> io::Result<()> {
        let mut state = self.state();
        state.files.remove(name);
        state.ops.push(Op::Remove(name.to_owned()));
        Ok(())
    }

    fn prepare(&mut self, len: u64) {
        self.state().prepared.push(len);
    }

    /// Cut at once, durably (as `set_len` and `fdatasync` leave it).
    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()> {
        let mut state = self.state();
        let file = state.files.get_mut(name).ok_or(io::ErrorKind::NotFound)?;
        for (offset, data) in std::mem::take(&mut file.pending) {
            put(&mut file.durable, offset, &data);
        }
        file.durable.truncate(usize::try_from(len).expect("length"));
        state.ops.push(Op::Truncate(name.to_owned(), len));
        Ok(())
    }
}
