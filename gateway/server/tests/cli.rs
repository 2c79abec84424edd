//! The command line: version, help, and config checking.

#![allow(
    clippy::expect_used,
    reason = "test steps: a failed step fails the test"
)]

use std::path::Path;
use std::process::Command;

fn sectorgate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sectorgate"))
        .args(args)
        .output()
        .expect("run sectorgate")
}

#[test]
fn version_and_help_answer() {
    let version = sectorgate(&["--version"]);
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("sectorgate {}", env!("CARGO_PKG_VERSION"))
    );
    let help = sectorgate(&["serve", "--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--config") && text.contains("--addr-file"),
        "{text}"
    );
}

#[test]
fn check_config_accepts_the_example_and_refuses_typos() {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/sectorgate.example.toml");
    let ok = sectorgate(&["check-config", "--config", example.to_str().expect("path")]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[homeserver]\nurll = \"http://127.0.0.1:8008\"\n").expect("write");
    let refused = sectorgate(&["check-config", "--config", typo.to_str().expect("path")]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("unknown field"));

    let profile = dir.path().join("profile.toml");
    std::fs::write(&profile, "[profile]\nbundled = \"no-such-sector\"\n").expect("write");
    let refused = sectorgate(&["check-config", "--config", profile.to_str().expect("path")]);
    assert!(!refused.status.success());
}

#[test]
fn serve_refuses_to_start_on_a_bad_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[limits]\nmax_json_depth = 0\n").expect("write");
    let output = sectorgate(&["serve", "--config", bad.to_str().expect("path")]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("max_json_depth"));
}
