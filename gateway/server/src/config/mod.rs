//! The config file (TOML) and its built-in defaults, one module a section;
//! each parses and checks its own part.
//!
//! Every section and key is optional; unknown keys are an error, so a typo
//! never silently falls back to a default. `deploy/sectorgate.example.toml`
//! documents every key. Checking loads what the config names (the profile,
//! tokens, registrations, certificates) and returns it as [`Loaded`], which
//! `serve` uses as is: nothing is read twice.

mod audit;
mod env;
pub(crate) mod federation;
mod homeserver;
mod limits;
mod listen;
mod profile;
mod record;
mod shutdown;
mod support;
mod telemetry;

use std::path::{Path, PathBuf};

use axum::http::Uri;
use sectorgate_policy::{Profile, ProfileError};
use sectorgate_proxy::Limits;
use serde::Deserialize;

pub(crate) use audit::Audit;
pub(crate) use federation::{EgressConfig, FederationConfig, FederationParts};
pub(crate) use homeserver::{AppserviceEntry, Homeserver};
pub(crate) use limits::RateLimits;
pub(crate) use listen::{Listen, ListenerConfig};
pub(crate) use profile::ProfileChoice;
pub(crate) use record::RecordConfig;
pub(crate) use shutdown::Shutdown;
pub(crate) use support::Support;
pub(crate) use telemetry::{LogFormat, Telemetry};

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
    /// Who to contact about this homeserver (`/.well-known/matrix/support`).
    pub(crate) support: Option<Support>,
    /// How the gateway stops.
    pub(crate) shutdown: Shutdown,
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
        Self::load_with(path, None).map(|(config, _)| config)
    }

    /// Like [`Config::load`], with the profile named on the command line
    /// (`--profile`) taking the place of the file's and the per-instance
    /// variables of the environment over the file's values; with what
    /// checking loaded.
    pub(crate) fn load_with(
        path: Option<&Path>,
        profile: Option<&str>,
    ) -> Result<(Self, Loaded), ConfigError> {
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
        config.apply_env(|name| std::env::var(name).ok())?;
        if let Some(name) = profile {
            config.profile.choose(name);
        }
        let loaded = config.check()?;
        Ok((config, loaded))
    }

    /// Parses config text (no checks beyond the format).
    pub(crate) fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Checks every section, loading what they name.
    pub(crate) fn check(&self) -> Result<Loaded, ConfigError> {
        let homeserver = self.homeserver.uri()?;
        limits::check(&self.limits)?;
        self.audit.check(self.federation.as_ref())?;
        self.check_listeners()?;
        let appservices = self
            .appservices
            .iter()
            .map(AppserviceEntry::load)
            .collect::<Result<_, _>>()?;
        let profile = self.profile.load()?;
        let federation = self
            .federation
            .as_ref()
            .map(|federation| federation.check(&profile))
            .transpose()?;
        let egress_ca = match (&self.egress, &self.federation) {
            (None, _) => None,
            (Some(egress), Some(_)) => Some(egress.ca()?),
            (Some(_), None) => {
                return Err(ConfigError::Invalid(
                    "[egress] needs [federation]: the egress decides by its allowlist".to_owned(),
                ));
            }
        };
        let support = self.support.as_ref().map(Support::body).transpose()?;
        let appservice_token = self.homeserver.appservice_token()?;
        if profile.invites.permissions.is_some() && appservice_token.is_none() {
            return Err(ConfigError::Invalid(format!(
                "profile {} honours users' invite permissions, which the gateway reads through an \
                 application service: set homeserver.appservice_token_file (see docs/operations.md)",
                profile.id
            )));
        }
        Ok(Loaded {
            profile,
            homeserver,
            appservice_token,
            appservices,
            federation,
            egress_ca,
            support,
        })
    }
}

/// What checking the config loaded, for `serve` to use as is.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The profile, with the configured group members.
    pub(crate) profile: Profile,
    /// The homeserver's URL.
    pub(crate) homeserver: Uri,
    /// The gateway's application service token.
    pub(crate) appservice_token: Option<String>,
    /// The application services recognised: (id, `as_token`).
    pub(crate) appservices: Vec<(String, String)>,
    /// Federation's allowlist, pinned keys and list settings.
    pub(crate) federation: Option<FederationParts>,
    /// The egress CA's certificate and key (PEM).
    pub(crate) egress_ca: Option<(String, String)>,
    /// The answer to `/.well-known/matrix/support`, when configured.
    pub(crate) support: Option<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::profile::DEFAULT_PROFILE;
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
    fn the_example_shows_the_defaults_except_where_it_says_there_is_none() {
        let text = std::fs::read_to_string(example()).expect("example");
        let mut config = Config::parse(&text).expect("example parses");
        // Each key without a default says so in the comment just above it.
        let lines: Vec<&str> = text.lines().collect();
        for (at, line) in lines.iter().enumerate() {
            if line.starts_with("appservice_token_file") {
                let above = lines[..at].iter().rev().take_while(|l| l.starts_with('#'));
                assert!(
                    above.into_iter().any(|l| l.contains("No default")),
                    "{line}: the example does not say it has no default"
                );
            }
        }
        config.homeserver.appservice_token_file = None;
        assert_eq!(format!("{config:?}"), format!("{:?}", Config::default()));
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
        assert_eq!(config.audit.database, "journal:audit-journal");
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
    fn witnesses_need_a_url_a_cosigning_key_and_a_file() {
        let token = token_file();
        // The cosigning key (type 0x04) of "w.example/w1" whose seed is 32 sevens.
        let key = "w.example/w1+8e1e42da+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
        let check = |audit: &str| {
            let text = format!(
                "[homeserver]\nappservice_token_file = {:?}\n[audit]\n{audit}\n",
                token.path()
            );
            Config::parse(&text).expect("parses").check()
        };
        let witness =
            |url: &str, key: &str| format!("witnesses = [{{ url = {url:?}, key = {key:?} }}]");
        let file = "cosigned_file = \"c.txt\"\n";
        let ok = format!("{file}{}", witness("https://w.example/w1", key));
        assert!(check(&ok).is_ok(), "{:?}", check(&ok));
        let no_file = check(&witness("https://w.example/w1", key)).expect_err("no file");
        assert!(no_file.to_string().contains("cosigned_file"), "{no_file}");
        for (url, key, why) in [
            ("ftp://w.example", key, "http(s)"),
            ("w.example/w1", key, "http(s)"),
            (
                "https://w.example",
                "w.example/w1+00000000+AAAA",
                "witness key",
            ),
        ] {
            let refused = check(&format!("{file}{}", witness(url, key))).expect_err(url);
            assert!(refused.to_string().contains(why), "{refused}");
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
