//! The journal under crashes: a power cut at every sync, with the unsynced
//! bytes of the frame being written lost, kept, kept up to every offset,
//! or kept by 512-byte and 4 KiB sectors in either order; every time the
//! journal opens again, holds every acknowledged record and takes writes.
//! Damage before the tail is reported, never cut, and the order of writes,
//! syncs and directory syncs is the one the journal promises.

use tlog_tiles::record_hash;

use super::sim_files::{Crash, Op, SimFiles};
use crate::AuditError;
use crate::journal::{self, Journal, frame, segment};
use crate::merkle::Frontier;
use crate::store::{Bundle, CheckpointRow, bundle};

const ORIGIN: &str = "journal.test/log";
/// Small segments, so that the plan below rolls over several.
const SEGMENT: u64 = 900;
/// Records per commit, in order; every third commit carries a checkpoint.
const PLAN: [usize; 12] = [1, 3, 1, 5, 2, 8, 1, 4, 1, 1, 6, 2];

fn record(seq: u64) -> Vec<u8> {
    let pad = "x".repeat(usize::try_from(seq % 7 * 13).unwrap());
    format!("{{\"v\":1,\"seq\":{seq},\"pad\":\"{pad}\"}}").into_bytes()
}

/// The next commit of `count` records after `frontier`, which it moves.
fn commit(
    frontier: &mut Frontier,
    count: usize,
    checkpoint: bool,
) -> (Bundle, Option<CheckpointRow>) {
    let mut bundle = Bundle::starting_at(frontier.size(), count, 64);
    for _ in 0..count {
        let bytes = record(frontier.size());
        bundle.add_record(
            1_700_000_000_000 + i64::try_from(frontier.size()).unwrap(),
            &bytes,
        );
        frontier.push(record_hash(&bytes), |hash| bundle.add_hash(hash));
    }
    let checkpoint = checkpoint.then(|| CheckpointRow {
        size: frontier.size(),
        root: frontier.root().0.to_vec(),
        note: format!("{ORIGIN}\n{}\n", frontier.size()),
        created_at: 1_700_000_000_000,
    });
    (bundle, checkpoint)
}

/// Runs [`PLAN`]; returns the records acknowledged and those of the commit
/// that failed, if one did.
fn run_plan(journal: &mut Journal<SimFiles>) -> (Vec<Vec<u8>>, Option<Vec<Vec<u8>>>) {
    let mut frontier = Frontier::default();
    let mut acked = Vec::new();
    for (index, count) in PLAN.into_iter().enumerate() {
        let mut next = frontier.clone();
        let (bundle, checkpoint) = commit(&mut next, count, index % 3 == 2);
        let records: Vec<Vec<u8>> = (frontier.size()..next.size()).map(record).collect();
        match journal.append(&bundle, checkpoint.as_ref()) {
            Ok(()) => {
                acked.extend(records);
                frontier = next;
            }
            Err(_) => return (acked, Some(records)),
        }
    }
    (acked, None)
}

/// The records a journal holds, in order, and its last checkpoint's size.
fn contents(files: &SimFiles) -> (Vec<Vec<u8>>, Option<u64>) {
    let mut records = Vec::new();
    let mut checkpointed = None;
    journal::read(files, ORIGIN, |_, frame| {
        let bundle = &frame.bundle;
        let rows = bundle::decode(
            bundle.first_seq,
            bundle.count,
            bundle.recorded_at,
            Some(&bundle.records),
            &bundle.hashes,
        )?;
        records.extend(rows.into_iter().map(|row| row.record.unwrap()));
        if let Some(checkpoint) = frame.checkpoint {
            checkpointed = Some(checkpoint.size);
        }
        Some(())
    })
    .unwrap();
    (records, checkpointed)
}

fn root_of(records: &[Vec<u8>]) -> [u8; 32] {
    let mut frontier = Frontier::default();
    for bytes in records {
        frontier.push(record_hash(bytes), |_| {});
    }
    frontier.root().0
}

/// Opens what a crash left and checks it: every acknowledged record, then
/// perhaps the whole failed commit, nothing else; the tree's edge as the
/// records give it; and a journal that takes the next commit and opens
/// cleanly after it.
fn check_recovery(crashed: &SimFiles, acked: &[Vec<u8>], failed: Option<&[Vec<u8>]>, case: &str) {
    let (mut journal, recovered) = Journal::open(crashed.clone(), ORIGIN, SEGMENT)
        .unwrap_or_else(|error| panic!("{case}: recovery failed: {error}"));
    let (records, _) = contents(crashed);
    let whole: Vec<Vec<u8>> = acked
        .iter()
        .chain(failed.unwrap_or_default())
        .cloned()
        .collect();
    assert!(
        records == acked || records == whole,
        "{case}: recovered {} records, acknowledged {}, failed commit {}",
        records.len(),
        acked.len(),
        failed.map_or(0, <[_]>::len)
    );
    assert_eq!(
        recovered.frontier.root().0,
        root_of(&records),
        "{case}: the tree's edge"
    );
    assert_eq!(journal.size(), records.len() as u64, "{case}");
    let mut frontier = recovered.frontier;
    let (bundle, checkpoint) = commit(&mut frontier, 2, true);
    journal
        .append(&bundle, checkpoint.as_ref())
        .unwrap_or_else(|error| panic!("{case}: append after recovery: {error}"));
    let (_, again) = Journal::open(crashed.clone(), ORIGIN, SEGMENT).unwrap();
    assert_eq!(again.cut, 0, "{case}: a clean tail after the next commit");
    assert_eq!(contents(crashed).0.len(), records.len() + 2, "{case}");
}

type Survives = Box<dyn Fn(u64) -> bool>;

/// The ways a crash may treat the unsynced bytes in `span`.
fn crash_patterns(span: Option<(u64, u64)>) -> Vec<(String, Survives)> {
    let mut patterns: Vec<(String, Survives)> = vec![
        ("nothing unsynced survives".into(), Box::new(|_| false)),
        ("everything unsynced survives".into(), Box::new(|_| true)),
    ];
    let Some((low, high)) = span else {
        return patterns;
    };
    for cut in low..=high {
        patterns.push((
            format!("unsynced bytes below {cut} survive"),
            Box::new(move |at| at < cut),
        ));
    }
    for sector in [512, 4096] {
        for parity in [0, 1] {
            patterns.push((
                format!("unsynced {sector}-byte sectors of parity {parity} survive"),
                Box::new(move |at| (at / sector) % 2 == parity),
            ));
        }
        patterns.push((
            format!("only the last unsynced {sector}-byte sector survives"),
            Box::new(move |at| at / sector == (high - 1) / sector),
        ));
    }
    patterns
}

#[test]
fn every_acknowledged_record_survives_a_crash_at_every_sync() {
    let syncs = {
        let files = SimFiles::default();
        let (mut journal, _) = Journal::open(files.clone(), ORIGIN, SEGMENT).unwrap();
        let (acked, failed) = run_plan(&mut journal);
        assert!(failed.is_none() && acked.len() == PLAN.iter().sum::<usize>());
        assert!(segments(&files).len() >= 3, "the plan rolls over segments");
        files.syncs()
    };
    let mut cases = 0;
    for failing in 0..syncs {
        let files = SimFiles::default();
        let (mut journal, _) = Journal::open(files.clone(), ORIGIN, SEGMENT).unwrap();
        files.fail_sync_in(failing);
        let (acked, failed) = run_plan(&mut journal);
        let failed = failed
            .unwrap_or_else(|| panic!("sync {failing} failed, yet every commit was acknowledged"));
        for (pattern, survives) in crash_patterns(files.pending_span()) {
            for keep_unlinked in [false, true] {
                let crashed = files.crash(Crash {
                    keep_unlinked,
                    survives: &*survives,
                });
                let case = format!(
                    "sync {failing} failed; {pattern}; unsynced names kept: {keep_unlinked}"
                );
                check_recovery(&crashed, &acked, Some(&failed), &case);
                cases += 1;
            }
        }
    }
    assert!(cases > 1000, "{cases} crashes");
}

#[test]
fn a_failed_sync_takes_no_more_writes_and_writes_nothing_more() {
    let files = SimFiles::default();
    let (mut journal, _) = Journal::open(files.clone(), ORIGIN, SEGMENT).unwrap();
    let mut frontier = Frontier::default();
    let (bundle, _) = commit(&mut frontier, 2, false);
    journal.append(&bundle, None).unwrap();
    files.fail_sync_in(0);
    let (bundle, _) = commit(&mut frontier.clone(), 2, false);
    assert!(matches!(
        journal.append(&bundle, None),
        Err(AuditError::JournalFailed(_))
    ));
    let ops = files.ops().len();
    assert!(
        matches!(
            journal.append(&bundle, None),
            Err(AuditError::JournalFailed(_))
        ),
        "not retried"
    );
    assert!(matches!(journal.probe(), Err(AuditError::JournalFailed(_))));
    assert_eq!(
        files.ops().len(),
        ops,
        "nothing written or synced after the failure"
    );
}

#[test]
fn writes_are_synced_before_acknowledged_and_segments_before_used() {
    let files = SimFiles::default();
    let (mut journal, _) = Journal::open(files.clone(), ORIGIN, SEGMENT).unwrap();
    let mut frontier = Frontier::default();
    for (index, count) in PLAN.into_iter().enumerate() {
        let before = files.ops().len();
        let (bundle, checkpoint) = commit(&mut frontier, count, index % 3 == 2);
        journal.append(&bundle, checkpoint.as_ref()).unwrap();
        let ops = files.ops()[before..].to_vec();
        let frame_write = ops
            .iter()
            .rposition(|op| matches!(op, Op::Write { offset, .. } if *offset > 0))
            .unwrap();
        let Op::Write { name, .. } = &ops[frame_write] else {
            unreachable!()
        };
        assert_eq!(
            ops[frame_write + 1..],
            [Op::Sync(name.clone())],
            "commit {index}: the frame's sync is the last thing before the answer"
        );
        if let Some(created) = ops.iter().position(|op| matches!(op, Op::Create(_))) {
            let Op::Create(new) = &ops[created] else {
                unreachable!()
            };
            assert_eq!(
                ops[created + 1..frame_write],
                [
                    Op::Write {
                        name: new.clone(),
                        offset: 0,
                        len: ops_len(&ops[created + 1])
                    },
                    Op::Sync(new.clone()),
                    Op::SyncDir
                ],
                "commit {index}: a new segment's header and name are durable before a frame goes in"
            );
            assert_eq!(name, new);
        }
    }
    assert!(segments(&files).len() >= 3);
}

#[test]
fn the_next_segment_is_asked_for_ahead_once_the_one_in_use_is_half_full() {
    const BYTES: u64 = 4096;
    let files = SimFiles::default();
    let (mut journal, _) = Journal::open(files.clone(), ORIGIN, BYTES).unwrap();
    let mut frontier = Frontier::default();
    let (mut commits, mut asked) = (0, 0);
    loop {
        let (bundle, _) = commit(&mut frontier, 1, false);
        journal.append(&bundle, None).unwrap();
        commits += 1;
        let names = segments(&files);
        if names.len() > 1 {
            break;
        }
        let last = *frame_offsets(&files, &names[0]).last().unwrap();
        let bytes = journal::storage::Storage::read(&files, &names[0]).unwrap();
        let end = last + frame::decode(&bytes[last as usize..]).unwrap().1 as u64;
        asked = files.prepared();
        assert_eq!(
            asked > 0,
            end > BYTES / 2,
            "commit {commits}: asked ahead {asked} times with the segment filled to byte {end}"
        );
    }
    assert!(commits > 3, "the first segment took {commits} commits");
    assert!(asked > 0, "the next segment was not asked for ahead");
}

fn ops_len(op: &Op) -> u64 {
    match op {
        Op::Write { len, .. } => *len,
        _ => 0,
    }
}

/// A journal of [`PLAN`] with all of it synced.
fn written() -> SimFiles {
    written_in(SEGMENT)
}

/// The same in segments of `segment_bytes`.
fn written_in(segment_bytes: u64) -> SimFiles {
    let files = SimFiles::default();
    let (mut journal, _) = Journal::open(files.clone(), ORIGIN, segment_bytes).unwrap();
    assert!(run_plan(&mut journal).1.is_none());
    files
}

fn segments(files: &SimFiles) -> Vec<String> {
    let mut names: Vec<String> = journal::storage::Storage::list(files)
        .unwrap()
        .into_iter()
        .filter(|name| segment::first_seq_of(name).is_some())
        .collect();
    names.sort();
    names
}

/// Why opening `files` as the log of `origin` fails; the files are left
/// as they were.
fn open_error(files: &SimFiles, origin: &str) -> String {
    let before = files.snapshot();
    let error = match Journal::open(files.clone(), origin, SEGMENT) {
        Err(error @ AuditError::Corrupt(_)) => error.to_string(),
        Err(other) => panic!("not reported as damage: {other}"),
        Ok(_) => panic!("opened a damaged journal"),
    };
    assert!(
        files.snapshot() == before,
        "a failed open changed the files"
    );
    error
}

/// Offsets of the frames in a segment, after its header.
fn frame_offsets(files: &SimFiles, name: &str) -> Vec<u64> {
    let bytes = journal::storage::Storage::read(files, name).unwrap();
    let (_, mut at) = segment::Header::decode(&bytes).unwrap();
    let mut offsets = Vec::new();
    while let Ok((_, length)) = frame::decode(&bytes[at..]) {
        offsets.push(at as u64);
        at += length;
    }
    offsets
}

#[test]
fn damage_before_the_tail_is_reported_and_never_cut() {
    // A frame of the last segment with frames after it (one segment).
    let files = written_in(64 << 10);
    let last = segments(&files).pop().unwrap();
    let offsets = frame_offsets(&files, &last);
    assert!(offsets.len() >= 2, "the last segment holds several frames");
    files.flip(&last, offsets[0] + 20);
    let error = open_error(&files, ORIGIN);
    assert!(error.contains("written frames follow it"), "{error}");

    // A frame of an earlier segment.
    let files = written();
    let first = segments(&files).remove(0);
    let offsets = frame_offsets(&files, &first);
    files.flip(&first, *offsets.last().unwrap() + 12);
    let error = open_error(&files, ORIGIN);
    assert!(error.contains("segments follow it"), "{error}");

    // A segment removed.
    let files = written();
    let names = segments(&files);
    files.remove(&names[1]);
    let error = open_error(&files, ORIGIN);
    assert!(error.contains("the segments before it end at"), "{error}");

    // A segment's header changed.
    let files = written();
    files.flip(&names[1], 3);
    let error = open_error(&files, ORIGIN);
    assert!(error.contains("header is damaged"), "{error}");

    // Another log's journal.
    let error = open_error(&written(), "another.test/log");
    assert!(error.contains("this log is"), "{error}");
}

#[test]
fn a_frame_checks_every_byte() {
    let mut frontier = Frontier::default();
    let (bundle, checkpoint) = commit(&mut frontier, 3, true);
    let mut bytes = Vec::new();
    frame::encode(&bundle, checkpoint.as_ref(), &mut bytes);
    let (decoded, length) = frame::decode(&bytes).unwrap();
    assert_eq!(length, bytes.len());
    assert_eq!(decoded.bundle.records, bundle.records);
    assert_eq!(decoded.bundle.hashes, bundle.hashes);
    assert_eq!(decoded.checkpoint, checkpoint);
    // Its first fields, read without the CRC, to step over it.
    assert_eq!(
        frame::peek(&bytes[..frame::PEEK_BYTES]),
        Some(frame::Peek {
            len: bytes.len() as u64,
            first_seq: bundle.first_seq,
            count: bundle.count,
            recorded_at: bundle.recorded_at,
        })
    );
    assert_eq!(frame::peek(&bytes[..frame::PEEK_BYTES - 1]), None);
    for at in 0..bytes.len() {
        let mut changed = bytes.clone();
        changed[at] ^= 0x01;
        assert!(
            frame::decode(&changed).is_err(),
            "a change at byte {at} went unnoticed"
        );
    }
    for cut in 0..bytes.len() {
        assert!(
            frame::decode(&bytes[..cut]).is_err(),
            "a frame cut at {cut} was read"
        );
    }
}

#[test]
fn a_segment_that_cannot_be_made_is_made_by_the_next_commit() {
    let files = SimFiles::default();
    let (mut journal, _) = Journal::open(files.clone(), ORIGIN, SEGMENT).unwrap();
    let mut frontier = Frontier::default();
    let mut acked = Vec::new();
    files.set_full(true);
    let mut refused = 0;
    // The disk is full: commits go into the segment in use until one
    // needs a new segment.
    for (index, count) in PLAN.into_iter().enumerate() {
        let mut next = frontier.clone();
        let (bundle, checkpoint) = commit(&mut next, count, index % 3 == 2);
        match journal.append(&bundle, checkpoint.as_ref()) {
            Ok(()) => {
                acked.extend((frontier.size()..next.size()).map(record));
                frontier = next;
            }
            Err(AuditError::JournalSegment(why)) => {
                assert!(why.contains("no storage space"), "{why}");
                refused += 1;
                assert!(
                    journal.check().is_ok(),
                    "a full disk leaves the journal usable"
                );
                if refused == 3 {
                    files.set_full(false);
                }
            }
            Err(other) => panic!("commit {index}: {other}"),
        }
    }
    assert_eq!(
        refused, 3,
        "the full disk refused the commits that needed a segment"
    );
    assert!(
        acked.len() > 1,
        "commits after the disk was freed were written"
    );
    assert_eq!(contents(&files).0, acked);
    let (_, recovered) = Journal::open(files.clone(), ORIGIN, SEGMENT).unwrap();
    assert_eq!(recovered.cut, 0);
    assert!(files.ops().iter().any(|op| matches!(op, Op::Create(_))));
}

#[test]
fn a_probe_fails_while_a_segment_cannot_be_made_and_makes_it_once_it_can() {
    let files = SimFiles::default();
    let (mut journal, _) = Journal::open(files.clone(), ORIGIN, SEGMENT).unwrap();
    let mut frontier = Frontier::default();
    let (bundle, _) = commit(&mut frontier, 1, false);
    journal.append(&bundle, None).unwrap();
    assert!(journal.probe().is_ok());
    files.set_full(true);
    let (bundle, _) = commit(&mut frontier.clone(), 40, false);
    assert!(matches!(
        journal.append(&bundle, None),
        Err(AuditError::JournalSegment(_))
    ));
    assert!(
        matches!(journal.probe(), Err(AuditError::JournalSegment(_))),
        "ready while no segment can be made"
    );
    files.set_full(false);
    journal.probe().expect("the segment is made by the probe");
    journal
        .append(&bundle, None)
        .expect("and the commit goes into it");
    assert_eq!(contents(&files).0.len(), 41);
    assert_eq!(segments(&files).len(), 2);
}

#[test]
fn a_segment_is_closed_for_its_age_cut_to_its_frames_and_its_age_read_back() {
    const HOUR: i64 = 3_600_000;
    let files = SimFiles::default();
    let segments = journal::Segments {
        bytes: 64 << 10,
        period_ms: 2 * HOUR,
        ..journal::Segments::default()
    };
    let mut frontier = Frontier::default();
    let mut append = |journal: &mut Journal<SimFiles>, at: i64| {
        let (mut bundle, _) = commit(&mut frontier, 1, false);
        bundle.recorded_at = 1_700_000_000_000 + at;
        journal.append(&bundle, None).unwrap();
    };
    let segment_lengths = |files: &SimFiles| -> Vec<usize> {
        files
            .snapshot()
            .into_iter()
            .filter(|(name, _)| segment::first_seq_of(name).is_some())
            .map(|(_, bytes)| bytes.len())
            .collect()
    };
    let (mut journal, _) = Journal::open(files.clone(), ORIGIN, segments).unwrap();
    append(&mut journal, 0);
    append(&mut journal, HOUR);
    assert_eq!(segment_lengths(&files), [64 << 10]);
    // Two hours after the segment's first records: a new segment, and the
    // old one cut to its frames.
    append(&mut journal, 2 * HOUR);
    append(&mut journal, 3 * HOUR);
    let lengths = segment_lengths(&files);
    assert_eq!(lengths.len(), 2, "{lengths:?}");
    assert!(
        lengths[0] < 1024,
        "the closed segment was not cut: {lengths:?}"
    );
    assert!(
        files.ops().iter().any(
            |op| matches!(op, Op::Truncate(name, _) if segment::first_seq_of(name) == Some(0))
        )
    );
    // Reopened, the active segment's age is read back from its first
    // frame: two hours after it, the next frame begins a third segment.
    drop(journal);
    let (mut journal, _) = Journal::open(files.clone(), ORIGIN, segments).unwrap();
    append(&mut journal, 4 * HOUR);
    assert_eq!(segment_lengths(&files).len(), 3);
    assert_eq!(contents(&files).0, (0..5).map(record).collect::<Vec<_>>());
}

/// `spare=off` in a journal store's URL: no segment is made ahead, where
/// the same commits into a store with the default make one (on a disk;
/// tmpfs never gets one, so the folder is under `/var/tmp`).
#[tokio::test]
async fn a_store_told_spare_off_makes_no_segment_ahead() {
    use crate::store::journal::{JournalStore, directory, folder_name};
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    assert!(
        journal::spare::worth_making(dir.path()),
        "{} is on tmpfs: no spare is made there either way",
        dir.path().display()
    );
    for (store_name, query, spare) in [("on", "", true), ("off", "&spare=off", false)] {
        let url = format!(
            "journal:{}?segment_bytes=65536{query}",
            dir.path().join(store_name).display()
        );
        let (path, segments) = directory(&url).expect("a journal URL");
        assert_eq!(segments.spare, spare, "{url}");
        let store = JournalStore::open(&path, segments).unwrap();
        let mut frontier = Frontier::default();
        // Past half of the first 64 KiB segment.
        while frontier.size() < 400 {
            let (bundle, checkpoint) = commit(&mut frontier, 20, false);
            store
                .append(ORIGIN, bundle, checkpoint.as_ref())
                .await
                .unwrap();
        }
        let made = path.join(folder_name(ORIGIN)).join(journal::spare::NAME);
        let waited = std::time::Instant::now();
        while !made.exists()
            && waited.elapsed() < std::time::Duration::from_secs(if spare { 10 } else { 1 })
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(made.exists(), spare, "{url}: a spare segment made ahead");
    }
}
