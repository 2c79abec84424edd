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
    let dir = tempfile::tempdir().expect("tempdir");
    // The example names the application service token's file where an
    // installation keeps it; here it is a file of the test's.
    let token = dir.path().join("appservice.token");
    std::fs::write(&token, "token\n").expect("write token");
    let text = std::fs::read_to_string(&example).expect("example").replace(
        "/etc/sectorgate/appservice.token",
        token.to_str().expect("path"),
    );
    let copy = dir.path().join("example.toml");
    std::fs::write(&copy, text).expect("write copy");
    let ok = sectorgate(&["check-config", "--config", copy.to_str().expect("path")]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let without_token = sectorgate(&["check-config", "--config", example.to_str().expect("path")]);
    assert!(!without_token.status.success());
    assert!(String::from_utf8_lossy(&without_token.stderr).contains("appservice.token"));

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

#[test]
fn profile_list_shows_every_bundled_profile() {
    let output = sectorgate(&["profile", "list"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for id in [
        "matrix-core",
        "base",
        "healthcare-tim-pro",
        "healthcare-tim-epa",
        "government",
        "education",
    ] {
        assert!(
            text.lines().any(|line| line.starts_with(id)),
            "{id} missing:\n{text}"
        );
    }
}

#[test]
fn profile_check_passes_the_bundled_profiles() {
    for id in [
        "healthcare-tim-pro",
        "healthcare-tim-epa",
        "government",
        "education",
    ] {
        let output = sectorgate(&["profile", "check", id]);
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && text.contains("decision cases hold"),
            "{id}: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// A profile folder with one problem; `profile check` must name the file
/// and the path of it, and `serve` must refuse to start on a profile that
/// does not load.
fn check_catches(name: &str, files: &[(&str, &str)], file: &str, path: &str, loads: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (relative, text) in files {
        write(dir.path(), relative, text);
    }
    let profile = dir.path().join("p");
    let profile = profile.to_str().expect("path");
    let output = sectorgate(&["profile", "check", profile]);
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{name}: accepted");
    let expected = format!("{}: {path}", dir.path().join(file).display());
    assert!(
        errors.contains(&expected),
        "{name}: expected {expected:?} in:\n{errors}"
    );

    if !loads {
        let serve = sectorgate(&["serve", "--profile", profile]);
        assert!(
            !serve.status.success(),
            "{name}: serve started on a broken profile"
        );
        let serve_errors = String::from_utf8_lossy(&serve.stderr);
        assert!(serve_errors.contains(&expected), "{name}: {serve_errors}");
    }
}

#[test]
fn profile_check_names_the_file_and_path_of_each_problem() {
    check_catches(
        "broken schema",
        &[
            (
                "p/profile.yaml",
                "id: p\ntitle: t\nextends: base\nevents:\n  schemas:\n    m.room.topic: schemas/topic.json\n",
            ),
            (
                "p/schemas/topic.json",
                r#"{"type": "object", "properties": {"topic": {"type": 7}}}"#,
            ),
        ],
        "p/schemas/topic.json",
        "/properties/topic/type",
        false,
    );
    check_catches(
        "unknown rule key",
        &[(
            "p/profile.yaml",
            "id: p\ntitle: t\nextends: base\nrooms:\n  create:\n    max_invites: {id: x, limit: 1, lmit: 2}\n",
        )],
        "p/profile.yaml",
        "rooms.create.max_invites",
        false,
    );
    check_catches(
        "extends cycle",
        &[
            ("p/profile.yaml", "id: p\ntitle: t\nextends: q\n"),
            ("q/profile.yaml", "id: q\ntitle: q\nextends: p\n"),
        ],
        "p/profile.yaml",
        "extends",
        false,
    );
    check_catches(
        "wrong case",
        &[
            (
                "p/profile.yaml",
                "id: p\ntitle: t\nextends: healthcare-tim-pro\n",
            ),
            (
                "p/cases/wrong.yaml",
                "- name: previews pass\n  request: {method: GET, path: /_matrix/client/v1/media/preview_url?url=x}\n  expect: {verdict: allow, rule: endpoint.allowed}\n",
            ),
        ],
        "p/cases/wrong.yaml",
        "[0] previews pass",
        true,
    );
}
