//! The conformance suite's server mode against real servers: a Synapse
//! behind sectorgate under `healthcare-tim-pro` passes; the same Synapse
//! without the gateway fails exactly the rules Synapse does not enforce.
//! Both reports are checked requirement by requirement, and the report
//! folder is checked as a bundle (JUnit parses, a changed file fails
//! `verify-report`).

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed step fails the test"
)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use sectorgate_conformance::catalog::{Catalog, Target};
use sectorgate_conformance::report::{Report, by_requirement_status, manifest};
use sectorgate_conformance::selection::Selection;
use sectorgate_conformance::server::{self, PeerPublish, RunOptions, UserHook};
use sectorgate_conformance::status::Status;
use support::pki::TestPki;
use support::{Gateway, GatewayOptions, Synapse, SynapseOptions, free_port};

const PROFILE: &str = "healthcare-tim-pro";

fn options(target: Target, url: &str) -> RunOptions {
    RunOptions {
        target,
        url: url.to_owned(),
        fixture_url: None,
        federation_url: None,
        server_name: None,
        peer_name: "conformance-peer.invalid".to_owned(),
        peer_publish: None,
        users: UserHook::Open,
        appservice: None,
        ca: None,
        selection: Selection::default(),
        product: None,
        product_version: None,
        timeout: Duration::from_secs(30),
    }
}

/// Each requirement's status over its tests.
fn by_requirement(report: &Report) -> BTreeMap<String, Status> {
    by_requirement_status(report)
        .into_iter()
        .map(|(requirement, status)| (requirement.to_owned(), status))
        .collect()
}

#[test]
fn server_mode_passes_behind_sectorgate_and_fails_on_a_bare_synapse() {
    let catalog = Catalog::load(PROFILE).expect("catalog");
    let pki = TestPki::new();
    // Synapse trusts the test CA (and reaches loopback), so it can fetch the
    // suite's peer's key when the bare run publishes it.
    let synapse = Synapse::start(SynapseOptions {
        federation_ca: Some(pki.ca.clone()),
        ..SynapseOptions::default()
    });
    let federation_port = free_port();
    let mut gateway_options = GatewayOptions::for_synapse(&synapse, PROFILE);
    gateway_options.extra = format!(
        "[[listeners]]\nbind = \"127.0.0.1:0\"\nserves = [\"client\"]\n\n\
         [[listeners]]\nbind = \"127.0.0.1:{federation_port}\"\nserves = [\"federation\"]\n\
         tls = {{ certificate = \"{cert}\", key = \"{key}\" }}\n\n\
         [federation]\nserver_name = \"localhost\"\nallow = [\"member.example\"]\n",
        cert = pki.cert.display(),
        key = pki.key.display(),
    );
    let gateway = Gateway::start(gateway_options);

    let mut behind = options(Target::Gateway, &gateway.url);
    behind.fixture_url = Some(synapse.base_url.clone());
    behind.federation_url = Some(format!("https://localhost:{federation_port}"));
    behind.ca = Some(pki.ca.clone());
    let report = server::run(&catalog, &behind);
    println!("behind sectorgate:\n{}", report.outline());

    let mut bare = options(Target::Server, &synapse.base_url);
    bare.federation_url = Some(synapse.base_url.clone());
    let peer_port = free_port();
    bare.peer_name = format!("localhost:{peer_port}");
    bare.peer_publish = Some(PeerPublish {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], peer_port)),
        cert: pki.cert.clone(),
        key: pki.key.clone(),
    });
    let bare_report = server::run(&catalog, &bare);
    println!("bare Synapse:\n{}", bare_report.outline());

    // Behind sectorgate: nothing fails, every gematik requirement the
    // suite can exercise black-box passes, and the peer is refused.
    assert!(report.passed(), "behind sectorgate");
    let statuses = by_requirement(&report);
    for (requirement, status) in &statuses {
        assert!(
            matches!(status, Status::Pass | Status::NotApplicable),
            "behind sectorgate: {requirement} is {status}"
        );
    }
    for requirement in EXERCISED {
        assert_eq!(
            statuses.get(*requirement),
            Some(&Status::Pass),
            "behind sectorgate: {requirement}"
        );
    }
    assert_eq!(
        statuses.get("rule:federation.origin_not_allowed"),
        Some(&Status::Pass)
    );
    assert_eq!(report.header.target, "gateway");
    assert_eq!(report.header.profile, PROFILE);
    assert_eq!(report.header.profile_hash, catalog.profile_hash);
    assert!(report.header.certification);

    // A bare Synapse: it fails exactly the profile rules it does not
    // enforce itself (federation membership included: it verified the
    // peer's published key and took its transaction), and passes those it
    // does.
    assert!(!bare_report.passed(), "a bare Synapse");
    let bare_statuses = by_requirement(&bare_report);
    let failed: Vec<&str> = bare_statuses
        .iter()
        .filter(|(requirement, status)| {
            requirement.starts_with("rule:") && **status == Status::Fail
        })
        .map(|(requirement, _)| requirement.as_str())
        .collect();
    assert_eq!(failed, NOT_ENFORCED_BY_SYNAPSE, "{bare_statuses:#?}");
    for requirement in [
        "gematik:A_25324-01",
        "gematik:A_26389",
        "gematik:A_26202",
        "gematik:A_28596",
    ] {
        assert_eq!(
            bare_statuses.get(requirement),
            Some(&Status::Fail),
            "bare: {requirement}"
        );
    }
    // Synapse answers URL previews 404 while they are off, and refuses
    // bodies that are not JSON by itself.
    assert_eq!(bare_statuses.get("gematik:A_26344"), Some(&Status::Pass));
    assert_eq!(
        bare_statuses.get("rule:request.not_json"),
        Some(&Status::Pass)
    );
    assert_eq!(
        bare_report
            .result("scenario.federation.non_member_refused")
            .map(|result| result.status),
        Some(Status::Fail)
    );
    assert_eq!(
        bare_report
            .result("scenario.invites.settings_exception_may_invite")
            .map(|result| result.status),
        Some(Status::Pass)
    );

    check_bundle(&report);
    users_come_from_the_declared_hook(&catalog, &synapse);
}

/// Test users made by shared-secret registration, or logged in from a list
/// made beforehand, serve the same; filtering makes a run that is not for
/// certification, and a test whose capability is absent is skipped.
fn users_come_from_the_declared_hook(catalog: &Catalog, synapse: &Synapse) {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, &synapse.secret).expect("secret");
    let first = support::register(&synapse.base_url, &support::marker("listed"));
    let second = support::register(&synapse.base_url, &support::marker("listed"));
    let list = dir.path().join("users.yaml");
    std::fs::write(
        &list,
        format!(
            "- {{user: \"{}\", password: \"{}\"}}\n- {{user: \"{}\", password: \"{}\"}}\n",
            first.user_id,
            support::PASSWORD,
            second.user_id,
            support::PASSWORD
        ),
    )
    .expect("list");
    for hook in [
        format!("shared-secret:{}", secret.display()),
        format!("list:{}", list.display()),
    ] {
        let mut run = options(Target::Server, &synapse.base_url);
        run.users = UserHook::parse(&hook).expect("hook");
        run.selection.only = vec!["scenario.*".to_owned()];
        let report = server::run(catalog, &run);
        let status = |id: &str| report.result(id).map(|result| result.status);
        assert_eq!(report.results.len(), 3, "{hook}: {}", report.outline());
        assert_eq!(
            status("scenario.invites.settings_block_all"),
            Some(Status::Fail),
            "{hook}"
        );
        assert_eq!(
            status("scenario.invites.settings_exception_may_invite"),
            Some(Status::Pass),
            "{hook}"
        );
        assert_eq!(
            status("scenario.federation.non_member_refused"),
            Some(Status::NotExercised),
            "{hook}"
        );
        assert!(
            !report.header.certification,
            "a filtered run is not for certification"
        );
    }
}

/// Requirements the suite exercises black-box under healthcare-tim-pro.
const EXERCISED: &[&str] = &[
    "gematik:A_26344",
    "gematik:A_25324-01",
    "gematik:A_28271",
    "gematik:A_25395-02",
    "gematik:A_26228-01",
    "gematik:A_26338-01",
    "gematik:A_26202",
    "gematik:A_25368-01",
    "gematik:A_28596",
    "gematik:A_26389",
];

/// The profile's rules a bare Synapse does not enforce, as the suite finds
/// them (sorted).
const NOT_ENFORCED_BY_SYNAPSE: &[&str] = &[
    "rule:event.not_canonical",
    "rule:event.schema_invalid",
    "rule:federation.origin_not_allowed",
    "rule:tim.create_room_one_invite",
    "rule:tim.encryption_required",
    "rule:tim.invite_permissions",
    "rule:tim.no_later_public_join_rule",
    "rule:tim.no_threads",
    "rule:tim.room_type",
    "rule:tim.room_version",
];

/// Renders the HTML report in headless Chromium: a screenshot is taken,
/// and the rendered page holds the summary table with every status and
/// its count, and a curl command for the evidence.
fn render_in_chromium(html: &std::path::Path, report: &Report) {
    let shots = tempfile::tempdir().expect("tempdir");
    let screenshot = shots.path().join("report.png");
    let chromium = |extra: &[&str]| {
        let output = std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--window-size=1280,1600",
            ])
            .arg(format!(
                "--user-data-dir={}",
                shots.path().join("profile").display()
            ))
            .args(extra)
            .arg(format!("file://{}", html.display()))
            .output()
            .expect("run chromium (scripts/deps.sh installs it)");
        assert!(
            output.status.success(),
            "chromium: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    chromium(&[&format!("--screenshot={}", screenshot.display())]);
    let png = std::fs::read(&screenshot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(
        png.len() > 10_000,
        "a screenshot of a page, not a blank: {} bytes",
        png.len()
    );
    let dom = chromium(&["--dump-dom"]);
    let summary = dom
        .split("<table id=\"summary\">")
        .nth(1)
        .and_then(|rest| rest.split("</table>").next())
        .expect("the rendered page has the summary table");
    for status in Status::ALL {
        let count = report.summary.get(&status).copied().unwrap_or_default();
        assert!(
            summary.contains(&format!(">{status}</th>")),
            "{status} in {summary}"
        );
        assert!(
            summary.contains(&format!("<td>{count}</td>")),
            "{status}: {count} in {summary}"
        );
    }
    assert!(dom.contains("curl -sS -X GET"), "curl commands are shown");
}

/// The report folder as a bundle: JUnit that parses and counts right, an
/// HTML summary, a signed manifest that `verify-report` accepts, and that
/// it refuses once a file is changed, added, or checked against another key.
fn check_bundle(report: &Report) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, _) = manifest::generate_key();
    report.write(dir.path(), Some(&key)).expect("write report");

    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit");
    let document = roxmltree::Document::parse(&junit).expect("junit.xml parses");
    let cases: Vec<_> = document
        .descendants()
        .filter(|node| node.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), report.results.len());
    let skipped = cases
        .iter()
        .filter(|case| case.children().any(|child| child.has_tag_name("skipped")))
        .count();
    let not_run = report
        .results
        .iter()
        .filter(|result| matches!(result.status, Status::NotApplicable | Status::NotExercised))
        .count();
    assert_eq!(skipped, not_run);
    let url_preview = cases
        .iter()
        .find(|case| {
            case.attribute("name")
                == Some("case.healthcare-tim-pro.endpoints.url_previews_are_refused_legacy_media")
        })
        .expect("the URL preview case");
    let requirements: Vec<&str> = url_preview
        .descendants()
        .filter(|node| {
            node.has_tag_name("property") && node.attribute("name") == Some("requirement")
        })
        .filter_map(|node| node.attribute("value"))
        .collect();
    assert_eq!(
        requirements,
        ["rule:tim.url_preview_disabled", "gematik:A_26344"]
    );

    render_in_chromium(&dir.path().join("index.html"), report);

    let public = key.verifying_key();
    let verified = manifest::verify(dir.path(), Some(&public)).expect("the bundle verifies");
    assert_eq!(verified.files, 3);
    let other = manifest::generate_key().0.verifying_key();
    assert!(
        manifest::verify(dir.path(), Some(&other)).is_err(),
        "another key"
    );

    let results = dir.path().join("results.json");
    let original = std::fs::read(&results).expect("results");
    let mut altered = original.clone();
    let at = altered.iter().position(|byte| *byte == b'P').expect("a P");
    altered[at] = b'F';
    std::fs::write(&results, &altered).expect("alter");
    let problems = manifest::verify(dir.path(), None).expect_err("an altered file");
    assert!(
        problems.iter().any(|p| p.contains("results.json: altered")),
        "{problems:?}"
    );
    std::fs::write(&results, &original).expect("restore");
    manifest::verify(dir.path(), Some(&public)).expect("restored");
    std::fs::write(dir.path().join("extra.txt"), "added").expect("add");
    let problems = manifest::verify(dir.path(), None).expect_err("an added file");
    assert!(
        problems.iter().any(|p| p.contains("extra.txt")),
        "{problems:?}"
    );
}
