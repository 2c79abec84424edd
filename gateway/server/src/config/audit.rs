//! `[audit]`: where the audit log is kept, how it is checkpointed, and the
//! pseudonym keys.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use sectorgate_audit::Backend;
use serde::Deserialize;

use super::ConfigError;
use super::federation::FederationConfig;

/// `[audit]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Audit {
    /// `sqlite://file.db` (embedded), `postgres://…` or
    /// `journal:<directory>` (append-only files).
    pub(crate) database: String,
    /// The log's origin line; unique per gateway instance.
    pub(crate) origin: Option<String>,
    /// The Ed25519 checkpoint signing key (created if missing).
    pub(crate) checkpoint_key: PathBuf,
    pub(crate) checkpoint_every: u64,
    #[serde(with = "humantime_serde")]
    pub(crate) checkpoint_interval: Duration,
    /// Append each checkpoint to this file too.
    pub(crate) checkpoint_file: Option<PathBuf>,
    /// Send each checkpoint to this syslog collector (UDP) too.
    pub(crate) checkpoint_syslog: Option<SocketAddr>,
    /// The folder of pseudonym keys, one per period.
    pub(crate) pseudonym_keys: PathBuf,
    /// How long one pseudonym key is used (the retention period).
    #[serde(with = "humantime_serde")]
    pub(crate) pseudonym_period: Duration,
    #[serde(with = "humantime_serde")]
    pub(crate) lock_timeout: Duration,
    /// Keep the log's C2SP tiles durable in this folder (and serve them
    /// from it), brought up to each checkpoint off the hot path.
    pub(crate) tiles: Option<PathBuf>,
    /// Keep a query index of the records (a SQLite file) up to the log,
    /// for `audit query`.
    pub(crate) index: Option<PathBuf>,
    /// Witnesses each new checkpoint is submitted to.
    pub(crate) witnesses: Vec<WitnessConfig>,
    /// The file their cosigned checkpoints are appended to.
    pub(crate) cosigned_file: Option<PathBuf>,
}

/// `[[audit.witnesses]]`: a C2SP tlog-witness.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WitnessConfig {
    /// The witness's submission prefix: `POST <url>/add-checkpoint`.
    pub(crate) url: String,
    /// Its cosigning key, `<name>+<key id>+<base64(0x04 ‖ key)>`.
    pub(crate) key: String,
}

impl Default for Audit {
    fn default() -> Self {
        Self {
            database: "journal:audit-journal".to_owned(),
            origin: None,
            checkpoint_key: PathBuf::from("sectorgate-checkpoint.key"),
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(10),
            checkpoint_file: None,
            checkpoint_syslog: None,
            pseudonym_keys: PathBuf::from("sectorgate-pseudonym-keys"),
            pseudonym_period: Duration::from_secs(30 * 86_400),
            lock_timeout: Duration::from_secs(2),
            tiles: None,
            index: None,
            witnesses: Vec::new(),
            cosigned_file: None,
        }
    }
}

impl Audit {
    /// The origin line: as configured, else `<server name>/sectorgate` (or
    /// `localhost/sectorgate` without federation).
    pub(crate) fn origin(&self, federation: Option<&FederationConfig>) -> String {
        match (&self.origin, federation) {
            (Some(origin), _) => origin.clone(),
            (None, Some(federation)) => format!("{}/sectorgate", federation.server_name),
            (None, None) => "localhost/sectorgate".to_owned(),
        }
    }
}

impl Audit {
    /// The database outlives the gateway, each instance names its log, and
    /// checkpoints come.
    pub(super) fn check(&self, federation: Option<&FederationConfig>) -> Result<(), ConfigError> {
        let database = &self.database;
        let Some(backend) = Backend::of(database) else {
            return Err(invalid(
                "audit.database must be a sqlite://, postgres:// or journal: URL",
            ));
        };
        let postgres = backend == Backend::Postgres;
        if sectorgate_audit::is_volatile(database) {
            return Err(invalid(
                "audit.database must outlive the gateway: a SQLite database in memory (or \
                 SQLite's temporary one) would lose the audit log when the gateway stops",
            ));
        }
        if postgres && self.origin.is_none() {
            return Err(invalid(
                "audit.origin must be set with PostgreSQL: each gateway instance writes its own \
                 log, named by its origin (e.g. \"gw1.example.org/sectorgate\")",
            ));
        }
        if self.checkpoint_every == 0 || self.checkpoint_interval.is_zero() {
            return Err(invalid(
                "audit.checkpoint_every and audit.checkpoint_interval must be above 0",
            ));
        }
        let origin = self.origin(federation);
        if origin.contains(char::is_whitespace) || origin.contains('+') {
            return Err(invalid("audit.origin may not hold spaces or '+'"));
        }
        self.check_witnesses()
    }

    /// Each witness has an http(s) URL and a cosigning key, and their
    /// cosignatures have a file to go to.
    fn check_witnesses(&self) -> Result<(), ConfigError> {
        if !self.witnesses.is_empty() && self.cosigned_file.is_none() {
            return Err(invalid(
                "audit.cosigned_file must be set with audit.witnesses: the witnesses' cosigned \
                 checkpoints are kept there for audit verify --witness",
            ));
        }
        for witness in &self.witnesses {
            let url = witness.url.parse::<axum::http::Uri>().ok();
            let web = url.as_ref().is_some_and(|url| {
                matches!(url.scheme_str(), Some("http" | "https")) && url.host().is_some()
            });
            if !web {
                return Err(ConfigError::Invalid(format!(
                    "audit.witnesses: {:?} is not an http(s) URL",
                    witness.url
                )));
            }
            sectorgate_audit::WitnessKey::parse(&witness.key)
                .map_err(|error| ConfigError::Invalid(format!("audit.witnesses: {error}")))?;
        }
        Ok(())
    }
}

fn invalid(message: &str) -> ConfigError {
    ConfigError::Invalid(message.to_owned())
}
