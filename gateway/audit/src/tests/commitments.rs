//! Committed leaves: a new log hashes each record with a random nonce, so
//! that once a record is pruned (record and nonce deleted) its surviving
//! leaf hash confirms no guess of it; a log begun with plain leaves keeps
//! them.

use std::collections::HashSet;

use tlog_tiles::record_hash;

use crate::merkle::Frontier;
use crate::store::Bundle;
use crate::tests::encoding::decision;
use crate::tests::fixture::{all, open, open_at};
use crate::{Entry, check_inclusion, leaf, prove_inclusion, prune, verify};

#[tokio::test]
async fn a_pruned_record_of_a_new_log_confirms_no_guess() {
    for fixture in all(10).await {
        let written: Vec<Entry> = (0..25)
            .map(|i| decision(&format!("d{i}"), 1_000 * i))
            .collect();
        for entry in &written {
            fixture.log.append(entry).await.expect("append");
        }
        let rows = fixture
            .store
            .leaves(&fixture.origin, 0, 100)
            .await
            .expect("read");
        let mut nonces = HashSet::new();
        for (row, entry) in rows.iter().zip(&written) {
            let data = row.record.as_deref().expect("content");
            let (nonce, record) = leaf::split(data).expect("a leaf");
            assert!(
                leaf::is_committed(data),
                "record {} is not committed",
                row.seq
            );
            assert!(
                nonces.insert(nonce.expect("a nonce").to_vec()),
                "a nonce twice"
            );
            assert_eq!(record, entry.encode(), "the record inside the leaf");
            assert_eq!(Entry::decode_leaf(data).as_ref(), Ok(entry));
        }
        // Records made before 10 s: whole bundles up to 9.
        let pruned = prune(&fixture.store, &fixture.origin, 10_000, 99, None)
            .await
            .expect("prune");
        assert_eq!(pruned.below, 9);
        let rows = fixture
            .store
            .leaves(&fixture.origin, 0, 100)
            .await
            .expect("read");
        for (row, entry) in rows.iter().zip(&written).take(9) {
            assert_eq!(row.record, None, "record {} pruned", row.seq);
            // Knowing the whole record is not enough: the nonce is gone.
            let stored = &row.hashes[..32];
            assert_ne!(
                &record_hash(&entry.encode()).0[..],
                stored,
                "record {}",
                row.seq
            );
        }
        let report = verify(&fixture.store, &fixture.origin, &fixture.vkey, &[])
            .await
            .expect("verify");
        assert!(report.ok, "{report:?}");
        assert_eq!(report.pruned, 9);
        // A record that stays is proved with its nonce, and checked offline.
        let proof = prove_inclusion(&fixture.store, &fixture.origin, 15)
            .await
            .expect("prove");
        assert_eq!(
            proof.nonce.as_ref().map(String::len),
            Some(2 * leaf::NONCE_BYTES)
        );
        check_inclusion(&proof, &fixture.vkey).expect("holds");
        let mut other_nonce = proof.clone();
        other_nonce.nonce = Some("00".repeat(leaf::NONCE_BYTES));
        assert!(check_inclusion(&other_nonce, &fixture.vkey).is_err());
    }
}

#[tokio::test]
async fn a_log_begun_with_plain_leaves_keeps_them() {
    for backend in ["sqlite", "postgres"] {
        let fixture = open(backend, 5).await;
        // Close the fixture's writer, then write the log's first records
        // as a log of an earlier version did: plain.
        fixture.log.close().await.expect("close");
        let mut frontier = Frontier::default();
        let mut bundle = Bundle::starting_at(0, 3, 320);
        for i in 0..3 {
            let bytes = decision(&format!("old{i}"), i).encode();
            bundle.add_record(i, &bytes);
            frontier.push(record_hash(&bytes), |hash| bundle.add_hash(hash));
        }
        fixture
            .store
            .append(&fixture.origin, bundle, None)
            .await
            .expect("plain records");
        let log = fixture.reopen(5).await;
        for i in 0..7 {
            log.append(&decision(&format!("new{i}"), 10 + i))
                .await
                .expect("append");
        }
        let rows = fixture
            .store
            .leaves(&fixture.origin, 0, 100)
            .await
            .expect("read");
        assert_eq!(rows.len(), 10);
        for row in &rows {
            let data = row.record.as_deref().expect("content");
            assert!(
                !leaf::is_committed(data),
                "{backend}: record {} committed",
                row.seq
            );
        }
        let report = verify(&fixture.store, &fixture.origin, &fixture.vkey, &[])
            .await
            .expect("verify");
        assert!(report.ok, "{backend}: {report:?}");
        let proof = prove_inclusion(&fixture.store, &fixture.origin, 4)
            .await
            .expect("prove");
        assert_eq!(proof.nonce, None);
        check_inclusion(&proof, &fixture.vkey).expect("holds");
    }
}

#[tokio::test]
async fn records_of_a_quiet_journal_are_pruned_once_their_segment_has_aged() {
    let fixture = open_at(
        "journal?segment_period=1m",
        "journal",
        1,
        std::time::Duration::from_secs(5),
    )
    .await;
    // Made at 0 s, 30 s and 90 s: the third begins a new segment.
    for (i, at) in [0, 30_000, 90_000].into_iter().enumerate() {
        fixture
            .log
            .append(&decision(&format!("d{i}"), at))
            .await
            .expect("append");
    }
    let pruned = prune(&fixture.store, &fixture.origin, 60_000, 99, None)
        .await
        .expect("prune");
    // Whole commits before the last one made before 60 s: the first.
    assert_eq!((pruned.below, pruned.bundles), (1, 1), "{pruned:?}");
    let rows = fixture
        .store
        .leaves(&fixture.origin, 0, 10)
        .await
        .expect("read");
    assert_eq!(rows[0].record, None, "record 0 pruned");
    assert!(rows[1].record.is_some() && rows[2].record.is_some());
    let report = verify(&fixture.store, &fixture.origin, &fixture.vkey, &[])
        .await
        .expect("verify");
    assert!(report.ok, "{report:?}");
    assert_eq!(report.pruned, 1);
}
