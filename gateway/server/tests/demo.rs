//! The demo's setup steps, against a real Synapse.

#![allow(
    clippy::expect_used,
    reason = "test steps: a failed step fails the test"
)]

mod support;

use std::process::{Command, Output};

use support::{Synapse, SynapseOptions, http, python, repo};

fn register(synapse: &Synapse, secret: Option<&str>, user: &str) -> Output {
    let mut command = Command::new(python());
    command.arg(repo().join("scripts/synapse.py")).args([
        "register",
        "--base-url",
        &synapse.base_url,
    ]);
    match secret {
        Some(secret) => command.arg(format!("--secret={secret}")),
        None => command.arg("--dir").arg(synapse.dir.path()),
    };
    command
        .args(["--user", user, "--password", "demo-password", "--exist-ok"])
        .output()
        .expect("run synapse.py register")
}

#[test]
fn the_demo_user_is_registered_whatever_the_shared_secret_looks_like() {
    // A secret the register command once read as an option.
    let synapse = Synapse::start(SynapseOptions {
        shared_secret: Some("-starts-with-a-dash".to_owned()),
        ..SynapseOptions::default()
    });
    let first = register(&synapse, None, "demo");
    assert!(first.status.success(), "{first:?}");
    // Run again (the demo restarted): the user exists and can log in.
    let again = register(&synapse, None, "demo");
    assert!(again.status.success(), "{again:?}");
    let login = http()
        .post(format!("{}/_matrix/client/v3/login", synapse.base_url))
        .json(&serde_json::json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": "demo"},
            "password": "demo-password",
        }))
        .send()
        .expect("login");
    assert_eq!(login.status().as_u16(), 200);
    // A step that fails says so, and exits non-zero.
    let wrong = register(&synapse, Some("-not-the-secret"), "other");
    assert!(!wrong.status.success(), "a wrong secret registered a user");
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(said.contains("HTTP 403"), "{said}");
}
