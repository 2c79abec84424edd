//! Stopping under load, as a load balancer sees it: on SIGTERM `/ready`
//! turns 503 at once, new connections are still accepted and answered for
//! the grace period, requests in flight finish, and the audit log ends with
//! every acknowledged request recorded and a checkpoint over all of it.

#![allow(
    clippy::expect_used,
    reason = "test code: a failed step fails the test"
)]

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::load::Load;
use support::{Gateway, GatewayOptions, Synapse, SynapseOptions, http, wait_for};

/// A client that opens a new connection for every request, as a load
/// balancer's new flows would.
fn fresh_connections() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[test]
fn sigterm_under_load_refuses_no_connection_and_loses_no_request() {
    let synapse = Synapse::start(SynapseOptions::default());
    let mut options = GatewayOptions::for_synapse(&synapse, "base");
    options.extra = "[shutdown]\ngrace = \"2s\"\ndrain = \"10s\"\n".to_owned();
    let mut gateway = Gateway::start(options);
    let load = Load::start(&gateway, 4, 0);
    std::thread::sleep(Duration::from_millis(500));

    gateway.send_term();
    let signalled = Instant::now();
    let draining = wait_for(Duration::from_secs(1), || {
        let response = http()
            .get(format!("{}/ready", gateway.admin_url))
            .send()
            .ok()?;
        let status = response.status().as_u16();
        let body: Value = response.json().ok()?;
        (status == 503 && body["draining"] == true).then_some(())
    });
    assert!(draining.is_some(), "/ready did not turn 503 on SIGTERM");

    // Within the grace period every new connection is accepted and answered.
    let client = fresh_connections();
    let url = format!("{}/_matrix/client/versions", gateway.url);
    let mut answered = 0;
    while signalled.elapsed() < Duration::from_millis(1500) {
        let response = client
            .get(&url)
            .send()
            .unwrap_or_else(|error| panic!("refused during the grace period: {error}"));
        assert_eq!(response.status().as_u16(), 200);
        answered += 1;
    }
    assert!(answered > 5, "only {answered} requests in the grace period");

    let status = gateway.wait();
    let seen = load.stop();
    assert!(
        status.success(),
        "the gateway did not exit cleanly: {status}"
    );
    assert!(
        signalled.elapsed() >= Duration::from_secs(2),
        "it stopped before the grace period ended"
    );
    // After the grace period, nothing accepts any more.
    assert!(
        client.get(&url).send().is_err(),
        "still accepting after it exited"
    );

    let recorded: HashSet<String> = gateway
        .audit_records()
        .into_iter()
        .map(|decision| decision.request_id)
        .collect();
    let lost = seen
        .acknowledged
        .iter()
        .filter(|id| !recorded.contains(*id))
        .count();
    assert!(seen.acknowledged.len() > 20, "too little load");
    assert_eq!(lost, 0, "{lost} acknowledged requests have no record");
    let (code, report) = gateway.audit_command(&["verify"]);
    assert_eq!(code, 0, "{report}");
    let report: Value = serde_json::from_str(&report).expect("a JSON report");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(
        report["unattested"], 0,
        "the last records are not covered by a checkpoint: {report}"
    );
    assert!(
        report["records"]
            .as_u64()
            .is_some_and(|records| records > 40)
    );
}
