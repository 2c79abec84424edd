//! Reloading under a steady load through the gateway to a real Synapse:
//! a profile by SIGHUP and by a changed file, a TLS certificate rotated.
//! No request of the load fails, the new rule applies to the next request
//! (and its record names the new revision and content), and a broken
//! profile leaves the one in force, saying why in `/ready` and in the
//! metrics. The static allowlist reloads too; other settings wait for a
//! restart, and `/ready` says so.

#![allow(
    clippy::expect_used,
    reason = "test code: a failed step fails the test"
)]

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use support::load::Load;
use support::pki::TestPki;
use support::{
    Gateway, GatewayOptions, Synapse, SynapseOptions, User, free_port, http, marker, register,
    request_id, upstream, wait_for,
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

const CERTIFICATES_RELOADED: &str = "sectorgate_certificate_reloads_total{result=\"ok\"}";

/// Waits until the metrics count `count` reloads with `result`.
fn reloads(gateway: &Gateway, result: &str, count: u64) {
    let seen = wait_for(Duration::from_secs(15), || {
        let series = format!("sectorgate_reloads_total{{result=\"{result}\"}}");
        (gateway.metric(&series) == count).then_some(())
    });
    assert!(seen.is_some(), "never saw {count} reloads {result}");
}

/// Replaces `to` with `from` in one step, as a deployment tool does.
fn replace(from: &Path, to: &Path) {
    let staged = to.with_extension("staged");
    std::fs::copy(from, &staged).expect("copy");
    std::fs::rename(&staged, to).expect("rename");
}

/// A client that trusts `cas` and opens a new connection (and so makes a
/// new TLS handshake) for every request.
fn tls_client(cas: &[&Path]) -> reqwest::blocking::Client {
    support::install_crypto_provider();
    let mut builder = reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10));
    for ca in cas {
        let pem = std::fs::read(ca).expect("CA");
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA"));
    }
    builder.build().expect("client")
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

/// Stops `load`: every request got its normal answer, and each one
/// acknowledged has its record.
fn lost_nothing(gateway: &Gateway, load: Load) {
    let seen = load.stop();
    assert_eq!(seen.failed, 0, "requests of the load failed");
    assert_eq!(seen.refused, 0);
    assert!(seen.acknowledged.len() > 20, "too little load");
    let recorded: HashSet<String> = gateway
        .audit_records()
        .into_iter()
        .map(|decision| decision.request_id)
        .collect();
    assert!(seen.acknowledged.iter().all(|id| recorded.contains(id)));
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
    let (status, _, first_id) = capabilities(&gateway, &user, &allowed);
    assert_eq!(status, 200);
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
    // Each record names the content it was decided under, too.
    let first = gateway.audit_record(&first_id).profile.digest;
    assert!(first.as_deref().is_some_and(|d| d.starts_with("sha256:")));
    assert!(record.profile.digest.is_some() && record.profile.digest != first);

    // A broken profile: the one in force stays, and says why.
    write(folder.path(), "id: reloadable\nendpoints: [\n");
    hang_up(&gateway);
    reloads(&gateway, "failed", 1);
    let still = marker("still");
    let (status, rule, _) = capabilities(&gateway, &user, &still);
    assert_eq!((status, rule.as_str()), (403, "reload.no_capabilities"));
    let ready = gateway.ready();
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["reload"]["ok"], false, "{ready}");
    assert_eq!(ready["reload"]["count"], 2, "{ready}");
    assert!(ready["reload"]["error"].is_string(), "{ready}");
    assert_eq!(ready["profile"], "reloadable@2", "{ready}");

    std::thread::sleep(Duration::from_millis(300));
    lost_nothing(&gateway, load);
    // The refused requests never reached Synapse.
    assert!(synapse.saw(&allowed));
    let log = synapse.access_log();
    assert!(!log.contains(&refused) && !log.contains(&still));
}

#[test]
fn a_rotated_certificate_and_a_changed_profile_file_drop_no_request_of_a_load() {
    let synapse = Synapse::start(SynapseOptions::default());
    let folder = tempfile::tempdir().expect("profile folder");
    write(folder.path(), FIRST);
    let (first, renewed) = (TestPki::new(), TestPki::new());
    let live = tempfile::tempdir().expect("certificate folder");
    let (cert, key) = (live.path().join("cert.pem"), live.path().join("key.pem"));
    replace(&first.cert, &cert);
    replace(&first.key, &key);
    let port = free_port();
    let mut options = GatewayOptions::for_synapse(&synapse, &folder.path().display().to_string());
    options.extra = format!(
        "[[listeners]]\nbind = \"127.0.0.1:0\"\nserves = [\"client\"]\n\n\
         [[listeners]]\nbind = \"127.0.0.1:{port}\"\nserves = [\"client\"]\n\
         tls = {{ certificate = \"{}\", key = \"{}\" }}\n",
        cert.display(),
        key.display()
    );
    let gateway = Gateway::start(options);
    let user = register(&gateway.url, &marker("rotate"));
    let tls_base = format!("https://localhost:{port}");
    let versions = |client: &reqwest::blocking::Client| {
        client
            .get(format!("{tls_base}/_matrix/client/versions"))
            .send()
            .map(|response| response.status().as_u16())
    };
    let renewed_only = tls_client(&[&renewed.ca]);
    assert!(
        versions(&renewed_only).is_err(),
        "the renewed CA is trusted already"
    );

    // Every request of the load makes its own handshake, across the rotation.
    let (first_ca, renewed_ca) = (first.ca.clone(), renewed.ca.clone());
    let both = Arc::new(move || tls_client(&[&first_ca, &renewed_ca]));
    let load = Load::start_on(&gateway, &tls_base, both, 4, 0);
    std::thread::sleep(Duration::from_millis(500));
    let rotated_before = gateway.metric(CERTIFICATES_RELOADED);
    replace(&renewed.key, &key);
    replace(&renewed.cert, &cert);
    hang_up(&gateway);
    reloads(&gateway, "ok", 1);
    let served = wait_for(Duration::from_secs(15), || versions(&renewed_only).ok());
    assert_eq!(served, Some(200), "the renewed certificate is not served");
    assert!(
        versions(&tls_client(&[&first.ca])).is_err(),
        "a new connection still gets the old certificate"
    );
    assert!(gateway.metric(CERTIFICATES_RELOADED) > rotated_before);

    // The profile's file changes and nobody signals: the change is seen.
    write(folder.path(), SECOND);
    reloads(&gateway, "ok", 2);
    let refused = marker("watched");
    let (status, rule, id) = capabilities(&gateway, &user, &refused);
    assert_eq!((status, rule.as_str()), (403, "reload.no_capabilities"));
    assert_eq!(gateway.audit_record(&id).profile.revision, "reloadable@2");

    std::thread::sleep(Duration::from_millis(500));
    lost_nothing(&gateway, load);
    assert!(!synapse.access_log().contains(&refused));
}

#[test]
fn a_changed_allowlist_applies_without_a_restart_and_other_settings_wait_for_one() {
    let pki = TestPki::new();
    let upstream = upstream::start_recording();
    let port = free_port();
    let local = format!("localhost:{port}");
    let peer = support::peer::Peer::new("peer.test", "reload", &pki.ca);
    let federation = |allow: &str| {
        format!(
            "[[listeners]]\nbind = \"127.0.0.1:0\"\nserves = [\"client\"]\n\n\
             [[listeners]]\nbind = \"127.0.0.1:{port}\"\nserves = [\"federation\"]\n\n\
             [federation]\nserver_name = \"{local}\"\nallow = [\"{allow}\"]\n\n\
             [federation.pinned_keys.\"{peer_name}\"]\n\"{key_id}\" = \"{public}\"\n",
            peer_name = peer.name,
            key_id = peer.key_id(),
            public = peer.public_key(),
        )
    };
    let mut options = GatewayOptions::for_stand_in(&upstream.url, "base");
    options.extra = federation("other.test");
    let gateway = Gateway::start(options);
    let base = format!("http://127.0.0.1:{port}");
    let destination: &ruma::ServerName = local.as_str().try_into().expect("name");
    let query = |mark: &str| {
        let path =
            format!("/_matrix/federation/v1/query/profile?user_id=%40a%3A{local}&field={mark}");
        peer.send_as_self("GET", &base, &path, None, destination)
    };
    let received = |mark: &str| {
        upstream
            .received()
            .iter()
            .any(|request| request.target.contains(mark))
    };
    let before = marker("before");
    let (status, body) = query(&before);
    assert_eq!(status, 403, "{body}");
    assert!(
        !received(&before),
        "a server off the allowlist was forwarded"
    );

    // The config file names the peer now: the watch reloads it.
    let config = std::fs::read_to_string(gateway.config_path()).expect("config");
    let changed = config.replace("allow = [\"other.test\"]", "allow = [\"peer.test\"]");
    assert_ne!(config, changed);
    std::fs::write(gateway.config_path(), &changed).expect("config");
    reloads(&gateway, "ok", 1);
    let after = marker("after");
    let (status, body) = query(&after);
    assert_eq!(status, 200, "{body}");
    assert!(received(&after));
    // Its key is the pinned one; the refused request never looked one up.
    let pinned = "sectorgate_federation_key_lookups_total{source=\"pinned\"}";
    assert_eq!(gateway.metric(pinned), 1);
    let ready = gateway.ready();
    assert_eq!(ready["reload"]["restart_needed"], false, "{ready}");

    // A setting only a restart applies: the reload says so.
    let slower = changed.replace("connect_timeout = \"2s\"", "connect_timeout = \"3s\"");
    assert_ne!(changed, slower);
    std::fs::write(gateway.config_path(), slower).expect("config");
    hang_up(&gateway);
    reloads(&gateway, "ok", 2);
    let ready = gateway.ready();
    assert_eq!(ready["reload"]["restart_needed"], true, "{ready}");
}
