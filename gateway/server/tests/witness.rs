//! Witnesses, for real: a witness written in Python from the C2SP
//! specifications (`tests/clients/witness.py`, no code shared with the
//! gateway) cosigns a gateway's checkpoints as they come, each after
//! checking the consistency proof from the last it cosigned; `audit verify
//! --witness` requires its cosignature and refuses another witness's key or
//! a changed cosignature; and a log rewritten under the same origin and key
//! gets no cosignature at all.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test steps: a failed step fails the test"
)]

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use support::load::Load;
use support::upstream;
use support::{Gateway, GatewayOptions, free_port, python, repo, wait_for};

fn witness_script() -> PathBuf {
    repo().join("gateway/server/tests/clients/witness.py")
}

/// A witness key (a seed file) and its verifier key, as the witness prints it.
fn witness_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let seed = dir.join(format!("{}.seed", name.replace('/', "_")));
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .expect("random bytes");
    std::fs::write(&seed, hex::encode(bytes)).expect("seed");
    let output = Command::new(python())
        .arg(witness_script())
        .args(["vkey", seed.to_str().expect("path"), name])
        .output()
        .expect("witness.py vkey");
    assert!(output.status.success(), "{output:?}");
    (
        seed,
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    )
}

/// The witness, serving on `port` for the log `log_vkey` signs.
struct Witness(Child);

impl Witness {
    fn start(dir: &Path, seed: &Path, name: &str, log_vkey: &str, port: u16) -> Self {
        let port_file = dir.join("witness.port");
        let child = Command::new(python())
            .arg(witness_script())
            .arg("serve")
            .arg(seed)
            .arg(name)
            .arg(log_vkey)
            .arg(dir.join("witness-state.json"))
            .arg(&port_file)
            .env("WITNESS_PORT", port.to_string())
            .spawn()
            .expect("start witness.py");
        wait_for(Duration::from_secs(10), || port_file.exists().then_some(()))
            .expect("the witness listens");
        Self(child)
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The notes in the file of cosigned checkpoints.
fn cosigned(file: &Path) -> Vec<String> {
    sectorgate_audit::split_notes(&std::fs::read_to_string(file).unwrap_or_default())
}

fn size_of(note: &str) -> u64 {
    note.lines()
        .nth(1)
        .and_then(|size| size.parse().ok())
        .expect("a size")
}

fn verify(gateway: &Gateway, cosigned: &Path, witness: &str) -> (i32, serde_json::Value) {
    let (code, report) = gateway.audit_command(&[
        "verify",
        "--trusted-checkpoint",
        cosigned.to_str().expect("path"),
        "--witness",
        witness,
    ]);
    (
        code,
        serde_json::from_str(&report).unwrap_or_else(|_| panic!("not a report: {report}")),
    )
}

/// Started again with its journal, the gateway reads back what the witness
/// last cosigned: its next submission carries that old size (the witness,
/// which notes every 409 in its state's `.conflicts`, answers none) and is
/// cosigned.
fn restarts_without_a_conflict(gateway: &mut Gateway, dir: &Path, file: &Path) {
    let conflicts = || std::fs::read_to_string(dir.join("witness-state.json.conflicts"));
    let conflicts_before = conflicts().unwrap_or_default();
    let before = cosigned(file).len();
    gateway.restart();
    assert!(
        gateway.log().contains("last cosigned checkpoint read back"),
        "{}",
        gateway.log()
    );
    let load = Load::start(gateway, 1, 0);
    let grown = wait_for(Duration::from_secs(15), || {
        (cosigned(file).len() > before).then_some(())
    });
    assert!(!load.stop().acknowledged.is_empty());
    assert!(grown.is_some(), "{}", gateway.log());
    assert_eq!(
        conflicts().unwrap_or_default(),
        conflicts_before,
        "a 409 after the restart"
    );
    assert!(gateway.terminate().success());
}

#[test]
fn a_witness_cosigns_the_log_as_it_grows_and_refuses_a_rewritten_one() {
    let upstream = upstream::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let name = "witness.test/w1";
    let (seed, witness_vkey) = witness_key(dir.path(), name);
    let port = free_port();
    let file = dir.path().join("cosigned.txt");
    let journal = dir.path().join("audit");
    let mut gateway = Gateway::start(GatewayOptions {
        audit_database: Some(format!("journal:{}", journal.display())),
        audit_extra: format!(
            "checkpoint_interval = \"1s\"\ncosigned_file = \"{}\"\nwitnesses = [{{ url = \"http://127.0.0.1:{port}\", key = \"{witness_vkey}\" }}]\n",
            file.display()
        ),
        ..GatewayOptions::for_stand_in(&upstream.url, "base")
    });
    let log_vkey = gateway.checkpoint_public_key();
    let _witness = Witness::start(dir.path(), &seed, name, log_vkey.trim(), port);

    // Checkpoints come every second under load; the witness cosigns them
    // one after the other, each consistent with the one before.
    let load = Load::start(&gateway, 8, 0);
    let grown = wait_for(Duration::from_secs(30), || {
        let notes = cosigned(&file);
        (notes.len() >= 3).then_some(notes)
    });
    assert!(!load.stop().acknowledged.is_empty());
    let notes = grown.expect("three cosigned checkpoints");
    let sizes: Vec<u64> = notes.iter().map(|note| size_of(note)).collect();
    assert!(sizes.windows(2).all(|pair| pair[0] < pair[1]), "{sizes:?}");
    assert!(
        notes
            .iter()
            .all(|note| note.contains(&format!("\u{2014} {name} "))),
        "every note carries the witness's line"
    );

    // Stopped, the checkpoint that closes the log is cosigned too.
    assert!(gateway.terminate().success());
    let (code, report) = verify(&gateway, &file, &witness_vkey);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        report["witnessed"][0]["size"], report["records"],
        "{report}"
    );
    assert!(report["witnessed"][0]["time"].as_u64() > Some(1_700_000_000));

    // Another witness's key: not witnessed.
    let (_, stranger) = witness_key(dir.path(), "witness.test/other");
    let (code, report) = verify(&gateway, &file, &stranger);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["problems"][0]["kind"], "not_witnessed", "{report}");

    // A cosignature changed: refused.
    let text = std::fs::read_to_string(&file).expect("read");
    let at = text.rfind(&format!("\u{2014} {name} ")).expect("a line") + name.len() + 30;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let changed = dir.path().join("changed.txt");
    std::fs::write(&changed, bytes).expect("write");
    let (code, report) = verify(&gateway, &changed, &witness_vkey);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        report["problems"][0]["kind"], "cosignature_invalid",
        "{report}"
    );

    restarts_without_a_conflict(&mut gateway, dir.path(), &file);

    // The log rewritten: the journal gone, the gateway started again with
    // the same origin and key. The witness knows a larger tree, so the new
    // log's checkpoints are never cosigned, and the gateway says why.
    let before = cosigned(&file).len();
    std::fs::remove_dir_all(&journal).expect("remove the journal");
    gateway.restart();
    let load = Load::start(&gateway, 1, 0);
    std::thread::sleep(Duration::from_millis(100));
    assert!(!load.stop().acknowledged.is_empty());
    let refused = wait_for(Duration::from_secs(15), || {
        // Smaller than the witness's tree, or (had it grown past it) not
        // consistent with it.
        gateway
            .log()
            .lines()
            .any(|line| {
                line.contains("audit witness: no cosignature")
                    && (line.contains("the log was cut short or rewritten")
                        || line.contains("the consistency proof does not hold"))
            })
            .then_some(())
    });
    assert!(refused.is_some(), "{}", gateway.log());
    assert_eq!(
        cosigned(&file).len(),
        before,
        "a rewritten log was cosigned"
    );
}
