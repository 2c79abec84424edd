//! A folder of tiles kept up to the log: brought up step by step it holds
//! what one export holds; no checkpoint in it ever covers a tile a crash
//! could lose; a catch-up that fails at any write (then a crash) is
//! completed by the next; forgetting removes the entry bundles of pruned
//! records and nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io;

use crate::tests::encoding::decision;
use crate::tests::fixture::{Fixture, all, open};
use crate::tiles::path::tile_path;
use crate::{TileFiles, TileFolder, prune};

/// Appends `count` records from `from` on, many at a time.
async fn append(fixture: &Fixture, from: i64, count: i64) {
    let appends: Vec<_> = (from..from + count)
        .map(|i| {
            let log = fixture.log.clone();
            tokio::spawn(async move { log.append(&decision(&format!("d{i}"), i * 1000)).await })
        })
        .collect();
    for append in appends {
        append.await.expect("task").expect("durable");
    }
}

/// Every file of a folder on disk (but its lock), by path.
fn files_in(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).expect("read folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .expect("inside")
                    .display()
                    .to_string();
                if name != ".lock" {
                    found.insert(name, std::fs::read(&path).expect("read"));
                }
            }
        }
    }
    found
}

/// The hash tiles a tree of `size` records has, with their widths.
fn hash_tiles(size: u64) -> Vec<(String, u64)> {
    let mut tiles = Vec::new();
    for level in 0..8 {
        let items = size >> (8 * level);
        for n in 0..items.div_ceil(256) {
            let width = (items - n * 256).min(256);
            tiles.push((tile_path(&level.to_string(), n, width), width));
        }
    }
    tiles
}

/// The size of the tree a checkpoint note is of.
fn size_of(note: &[u8]) -> u64 {
    std::str::from_utf8(note)
        .expect("text")
        .lines()
        .nth(1)
        .and_then(|size| size.parse().ok())
        .expect("a size")
}

#[tokio::test]
async fn a_folder_kept_up_step_by_step_holds_what_one_export_holds() {
    for fixture in all(50).await {
        let kept = fixture.dir.path().join("kept");
        let folder = TileFolder::open(&kept).expect("folder");
        let mut sizes = Vec::new();
        for step in 0..7 {
            append(&fixture, step * 100, 100).await;
            let written = folder
                .catch_up(&fixture.store, &fixture.origin)
                .await
                .expect("catch up");
            sizes.push(written.size);
            // Nothing new: nothing written.
            let again = folder
                .catch_up(&fixture.store, &fixture.origin)
                .await
                .expect("again");
            assert_eq!((again.size, again.hash_tiles), (written.size, 0));
        }
        assert!(sizes.windows(2).all(|pair| pair[0] < pair[1]), "{sizes:?}");
        assert!(sizes[6] > 512, "{sizes:?}");
        let fresh = fixture.dir.path().join("fresh");
        let exported = crate::export_tiles(&fixture.store, &fixture.origin, &fresh)
            .await
            .expect("export");
        assert_eq!(exported.size, sizes[6]);
        // The same files, byte for byte; besides them only the earlier
        // partial tiles of the rightmost tiles (for clients of earlier
        // checkpoints): those of tiles now full were removed.
        let (kept, fresh) = (files_in(&kept), files_in(&fresh));
        same_tiles(&kept, &fresh).unwrap_or_else(|why| panic!("{}: {why}", fixture.origin));
        assert!(kept.contains_key("tile/0/001") && kept.contains_key("tile/entries/001"));
        for full in [
            "tile/0/000",
            "tile/0/001",
            "tile/entries/000",
            "tile/entries/001",
        ] {
            let partials = format!("{full}.p/");
            assert!(
                !kept.keys().any(|path| path.starts_with(&partials)),
                "{}: partials of {full} are left",
                fixture.origin
            );
        }
    }
}

#[tokio::test]
async fn a_folder_of_another_log_or_a_larger_tree_is_refused() {
    let fixture = open("sqlite", 10).await;
    append(&fixture, 0, 30).await;
    let dir = fixture.dir.path().join("tiles");
    std::fs::create_dir_all(&dir).expect("folder");
    std::fs::write(dir.join("checkpoint"), "other.log/x\n5\nAAAA\n\n").expect("write");
    let folder = TileFolder::open(&dir).expect("folder");
    let error = folder
        .catch_up(&fixture.store, &fixture.origin)
        .await
        .expect_err("another log's folder");
    assert!(error.to_string().contains("another log"), "{error}");
    std::fs::write(
        dir.join("checkpoint"),
        format!("{}\n99999\nAAAA\n\n", fixture.origin),
    )
    .expect("write");
    let error = folder
        .catch_up(&fixture.store, &fixture.origin)
        .await
        .expect_err("a larger tree");
    assert!(error.to_string().contains("99999"), "{error}");
    // Nothing was written past the refusal.
    assert!(!dir.join("tile").exists());
}

#[tokio::test]
async fn forgetting_removes_the_entry_bundles_of_pruned_records_only() {
    let fixture = open("journal", 100).await;
    // In order, so that the records made before a time come first.
    for i in 0..600 {
        append(&fixture, i, 1).await;
    }
    let dir = fixture.dir.path().join("tiles");
    let folder = TileFolder::open(&dir).expect("folder");
    let written = folder
        .catch_up(&fixture.store, &fixture.origin)
        .await
        .expect("catch up");
    assert_eq!(written.pruned_bundles, 0);
    let before = files_in(&dir);
    // Records made before 300 s: 300 of them, in bundles 0 and 1.
    let pruned = prune(&fixture.store, &fixture.origin, 300_000, 99, None)
        .await
        .expect("prune");
    assert!((257..=300).contains(&pruned.below), "{pruned:?}");
    let removed = folder.forget(pruned.below).await.expect("forget");
    assert_eq!(removed, 2, "tile/entries/000 and 001");
    let after = files_in(&dir);
    let gone: Vec<_> = before
        .keys()
        .filter(|name| !after.contains_key(*name))
        .collect();
    assert_eq!(gone, ["tile/entries/000", "tile/entries/001"]);
    // What stays is unchanged, and later catch-ups do not bring the
    // pruned bundles back.
    assert!(after.iter().all(|(name, bytes)| before[name] == *bytes));
    append(&fixture, 600, 100).await;
    folder
        .catch_up(&fixture.store, &fixture.origin)
        .await
        .expect("catch up");
    assert!(!dir.join("tile/entries/001").exists());
    assert!(dir.join("tile/0/001").exists());
}

/// Tiles in memory that lose, on a crash, what was not made durable: a
/// file's content once put (it is synced before its rename), its name
/// once its folder is synced, a new folder once the folder above it is.
/// Fails the `fail_at`th change; records what a crash after each change
/// would leave.
#[derive(Default)]
struct MemoryTiles {
    files: BTreeMap<String, Vec<u8>>,
    durable: BTreeMap<String, Vec<u8>>,
    /// Folders whose name is durable in the folder above them.
    durable_dirs: BTreeSet<String>,
    changes: usize,
    fail_at: Option<usize>,
    after_each: Vec<BTreeMap<String, Vec<u8>>>,
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(parent(path)), |dir| {
        (!dir.is_empty()).then(|| parent(dir))
    })
}

impl MemoryTiles {
    /// A folder holding `files`, all durable.
    fn holding(files: BTreeMap<String, Vec<u8>>) -> Self {
        let durable_dirs = files
            .keys()
            .flat_map(|path| ancestors(path).map(str::to_owned))
            .collect();
        Self {
            durable: files.clone(),
            files,
            durable_dirs,
            ..Self::default()
        }
    }

    /// What a crash now would leave.
    fn crashed(&self) -> BTreeMap<String, Vec<u8>> {
        self.durable
            .iter()
            .filter(|(path, _)| {
                ancestors(path).all(|dir| dir.is_empty() || self.durable_dirs.contains(dir))
            })
            .map(|(path, bytes)| (path.clone(), bytes.clone()))
            .collect()
    }

    fn change(&mut self) -> io::Result<()> {
        self.changes += 1;
        if self.fail_at == Some(self.changes) {
            return Err(io::Error::other("injected failure"));
        }
        Ok(())
    }

    fn changed(&mut self) {
        let crashed = self.crashed();
        self.after_each.push(crashed);
    }
}

impl TileFiles for MemoryTiles {
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.files.get(path).cloned())
    }

    fn put(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        self.change()?;
        self.files.insert(path.to_owned(), bytes.to_vec());
        self.changed();
        Ok(())
    }

    fn sync_dir(&mut self, dir: &str) -> io::Result<()> {
        self.change()?;
        let in_dir = |path: &&String| parent(path) == dir;
        let now: Vec<(String, Vec<u8>)> = self
            .files
            .iter()
            .filter(|(path, _)| in_dir(path))
            .map(|(path, bytes)| (path.clone(), bytes.clone()))
            .collect();
        self.durable.retain(|path, _| !in_dir(&path));
        self.durable.extend(now);
        let subdirs: BTreeSet<String> = self
            .files
            .keys()
            .flat_map(|path| ancestors(path))
            .filter(|sub| !sub.is_empty() && parent(sub) == dir)
            .map(str::to_owned)
            .collect();
        self.durable_dirs
            .retain(|sub| parent(sub) != dir || subdirs.contains(sub));
        self.durable_dirs.extend(subdirs);
        self.changed();
        Ok(())
    }

    fn remove(&mut self, path: &str) -> io::Result<bool> {
        self.change()?;
        let before = self.files.len();
        let inside = format!("{path}/");
        self.files
            .retain(|name, _| name != path && !name.starts_with(&inside));
        self.changed();
        Ok(self.files.len() < before)
    }

    fn lock(&self) -> io::Result<Option<File>> {
        Ok(None)
    }
}

/// Checks that a folder a crash left is whole: its checkpoint (if any)
/// covers no hash tile it lacks or holds cut short.
fn whole(files: &BTreeMap<String, Vec<u8>>) -> Result<(), String> {
    let Some(note) = files.get("checkpoint") else {
        return Ok(());
    };
    for (path, width) in hash_tiles(size_of(note)) {
        match files.get(&path) {
            Some(bytes) if bytes.len() as u64 == 32 * width => {}
            Some(bytes) => return Err(format!("{path} holds {} bytes", bytes.len())),
            None => return Err(format!("{path} is missing")),
        }
    }
    Ok(())
}

/// `completed` holds every file of `expected`, the same; besides them only
/// partial tiles of earlier checkpoints (or that a crash kept from being
/// removed), each a prefix of the tile `expected` has in their place, so
/// right for any client that asks for them.
fn same_tiles(
    completed: &BTreeMap<String, Vec<u8>>,
    expected: &BTreeMap<String, Vec<u8>>,
) -> Result<(), String> {
    for (path, bytes) in expected {
        if completed.get(path) != Some(bytes) {
            return Err(format!("{path} differs or is missing"));
        }
    }
    for (path, bytes) in completed {
        if expected.contains_key(path) {
            continue;
        }
        let Some((tile, _)) = path.split_once(".p/") else {
            return Err(format!("{path} should not be there"));
        };
        let partials = format!("{tile}.p/");
        let wider = expected
            .iter()
            .find(|(other, _)| *other == tile || other.starts_with(&partials))
            .ok_or_else(|| format!("{path} should not be there"))?;
        if !wider.1.starts_with(bytes) {
            return Err(format!("{path} is not a prefix of {}", wider.0));
        }
    }
    Ok(())
}

#[tokio::test]
async fn no_crash_leaves_a_checkpoint_over_a_lost_tile_and_the_next_catch_up_completes() {
    let fixture = open("sqlite", 40).await;
    append(&fixture, 0, 200).await;
    // The folder as a first catch-up leaves it, durable.
    let first = TileFolder::new(MemoryTiles::default(), "first".into());
    let started = first
        .catch_up(&fixture.store, &fixture.origin)
        .await
        .expect("catch up");
    let start = first.with_files(|files| {
        files.after_each.iter().try_for_each(whole).expect("whole");
        files.crashed()
    });
    assert_eq!(size_of(&start["checkpoint"]), started.size);
    // The log grows past a full tile; what one catch-up from there writes.
    append(&fixture, 200, 400).await;
    let reference = TileFolder::new(MemoryTiles::holding(start.clone()), "reference".into());
    let grown = reference
        .catch_up(&fixture.store, &fixture.origin)
        .await
        .expect("catch up");
    assert!(grown.size > 512, "{grown:?}");
    let (changes, expected) = reference.with_files(|files| {
        for (change, crashed) in files.after_each.iter().enumerate() {
            whole(crashed).unwrap_or_else(|gap| panic!("a crash after change {change}: {gap}"));
        }
        (files.changes, files.crashed())
    });
    assert!(changes > 10, "{changes} changes");
    // Each change failed in turn, then a crash: the next catch-up
    // completes the folder to the same files.
    for fail_at in 1..=changes {
        let files = MemoryTiles {
            fail_at: Some(fail_at),
            ..MemoryTiles::holding(start.clone())
        };
        let failing = TileFolder::new(files, "failing".into());
        failing
            .catch_up(&fixture.store, &fixture.origin)
            .await
            .expect_err("the injected failure");
        let left = failing.with_files(|files| files.crashed());
        whole(&left).unwrap_or_else(|gap| panic!("failed at change {fail_at}: {gap}"));
        let after = TileFolder::new(MemoryTiles::holding(left), "after".into());
        let done = after
            .catch_up(&fixture.store, &fixture.origin)
            .await
            .expect("the next catch-up");
        assert_eq!(done.size, grown.size);
        let completed = after.with_files(|files| files.crashed());
        same_tiles(&completed, &expected)
            .unwrap_or_else(|why| panic!("failed at change {fail_at}: {why}"));
    }
}
