//! `sectorgate audit …`: what an auditor runs against the log.
//!
//! Exit codes: 0 fine, 1 the log (or proof) does not verify, 2 the command
//! could not run (no database, bad arguments).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use sectorgate_audit::{
    AuditError, Format, InclusionProof, Query, QueryIndex, Store, WitnessKey, now_ms,
};

use crate::audit::{self, StoreError};
use crate::cli::{AuditCommand, LogArgs, QueryFilter};
use crate::config::{Config, ConfigError};

/// How long a command's operation waits for a lock or a connection, at
/// least (see [`Store::stall_after`]).
const COMMAND_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a command could not run (exit code 2).
#[derive(Debug, thiserror::Error)]
enum CommandError {
    /// The config could not be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The audit database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log could not be read, or the pseudonym keys used.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A file named on the command line could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A verifier key file could not be read.
    #[error("verifier key {key}: {source}")]
    Key {
        /// The key as given.
        key: String,
        /// Why.
        source: std::io::Error,
    },
    /// The proof file holds no inclusion proof.
    #[error("not a proof: {0}")]
    NotAProof(#[source] serde_json::Error),
    /// `--format` names no export format.
    #[error("--format {0}: use jsonl or fhir (export: or tiles)")]
    Format(String),
    /// Tiles are a folder: `--out` must name it.
    #[error("--format tiles writes a folder: give it with --out DIR")]
    TilesOut,
    /// A time is neither RFC 3339 nor a date.
    #[error("{text:?} is not a time (RFC 3339 or YYYY-MM-DD): {source}")]
    Time {
        /// The time as given.
        text: String,
        /// Why.
        source: humantime::TimestampError,
    },
    /// A time lies before 1970 or beyond what milliseconds can count.
    #[error("{0:?} is not a time from 1970 on that the log can hold")]
    TimeRange(String),
    /// The output could not be written.
    #[error("{0}")]
    Output(#[source] std::io::Error),
    /// The report could not be written as JSON.
    #[error("{0}")]
    Json(#[source] serde_json::Error),
}

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

fn fail(message: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("sectorgate: {message}");
    ExitCode::from(2)
}

/// The log a command works on.
struct Log {
    config: Config,
    store: Store,
    origin: String,
}

async fn open(args: &LogArgs) -> Result<Log, CommandError> {
    let mut config = Config::load(args.config.config.as_deref())?;
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

async fn execute(command: AuditCommand) -> Result<ExitCode, CommandError> {
    match command {
        AuditCommand::Verify {
            log,
            public_key,
            trusted_checkpoint,
            witness,
        } => verify(&log, public_key.as_deref(), &trusted_checkpoint, &witness).await,
        AuditCommand::Prove { log, seq } => prove(&log, seq).await,
        AuditCommand::CheckProof { proof, public_key } => check_proof(&proof, &public_key),
        AuditCommand::Export {
            log,
            format,
            since,
            out,
        } => export(&log, &format, since.as_deref(), out.as_deref()).await,
        AuditCommand::Query {
            log,
            filter,
            format,
        } => query(&log, &filter, &format).await,
        AuditCommand::Prune { log, before } => prune(&log, &before).await,
    }
}

/// `audit verify`: prints the report; fails when the log does not verify.
async fn verify(
    log: &LogArgs,
    public_key: Option<&str>,
    trusted_checkpoints: &[PathBuf],
    witnesses: &[String],
) -> Result<ExitCode, CommandError> {
    let log = open(log).await?;
    let vkey = match public_key {
        Some(key) => key_text(key)?,
        None => key_text(
            &sectorgate_audit::public_path(&log.config.audit.checkpoint_key)
                .display()
                .to_string(),
        )?,
    };
    let mut trusted = Vec::new();
    for path in trusted_checkpoints {
        trusted.extend(sectorgate_audit::split_notes(&read_file(path)?));
    }
    let witnesses = witnesses
        .iter()
        .map(|key| Ok(WitnessKey::parse(&key_text(key)?)?))
        .collect::<Result<Vec<_>, CommandError>>()?;
    let report =
        sectorgate_audit::verify_witnessed(&log.store, &log.origin, &vkey, &trusted, &witnesses)
            .await?;
    print_json(&report)?;
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `audit prove`: prints the inclusion proof of record `seq`.
async fn prove(log: &LogArgs, seq: u64) -> Result<ExitCode, CommandError> {
    let log = open(log).await?;
    let proof = sectorgate_audit::prove_inclusion(&log.store, &log.origin, seq).await?;
    print_json(&proof)?;
    Ok(ExitCode::SUCCESS)
}

/// `audit check-proof`: checks an inclusion proof offline; fails when it
/// does not hold.
fn check_proof(proof: &Path, public_key: &str) -> Result<ExitCode, CommandError> {
    let proof: InclusionProof =
        serde_json::from_str(&read_file(proof)?).map_err(CommandError::NotAProof)?;
    match sectorgate_audit::check_inclusion(&proof, &key_text(public_key)?) {
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

/// `audit export`: writes the records made since `since` to `out` (or
/// stdout) in `format`.
async fn export(
    log: &LogArgs,
    format: &str,
    since: Option<&str>,
    out: Option<&Path>,
) -> Result<ExitCode, CommandError> {
    if format == "tiles" {
        return export_tiles(log, out).await;
    }
    let format = records_format(format)?;
    let since = since.map(parse_time).transpose()?.unwrap_or(0);
    let log = open(log).await?;
    let mut sink: Box<dyn Write> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|source| CommandError::File {
                path: path.to_path_buf(),
                source,
            })?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let written =
        sectorgate_audit::export(&log.store, &log.origin, since, format, &mut sink).await?;
    sink.flush().map_err(CommandError::Output)?;
    eprintln!("{written} records exported");
    Ok(ExitCode::SUCCESS)
}

/// `audit query`: the records that match `filter`, found through the query
/// index (brought up to the log first) and read from the log.
async fn query(
    log: &LogArgs,
    filter: &QueryFilter,
    format: &str,
) -> Result<ExitCode, CommandError> {
    let format = records_format(format)?;
    let query = Query {
        since_ms: filter.since.as_deref().map(parse_time).transpose()?,
        until_ms: filter.until.as_deref().map(parse_time).transpose()?,
        peer: filter.peer.clone(),
        rule: filter.rule.clone(),
        verdict: filter.verdict.clone(),
        action: filter.action.clone(),
        endpoint: filter.endpoint.clone(),
        request_id: filter.request_id.clone(),
        decision: filter.decision.clone(),
        kind: filter.kind.clone(),
        limit: filter.limit,
    };
    let log = open(log).await?;
    let index = match audit::query_index(&log.config).await? {
        Some(index) => index,
        None => QueryIndex::in_memory().await?,
    };
    let indexed = index.catch_up(&log.store, &log.origin).await?;
    let seqs = index.find(&query).await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written =
        sectorgate_audit::export_records(&log.store, &log.origin, &seqs, format, &mut out).await?;
    out.flush().map_err(CommandError::Output)?;
    eprintln!(
        "{written} records found among {} ({} added to the index now)",
        indexed.size, indexed.added
    );
    Ok(ExitCode::SUCCESS)
}

/// The format records are written in: `jsonl` or `fhir`.
fn records_format(format: &str) -> Result<Format, CommandError> {
    match format {
        "jsonl" => Ok(Format::Jsonl),
        "fhir" => Ok(Format::Fhir),
        other => Err(CommandError::Format(other.to_owned())),
    }
}

/// `audit export --format tiles`: the log as C2SP tlog-tiles in `out`.
async fn export_tiles(log: &LogArgs, out: Option<&Path>) -> Result<ExitCode, CommandError> {
    let out = out.ok_or(CommandError::TilesOut)?;
    let log = open(log).await?;
    let written = sectorgate_audit::export_tiles(&log.store, &log.origin, out).await?;
    print_json(&written)?;
    Ok(ExitCode::SUCCESS)
}

/// `audit prune`: removes the content of records made before `before` (and
/// their entry bundles from `[audit] tiles`), and the pseudonym keys no
/// longer needed.
async fn prune(log: &LogArgs, before: &str) -> Result<ExitCode, CommandError> {
    let before = parse_time(before)?;
    let log = open(log).await?;
    let pseudonyms = audit::pseudonyms(&log.config)?;
    let pruned =
        sectorgate_audit::prune(&log.store, &log.origin, before, now_ms(), Some(&pseudonyms))
            .await?;
    let mut report = serde_json::to_value(&pruned).map_err(CommandError::Json)?;
    // The entry bundles of the pruned records go from the folder of tiles too.
    if let Some(folder) = audit::tile_folder(&log.config)? {
        report["tile_files_removed"] = folder.forget(pruned.below).await?.into();
    }
    // And their rows from the query index.
    if let Some(index) = audit::query_index(&log.config).await? {
        report["index_entries_removed"] = index.forget(&log.origin, pruned.below).await?.into();
    }
    print_json(&report)?;
    Ok(ExitCode::SUCCESS)
}

fn print_json(value: &impl serde::Serialize) -> Result<(), CommandError> {
    let text = serde_json::to_string_pretty(value).map_err(CommandError::Json)?;
    println!("{text}");
    Ok(())
}

/// The text of a file named on the command line.
fn read_file(path: &Path) -> Result<String, CommandError> {
    std::fs::read_to_string(path).map_err(|source| CommandError::File {
        path: path.to_path_buf(),
        source,
    })
}

/// A verifier key given as itself, or as a file holding it.
fn key_text(key: &str) -> Result<String, CommandError> {
    if key.contains('+') && !Path::new(key).exists() {
        return Ok(key.to_owned());
    }
    std::fs::read_to_string(key)
        .map(|text| text.trim().to_owned())
        .map_err(|source| CommandError::Key {
            key: key.to_owned(),
            source,
        })
}

/// Milliseconds since the epoch of an RFC 3339 time or a `YYYY-MM-DD` date (UTC).
fn parse_time(text: &str) -> Result<i64, CommandError> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    let at = humantime::parse_rfc3339_weak(&full)
        .or_else(|_| humantime::parse_rfc3339(&full))
        .map_err(|source| CommandError::Time {
            text: text.to_owned(),
            source,
        })?;
    at.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|since| i64::try_from(since.as_millis()).ok())
        .ok_or_else(|| CommandError::TimeRange(text.to_owned()))
}
