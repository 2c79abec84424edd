//! Settings that differ from one instance to the next, from the
//! environment: N replicas share one config file, and each takes its audit
//! origin (from its pod name, say), its database and its key files from
//! variables. A variable set replaces the file's value; an empty one is an
//! error, never a silent default.

use std::path::PathBuf;

use super::{Config, ConfigError};

/// Each variable, the key it sets, and how.
const OVERRIDES: [(&str, &str, Setter); 7] = [
    ("SECTORGATE_AUDIT_ORIGIN", "audit.origin", |c, v| {
        c.audit.origin = Some(v.to_owned());
        Ok(())
    }),
    ("SECTORGATE_AUDIT_DATABASE", "audit.database", |c, v| {
        v.clone_into(&mut c.audit.database);
        Ok(())
    }),
    (
        "SECTORGATE_AUDIT_CHECKPOINT_KEY",
        "audit.checkpoint_key",
        |c, v| {
            c.audit.checkpoint_key = PathBuf::from(v);
            Ok(())
        },
    ),
    (
        "SECTORGATE_AUDIT_PSEUDONYM_KEYS",
        "audit.pseudonym_keys",
        |c, v| {
            c.audit.pseudonym_keys = PathBuf::from(v);
            Ok(())
        },
    ),
    ("SECTORGATE_HOMESERVER_URL", "homeserver.url", |c, v| {
        v.clone_into(&mut c.homeserver.url);
        Ok(())
    }),
    ("SECTORGATE_LISTEN_CLIENT", "listen.client", |c, v| {
        c.listen.client = v.parse().map_err(|error| format!("{error}"))?;
        Ok(())
    }),
    ("SECTORGATE_LISTEN_ADMIN", "listen.admin", |c, v| {
        c.listen.admin = v.parse().map_err(|error| format!("{error}"))?;
        Ok(())
    }),
];

type Setter = fn(&mut Config, &str) -> Result<(), String>;

impl Config {
    /// Applies the variables of `env` (the process's environment, or a
    /// test's) over the file's values.
    pub(crate) fn apply_env<'a>(
        &mut self,
        env: impl Fn(&str) -> Option<String> + 'a,
    ) -> Result<(), ConfigError> {
        for (variable, key, set) in OVERRIDES {
            let Some(value) = env(variable) else {
                continue;
            };
            let value = value.trim();
            if value.is_empty() {
                return Err(ConfigError::Invalid(format!("{variable} is set but empty")));
            }
            set(self, value)
                .map_err(|why| ConfigError::Invalid(format!("{variable} ({key}): {why}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn variables_replace_the_file_s_values() {
        let mut config = Config::parse("[audit]\norigin = \"file/sectorgate\"\n").expect("parses");
        config
            .apply_env(env(&[
                ("SECTORGATE_AUDIT_ORIGIN", "gw-1.example/sectorgate"),
                ("SECTORGATE_AUDIT_DATABASE", "postgres://db/audit"),
                ("SECTORGATE_LISTEN_ADMIN", "0.0.0.0:9090"),
            ]))
            .expect("applies");
        assert_eq!(
            config.audit.origin.as_deref(),
            Some("gw-1.example/sectorgate")
        );
        assert_eq!(config.audit.database, "postgres://db/audit");
        assert_eq!(config.listen.admin.to_string(), "0.0.0.0:9090");
        // What no variable names keeps the file's value or the default.
        assert_eq!(config.listen.client.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn an_empty_or_bad_variable_is_an_error_naming_it() {
        for (pairs, named) in [
            (
                &[("SECTORGATE_AUDIT_ORIGIN", " ")][..],
                "SECTORGATE_AUDIT_ORIGIN is set but empty",
            ),
            (
                &[("SECTORGATE_LISTEN_CLIENT", "port 80")][..],
                "SECTORGATE_LISTEN_CLIENT (listen.client)",
            ),
        ] {
            let pairs: &'static [(&'static str, &'static str)] = pairs;
            let error = Config::default()
                .apply_env(env(pairs))
                .expect_err("refused");
            assert!(error.to_string().contains(named), "{error}");
        }
    }
}
