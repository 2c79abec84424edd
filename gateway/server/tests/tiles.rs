//! The log exported as C2SP tlog-tiles, checked by a verifier written in
//! Python from the specifications (`tests/clients/verify_tiles.py`), not
//! by our code: a gateway's log at two checkpoints (consistent with each
//! other) on SQLite and on the journal, through `sectorgate audit export
//! --format tiles`, and as the admin listener serves it (`/audit/tiles/`);
//! the folder a gateway keeps up by itself (`[audit] tiles`), at the
//! checkpoint that closes the log, and after `audit prune` took the entry
//! bundles of the pruned records; a log past 65,536 records, whose tiles
//! have a second and a third level; and exports changed after the fact
//! (an entry, a higher-level hash) or checked with another key, which it
//! refuses.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test steps: a failed step fails the test"
)]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sectorgate_audit::{
    AuditLog, CheckpointSigner, CheckpointSink, Decision, Direction, Entry, LogConfig, Peer,
    ProfileRef, Store, Verdict,
};
use support::load::Load;
use support::upstream;
use support::{Gateway, GatewayOptions, python, repo, runtime};

/// What the verifier said: its exit status and its JSON summary.
fn verify_tiles(vkey: &str, exports: &[&Path]) -> (bool, serde_json::Value) {
    let output = Command::new(python())
        .arg(repo().join("gateway/server/tests/clients/verify_tiles.py"))
        .arg(vkey.trim())
        .args(exports)
        .output()
        .expect("run verify_tiles.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "verify_tiles.py said: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), summary)
}

/// The lines of the gateway's log at level ERROR.
fn errors(gateway: &Gateway) -> String {
    let log = gateway.log();
    let errors: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(r#""level":"ERROR""#))
        .collect();
    errors.join("\n")
}

/// Exports the gateway's log as tiles into `out`; the size exported.
fn export(gateway: &Gateway, out: &Path) -> u64 {
    let out = out.to_str().expect("utf-8 path");
    let (code, report) = gateway.audit_command(&["export", "--format", "tiles", "--out", out]);
    assert_eq!(code, 0, "export failed: {report}");
    let written: serde_json::Value = serde_json::from_str(report.trim()).expect("a JSON report");
    written["size"].as_u64().expect("size")
}

/// Runs load for a moment, then waits for the checkpoint that covers it
/// (checkpoints come every second), until the log exported into `out`
/// holds more than `above` records: its size.
fn load_and_export(gateway: &Gateway, out: &Path, above: u64) -> u64 {
    let mut size = 0;
    for _ in 0..20 {
        let load = Load::start(gateway, 8, 0);
        std::thread::sleep(Duration::from_millis(400));
        assert!(!load.stop().acknowledged.is_empty());
        std::thread::sleep(Duration::from_millis(1500));
        size = export(gateway, out);
        if size > above {
            return size;
        }
    }
    panic!("the export covers {size} records, not more than {above}");
}

#[test]
fn a_gateway_log_exported_as_tiles_checks_with_an_independent_verifier() {
    let upstream = upstream::start();
    for store in ["sqlite", "journal"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let gateway = Gateway::start(GatewayOptions {
            audit_database: (store == "journal")
                .then(|| format!("journal:{}", dir.path().join("audit").display())),
            audit_extra: "checkpoint_interval = \"1s\"\n".to_owned(),
            ..GatewayOptions::for_stand_in(&upstream.url, "base")
        });
        let (first, second) = (dir.path().join("first"), dir.path().join("second"));
        let size = load_and_export(&gateway, &first, 256);
        let grown = load_and_export(&gateway, &second, size);
        let vkey = gateway.checkpoint_public_key();
        let (ok, summary) = verify_tiles(&vkey, &[&first, &second]);
        assert!(ok, "{store}: {summary}");
        assert_eq!(summary["consistent"], true, "{store}: {summary}");
        assert_eq!(summary["exports"][0]["size"], size, "{store}");
        assert_eq!(summary["exports"][1]["size"], grown, "{store}");

        // The admin listener serves the same tiles: read as a tlog-tiles
        // client reads them, they are consistent with both exports.
        std::thread::sleep(Duration::from_millis(1500));
        let served = format!("{}/audit/tiles", gateway.admin_url);
        let (ok, summary) = verify_tiles(&vkey, &[&first, &second, Path::new(&served)]);
        assert!(ok, "{store}: served tiles: {summary}\n{}", errors(&gateway));
        let client = support::http();
        let full = client
            .get(format!("{served}/tile/0/000"))
            .send()
            .expect("a full tile");
        assert_eq!(full.status(), 200);
        assert_eq!(
            full.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(full.bytes().expect("body").len(), 256 * 32);
        let beyond = client
            .get(format!("{served}/tile/0/x001/000"))
            .send()
            .expect("answer");
        assert_eq!(beyond.status(), 404, "a tile past the tree");
        let malformed = client
            .get(format!("{served}/tile/0/1"))
            .send()
            .expect("answer");
        assert_eq!(malformed.status(), 404, "a path that is not a tile's");

        // The verifier can fail: one byte of an entry changed…
        let bundle = second.join("tile/entries/000");
        let mut bytes = std::fs::read(&bundle).expect("a full entry bundle");
        bytes[40] ^= 0x01;
        std::fs::write(&bundle, &bytes).expect("write");
        let (ok, summary) = verify_tiles(&vkey, &[&second]);
        assert!(!ok, "{store}: a changed entry passed: {summary}");
        assert!(
            summary["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("leaf hash"),
            "{summary}"
        );
        // …or another log's key.
        let other = tempfile::tempdir().expect("tempdir");
        let stranger =
            CheckpointSigner::load_or_create(&other.path().join("k"), "other/log").expect("key");
        let (ok, summary) = verify_tiles(stranger.verifier_key(), &[&first]);
        assert!(!ok, "{store}: another key passed: {summary}");
        // Put back, the export passes again.
        bytes[40] ^= 0x01;
        std::fs::write(&bundle, &bytes).expect("write");
        let (ok, summary) = verify_tiles(&vkey, &[&first, &second]);
        assert!(ok, "{store}: the restored export: {summary}");
    }
}

/// The size of the tree the checkpoint in a folder of tiles is of.
fn folder_size(tiles: &Path) -> Option<u64> {
    std::fs::read_to_string(tiles.join("checkpoint"))
        .ok()?
        .lines()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn a_gateway_keeps_durable_tiles_that_check_and_prune_forgets_their_entries() {
    let upstream = upstream::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let tiles = dir.path().join("tiles");
    let mut gateway = Gateway::start(GatewayOptions {
        audit_database: Some(format!("journal:{}", dir.path().join("audit").display())),
        audit_extra: format!(
            "checkpoint_interval = \"1s\"\ntiles = \"{}\"\n",
            tiles.display()
        ),
        ..GatewayOptions::for_stand_in(&upstream.url, "base")
    });
    // The gateway brings the folder up to each checkpoint by itself.
    let mut size = 0;
    for _ in 0..20 {
        let load = Load::start(&gateway, 8, 0);
        std::thread::sleep(Duration::from_millis(400));
        assert!(!load.stop().acknowledged.is_empty());
        size = support::wait_for(Duration::from_secs(5), || {
            folder_size(&tiles).filter(|&size| size > 300)
        })
        .unwrap_or(0);
        if size > 300 {
            break;
        }
    }
    assert!(size > 300, "the folder's checkpoint covers {size} records");
    let vkey = gateway.checkpoint_public_key();
    let served = format!("{}/audit/tiles", gateway.admin_url);
    let (ok, summary) = verify_tiles(&vkey, &[&tiles, Path::new(&served)]);
    assert!(ok, "{summary}\n{}", errors(&gateway));
    assert_eq!(summary["exports"][0]["pruned_bundles"], 0, "{summary}");

    // Stopped, the folder holds the checkpoint that closes the log.
    assert!(gateway.terminate().success());
    let (code, report) = gateway.audit_command(&["verify"]);
    assert_eq!(code, 0, "{report}");
    let report: serde_json::Value = serde_json::from_str(&report).expect("json");
    let records = report["records"].as_u64().expect("records");
    assert_eq!(folder_size(&tiles), Some(records), "{report}");
    let (ok, summary) = verify_tiles(&vkey, &[&tiles]);
    assert!(ok, "{summary}");
    let bundles = summary["exports"][0]["entry_bundles"].as_u64().expect("n");
    assert_eq!(bundles, records.div_ceil(256), "{summary}");

    // Pruned, the entry bundles of the pruned records leave the folder;
    // the hash tiles stay complete, and still check.
    let (code, pruned) = gateway.audit_command(&["prune", "--before", "2100-01-01T00:00:00Z"]);
    assert_eq!(code, 0, "{pruned}");
    let pruned: serde_json::Value = serde_json::from_str(&pruned).expect("json");
    // Whole commits are pruned: all but the last, at least.
    let below = pruned["below"].as_u64().expect("below");
    assert!(below > records - 256 && below <= records, "{pruned}");
    let forgotten = below.div_ceil(256);
    assert!(
        pruned["tile_files_removed"].as_u64() >= Some(forgotten),
        "{pruned}"
    );
    let (ok, summary) = verify_tiles(&vkey, &[&tiles]);
    assert!(ok, "{summary}");
    assert_eq!(
        summary["exports"][0]["entry_bundles"],
        bundles - forgotten,
        "{summary}"
    );
    assert_eq!(
        summary["exports"][0]["pruned_bundles"], forgotten,
        "{summary}"
    );
    // Neither the full bundles nor any partial one of them is left.
    for n in 0..forgotten {
        let bundle = tiles.join(format!("tile/entries/{n:03}"));
        assert!(!bundle.exists(), "{}", bundle.display());
        assert!(
            !bundle.with_extension("p").exists(),
            "{}.p",
            bundle.display()
        );
    }
}

fn decision(i: u64) -> Entry {
    Entry::Decision(Decision {
        id: format!("{i:032x}"),
        ts: 1_764_288_000_000 + i64::try_from(i).expect("small"),
        profile: ProfileRef {
            id: "base".to_owned(),
            revision: "base@1".to_owned(),
            digest: None,
        },
        direction: Direction::Inbound,
        endpoint: Some("client.send_message_event".to_owned()),
        action: "send_message_event".to_owned(),
        rule: "endpoint.allowed".to_owned(),
        verdict: Verdict::Allow,
        peer: Peer::Anonymous,
        request_id: format!("r{i}"),
        trace_id: None,
        destination: None,
        by_gateway: None,
    })
}

#[test]
fn tiles_of_a_log_past_65536_records_have_higher_levels_that_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let origin = "tiles.test/big";
    let records = 65_536 + 300;
    let vkey = runtime().block_on(async {
        let url = format!("journal:{}", dir.path().join("audit").display());
        let store = Store::open(&url, Duration::from_secs(5))
            .await
            .expect("open");
        let signer = CheckpointSigner::load_or_create(&dir.path().join("k"), origin).expect("key");
        let vkey = signer.verifier_key().to_owned();
        let claim = store.claim(origin, Duration::ZERO).await.expect("claim");
        let log = AuditLog::spawn(
            store.clone(),
            claim,
            signer,
            LogConfig {
                origin: origin.to_owned(),
                checkpoint_every: 1_000_000,
                checkpoint_interval: Duration::from_secs(3600),
            },
            CheckpointSink::none(),
        );
        let writers: Vec<_> = (0..64u64)
            .map(|writer| {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut i = writer;
                    while i < records {
                        log.append(&decision(i)).await.expect("durable");
                        i += 64;
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.expect("writer");
        }
        // Closing signs the whole log.
        log.close().await.expect("close");
        let written = sectorgate_audit::export_tiles(&store, origin, &dir.path().join("tiles"))
            .await
            .expect("export");
        assert_eq!(written.size, records);
        // 258 level-0 tiles, 2 level-1 (256 and 1), 1 level-2 (1).
        assert_eq!(written.hash_tiles, 258 + 2 + 1);
        assert_eq!(written.entry_bundles, 258);
        vkey
    });
    let tiles = dir.path().join("tiles");
    assert!(tiles.join("tile/1/000").is_file());
    assert!(tiles.join("tile/1/001.p/1").is_file());
    assert!(tiles.join("tile/2/000.p/1").is_file());
    let (ok, summary) = verify_tiles(&vkey, &[&tiles]);
    assert!(ok, "{summary}");
    assert_eq!(summary["exports"][0]["hash_tiles"], 261);

    // A level-1 hash changed is found by the level below it.
    let tile = tiles.join("tile/1/000");
    let mut bytes = std::fs::read(&tile).expect("tile");
    bytes[32 * 7] ^= 0x80;
    std::fs::write(&tile, &bytes).expect("write");
    let (ok, summary) = verify_tiles(&vkey, &[&tiles]);
    assert!(!ok, "{summary}");
    assert!(
        summary["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("tile/1/000"),
        "{summary}"
    );
}
