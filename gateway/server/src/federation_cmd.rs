//! `sectorgate federation list`: what the running gateway federates with.

use std::process::ExitCode;

use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::cli::FederationCommand;
use crate::config::Config;

/// Runs a `federation` subcommand. `list` exits 2 when federation is
/// closed because the list is stale.
pub(crate) fn run(command: FederationCommand) -> ExitCode {
    let FederationCommand::List {
        config,
        admin,
        json,
    } = command;
    let admin = match admin {
        Some(admin) => admin,
        None => match Config::load(config.config.as_deref()) {
            Ok(config) => config.listen.admin.to_string(),
            Err(error) => {
                eprintln!("sectorgate: {error}");
                return ExitCode::FAILURE;
            }
        },
    };
    let url = format!("http://{admin}/federation");
    let status = match fetch(&url) {
        Ok(status) => status,
        Err(error) => {
            eprintln!("sectorgate: cannot ask the gateway at {url}: {error}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        println!("{status:#}");
    } else {
        print!("{}", describe(&status));
    }
    if status["allowlist"]["stale"] == true {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn fetch(url: &str) -> Result<Value, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let client = Client::builder(TokioExecutor::new()).build_http::<axum::body::Body>();
        let uri = url.parse().map_err(|_| format!("bad URL {url}"))?;
        let response = client.get(uri).await.map_err(|e| e.to_string())?;
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    })
}

/// The status as text for a person.
fn describe(status: &Value) -> String {
    if status["enabled"] != true {
        return "federation: not configured; the gateway refuses all signed server requests\n"
            .to_owned();
    }
    let mut out = format!(
        "federation for {}\n",
        status["server_name"].as_str().unwrap_or("?")
    );
    let allowlist = &status["allowlist"];
    let entries: Vec<&str> = allowlist["entries"]
        .as_array()
        .map(|e| e.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let sources: Vec<&str> = allowlist["sources"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str(&format!(
        "allowlist: {} entries, from {}\n",
        entries.len(),
        sources.join("; ")
    ));
    for entry in &entries {
        out.push_str(&format!("  {entry}\n"));
    }
    let list = &status["signed_list"];
    if list.is_object() {
        let hours = |secs: &Value| secs.as_u64().map(|s| format!("{:.1} h", s as f64 / 3600.0));
        out.push_str(&format!(
            "signed list: version {}, age {} (max {}), {} servers, from {}\n",
            list["version"]
                .as_u64()
                .map_or("none".to_owned(), |v| v.to_string()),
            hours(&list["age_secs"]).unwrap_or_else(|| "-".to_owned()),
            hours(&list["max_age_secs"]).unwrap_or_else(|| "-".to_owned()),
            list["domains"],
            list["source"].as_str().unwrap_or("?"),
        ));
        if let Some(signer) = list["signer"].as_str() {
            out.push_str(&format!("  signed by {signer}\n"));
        }
        if let Some(error) = list["last_error"].as_str() {
            out.push_str(&format!("  last refresh failed: {error}\n"));
        }
    }
    if allowlist["stale"] == true {
        out.push_str(
            "STALE: the federation list is missing or too old; all federation is refused\n",
        );
    }
    out
}
