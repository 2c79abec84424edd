//! The `sectorgate-conformance` binary: listing a catalog, judging saved
//! captures offline (cases as data: `captures/expected.yaml`), signing a
//! report and checking it as a bundle.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed step fails the test"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::Value;

fn suite(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sectorgate-conformance"))
        .args(args)
        .output()
        .expect("run sectorgate-conformance")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Judges a saved capture offline with the fixed users, into `out`.
fn certify_offline(capture: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "certify-client",
        "--profile",
        "healthcare-tim-pro",
        "--capture",
        capture.to_str().expect("path"),
        "--user",
        "@vendor:hs.example",
        "--peer",
        "@peer:hs.example",
        "--blocker",
        "@blocker:hs.example",
        "--offline",
        "--out",
        out.to_str().expect("path"),
    ];
    args.extend_from_slice(extra);
    suite(&args)
}

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures")
}

#[test]
fn list_shows_the_catalog_with_requirements_and_what_each_test_needs() {
    let output = suite(&["list", "--profile", "healthcare-tim-pro"]);
    assert!(output.status.success(), "{}", text(&output));
    let listed = text(&output);
    assert!(
        listed.contains("case.healthcare-tim-pro.endpoints.url_previews_are_refused_legacy_media")
    );
    assert!(listed.contains("covers: rule:tim.url_preview_disabled, gematik:A_26344"));
    assert!(listed.contains("scenario.federation.non_member_refused"));
    assert!(listed.contains("needs: federation"));
    assert!(listed.contains("client.step.send_image  [client]"));
    assert!(listed.contains("needs: appservice"));
    assert!(listed.contains("needs: federated_peers"));
    // The homeserver settings the profile depends on, each with its probe
    // and the change to make.
    assert!(listed.contains(
        "homeserver.tim_public_rooms_listed  [server,gateway]\n    the homeserver is set up so \
         that a public room a user publishes"
    ));
    assert!(listed.contains(
        "covers: homeserver:tim.public_rooms_listed, gematik:A_25325-01, gematik:A_26515-01"
    ));
    assert!(listed.contains("probe: directory_finds_unshared_local_user"));
    assert!(listed.contains("on Synapse: enable_authenticated_media: false"));

    let json = suite(&["list", "--profile", "healthcare-tim-epa", "--json"]);
    let tests: Vec<Value> = serde_json::from_slice(&json.stdout).expect("JSON catalog");
    let ids: Vec<&str> = tests.iter().filter_map(|t| t["id"].as_str()).collect();
    let unique: std::collections::BTreeSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "ids are unique");
    // TI-M ePA refuses public rooms: the case of TI-M Pro that lets one be
    // created does not hold under it, so it is not in its catalog.
    assert!(
        !ids.iter()
            .any(|id| id.ends_with("a_public_room_may_be_created_a_25325_01"))
    );
    assert!(
        ids.contains(&"case.healthcare-tim-pro.endpoints.url_previews_are_refused_legacy_media")
    );
    // Nor does it ask for the public room directory and the directory of
    // all users; unauthenticated media it still asks for.
    let probed: Vec<&&str> = ids
        .iter()
        .filter(|id| id.starts_with("homeserver."))
        .collect();
    assert_eq!(probed, [&"homeserver.tim_legacy_media_served"]);

    let unknown = suite(&["list", "--profile", "no-such-profile"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
}

#[derive(Deserialize)]
struct Expected {
    verdict: String,
    certification: bool,
    statuses: BTreeMap<String, String>,
}

#[test]
fn saved_captures_are_judged_offline_as_the_cases_say() {
    let expected: BTreeMap<String, Expected> = serde_yaml_ng::from_str(
        &std::fs::read_to_string(captures().join("expected.yaml")).expect("expected.yaml"),
    )
    .expect("expected.yaml parses");
    let mut failures = Vec::new();
    for (file, want) in &expected {
        let out = tempfile::tempdir().expect("tempdir");
        let capture = captures().join(file);
        let output = certify_offline(&capture, out.path(), &[]);
        let results: Value = serde_json::from_slice(
            &std::fs::read(out.path().join("results.json")).expect("results.json"),
        )
        .expect("results JSON");
        let have: BTreeMap<&str, &str> = results["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap_or_default(),
                    r["status"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        for (id, status) in &want.statuses {
            if have.get(id.as_str()) != Some(&status.as_str()) {
                failures.push(format!(
                    "{file}: {id} is {:?}, expected {status}",
                    have.get(id.as_str())
                ));
            }
        }
        if results["header"]["certification"] != want.certification {
            failures.push(format!(
                "{file}: certification {}",
                results["header"]["certification"]
            ));
        }
        if results["verdict"]["outcome"] != want.verdict.as_str() {
            failures.push(format!(
                "{file}: verdict {}, expected {}",
                results["verdict"]["outcome"], want.verdict
            ));
        }
        let exit = match want.verdict.as_str() {
            "PASS" => 0,
            "FAIL" => 1,
            _ => 3,
        };
        if output.status.code() != Some(exit) {
            failures.push(format!(
                "{file}: exit {:?} with verdict {} expected",
                output.status.code(),
                want.verdict
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_signed_report_verifies_and_fails_once_changed_or_checked_against_another_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("signing.key");
    let keygen = suite(&["keygen", key.to_str().expect("path")]);
    assert!(keygen.status.success(), "{}", text(&keygen));
    let public = String::from_utf8_lossy(&keygen.stdout).trim().to_owned();
    let again = suite(&["keygen", key.to_str().expect("path")]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "keygen never overwrites a key"
    );

    let report = dir.path().join("report");
    let capture = captures().join("legacy_media.jsonl");
    let signed = certify_offline(
        &capture,
        &report,
        &["--signing-key", key.to_str().expect("path")],
    );
    assert_eq!(
        signed.status.code(),
        Some(1),
        "the capture fails a check: {}",
        text(&signed)
    );
    let report_arg = report.to_str().expect("path");
    let ok = suite(&["verify-report", report_arg, "--public-key", &public]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains(&format!("signed by {public}")));

    let other = tempfile::tempdir().expect("tempdir");
    let other_key = other.path().join("other.key");
    let other_public = suite(&["keygen", other_key.to_str().expect("path")]);
    let other_public = String::from_utf8_lossy(&other_public.stdout)
        .trim()
        .to_owned();
    let wrong = suite(&["verify-report", report_arg, "--public-key", &other_public]);
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));

    let junit = report.join("junit.xml");
    let mut bytes = std::fs::read(&junit).expect("junit");
    bytes.push(b' ');
    std::fs::write(&junit, bytes).expect("alter");
    let altered = suite(&["verify-report", report_arg]);
    assert_eq!(altered.status.code(), Some(1));
    assert!(
        text(&altered).contains("junit.xml: altered"),
        "{}",
        text(&altered)
    );
}
