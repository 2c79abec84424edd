//! `sectorgate audit …`: what an auditor runs against the log.
//!
//! Exit codes: 0 fine, 1 the log (or proof) does not verify, 2 the command
//! could not run (no database, bad arguments).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use sectorgate_audit::{Format, InclusionProof, Store, now_ms};

use crate::audit;
use crate::cli::{AuditCommand, LogArgs};
use crate::config::Config;

/// How long a command's operation waits for a lock or a connection, at
/// least (see [`Store::stall_after`]).
const COMMAND_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs an `audit` subcommand.
pub(crate) fn run(command: AuditCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the runtime: {error}")),
    };
    match runtime.block_on(execute(command)) {
        Ok(code) => code,
        Err(error) => fail(&error),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("sectorgate: {message}");
    ExitCode::from(2)
}

/// The log a command works on.
struct Log {
    config: Config,
    store: Store,
    origin: String,
}

async fn open(args: &LogArgs) -> Result<Log, String> {
    let mut config = Config::load(args.config.config.as_deref()).map_err(|e| e.to_string())?;
    if let Some(database) = &args.database {
        config.audit.database.clone_from(database);
    }
    if let Some(origin) = &args.origin {
        config.audit.origin = Some(origin.clone());
    }
    // A command waits longer than a request would for the database, but not
    // without end: each of its operations is given up after twice this.
    config.audit.lock_timeout = config.audit.lock_timeout.max(COMMAND_LOCK_TIMEOUT);
    let store = audit::store(&config).await?;
    let origin = audit::origin(&config);
    Ok(Log {
        config,
        store,
        origin,
    })
}

async fn execute(command: AuditCommand) -> Result<ExitCode, String> {
    match command {
        AuditCommand::Verify {
            log,
            public_key,
            trusted_checkpoint,
        } => {
            let log = open(&log).await?;
            let vkey = match public_key {
                Some(key) => key_text(&key)?,
                None => key_text(
                    &sectorgate_audit::public_path(&log.config.audit.checkpoint_key)
                        .display()
                        .to_string(),
                )?,
            };
            let mut trusted = Vec::new();
            for path in &trusted_checkpoint {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                trusted.extend(sectorgate_audit::split_notes(&text));
            }
            let report = sectorgate_audit::verify(&log.store, &log.origin, &vkey, &trusted)
                .await
                .map_err(|e| e.to_string())?;
            print_json(&report)?;
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        AuditCommand::Prove { log, seq } => {
            let log = open(&log).await?;
            let proof = sectorgate_audit::prove_inclusion(&log.store, &log.origin, seq)
                .await
                .map_err(|e| e.to_string())?;
            print_json(&proof)?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::CheckProof { proof, public_key } => {
            let text =
                std::fs::read_to_string(&proof).map_err(|e| format!("{}: {e}", proof.display()))?;
            let proof: InclusionProof =
                serde_json::from_str(&text).map_err(|e| format!("not a proof: {e}"))?;
            match sectorgate_audit::check_inclusion(&proof, &key_text(&public_key)?) {
                Ok(()) => {
                    println!(
                        "ok: record {} is in the log {} of {} records",
                        proof.seq, proof.origin, proof.tree_size
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    println!("FAILED: {error}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditCommand::Export {
            log,
            format,
            since,
            out,
        } => {
            let format = match format.as_str() {
                "jsonl" => Format::Jsonl,
                "fhir" => Format::Fhir,
                other => return Err(format!("--format {other}: use jsonl or fhir")),
            };
            let since = since.as_deref().map(parse_time).transpose()?.unwrap_or(0);
            let log = open(&log).await?;
            let mut sink: Box<dyn Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let written =
                sectorgate_audit::export(&log.store, &log.origin, since, format, &mut sink)
                    .await
                    .map_err(|e| e.to_string())?;
            sink.flush().map_err(|e| e.to_string())?;
            eprintln!("{written} records exported");
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Prune { log, before } => {
            let before = parse_time(&before)?;
            let log = open(&log).await?;
            let pseudonyms = audit::pseudonyms(&log.config)?;
            let pruned = sectorgate_audit::prune(
                &log.store,
                &log.origin,
                before,
                now_ms(),
                Some(&pseudonyms),
            )
            .await
            .map_err(|e| e.to_string())?;
            print_json(&pruned)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

/// A verifier key given as itself, or as a file holding it.
fn key_text(key: &str) -> Result<String, String> {
    if key.contains('+') && !Path::new(key).exists() {
        return Ok(key.to_owned());
    }
    std::fs::read_to_string(key)
        .map(|text| text.trim().to_owned())
        .map_err(|e| format!("verifier key {key}: {e}"))
}

/// Milliseconds since the epoch of an RFC 3339 time or a `YYYY-MM-DD` date (UTC).
fn parse_time(text: &str) -> Result<i64, String> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    let at = humantime::parse_rfc3339_weak(&full)
        .or_else(|_| humantime::parse_rfc3339(&full))
        .map_err(|e| format!("{text:?} is not a time (RFC 3339 or YYYY-MM-DD): {e}"))?;
    at.duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())
        .and_then(|d| i64::try_from(d.as_millis()).map_err(|e| e.to_string()))
}
