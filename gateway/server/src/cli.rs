//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A policy-enforcing gateway for Matrix homeservers.
///
/// sectorgate sits in front of a homeserver (Synapse, Conduit, Dendrite, …),
/// checks every client and federation request against a sector profile,
/// records each decision in an audit log and forwards what is allowed.
#[derive(Debug, Parser)]
#[command(name = "sectorgate", version, about, long_about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Read and check a config file (and the profile it names), then exit.
    CheckConfig(ConfigArg),
    /// Work with sector profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Look at federation as the running gateway sees it.
    #[command(subcommand)]
    Federation(FederationCommand),
    /// Verify, prove, export and prune the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// Which log: from the config, or named on the command line.
#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// The audit database URL, instead of the config's.
    #[arg(long)]
    pub(crate) database: Option<String>,
    /// The log's origin, instead of the config's.
    #[arg(long)]
    pub(crate) origin: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the whole log: no gaps, every record and subtree hash
    /// recomputes, every checkpoint's root and signature holds, sizes only
    /// grow. Prints a JSON report; exits 1 on any problem.
    Verify {
        #[command(flatten)]
        log: LogArgs,
        /// The verifier key (`<name>+<id>+<key>`, or a file holding it);
        /// by default `<checkpoint_key>.pub`.
        #[arg(long)]
        public_key: Option<String>,
        /// A file of checkpoints kept elsewhere (the checkpoint file, or
        /// notes copied from syslog); each must be consistent with the log.
        #[arg(long)]
        trusted_checkpoint: Vec<PathBuf>,
        /// A witness's cosigning key (`<name>+<id>+<key>`, or a file
        /// holding it): one of the trusted checkpoints (e.g. the
        /// `audit.cosigned_file`) must carry its cosignature. Repeatable.
        #[arg(long)]
        witness: Vec<String>,
    },
    /// Print an inclusion proof of record SEQ against the latest checkpoint,
    /// as JSON, to check offline with `audit check-proof`.
    Prove {
        #[command(flatten)]
        log: LogArgs,
        /// The record's sequence number.
        seq: u64,
    },
    /// Check an inclusion proof offline (no database needed).
    CheckProof {
        /// The proof, as `audit prove` printed it.
        proof: PathBuf,
        /// The log's verifier key, or a file holding it.
        #[arg(long)]
        public_key: String,
    },
    /// Write records as JSON lines or FHIR R4 AuditEvents (NDJSON), or the
    /// log as C2SP tlog-tiles (a folder, at its latest checkpoint).
    Export {
        #[command(flatten)]
        log: LogArgs,
        /// `jsonl`, `fhir` or `tiles` (needs `--out DIR`).
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Only records made at or after this time (RFC 3339, or a date).
        #[arg(long)]
        since: Option<String>,
        /// Write here instead of standard output (tiles: this folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Find records by who, which rule, which verdict, when or which
    /// request, and write them as `export` does. Asks the query index
    /// (`[audit] index`, brought up to the log first); without one, an
    /// index built in memory for this query.
    Query {
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        filter: Box<QueryFilter>,
        /// `jsonl` or `fhir`.
        #[arg(long, default_value = "jsonl")]
        format: String,
    },
    /// Remove the content of records made before DATE (their hashes stay,
    /// so the log still verifies) and delete expired pseudonym keys.
    Prune {
        #[command(flatten)]
        log: LogArgs,
        /// RFC 3339 time, or a date.
        #[arg(long)]
        before: String,
    },
}

/// What `audit query` looks for; every option given must match. An
/// outcome matches by its decision's peer, rule, verdict and request.
#[derive(Debug, Args)]
pub(crate) struct QueryFilter {
    /// Records made at or after this time (RFC 3339, or a date).
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Records made before this time (RFC 3339, or a date).
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// A peer: a pseudonym (`<key id>:<hex>`), a server name or an
    /// application service's id.
    #[arg(long)]
    pub(crate) peer: Option<String>,
    /// The id of the rule that decided, e.g. `event.schema`.
    #[arg(long)]
    pub(crate) rule: Option<String>,
    /// `allow`, `deny` or `shadow`.
    #[arg(long, value_parser = ["allow", "deny", "shadow"])]
    pub(crate) verdict: Option<String>,
    /// The action kind, e.g. `send_message_event`.
    #[arg(long)]
    pub(crate) action: Option<String>,
    /// The endpoint, e.g. `client.send_message_event`.
    #[arg(long)]
    pub(crate) endpoint: Option<String>,
    /// The request id a client was given (`X-Request-Id`).
    #[arg(long)]
    pub(crate) request_id: Option<String>,
    /// A decision id: that decision and its outcome.
    #[arg(long)]
    pub(crate) decision: Option<String>,
    /// Decisions or outcomes only.
    #[arg(long, value_parser = ["decision", "outcome"])]
    pub(crate) kind: Option<String>,
    /// At most this many records, the first in the log's order.
    #[arg(long)]
    pub(crate) limit: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum FederationCommand {
    /// Show the allowlist in force and the signed list's version, age and
    /// source, as the running gateway (its admin listener) reports them.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// The admin listener's address (`host:port`), instead of the config's.
        #[arg(long)]
        admin: Option<String>,
        /// Print the admin endpoint's JSON as it is.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProfileCommand {
    /// Show the profiles built into the binary.
    List,
    /// Validate a profile (a folder, or a bundled id) and run its decision
    /// cases; every problem is reported with its file and path.
    Check {
        /// The profile folder, or a bundled profile's id.
        profile: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ConfigArg {
    /// The config file (TOML). Without one, built-in defaults are used:
    /// listener 127.0.0.1:8080, admin 127.0.0.1:8081, homeserver
    /// http://127.0.0.1:8008, audit journal in ./audit-journal, the
    /// bundled healthcare-tim-pro profile.
    #[arg(long, short, env = "SECTORGATE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// The profile: a bundled profile's id or a profile folder. Takes the
    /// place of the config file's `[profile]` choice.
    #[arg(long, env = "SECTORGATE_PROFILE")]
    pub(crate) profile: Option<String>,
    /// Once listening, write the bound addresses as JSON
    /// (`{"client": "…", "listeners": […], "admin": "…", "egress": …}`) to
    /// this file. Useful with port 0.
    #[arg(long)]
    pub(crate) addr_file: Option<PathBuf>,
}
