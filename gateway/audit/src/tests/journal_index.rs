//! The journal store's reads on a log of thousands of frames in large
//! segments: they step from the index's marks over the frames, the index
//! keeps a few marks per 64 KiB, and after a prune moved the frames of
//! the older segments the reads still find every record.

use std::time::Duration;

use crate::store::LeafRow;
use crate::tests::encoding::decision;
use crate::tests::fixture::open_at;
use crate::{Store, verify};

/// The segment files in the folders of `dir`.
fn segments_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .expect("folder")
        .flat_map(|folder| std::fs::read_dir(folder.expect("entry").path()))
        .flatten()
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "journal"))
        })
        .count()
}

/// Stretches from several places and the hashes of records across the
/// log read as `all` (the log read whole) has them.
async fn reads_agree(store: &Store, origin: &str, all: &[LeafRow]) {
    let same = |rows: &[LeafRow], from: u64| {
        for row in rows {
            let expected = &all[usize::try_from(row.seq).expect("small")];
            assert_eq!(row.seq, expected.seq);
            assert_eq!(row.record, expected.record, "record {}", row.seq);
            assert_eq!(row.hashes, expected.hashes, "record {}", row.seq);
        }
        assert_eq!(rows.first().map(|row| row.seq), Some(from));
    };
    for from in [0, 1, 255, 256, 1_234, 2_047, RECORDS - 1] {
        let rows = store.leaves(origin, from, 300).await.expect("rows");
        assert_eq!(rows.len() as u64, 300.min(RECORDS - from), "from {from}");
        same(&rows, from);
    }
    let seqs: Vec<u64> = (0..RECORDS).step_by(97).collect();
    let hashes = store.hashes(origin, &seqs).await.expect("hashes");
    assert_eq!(hashes.len(), seqs.len());
    for (seq, blob) in hashes {
        assert_eq!(blob, all[usize::try_from(seq).expect("small")].hashes);
    }
}

const RECORDS: u64 = 3_000;

#[tokio::test]
async fn a_long_journal_is_read_through_a_small_index() {
    let fixture = open_at(
        "journal?segment_bytes=262144",
        "journal",
        100,
        Duration::from_secs(5),
    )
    .await;
    // One record a commit: a frame each.
    for i in 0..RECORDS {
        let at = 1_000 * i64::try_from(i).expect("small");
        fixture
            .log
            .append(&decision(&format!("d{i}"), at))
            .await
            .expect("append");
    }
    let Store::Journal(journal, _) = &fixture.store else {
        panic!("a journal")
    };
    let origin = &fixture.origin;
    let all = fixture
        .store
        .leaves(origin, 0, u32::MAX)
        .await
        .expect("all");
    assert_eq!(
        all.iter().map(|row| row.seq).collect::<Vec<_>>(),
        (0..RECORDS).collect::<Vec<_>>()
    );
    let segments = segments_in(&fixture.dir.path().join("journal"));
    assert!(segments >= 3, "{segments} segments");
    let marks = journal.index_marks(origin).expect("built");
    assert!(
        marks >= segments && marks * 20 < usize::try_from(RECORDS).expect("small"),
        "{marks} marks for {RECORDS} frames in {segments} segments"
    );

    // Any stretch, any record's hashes, as the whole read has them.
    reads_agree(&fixture.store, origin, &all).await;
    // The last frame begun before 1,500.5 s holds record 1,500.
    assert_eq!(
        fixture
            .store
            .first_since(origin, 1_500_500)
            .await
            .expect("since"),
        1_500
    );
    assert!(
        fixture
            .store
            .leaves(origin, RECORDS, 10)
            .await
            .expect("past")
            .is_empty()
    );

    // A prune rewrites the older segments smaller: the frames move.
    let emptied = fixture.store.prune(origin, 2_000, 0).await.expect("prune");
    assert!(emptied > 0);
    let rows = fixture.store.leaves(origin, 1_990, 20).await.expect("rows");
    assert_eq!(rows.len(), 20);
    for row in &rows {
        let expected = &all[usize::try_from(row.seq).expect("small")];
        assert_eq!(row.hashes, expected.hashes, "record {}", row.seq);
        // Records 1,990 to 1,999 lie in a segment before the last: gone.
        assert_eq!(row.record.is_some(), row.seq >= 2_000, "record {}", row.seq);
    }
    let report = verify(&fixture.store, origin, &fixture.vkey, &[])
        .await
        .expect("verify");
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, RECORDS);
}
