//! The conformance suite's server mode against real servers, set up as the
//! conformance guide says: a Synapse behind sectorgate passes under every
//! bundled sector profile, with every requirement that applies exercised;
//! the same Synapse without the gateway fails exactly the rules Synapse
//! does not enforce, with the evidence of each, and never certifies; a room
//! the target refuses is an ERROR and leaves the run INCOMPLETE. The
//! homeserver settings the profile depends on pass on the Synapse the tests
//! and the demo run, and fail, each naming Synapse's setting, on one with
//! Synapse's own defaults, which changes nothing else. The report folder is
//! checked as a bundle (JUnit parses, a changed file fails `verify-report`).

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    reason = "test helpers: a failed step fails the test; a scenario reads as one story"
)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use sectorgate_conformance::catalog::{Catalog, Target};
use sectorgate_conformance::report::{Report, by_requirement_status, manifest};
use sectorgate_conformance::selection::Selection;
use sectorgate_conformance::server::{
    self, Appservice, FederationSetup, PeerPublish, RunOptions, UserHook,
};
use sectorgate_conformance::status::Status;
use sectorgate_conformance::verdict::Outcome;
use support::pki::TestPki;
use support::{Gateway, GatewayOptions, Synapse, SynapseOptions, free_port};

const PROFILE: &str = "healthcare-tim-pro";

/// The servers the target's federation allowlist names besides the suite's
/// member peer, never contacted: one by name, one through a wildcard.
const OTHER_MEMBER: &str = "praxis.conformance.test";
const WILDCARD_MEMBER: &str = "team.wild.conformance.test";

fn options(target: Target, url: &str) -> RunOptions {
    RunOptions {
        target,
        url: url.to_owned(),
        fixture_url: None,
        federation_url: None,
        server_name: None,
        peer_name: "conformance-peer.invalid".to_owned(),
        peer_publish: None,
        federated: None,
        users: UserHook::Open,
        appservices: Vec::new(),
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

/// The Synapse every run here certifies, with the bridges registered for
/// the runs (one the profiles do not name, and the education profile's
/// learning platform) and the test CA trusted, so that it can fetch the
/// suite's peers' keys when it is the target itself.
struct Homeserver {
    pki: TestPki,
    synapse: Synapse,
    appservices: Vec<Appservice>,
}

/// The bridges registered on the homeserver for the runs, as
/// `ID:SENDER:USER_REGEX`.
const BRIDGES: [&str; 2] = [
    "conformance-bridge:conformance_bridge:@conformance_bridge.*",
    "learning-platform:lms_bot:@lms_.*",
];

impl Homeserver {
    fn start() -> Self {
        Self::start_with(false)
    }

    /// With `synapse_defaults`, the settings the profiles' homeserver
    /// settings ask for stay at Synapse's own defaults.
    fn start_with(synapse_defaults: bool) -> Self {
        let pki = TestPki::new();
        let synapse = Synapse::start(SynapseOptions {
            federation_ca: Some(pki.ca.clone()),
            bridges: BRIDGES.to_vec(),
            synapse_defaults,
            ..SynapseOptions::default()
        });
        let appservices = registrations(&synapse)
            .iter()
            .map(|registration| Appservice::read(registration).expect("a registration"))
            .collect();
        Self {
            pki,
            synapse,
            appservices,
        }
    }

    /// The suite's peers, each publishing its key on a port of its own
    /// under `localhost:<port>`: the member and the outsider.
    fn peers(&self) -> (u16, u16) {
        (free_port(), free_port())
    }

    /// A run against `target` at `url`, federated as the conformance guide
    /// sets a target up, with the run's application service.
    fn run_options(&self, target: Target, url: &str, (member, outsider): (u16, u16)) -> RunOptions {
        let mut run = options(target, url);
        run.peer_name = format!("localhost:{outsider}");
        run.peer_publish = Some(PeerPublish {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], outsider)),
            cert: self.pki.cert.clone(),
            key: self.pki.key.clone(),
        });
        run.federated = Some(FederationSetup {
            member: format!("localhost:{member}"),
            member_listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], member))),
            other_member: OTHER_MEMBER.to_owned(),
            wildcard_member: WILDCARD_MEMBER.to_owned(),
            stale: None,
        });
        run.appservices = self.appservices.clone();
        run.ca = Some(self.pki.ca.clone());
        run
    }
}

fn registrations(synapse: &Synapse) -> Vec<std::path::PathBuf> {
    BRIDGES
        .iter()
        .map(|bridge| {
            let id = bridge.split(':').next().unwrap_or_default();
            std::path::PathBuf::from(
                synapse.bridges[id]["registration"]
                    .as_str()
                    .expect("the bridge's registration"),
            )
        })
        .collect()
}

/// sectorgate in front of the homeserver under `profile`, set up as the
/// conformance guide says: its federation listener over TLS, its allowlist
/// naming the suite's member peer and the other members, the run's bridge
/// registered, each of the profile's user groups holding the accounts the
/// suite makes for it; with `stale_list`, a signed federation list that has
/// never been loaded, so federation stays closed.
fn gateway(
    homeserver: &Homeserver,
    profile: &str,
    member: u16,
    stale_list: bool,
) -> (Gateway, String) {
    let federation_port = free_port();
    let pki = &homeserver.pki;
    let mut options = GatewayOptions::for_synapse(&homeserver.synapse, profile);
    let list = if stale_list {
        format!(
            "[federation.list]\nfile = \"{missing}\"\ntrust_anchors = [\"{ca}\"]\n\
             refresh = \"1h\"\nmax_age = \"1h\"\n",
            missing = pki.dir.path().join("never-published.jws").display(),
            ca = pki.ca.display(),
        )
    } else {
        String::new()
    };
    options.extra = format!(
        "[[listeners]]\nbind = \"127.0.0.1:0\"\nserves = [\"client\"]\n\n\
         [[listeners]]\nbind = \"127.0.0.1:{federation_port}\"\nserves = [\"federation\"]\n\
         tls = {{ certificate = \"{cert}\", key = \"{key}\" }}\n\n\
         {bridges}\
         [federation]\nserver_name = \"localhost\"\n\
         allow = [\"localhost:{member}\", \"{OTHER_MEMBER}\", \"*.{wildcard}\"]\n\
         trusted_ca_files = [\"{ca}\"]\n\n{list}",
        cert = pki.cert.display(),
        key = pki.key.display(),
        ca = pki.ca.display(),
        bridges = registrations(&homeserver.synapse)
            .iter()
            .map(|file| format!("[[appservices]]\nregistration = \"{}\"\n\n", file.display()))
            .collect::<String>(),
        wildcard = WILDCARD_MEMBER
            .split_once('.')
            .map_or("", |(_, parent)| parent),
    );
    // Each of the profile's user groups holds the suite's accounts made
    // for it.
    let profile_groups = Catalog::load(profile).expect("catalog").profile.user_groups;
    let mut groups: Vec<&String> = profile_groups.keys().collect();
    groups.sort();
    if !groups.is_empty() {
        options.extra.push_str("\n[profile.groups]\n");
        for group in groups {
            options.extra.push_str(&format!(
                "{group} = [\"@{}*:localhost\"]\n",
                server::group_prefix(group)
            ));
        }
    }
    let gateway = Gateway::start(options);
    (gateway, format!("https://localhost:{federation_port}"))
}

/// A server run under `profile` against sectorgate in front of the
/// homeserver, with everything the conformance guide asks for: the
/// homeserver's URL for rooms the profile forbids, the run's bridge, the
/// suite's peers and, where the profile allows signed federation lists, an
/// instance whose list is stale.
fn certify_behind_sectorgate(homeserver: &Homeserver, profile: &str) -> Report {
    let catalog = Catalog::load(profile).expect("catalog");
    let peers = homeserver.peers();
    let (front, federation_url) = gateway(homeserver, profile, peers.0, false);
    let stale = catalog
        .profile
        .federation
        .signed_lists
        .then(|| gateway(homeserver, profile, peers.0, true));
    let mut run = homeserver.run_options(Target::Gateway, &front.url, peers);
    run.fixture_url = Some(homeserver.synapse.base_url.clone());
    run.federation_url = Some(federation_url);
    if let (Some(setup), Some((stale, url))) = (&mut run.federated, &stale) {
        setup.stale = Some((stale.url.clone(), url.clone()));
    }
    let report = server::run(&catalog, &run);
    println!(
        "{profile} behind sectorgate:\n{}verdict {}",
        report.outline(),
        report.verdict.line()
    );
    report
}

/// Behind sectorgate, a run passes: every requirement that applies was
/// exercised and met, and those that do not apply say why.
fn passes_whole(report: &Report, profile: &str) {
    let verdict = &report.verdict;
    assert_eq!(
        verdict.outcome,
        Outcome::Pass,
        "{profile}: {}\n{:#?}{:#?}",
        verdict.line(),
        verdict.failed,
        verdict.incomplete
    );
    assert!(
        report.header.certification,
        "{profile}: {:?}",
        report.header
    );
    assert_ne!(report.header.product, server::UNNAMED);
    for result in &report.results {
        assert!(
            matches!(result.status, Status::Pass | Status::NotApplicable),
            "{profile}: {} is {}: {:?}",
            result.id,
            result.status,
            result.messages
        );
        if result.status == Status::NotApplicable {
            assert!(
                result.messages.iter().any(|message| !message.is_empty()),
                "{profile}: {} does not apply, with no reason",
                result.id
            );
        }
    }
}

#[test]
fn server_mode_certifies_sectorgate_and_fails_a_bare_synapse_on_every_rule_it_lacks() {
    let homeserver = Homeserver::start();
    let catalog = Catalog::load(PROFILE).expect("catalog");
    let report = certify_behind_sectorgate(&homeserver, PROFILE);
    passes_whole(&report, PROFILE);
    assert_eq!(report.verdict.not_applicable, 0, "{:?}", report.verdict);
    assert_eq!(
        report.verdict.exercised,
        exercised_in_docs(PROFILE),
        "docs/conformance.md states how many requirements a run under {PROFILE} exercises"
    );
    assert_eq!(report.header.target, "gateway");
    assert_eq!(report.header.profile, PROFILE);
    assert_eq!(report.header.profile_hash, catalog.profile_hash);
    assert_eq!(report.header.product, "Synapse");
    let probed: Vec<&str> = report
        .results
        .iter()
        .filter(|result| result.id.starts_with("homeserver."))
        .map(|result| result.id.as_str())
        .collect();
    assert_eq!(
        probed.len(),
        catalog.profile.homeserver_settings.len(),
        "every homeserver setting is probed, and passed: {probed:?}"
    );

    // A bare Synapse (set up as the profile's homeserver settings ask,
    // otherwise with its defaults): every rule of the profile it does not
    // enforce fails, with the exchange that shows it; it can never certify.
    let peers = homeserver.peers();
    let mut bare = homeserver.run_options(Target::Server, &homeserver.synapse.base_url, peers);
    bare.federation_url = Some(homeserver.synapse.base_url.clone());
    let bare_report = server::run(&catalog, &bare);
    println!("bare Synapse:\n{}", bare_report.outline());
    assert_eq!(bare_report.verdict.outcome, Outcome::Fail);
    assert!(!bare_report.header.certification);
    let failed: Vec<&str> = bare_report
        .verdict
        .failed
        .iter()
        .map(|unmet| unmet.requirement.as_str())
        .filter(|requirement| requirement.starts_with("rule:"))
        .collect();
    assert_eq!(
        failed, NOT_ENFORCED_BY_SYNAPSE,
        "{:#?}",
        bare_report.verdict
    );
    for unmet in &bare_report.verdict.failed {
        for (id, status, _) in &unmet.tests {
            if *status == Status::Fail {
                let result = bare_report.result(id).expect("the failed test");
                assert!(!result.evidence.is_empty(), "{id} fails with no evidence");
            }
        }
    }
    // What Synapse does enforce by itself passes.
    let bare_statuses = by_requirement(&bare_report);
    assert_eq!(
        bare_statuses.get("rule:request.not_json"),
        Some(&Status::Pass)
    );
    assert_eq!(
        bare_report
            .result("scenario.invites.settings_exception_may_invite")
            .map(|result| result.status),
        Some(Status::Pass)
    );

    // A target that names no rule but claims to be sectorgate fails too.
    let mut pretending = homeserver.run_options(
        Target::Gateway,
        &homeserver.synapse.base_url,
        homeserver.peers(),
    );
    pretending.selection.only = vec!["case.healthcare-tim-pro.rooms.*".to_owned()];
    let pretended = server::run(&catalog, &pretending);
    assert_eq!(pretended.verdict.outcome, Outcome::Fail);
    assert!(!pretended.header.certification);

    check_bundle(&report);
    a_room_the_target_refuses_is_an_error_and_the_run_incomplete(&homeserver);
    users_come_from_the_declared_hook(&catalog, &homeserver.synapse);
}

/// Behind sectorgate, a Synapse left with its own defaults for the settings
/// the profile's `homeserver_settings` ask for fails exactly those, each
/// FAIL naming Synapse's setting (in results.json, the HTML page and
/// JUnit); every other test passes as on the Synapse set up as they ask.
/// A `--target server` run of the probes alone, through the gateway, which
/// learns that the homeserver is Synapse from its `Server` header, says the
/// same.
#[test]
fn homeserver_settings_fail_exactly_on_a_synapse_with_its_own_defaults() {
    let homeserver = Homeserver::start_with(true);
    let catalog = Catalog::load(PROFILE).expect("catalog");
    let settings = &catalog.profile.homeserver_settings;
    assert!(!settings.is_empty(), "{PROFILE} names homeserver settings");
    let report = certify_behind_sectorgate(&homeserver, PROFILE);
    assert_eq!(report.verdict.outcome, Outcome::Fail);
    assert!(!report.header.certification);
    let failed: std::collections::BTreeSet<&str> = report
        .verdict
        .failed
        .iter()
        .map(|unmet| unmet.requirement.as_str())
        .collect();
    let expected: std::collections::BTreeSet<String> = settings
        .iter()
        .flat_map(|setting| {
            std::iter::once(format!("homeserver:{}", setting.id))
                .chain(setting.requirements.iter().cloned())
        })
        .collect();
    assert_eq!(
        failed,
        expected.iter().map(String::as_str).collect(),
        "{:#?}",
        report.verdict
    );
    assert!(
        report.verdict.incomplete.is_empty(),
        "{:#?}",
        report.verdict
    );
    for result in &report.results {
        if result.id.starts_with("homeserver.") {
            continue;
        }
        assert!(
            matches!(result.status, Status::Pass | Status::NotApplicable),
            "{} is {} on a Synapse with its defaults: {:?}",
            result.id,
            result.status,
            result.messages
        );
    }
    homeserver_fails_name_synapse_settings(&report, &catalog);

    // The probes alone, as a server run through the gateway, with no
    // federation API to ask the homeserver's name of.
    let (front, _) = gateway(&homeserver, PROFILE, free_port(), false);
    let mut run = options(Target::Server, &front.url);
    run.selection.only = vec!["homeserver.*".to_owned()];
    let probes = server::run(&catalog, &run);
    println!("probes alone:\n{}", probes.outline());
    assert_eq!(probes.results.len(), settings.len());
    // Unnamed as a product: Synapse was known by its `Server` header alone.
    assert_eq!(probes.header.product, server::UNNAMED);
    homeserver_fails_name_synapse_settings(&probes, &catalog);
}

/// Each homeserver setting's test FAILs, naming Synapse's setting from the
/// profile in its message and its remedy, in every report file.
fn homeserver_fails_name_synapse_settings(report: &Report, catalog: &Catalog) {
    let dir = tempfile::tempdir().expect("tempdir");
    report.write(dir.path(), None).expect("write report");
    let read = |file: &str| std::fs::read_to_string(dir.path().join(file)).expect(file);
    let (html, junit) = (read("index.html"), read("junit.xml"));
    let json: serde_json::Value = serde_json::from_str(&read("results.json")).expect("JSON");
    for setting in &catalog.profile.homeserver_settings {
        let id = format!("homeserver.{}", setting.id.replace('.', "_"));
        let result = report.result(&id).expect("the setting's test");
        let change = &setting.settings["Synapse"];
        assert_eq!(result.status, Status::Fail, "{id}: {:?}", result.messages);
        assert!(
            result.messages[0].contains(&format!("on Synapse, set `{change}`")),
            "{id}: {:?}",
            result.messages
        );
        assert!(!result.evidence.is_empty(), "{id} fails with no evidence");
        let remedy = json["results"]
            .as_array()
            .and_then(|results| results.iter().find(|r| r["id"] == id.as_str()))
            .map(|r| r["remedy"].clone())
            .expect("the result in results.json");
        assert_eq!(
            remedy,
            serde_json::json!({"setting": setting.id, "homeserver": "Synapse", "change": change}),
            "{id}"
        );
        let shown = format!("on Synapse, set `{change}`")
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;");
        assert!(
            html.contains(&format!("To change: {shown}")),
            "{id} in index.html"
        );
        assert!(junit.contains(&shown), "{id} in junit.xml");
    }
}

/// The suite under `base` (whose rooms need no encryption) against a
/// gateway under `healthcare-tim-pro`: the target refuses the rooms the
/// suite makes, which is an ERROR of the run, never a skip or a pass.
fn a_room_the_target_refuses_is_an_error_and_the_run_incomplete(homeserver: &Homeserver) {
    let catalog = Catalog::load("base").expect("catalog");
    let (gateway, _) = gateway(homeserver, PROFILE, free_port(), false);
    let mut run = options(Target::Gateway, &gateway.url);
    run.selection.only = vec!["case.base.endpoints.a_message_send_passes".to_owned()];
    let report = server::run(&catalog, &run);
    let result = report
        .result("case.base.endpoints.a_message_send_passes")
        .expect("the case");
    assert_eq!(result.status, Status::Error, "{}", report.outline());
    assert!(
        result.messages[0].contains("the target refused a room"),
        "{:?}",
        result.messages
    );
    assert_eq!(report.verdict.outcome, Outcome::Incomplete);
    assert!(!report.header.certification);
}

#[test]
fn server_mode_certifies_sectorgate_under_every_other_bundled_sector_profile() {
    let homeserver = Homeserver::start();
    for profile in ["education", "defence"] {
        let report = certify_behind_sectorgate(&homeserver, profile);
        passes_whole(&report, profile);
        assert_eq!(
            report.verdict.exercised,
            exercised_in_docs(profile),
            "docs/conformance.md states how many requirements a run under {profile} exercises"
        );
    }
    let report = certify_behind_sectorgate(&homeserver, "government");
    incomplete_only_on(&report, "government", NOT_EXERCISED_UNDER_GOVERNMENT);
}

/// What a run under government cannot exercise: the cases resting on a
/// fact the suite does not put in place (a room's members, the joiner's
/// membership, a listing, a creation event), and what Tchap's homeserver
/// does on its own (sorted).
const NOT_EXERCISED_UNDER_GOVERNMENT: &[&str] = &[
    "case.government.government.a_moderator_cannot_open_a_room_to_external_users",
    "case.government.government.a_room_listed_in_the_room_directory_stays_restricted",
    "case.government.government.a_third_member_cannot_be_invited_into_a_direct_chat",
    "case.government.government.an_agent_joins_a_public_room_uninvited",
    "case.government.government.an_external_user_cannot_join_a_room_they_are_not_invited_to",
    "case.government.government.an_external_user_joins_a_room_they_are_invited_to",
    "case.government.government.the_creator_of_a_room_of_version_12_opens_it_to_external_users",
    "case.government.government.the_second_member_may_be_invited_into_a_direct_chat",
    "homeserver.gov_last_admin_hands_over",
];

/// Asserts that `report` failed nothing, and that what it did not
/// exercise is exactly `not_exercised`, each with its reason.
fn incomplete_only_on(report: &Report, profile: &str, not_exercised: &[&str]) {
    assert_eq!(
        report.verdict.outcome,
        Outcome::Incomplete,
        "{profile}: {}",
        report.verdict.line()
    );
    assert!(!report.header.certification);
    let mut missed = Vec::new();
    for result in &report.results {
        match result.status {
            Status::Pass => {}
            Status::NotExercised => {
                assert!(
                    result.messages.iter().any(|message| !message.is_empty()),
                    "{profile}: {} not exercised, with no reason",
                    result.id
                );
                missed.push(result.id.as_str());
            }
            other => panic!("{profile}: {} is {other}: {:?}", result.id, result.messages),
        }
    }
    missed.sort_unstable();
    assert_eq!(missed, not_exercised, "{profile}");
}

/// Test users made by shared-secret registration, or logged in from a list
/// made beforehand, serve the same; filtering makes a run that is not for
/// certification, and a test that needs what the run was not given is not
/// exercised.
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

/// How many requirements docs/conformance.md says a run under `profile`
/// behind sectorgate exercises (its table: "| `profile` | N of M |").
fn exercised_in_docs(profile: &str) -> usize {
    let docs = std::fs::read_to_string(support::repo().join("docs/conformance.md")).expect("docs");
    let row = format!("| `{profile}` | ");
    docs.lines()
        .find_map(|line| line.strip_prefix(&row))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("docs/conformance.md states no count for {profile}"))
}

/// The profile's rules a bare Synapse does not enforce, as the suite finds
/// them (sorted).
const NOT_ENFORCED_BY_SYNAPSE: &[&str] = &[
    "rule:appservice.denied",
    "rule:event.not_canonical",
    "rule:event.schema_invalid",
    "rule:federation.origin_mismatch",
    "rule:federation.origin_not_allowed",
    "rule:federation.remote_not_allowed",
    "rule:invite.permissions_invalid",
    "rule:tim.create_room_one_invite",
    "rule:tim.encryption_required",
    "rule:tim.invite_permissions",
    "rule:tim.no_later_public_join_rule",
    "rule:tim.no_threads",
    "rule:tim.profile_requires_auth",
    "rule:tim.redaction_24h",
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
    let verdict = format!("id=\"verdict\" class=\"{0}\">{0}<", report.verdict.outcome);
    assert!(dom.contains(&verdict), "the verdict heads the page");
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
    // The verdict comes first, as a test case of its own.
    assert_eq!(cases.len(), report.results.len() + 1);
    assert_eq!(cases[0].attribute("name"), Some("verdict"));
    assert!(
        !cases[0]
            .children()
            .any(|child| child.has_tag_name("failure") || child.has_tag_name("error")),
        "a passing run's verdict is no failure"
    );
    assert!(
        document
            .descendants()
            .any(|node| node.has_tag_name("property")
                && node.attribute("name") == Some("verdict")
                && node.attribute("value") == Some("PASS")),
        "the suite's properties give the verdict"
    );
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
