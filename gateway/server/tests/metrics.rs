//! `/metrics` on the admin listener, read as Prometheus reads it: the text
//! parses with the reference OpenMetrics parser (the Python
//! `prometheus_client`), and its counters move by exactly what the test
//! sent through the gateway to a real Synapse.

#![allow(
    clippy::expect_used,
    reason = "test code: a failed step fails the test"
)]

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::{Gateway, GatewayOptions, Synapse, SynapseOptions, http};

/// Parses OpenMetrics text with `prometheus_client`; every sample as
/// `(name, labels, value)`.
const PARSE: &str = "\
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
samples = [
    {'name': s.name, 'labels': s.labels, 'value': s.value}
    for family in text_string_to_metric_families(sys.stdin.read())
    for s in family.samples
]
print(json.dumps(samples))
";

/// A scrape, parsed.
fn scrape(gateway: &Gateway) -> Vec<Value> {
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
    assert!(value(&after, "sectorgate_audit_log_size", &[]) >= 10.0);
    assert_eq!(value(&after, "sectorgate_audit_writable", &[]), 1.0);
}
