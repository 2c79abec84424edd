//! Client certification end to end: real third-party clients, driven by
//! scripts through the suite's guided steps, use a gateway whose `record`
//! option captures their user's exchanges in front of a real Synapse; the
//! suite judges the capture.
//!
//! - matrix-nio with e2e, compliant: every step and check passes;
//! - the same client sending in the clear, or asking for URL previews:
//!   FAIL on exactly those requirements;
//! - matrix-js-sdk, without its crypto module: certified on what it did,
//!   NOT_EXERCISED on the messages it cannot send;
//! - matrix-commander sending one message: NOT_EXERCISED on every step it
//!   never performed;
//! - a saved capture judged again offline gives the live run's statuses.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    reason = "test helpers: a failed step fails the test; a scenario reads as one story"
)]

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use sectorgate_conformance::catalog::Catalog;
use sectorgate_conformance::client::{self, CertifyOptions, People};
use sectorgate_conformance::report::Report;
use sectorgate_conformance::selection::Selection;
use sectorgate_conformance::status::Status;
use sectorgate_conformance::verdict::Outcome;
use support::{Gateway, GatewayOptions, PASSWORD, Synapse, SynapseOptions, User, marker, register};

const PROFILE: &str = "healthcare-tim-pro";
/// How long the suite waits for a step a client performs.
const STEP_WAIT: Duration = Duration::from_secs(45);
/// How long it waits for each step of a client that skips some.
const SKIPPED_STEP_WAIT: Duration = Duration::from_secs(8);
const SETTING_TYPE: &str = "de.gematik.tim.account.permissionconfig.pro.v1";

/// Output that tells the test when the suite printed its first step.
struct Signal(mpsc::Sender<String>);

impl Write for Signal {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(String::from_utf8_lossy(bytes).into_owned());
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct World {
    /// Holds the capture and the clients' stores.
    dir: tempfile::TempDir,
    synapse: Synapse,
    gateway: Gateway,
    capture: PathBuf,
    catalog: Catalog,
    vendor: User,
    people: People,
}

fn start() -> World {
    let synapse = Synapse::start(SynapseOptions::default());
    let vendor = register(&synapse.base_url, &marker("vendor"));
    let peer = register(&synapse.base_url, &marker("peer"));
    let blocker = register(&synapse.base_url, &marker("blocker"));
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("capture.jsonl");
    let mut options = GatewayOptions::for_synapse(&synapse, PROFILE);
    options.extra = format!(
        "[record]\nuser = \"{}\"\nfile = \"{}\"\n",
        vendor.user_id,
        capture.display()
    );
    let gateway = Gateway::start(options);
    let catalog = Catalog::load(PROFILE).expect("catalog");
    // The blocker accepts no invites (set as the suite's live setup does).
    let (status, _) = put_json(
        &synapse.base_url,
        &blocker.token,
        &format!(
            "/_matrix/client/v3/user/{}/account_data/{SETTING_TYPE}",
            support::encode(&blocker.user_id)
        ),
        &serde_json::json!({"defaultSetting": "block all"}),
    );
    assert_eq!(status, 200);
    let people = People {
        user: vendor.user_id.clone(),
        peer: peer.user_id.clone(),
        blocker: blocker.user_id.clone(),
    };
    World {
        dir,
        synapse,
        gateway,
        capture,
        catalog,
        vendor,
        people,
    }
}

fn put_json(
    base: &str,
    token: &str,
    path: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = support::http()
        .put(format!("{base}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .expect("PUT");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or_default())
}

impl World {
    fn options(&self, product: &str, guide: Option<Duration>, capture: &Path) -> CertifyOptions {
        CertifyOptions {
            capture: capture.to_owned(),
            people: self.people.clone(),
            guide,
            gateway_url: Some(self.gateway.url.clone()),
            product: Some(product.to_owned()),
            product_version: String::new(),
            selection: Selection::default(),
        }
    }

    /// Certifies live: the suite guides, waiting `wait` for each step, and
    /// the client script follows.
    fn certify_live(&self, product: &str, client: Command, wait: Duration) -> Report {
        let (sender, received) = mpsc::channel();
        let options = self.options(product, Some(wait), &self.capture);
        std::thread::scope(|scope| {
            let catalog = &self.catalog;
            let suite =
                scope.spawn(move || client::certify(catalog, &options, &mut Signal(sender)));
            let first = received
                .recv_timeout(Duration::from_secs(30))
                .expect("the suite prints its first step");
            assert!(first.starts_with("Step 1/"), "{first}");
            let (ok, summary) = support::run_client(client);
            assert!(ok, "{product}: {summary}\n{}", self.gateway.log());
            suite.join().expect("the suite")
        })
    }

    fn nio(&self, flags: &[&str]) -> Command {
        let store = self.dir.path().join(marker("nio-store"));
        std::fs::create_dir(&store).expect("nio store");
        let mut command = Command::new(support::python());
        command
            .arg(support::repo().join("gateway/server/tests/clients/nio_certify.py"))
            .arg(&self.gateway.url)
            .arg(store)
            .args([
                &self.vendor.user_id,
                PASSWORD,
                &self.people.peer,
                &self.people.blocker,
                SETTING_TYPE,
            ])
            .args(flags);
        command
    }
}

fn statuses(report: &Report) -> BTreeMap<String, Status> {
    report
        .results
        .iter()
        .map(|result| (result.id.clone(), result.status))
        .collect()
}

fn with_status(report: &Report, status: Status) -> Vec<&str> {
    report
        .results
        .iter()
        .filter(|result| result.status == status)
        .map(|result| result.id.as_str())
        .collect()
}

/// What a compliant run of every step shows.
const ALL_STEPS: &[&str] = &[
    "client.step.login",
    "client.step.create_direct_chat",
    "client.step.send_message",
    "client.step.send_link",
    "client.step.send_image",
    "client.step.set_invite_permissions",
    "client.step.invite_refused",
];

const BEHAVIOUR: &[&str] = &[
    "client.rule.tim.encryption_required",
    "client.rule.tim.url_preview_disabled",
    "client.rule.tim.invite_permissions",
    "client.media.authenticated",
    "client.invites.settings_mean_what_was_asked",
    "client.behaviour.no_retry_storm",
    "client.requests.well_formed",
];

#[test]
fn real_clients_are_certified_on_what_they_did() {
    let world = start();

    // matrix-nio with e2e, compliant.
    let nio = world.certify_live("matrix-nio", world.nio(&[]), STEP_WAIT);
    println!("matrix-nio:\n{}", nio.outline());
    // Every step and behaviour passes; the guide has no step that redacts,
    // so the redaction rule is not exercised and the run is INCOMPLETE,
    // never PASS.
    assert_eq!(
        nio.verdict.outcome,
        Outcome::Incomplete,
        "{}",
        nio.outline()
    );
    let unexercised: Vec<&str> = nio
        .verdict
        .incomplete
        .iter()
        .map(|unmet| unmet.requirement.as_str())
        .collect();
    assert_eq!(unexercised, ["gematik:A_28358", "rule:tim.redaction_24h"]);
    assert!(nio.verdict.failed.is_empty(), "{}", nio.outline());
    assert!(!nio.header.certification);
    let nio_statuses = statuses(&nio);
    for id in ALL_STEPS.iter().chain(BEHAVIOUR) {
        assert_eq!(
            nio_statuses.get(*id),
            Some(&Status::Pass),
            "matrix-nio: {id}\n{}",
            nio.outline()
        );
    }
    assert!(with_status(&nio, Status::Fail).is_empty());
    // Judged again offline, from a saved copy of the capture: the same.
    let saved = world.capture.with_extension("saved.jsonl");
    std::fs::copy(&world.capture, &saved).expect("save the capture");
    // Not named on the command line, the product is what the client said it
    // is (its User-Agent).
    let unnamed = CertifyOptions {
        product: None,
        ..world.options("matrix-nio", None, &saved)
    };
    let offline = client::certify(&world.catalog, &unnamed, &mut std::io::sink());
    let agent = &offline.header.product;
    assert!(
        agent != sectorgate_conformance::server::UNNAMED && !agent.is_empty(),
        "{agent}"
    );
    println!("matrix-nio named itself {agent}");
    assert_eq!(
        statuses(&offline),
        nio_statuses,
        "offline\n{}",
        offline.outline()
    );
    let secrets = std::fs::read_to_string(&saved).expect("capture");
    assert!(!secrets.contains(PASSWORD), "the password is redacted");
    assert!(
        !secrets.contains(&world.vendor.token),
        "tokens are redacted"
    );

    // The same client in the clear: FAIL on exactly the encryption rule.
    let plaintext = world.certify_live(
        "matrix-nio --plaintext",
        world.nio(&["--plaintext"]),
        STEP_WAIT,
    );
    println!("matrix-nio --plaintext:\n{}", plaintext.outline());
    assert_eq!(
        with_status(&plaintext, Status::Fail),
        ["client.rule.tim.encryption_required"]
    );
    assert!(
        plaintext
            .result("client.rule.tim.encryption_required")
            .is_some_and(|result| result
                .requirements
                .contains(&"gematik:A_25324-01".to_owned())
                && !result.evidence.is_empty())
    );

    // The same client asking for URL previews: FAIL on exactly that rule.
    let preview = world.certify_live("matrix-nio --preview", world.nio(&["--preview"]), STEP_WAIT);
    println!("matrix-nio --preview:\n{}", preview.outline());
    assert_eq!(
        with_status(&preview, Status::Fail),
        ["client.rule.tim.url_preview_disabled"]
    );
    assert!(
        preview
            .result("client.rule.tim.url_preview_disabled")
            .is_some_and(|result| result.requirements.contains(&"gematik:A_26344".to_owned()))
    );

    // matrix-js-sdk, without crypto: certified on what it did.
    let mut js = Command::new("node");
    js.arg(support::repo().join("gateway/server/tests/clients/js_sdk_certify.mjs"))
        .arg(&world.gateway.url)
        .args([
            &world.vendor.user_id,
            PASSWORD,
            &world.people.peer,
            &world.people.blocker,
            SETTING_TYPE,
        ]);
    let js_report = world.certify_live("matrix-js-sdk", js, SKIPPED_STEP_WAIT);
    println!("matrix-js-sdk:\n{}", js_report.outline());
    let js_statuses = statuses(&js_report);
    for id in [
        "client.step.login",
        "client.step.create_direct_chat",
        "client.step.set_invite_permissions",
        "client.step.invite_refused",
        "client.invites.settings_mean_what_was_asked",
        "client.behaviour.no_retry_storm",
    ] {
        assert_eq!(
            js_statuses.get(id),
            Some(&Status::Pass),
            "matrix-js-sdk: {id}"
        );
    }
    for id in [
        "client.step.send_message",
        "client.step.send_link",
        "client.step.send_image",
        "client.rule.tim.url_preview_disabled",
        "client.media.authenticated",
    ] {
        assert_eq!(
            js_statuses.get(id),
            Some(&Status::NotExercised),
            "matrix-js-sdk: {id}"
        );
    }
    assert!(
        with_status(&js_report, Status::Fail).is_empty(),
        "{}",
        js_report.outline()
    );

    // matrix-commander sending one message into a room made beforehand.
    let commander = world.commander_sends_one_message();
    println!("matrix-commander:\n{}", commander.outline());
    let commander_statuses = statuses(&commander);
    assert_eq!(
        commander_statuses.get("client.step.login"),
        Some(&Status::Pass)
    );
    assert_eq!(
        commander_statuses.get("client.step.send_message"),
        Some(&Status::Pass)
    );
    for id in [
        "client.step.create_direct_chat",
        "client.step.send_link",
        "client.step.send_image",
        "client.step.set_invite_permissions",
        "client.step.invite_refused",
        "client.invites.settings_mean_what_was_asked",
        "client.behaviour.no_retry_storm",
    ] {
        assert_eq!(
            commander_statuses.get(id),
            Some(&Status::NotExercised),
            "matrix-commander: {id}"
        );
    }
    assert_eq!(
        commander_statuses.get("client.rule.tim.encryption_required"),
        Some(&Status::Pass),
        "matrix-commander encrypts"
    );
    assert!(
        with_status(&commander, Status::Fail).is_empty(),
        "{}",
        commander.outline()
    );
    drop(world.synapse);
}

impl World {
    /// matrix-commander logs in and sends one message; judged offline on
    /// the lines it added to the capture.
    fn commander_sends_one_message(&self) -> Report {
        let created = support::http()
            .post(format!("{}/_matrix/client/v3/createRoom", self.synapse.base_url))
            .bearer_auth(&self.vendor.token)
            .json(&serde_json::json!({"preset": "private_chat", "room_version": "10", "initial_state": [
                {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}))
            .send()
            .expect("createRoom")
            .json::<serde_json::Value>()
            .expect("createRoom JSON");
        let room = created["room_id"].as_str().expect("room_id").to_owned();
        let before = std::fs::metadata(&self.capture).expect("capture").len();
        let dir = tempfile::tempdir().expect("commander dir");
        let credentials = dir.path().join("credentials.json");
        let store = dir.path().join("store");
        let commander = support::venv().join("bin/matrix-commander");
        let run = |args: &[&str]| {
            let output = Command::new(&commander)
                .arg("--credentials")
                .arg(&credentials)
                .arg("--store")
                .arg(&store)
                .args(args)
                .output()
                .expect("run matrix-commander");
            assert!(
                output.status.success(),
                "matrix-commander {args:?}: {}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        };
        run(&[
            "--login",
            "password",
            "--homeserver",
            &self.gateway.url,
            "--user-login",
            &self.vendor.user_id,
            "--password",
            PASSWORD,
            "--device",
            "commander",
            "--room-default",
            &room,
        ]);
        run(&["--message", "one message from matrix-commander"]);
        // Only what matrix-commander added to the capture.
        let all = std::fs::read(&self.capture).expect("capture");
        let own = self.capture.with_extension("commander.jsonl");
        std::fs::write(&own, &all[usize::try_from(before).expect("size")..]).expect("write");
        client::certify(
            &self.catalog,
            &self.options("matrix-commander", None, &own),
            &mut std::io::sink(),
        )
    }
}
