//! Several instances the usual way: one config file, each instance's audit
//! origin and checkpoint key from its environment, one PostgreSQL, one
//! Synapse. Each instance keeps its own log in the shared database; killing
//! one loses none of its acknowledged records, and both logs verify.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed step fails the test"
)]

mod support;

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::load::Load;
use support::postgres::shared_url;
use support::{Gateway, GatewayOptions, Synapse, SynapseOptions, http, marker};

fn recorded(gateway: &Gateway) -> HashSet<String> {
    gateway
        .audit_records()
        .into_iter()
        .map(|decision| decision.request_id)
        .collect()
}

/// A request with a marker Synapse must see, through `gateway`.
fn reaches_synapse(gateway: &Gateway, synapse: &Synapse) {
    let mark = marker("instance");
    let response = http()
        .get(format!("{}/_matrix/client/versions?m={mark}", gateway.url))
        .send()
        .expect("versions");
    assert!(response.status().is_success());
    assert!(synapse.saw(&mark), "{mark} never reached Synapse");
}

#[test]
fn two_instances_share_one_config_file_with_their_origins_from_the_environment() {
    let synapse = Synapse::start(SynapseOptions::default());
    let tag = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let origin = |n: u8| format!("gw-{n}-{tag:x}.instances.test/sectorgate");
    let mut first = Gateway::start(GatewayOptions {
        audit_database: Some(shared_url()),
        audit_extra: "checkpoint_every = 50\ncheckpoint_interval = \"1s\"\n".to_owned(),
        env: vec![("SECTORGATE_AUDIT_ORIGIN", origin(1))],
        ..GatewayOptions::for_synapse(&synapse, "base")
    });
    first.audit_origin = Some(origin(1));
    let keys = tempfile::tempdir().expect("key folder");
    let second_key = keys.path().join("checkpoint.key");
    let mut second = first.sibling(
        &origin(2),
        vec![
            ("SECTORGATE_AUDIT_ORIGIN", origin(2)),
            (
                "SECTORGATE_AUDIT_CHECKPOINT_KEY",
                second_key.display().to_string(),
            ),
        ],
    );
    reaches_synapse(&first, &synapse);
    reaches_synapse(&second, &synapse);

    let (load_first, load_second) = (Load::start(&first, 6, 0), Load::start(&second, 6, 0));
    std::thread::sleep(Duration::from_millis(1500));
    second.kill();
    let second_seen = load_second.stop();
    std::thread::sleep(Duration::from_millis(500));
    let first_seen = load_first.stop();
    assert!(
        first_seen.acknowledged.len() > 20 && second_seen.acknowledged.len() > 20,
        "too little load: {} and {}",
        first_seen.acknowledged.len(),
        second_seen.acknowledged.len()
    );

    // Each instance's acknowledged requests are in its own log, none in the other's.
    let (in_first, in_second) = (recorded(&first), recorded(&second));
    for (name, seen, own, other) in [
        ("first", &first_seen, &in_first, &in_second),
        ("second", &second_seen, &in_second, &in_first),
    ] {
        let lost = seen
            .acknowledged
            .iter()
            .filter(|id| !own.contains(*id))
            .count();
        assert_eq!(
            lost, 0,
            "{name}: {lost} acknowledged requests have no record"
        );
        assert!(
            seen.acknowledged.iter().all(|id| !other.contains(id)),
            "{name}'s requests were recorded in the other instance's log"
        );
    }
    assert!(
        second_key.exists(),
        "the second instance's checkpoint key is not where its environment said"
    );

    for (name, gateway) in [("first", &first), ("second", &second)] {
        let (code, report) = gateway.audit_command(&["verify"]);
        assert_eq!(code, 0, "{name}'s log does not verify:\n{report}");
        assert!(report.contains("\"ok\": true"), "{report}");
        assert!(
            report.contains(&origin(if name == "first" { 1 } else { 2 })),
            "{report}"
        );
    }
}
