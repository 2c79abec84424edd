//! The config file (TOML) and its built-in defaults.
//!
//! Every section and key is optional; unknown keys are an error, so a typo
//! never silently falls back to a default. `deploy/sectorgate.example.toml`
//! documents every key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use sectorgate_policy::{Profile, ProfileError};
use sectorgate_proxy::Serves;

use crate::federation::FederationConfig;
use crate::tls::TlsFiles;
use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    pub(crate) listen: Listen,
    pub(crate) homeserver: Homeserver,
    pub(crate) profile: ProfileChoice,
    pub(crate) audit: Audit,
    pub(crate) limits: Limits,
    pub(crate) rate_limits: RateLimits,
    pub(crate) telemetry: Telemetry,
    /// Application services (bridges) the gateway recognises, so that the
    /// profile can decide on their traffic.
    pub(crate) appservices: Vec<AppserviceEntry>,
    /// Listeners for the Matrix APIs; when given, they replace
    /// `[listen] client`.
    pub(crate) listeners: Vec<ListenerConfig>,
    /// Federation; without it, signed server-server requests are refused.
    pub(crate) federation: Option<FederationConfig>,
    /// The egress for the homeserver's own outbound federation.
    pub(crate) egress: Option<EgressConfig>,
    /// Capture one test user's exchanges for client certification.
    pub(crate) record: Option<RecordConfig>,
}

/// `[record]`: one test user's client-server exchanges, written to a JSONL
/// capture (credentials redacted) for `sectorgate-conformance
/// certify-client`. For certification runs only: the capture holds what the
/// user sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordConfig {
    /// The test user, e.g. `@vendor-test:hs.example`.
    pub(crate) user: ruma::OwnedUserId,
    /// The capture file (appended to; created readable by its owner only).
    pub(crate) file: PathBuf,
}

/// `[egress]`: the HTTPS proxy the homeserver sends its federation
/// requests through.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EgressConfig {
    /// The address to listen on (the homeserver's `https_proxy`).
    pub(crate) bind: SocketAddr,
    /// The CA certificate (PEM) the egress issues tunnel certificates
    /// with; the homeserver must trust it.
    pub(crate) ca_certificate: PathBuf,
    /// That CA's private key (PEM).
    pub(crate) ca_key: PathBuf,
}

impl EgressConfig {
    /// The CA certificate and key, read.
    pub(crate) fn ca(&self) -> Result<(String, String), ConfigError> {
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })
        };
        Ok((read(&self.ca_certificate)?, read(&self.ca_key)?))
    }
}

/// `[[listeners]]`: one listener for the Matrix APIs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListenerConfig {
    /// The address to listen on.
    pub(crate) bind: SocketAddr,
    /// The APIs served: `client`, `federation` or both (the default).
    #[serde(default = "both_apis")]
    pub(crate) serves: Vec<ApiName>,
    /// TLS certificate and key; without them, plain HTTP.
    #[serde(default)]
    pub(crate) tls: Option<TlsFiles>,
}

/// An API a listener can serve.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ApiName {
    /// The client-server API.
    Client,
    /// The server-server API.
    Federation,
}

fn both_apis() -> Vec<ApiName> {
    vec![ApiName::Client, ApiName::Federation]
}

impl Config {
    /// The listeners for the Matrix APIs: `[[listeners]]`, or the built-in
    /// plain one on `[listen] client`.
    pub(crate) fn matrix_listeners(&self) -> Vec<ListenerConfig> {
        if self.listeners.is_empty() {
            vec![ListenerConfig::plain(self.listen.client)]
        } else {
            self.listeners.clone()
        }
    }
}

impl ListenerConfig {
    /// The built-in listener: `[listen] client`, both APIs, plain HTTP.
    pub(crate) fn plain(bind: SocketAddr) -> Self {
        Self {
            bind,
            serves: both_apis(),
            tls: None,
        }
    }

    /// The APIs served.
    pub(crate) fn serves(&self) -> Serves {
        Serves {
            client: self.serves.contains(&ApiName::Client),
            federation: self.serves.contains(&ApiName::Federation),
        }
    }
}

/// `[[appservices]]`: one application service, by its registration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppserviceEntry {
    /// The registration file the homeserver loads (YAML; its `id` and
    /// `as_token` are read).
    pub(crate) registration: PathBuf,
}

/// The parts of a registration the gateway reads.
#[derive(Debug, Deserialize)]
struct Registration {
    id: String,
    as_token: String,
}

impl AppserviceEntry {
    /// The application service's id and token, from its registration.
    pub(crate) fn load(&self) -> Result<(String, String), ConfigError> {
        let path = &self.registration;
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let registration: Registration = serde_yaml_ng::from_str(&text).map_err(|error| {
            ConfigError::Invalid(format!(
                "application service registration {}: {error}",
                path.display()
            ))
        })?;
        Ok((registration.id, registration.as_token))
    }
}

/// `[listen]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Listen {
    pub(crate) client: SocketAddr,
    pub(crate) admin: SocketAddr,
    pub(crate) trusted_proxies: Vec<IpNet>,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            client: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin: SocketAddr::from(([127, 0, 0, 1], 8081)),
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[homeserver]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Homeserver {
    pub(crate) url: String,
    #[serde(with = "humantime_serde")]
    pub(crate) connect_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub(crate) response_timeout: Duration,
    /// A file holding the `as_token` of the gateway's application service
    /// registration, to read users' invite-permission settings as them.
    pub(crate) appservice_token_file: Option<PathBuf>,
}

impl Homeserver {
    /// The application service token, read from its file.
    pub(crate) fn appservice_token(&self) -> Result<Option<String>, ConfigError> {
        let Some(path) = &self.appservice_token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "homeserver.appservice_token_file {} is empty",
                path.display()
            )));
        }
        Ok(Some(token.to_owned()))
    }
}

impl Default for Homeserver {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8008".to_owned(),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(60),
            appservice_token_file: None,
        }
    }
}

/// The bundled profile used when the config names none.
pub(crate) const DEFAULT_PROFILE: &str = "healthcare-tim-pro";

/// `[profile]`: a bundled profile by id, or a profile folder; and who is in
/// the profile's user groups.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileChoice {
    #[serde(default)]
    pub(crate) bundled: Option<String>,
    #[serde(default)]
    pub(crate) path: Option<PathBuf>,
    /// Members of the profile's user groups, as user id globs
    /// (`insured = ["@*:versicherte.example"]`).
    #[serde(default)]
    pub(crate) groups: BTreeMap<String, Vec<String>>,
}

impl Default for ProfileChoice {
    fn default() -> Self {
        Self {
            bundled: Some(DEFAULT_PROFILE.to_owned()),
            path: None,
            groups: BTreeMap::new(),
        }
    }
}

impl ProfileChoice {
    /// Chooses a profile by name: a bundled id, or a folder's path.
    pub(crate) fn choose(&mut self, name: &str) {
        let path = Path::new(name);
        if name.contains('/') || path.is_dir() {
            self.bundled = None;
            self.path = Some(path.to_owned());
        } else {
            self.bundled = Some(name.to_owned());
            self.path = None;
        }
    }

    /// Loads the chosen profile, with the configured group members.
    pub(crate) fn load(&self) -> Result<Profile, ConfigError> {
        let mut profile = match (&self.bundled, &self.path) {
            (Some(id), None) => Profile::bundled(id)?,
            (None, Some(path)) => Profile::from_dir(path)?,
            _ => {
                return Err(ConfigError::Invalid(
                    "[profile] needs exactly one of `bundled` or `path`".to_owned(),
                ));
            }
        };
        for (group, users) in &self.groups {
            if !profile.user_groups.contains_key(group) {
                return Err(ConfigError::Invalid(format!(
                    "[profile.groups] names {group:?}, which profile {} does not have",
                    profile.id
                )));
            }
            profile.add_to_group(group, users);
        }
        Ok(profile)
    }

    /// A short description for messages.
    pub(crate) fn describe(&self) -> String {
        match (&self.bundled, &self.path) {
            (Some(id), _) => format!("bundled:{id}"),
            (_, Some(path)) => path.display().to_string(),
            _ => "none".to_owned(),
        }
    }
}

/// `[audit]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Audit {
    /// `sqlite://file.db` (embedded) or `postgres://…`.
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
}

impl Default for Audit {
    fn default() -> Self {
        Self {
            database: "sqlite://sectorgate.db".to_owned(),
            origin: None,
            checkpoint_key: PathBuf::from("sectorgate-checkpoint.key"),
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(10),
            checkpoint_file: None,
            checkpoint_syslog: None,
            pseudonym_keys: PathBuf::from("sectorgate-pseudonym-keys"),
            pseudonym_period: Duration::from_secs(30 * 86_400),
            lock_timeout: Duration::from_secs(2),
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

/// `[limits]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Limits {
    pub(crate) max_json_body_bytes: u64,
    pub(crate) max_json_depth: usize,
    pub(crate) max_upload_bytes: u64,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_headers: usize,
    /// Open connections one address may hold (0: no limit; trusted proxies
    /// are exempt).
    pub(crate) max_connections_per_address: usize,
    #[serde(with = "humantime_serde")]
    pub(crate) header_read_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub(crate) body_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_json_body_bytes: 1024 * 1024,
            max_json_depth: 64,
            max_upload_bytes: 100 * 1024 * 1024,
            // Below the 16 KiB head Synapse (Twisted) accepts, with room for the
            // headers the gateway adds.
            max_header_bytes: 15 * 1024,
            max_headers: 100,
            max_connections_per_address: 256,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(60),
        }
    }
}

/// `[rate_limits]`: none unless configured.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RateLimits {
    /// Per client address.
    pub(crate) client: Option<RateConfig>,
    /// Per verified federation origin.
    pub(crate) federation: Option<RateConfig>,
}

/// One rate: `{ per_second = N, burst = M }` (burst defaults to N).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateConfig {
    per_second: NonZeroU32,
    burst: Option<NonZeroU32>,
}

impl RateLimits {
    /// The limits as the pipeline takes them.
    pub(crate) fn to_proxy(&self) -> sectorgate_proxy::RateLimits {
        let rate = |config: &RateConfig| sectorgate_proxy::Rate {
            per_second: config.per_second,
            burst: config.burst.unwrap_or(config.per_second),
        };
        sectorgate_proxy::RateLimits {
            client: self.client.as_ref().map(rate),
            federation: self.federation.as_ref().map(rate),
        }
    }
}

/// Log output format.
#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// `[telemetry]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Telemetry {
    pub(crate) log_format: LogFormat,
    pub(crate) log_filter: String,
    pub(crate) otlp_endpoint: Option<String>,
    pub(crate) service_name: String,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Pretty,
            log_filter: "info".to_owned(),
            otlp_endpoint: None,
            service_name: "sectorgate".to_owned(),
        }
    }
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML of the config format.
    #[error("config {path} is invalid: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    /// A value is out of range or inconsistent.
    #[error("config is invalid: {0}")]
    Invalid(String),
    /// The profile could not be loaded.
    #[error(transparent)]
    Profile(#[from] ProfileError),
}

impl Config {
    /// Reads `path`, or the built-in defaults when `None`, and checks it.
    pub(crate) fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(path, None)
    }

    /// Like [`Config::load`], with the profile named on the command line
    /// (`--profile`) taking the place of the file's.
    pub(crate) fn load_with(
        path: Option<&Path>,
        profile: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let mut config = match path {
            None => Self::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Self::parse(&text).map_err(|source| ConfigError::Parse {
                    path: path.to_owned(),
                    source: Box::new(source),
                })?
            }
        };
        if let Some(name) = profile {
            config.profile.choose(name);
        }
        config.check()?;
        Ok(config)
    }

    /// Parses config text (no checks beyond the format).
    pub(crate) fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let url: axum::http::Uri = self.homeserver.url.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "homeserver.url {:?} is not a URL",
                self.homeserver.url
            ))
        })?;
        if url.scheme_str() != Some("http") || url.authority().is_none() {
            return Err(ConfigError::Invalid(
                "homeserver.url must be http://host:port (TLS to the homeserver is not supported yet)".to_owned(),
            ));
        }
        if !(1..=100).contains(&self.limits.max_json_depth) {
            return Err(ConfigError::Invalid(
                "limits.max_json_depth must be 1 to 100".to_owned(),
            ));
        }
        if self.limits.max_header_bytes < 8192 {
            return Err(ConfigError::Invalid(
                "limits.max_header_bytes must be at least 8192".to_owned(),
            ));
        }
        let database = &self.audit.database;
        let postgres = database.starts_with("postgres:") || database.starts_with("postgresql:");
        if !database.starts_with("sqlite:") && !postgres {
            return Err(ConfigError::Invalid(
                "audit.database must be a sqlite:// or postgres:// URL".to_owned(),
            ));
        }
        if sectorgate_audit::is_volatile(database) {
            return Err(ConfigError::Invalid(
                "audit.database must outlive the gateway: a SQLite database in memory (or \
                 SQLite's temporary one) would lose the audit log when the gateway stops"
                    .to_owned(),
            ));
        }
        if postgres && self.audit.origin.is_none() {
            return Err(ConfigError::Invalid(
                "audit.origin must be set with PostgreSQL: each gateway instance writes its own \
                 log, named by its origin (e.g. \"gw1.example.org/sectorgate\")"
                    .to_owned(),
            ));
        }
        if self.audit.checkpoint_every == 0 || self.audit.checkpoint_interval.is_zero() {
            return Err(ConfigError::Invalid(
                "audit.checkpoint_every and audit.checkpoint_interval must be above 0".to_owned(),
            ));
        }
        if self
            .audit
            .origin(self.federation.as_ref())
            .contains(char::is_whitespace)
            || self.audit.origin(self.federation.as_ref()).contains('+')
        {
            return Err(ConfigError::Invalid(
                "audit.origin may not hold spaces or '+'".to_owned(),
            ));
        }
        for appservice in &self.appservices {
            appservice.load()?;
        }
        for listener in &self.listeners {
            if listener.serves.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "the listener on {} serves no API",
                    listener.bind
                )));
            }
        }
        let profile = self.profile.load()?;
        if let Some(federation) = &self.federation {
            federation.check(&profile)?;
        }
        if let Some(egress) = &self.egress {
            if self.federation.is_none() {
                return Err(ConfigError::Invalid(
                    "[egress] needs [federation]: the egress decides by its allowlist".to_owned(),
                ));
            }
            egress.ca()?;
        }
        if profile.invites.permissions.is_some() && self.homeserver.appservice_token()?.is_none() {
            return Err(ConfigError::Invalid(format!(
                "profile {} honours users' invite permissions, which the gateway reads through an \
                 application service: set homeserver.appservice_token_file (see docs/operations.md)",
                profile.id
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/sectorgate.example.toml")
    }

    /// A token file for checks that need one.
    fn token_file() -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("token file");
        std::fs::write(file.path(), "token\n").expect("write");
        file
    }

    #[test]
    fn the_example_config_parses_and_checks() {
        let text = std::fs::read_to_string(example()).expect("example");
        let mut config = Config::parse(&text).expect("example parses");
        assert_eq!(config.homeserver.url, "http://127.0.0.1:8008");
        assert_eq!(config.profile.bundled.as_deref(), Some(DEFAULT_PROFILE));
        let token = token_file();
        config.homeserver.appservice_token_file = Some(token.path().to_owned());
        config.check().expect("the example checks");
    }

    #[test]
    fn the_defaults_need_only_the_appservice_token() {
        let refused = Config::load(None).expect_err("no token");
        assert!(
            refused.to_string().contains("appservice_token_file"),
            "{refused}"
        );
        let token = token_file();
        let text = format!("[homeserver]\nappservice_token_file = {:?}\n", token.path());
        let config = Config::parse(&text).expect("parses");
        config.check().expect("checks");
        assert_eq!(config.listen.client.port(), 8080);
        assert_eq!(config.audit.database, "sqlite://sectorgate.db");
        assert_eq!(
            config
                .homeserver
                .appservice_token()
                .ok()
                .flatten()
                .as_deref(),
            Some("token")
        );
    }

    #[test]
    fn an_audit_database_that_ends_with_the_process_is_refused() {
        let token = token_file();
        for database in ["sqlite::memory:", "sqlite://x.db?mode=memory", "sqlite://"] {
            let text = format!(
                "[homeserver]\nappservice_token_file = {:?}\n[audit]\ndatabase = {database:?}\n",
                token.path()
            );
            let refused = Config::parse(&text)
                .expect("parses")
                .check()
                .expect_err(database);
            assert!(refused.to_string().contains("outlive"), "{refused}");
        }
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(Config::parse("[listen]\nclinet = \"127.0.0.1:1\"\n").is_err());
        assert!(Config::parse("[surprise]\n").is_err());
        assert!(Config::parse("[homeserver]\nurl = \"http://127.0.0.1:1\"\n").is_ok());
    }

    #[test]
    fn bad_values_are_refused() {
        let both = Config::parse("[profile]\nbundled = \"base\"\npath = \"x\"\n").expect("parses");
        assert!(both.check().is_err());
        let https = Config::parse("[homeserver]\nurl = \"https://hs\"\n").expect("parses");
        assert!(https.check().is_err());
        let missing = Config::parse("[profile]\nbundled = \"nope\"\n").expect("parses");
        assert!(missing.check().is_err());
    }
}
