//! Reloading the profile with SIGHUP under a steady load through the
//! gateway to a real Synapse: no request of the load fails, the new rule
//! applies to the next request (and its record names the new revision),
//! and a broken profile leaves the one in force, saying why in `/ready`
//! and in the metrics.

#![allow(
    clippy::expect_used,
    reason = "test code: a failed step fails the test"
)]

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::load::Load;
use support::{
    Gateway, GatewayOptions, Synapse, SynapseOptions, User, http, marker, register, request_id,
    wait_for,
};

const FIRST: &str = "id: reloadable\ntitle: Reloadable\nversion: \"1\"\nextends: base\n";

const SECOND: &str = "\
id: reloadable
title: Reloadable
version: \"2\"
extends: base
endpoints:
  rules:
    - id: reload.no_capabilities
      verdict: deny
      endpoints: [client.get_capabilities]
      status: 403
      errcode: M_FORBIDDEN
      reason: capabilities are not served here
";

fn hang_up(gateway: &Gateway) {
    let status = Command::new("kill")
        .args(["-HUP", &gateway.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Waits until the metrics count `count` reloads with `result`.
fn reloads(gateway: &Gateway, result: &str, count: u32) {
    let line = format!("sectorgate_reloads_total{{result=\"{result}\"}} {count}");
    let seen = wait_for(Duration::from_secs(10), || {
        let text = http()
            .get(format!("{}/metrics", gateway.admin_url))
            .send()
            .ok()?
            .text()
            .ok()?;
        text.contains(&line).then_some(())
    });
    assert!(seen.is_some(), "never saw {line}");
}

/// `GET /capabilities` with a marker: status, rule, request id.
fn capabilities(gateway: &Gateway, user: &User, mark: &str) -> (u16, String, String) {
    let response = http()
        .get(format!(
            "{}/_matrix/client/v3/capabilities?m={mark}",
            gateway.url
        ))
        .bearer_auth(&user.token)
        .send()
        .expect("capabilities");
    let status = response.status().as_u16();
    let id = request_id(&response);
    let body: Value = response.json().expect("JSON");
    let rule = body["org.sectorgate.rule"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    (status, rule, id)
}

fn write(folder: &Path, profile: &str) {
    std::fs::write(folder.join("profile.yaml"), profile).expect("write profile");
}

#[test]
fn a_profile_reloads_under_load_and_a_broken_one_leaves_it_in_force() {
    let synapse = Synapse::start(SynapseOptions::default());
    let folder = tempfile::tempdir().expect("profile folder");
    write(folder.path(), FIRST);
    let profile = folder.path().display().to_string();
    let gateway = Gateway::start(GatewayOptions::for_synapse(&synapse, &profile));
    let user = register(&gateway.url, &marker("reload"));
    let allowed = marker("before");
    assert_eq!(capabilities(&gateway, &user, &allowed).0, 200);
    assert!(synapse.saw(&allowed));

    let load = Load::start(&gateway, 4, 0);
    std::thread::sleep(Duration::from_millis(300));
    write(folder.path(), SECOND);
    hang_up(&gateway);
    reloads(&gateway, "ok", 1);
    let refused = marker("after");
    let (status, rule, id) = capabilities(&gateway, &user, &refused);
    assert_eq!((status, rule.as_str()), (403, "reload.no_capabilities"));
    let record = gateway.audit_record(&id);
    assert_eq!(record.rule, "reload.no_capabilities");
    assert_eq!(record.profile.revision, "reloadable@2");

    // A broken profile: the one in force stays, and says why.
    write(folder.path(), "id: reloadable\nendpoints: [\n");
    hang_up(&gateway);
    reloads(&gateway, "failed", 1);
    let still = marker("still");
    let (status, rule, _) = capabilities(&gateway, &user, &still);
    assert_eq!((status, rule.as_str()), (403, "reload.no_capabilities"));
    let ready: Value = http()
        .get(format!("{}/ready", gateway.admin_url))
        .send()
        .expect("ready")
        .json()
        .expect("ready JSON");
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["reload"]["ok"], false, "{ready}");
    assert_eq!(ready["reload"]["count"], 2, "{ready}");
    assert!(ready["reload"]["error"].is_string(), "{ready}");
    assert_eq!(ready["profile"], "reloadable@2", "{ready}");

    std::thread::sleep(Duration::from_millis(300));
    let seen = load.stop();
    assert_eq!(
        seen.failed, 0,
        "requests of the load failed across the reloads"
    );
    assert_eq!(seen.refused, 0);
    assert!(seen.acknowledged.len() > 20, "too little load");
    let recorded: HashSet<String> = gateway
        .audit_records()
        .into_iter()
        .map(|decision| decision.request_id)
        .collect();
    assert!(seen.acknowledged.iter().all(|id| recorded.contains(id)));
    // The refused requests never reached Synapse.
    assert!(synapse.saw(&allowed));
    let log = synapse.access_log();
    assert!(!log.contains(&refused) && !log.contains(&still));
}
