//! `/metrics` on the admin listener, read as Prometheus reads it: the text
//! parses with the reference OpenMetrics parser (the Python
//! `prometheus_client`), and its counters move by exactly what the test
//! sent through the gateway to a real Synapse.

#![allow(
    clippy::expect_used,
    reason = "test code: a failed step fails the test"
)]

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::{Gateway, GatewayOptions, Synapse, SynapseOptions, http};

/// Parses OpenMetrics text with `prometheus_client`: its families (name,
/// type) and every sample (name, labels, value).
const PARSE: &str = "\
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(sys.stdin.read()))
print(json.dumps({
    'families': [{'name': f.name, 'type': f.type} for f in families],
    'samples': [
        {'name': s.name, 'labels': s.labels, 'value': s.value}
        for f in families for s in f.samples
    ],
}))
";

/// A scrape's samples.
fn scrape(gateway: &Gateway) -> Vec<Value> {
    let parsed = scrape_parsed(gateway);
    parsed["samples"].as_array().cloned().unwrap_or_default()
}

/// Every name a query can read from a scrape: a counter's `_total`, a
/// histogram's `_bucket`, `_count` and `_sum`, a gauge's own.
fn exported(gateway: &Gateway) -> BTreeSet<String> {
    let parsed = scrape_parsed(gateway);
    let families = parsed["families"].as_array().cloned().unwrap_or_default();
    families
        .iter()
        .flat_map(|family| {
            let name = family["name"].as_str().unwrap_or_default();
            let suffixes: &[&str] = match family["type"].as_str() {
                Some("counter") => &["_total"],
                Some("histogram") => &["_bucket", "_count", "_sum"],
                _ => &[""],
            };
            suffixes.iter().map(move |suffix| format!("{name}{suffix}"))
        })
        .collect()
}

/// A scrape, parsed.
fn scrape_parsed(gateway: &Gateway) -> Value {
    let response = http()
        .get(format!("{}/metrics", gateway.admin_url))
        .send()
        .expect("metrics");
    assert_eq!(response.status().as_u16(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .expect("content type")
        .to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let text = response.text().expect("text");
    let mut parser = Command::new(support::python())
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    parser
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let output = parser.wait_with_output().expect("parse");
    assert!(
        output.status.success(),
        "the scrape does not parse as OpenMetrics: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("samples JSON")
}

/// The value of the sample `name` whose labels include `labels` (0 if none).
fn value(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|sample| sample["name"] == name)
        .filter(|sample| {
            labels
                .iter()
                .all(|(key, wanted)| sample["labels"][*key] == *wanted)
        })
        .map(|sample| sample["value"].as_f64().expect("a number"))
        .sum()
}

#[test]
fn metrics_parse_as_openmetrics_and_move_by_what_was_sent() {
    let synapse = Synapse::start(SynapseOptions::default());
    let gateway = Gateway::start(GatewayOptions::for_synapse(&synapse, "base"));
    let before = scrape(&gateway);
    let client = http();
    for _ in 0..7 {
        let response = client
            .get(format!("{}/_matrix/client/versions", gateway.url))
            .send()
            .expect("versions");
        assert_eq!(response.status().as_u16(), 200);
    }
    for _ in 0..3 {
        let response = client
            .get(format!(
                "{}/_matrix/client/v3/no_such_endpoint",
                gateway.url
            ))
            .send()
            .expect("unknown");
        assert_eq!(response.status().as_u16(), 404);
    }
    // The outcome records are written with the next commit, or after a
    // short wait when none comes.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let after = scrape(&gateway);
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    let allowed = [
        ("direction", "inbound"),
        ("endpoint", "client.get_supported_versions"),
        ("verdict", "allow"),
        ("rule", "endpoint.allowed"),
    ];
    assert_eq!(moved("sectorgate_decisions_total", &allowed), 7.0);
    let refused = [
        ("endpoint", "unrecognized"),
        ("verdict", "deny"),
        ("rule", "endpoint.unrecognized"),
    ];
    assert_eq!(moved("sectorgate_decisions_total", &refused), 3.0);
    // Every answer's duration, and each forwarded request's forward step.
    let answers = moved(
        "sectorgate_request_duration_seconds_count",
        &[("direction", "inbound"), ("status", "2xx")],
    );
    assert_eq!(answers, 7.0);
    let refusals = moved(
        "sectorgate_request_duration_seconds_count",
        &[("status", "4xx")],
    );
    assert_eq!(refusals, 3.0);
    assert_eq!(
        moved(
            "sectorgate_step_duration_seconds_count",
            &[("step", "forward")]
        ),
        7.0
    );
    assert_eq!(
        moved(
            "sectorgate_step_duration_seconds_count",
            &[("step", "classify")]
        ),
        10.0
    );
    assert!(moved("sectorgate_connections_total", &[]) >= 1.0);
    // A decision and an outcome each, every one counted as it was
    // committed: the log holds exactly what the counter says.
    let size = value(&after, "sectorgate_audit_log_size", &[]);
    assert_eq!(size, 20.0);
    assert_eq!(value(&after, "sectorgate_audit_records_total", &[]), size);
    let commits = value(
        &after,
        "sectorgate_audit_commit_duration_seconds_count",
        &[],
    );
    assert!((1.0..=20.0).contains(&commits), "{commits} commits");
    assert_eq!(
        value(&after, "sectorgate_audit_commit_records_count", &[]),
        commits
    );
    assert_eq!(value(&after, "sectorgate_audit_writable", &[]), 1.0);
}

/// Every `sectorgate_…` name in `text`.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("sectorgate_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

#[test]
fn the_alerts_and_the_dashboard_read_only_metrics_the_gateway_exports() {
    // Nothing listens upstream: a request is decided, answered 502 and
    // counted as the homeserver's failure; a SIGHUP is a reload; the query
    // index reports its size. Then every family has a sample, and a scrape
    // names it.
    let mut options = GatewayOptions::for_stand_in("http://127.0.0.1:9", "base");
    options.extra = "[federation]\nserver_name = \"gw.example.org\"\n".to_owned();
    options.audit_extra = "index = \"audit-index.db\"\n".to_owned();
    let gateway = Gateway::start(options);
    let failed = http()
        .get(format!("{}/_matrix/client/versions", gateway.url))
        .send()
        .expect("versions");
    assert_eq!(failed.status().as_u16(), 502);
    let hangup = Command::new("kill")
        .args(["-HUP", &gateway.pid().to_string()])
        .status()
        .expect("kill");
    assert!(hangup.success());
    let reloaded = support::wait_for(std::time::Duration::from_secs(10), || {
        let samples = scrape(&gateway);
        (value(&samples, "sectorgate_reloads_total", &[("result", "ok")]) == 1.0).then_some(())
    });
    assert!(reloaded.is_some(), "no reload counted");
    let exported = support::wait_for(std::time::Duration::from_secs(10), || {
        let exported = exported(&gateway);
        exported
            .contains("sectorgate_audit_view_size")
            .then_some(exported)
    })
    .expect("the query index reports its size");

    let repo = support::repo();
    let alerts =
        std::fs::read_to_string(repo.join("deploy/prometheus/alerts.yaml")).expect("alerts");
    let rules: Value = serde_yaml_ng::from_str(&alerts).expect("the alerts are YAML");
    let rules = rules["groups"][0]["rules"].as_array().expect("rules");
    assert!(rules.len() >= 5);
    for rule in rules {
        for field in ["alert", "expr"] {
            assert!(rule[field].is_string(), "{field} missing: {rule}");
        }
        assert!(rule["labels"]["severity"].is_string(), "{rule}");
        assert!(rule["annotations"]["summary"].is_string(), "{rule}");
    }
    let dashboard =
        std::fs::read_to_string(repo.join("deploy/grafana/sectorgate.json")).expect("dashboard");
    let parsed: Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(
        parsed["panels"]
            .as_array()
            .is_some_and(|panels| !panels.is_empty())
    );

    let used = names_in(&alerts).into_iter().chain(names_in(&dashboard));
    for name in used {
        assert!(
            exported.contains(&name),
            "{name} is used by an alert or the dashboard but not exported; exported: {exported:?}"
        );
    }
}
