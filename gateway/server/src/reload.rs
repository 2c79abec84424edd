//! Reloading, on every ask ([`crate::watch`]: `SIGHUP` or a watched file
//! changed). The config file is read and checked again whole, as at start
//! (the profile, its schemas and groups, tokens, registrations, the
//! federation section); only then is the new state put in force, for every
//! request that starts after. A reload that fails keeps what is in force
//! and says why: in the log, in `/ready` and in the metrics.
//!
//! The profile and the static allowlist (`federation.allow`) take effect
//! without a restart, and so do the TLS certificates ([`crate::tls`]).
//! When other settings changed too, the reload says that they wait for a
//! restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sectorgate_federation::Federation;
use sectorgate_policy::Profile;
use sectorgate_proxy::Gateway;
use serde::Serialize;

use crate::config::Config;
use crate::watch::{Asks, Watched};

/// Where the config comes from, as at start.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    /// The config file (`None`: the built-in defaults).
    pub(crate) file: Option<PathBuf>,
    /// The profile named on the command line, if any.
    pub(crate) profile: Option<String>,
}

/// What the last reload did, for `/ready`.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct ReloadStatus {
    /// Reloads asked for since start.
    pub(crate) count: u64,
    /// Whether the last one put its state in force (`None`: none yet).
    pub(crate) ok: Option<bool>,
    /// Why the last one failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// Settings that take effect only on restart changed.
    pub(crate) restart_needed: bool,
}

/// The reload status, shared with the admin listener.
pub(crate) type Reloads = Arc<Mutex<ReloadStatus>>;

/// What a reload puts in force.
pub(crate) struct Targets {
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) federation: Option<Arc<Federation>>,
    /// The files watched, named anew after each reload.
    pub(crate) watched: Watched,
}

/// Reloads on every ask, for as long as the gateway runs.
pub(crate) fn spawn(
    source: Source,
    started_with: &Config,
    targets: Targets,
    mut asks: Asks,
) -> Reloads {
    let status = Reloads::default();
    let shared = Arc::clone(&status);
    let mut reloader = Reloader {
        source,
        settings: settings(started_with),
        allow: allow(started_with),
        targets,
    };
    tokio::spawn(async move {
        while asks.changed().await.is_ok() {
            let outcome = reloader.reload();
            if let Ok(mut status) = shared.lock() {
                status.count += 1;
                status.ok = Some(outcome.is_ok());
                match outcome {
                    Ok(restart_needed) => {
                        status.error = None;
                        status.restart_needed |= restart_needed;
                    }
                    Err(error) => status.error = Some(error),
                }
            }
        }
    });
    status
}

/// The reload task's state.
struct Reloader {
    source: Source,
    /// The settings that wait for a restart, as started with.
    settings: String,
    /// The static allowlist in force.
    allow: Option<Vec<String>>,
    targets: Targets,
}

impl Reloader {
    /// One reload: whether settings that wait for a restart changed, or
    /// why it failed.
    fn reload(&mut self) -> Result<bool, String> {
        let source = &self.source;
        let loaded = Config::load_with(source.file.as_deref(), source.profile.as_deref());
        let gateway = &self.targets.gateway;
        gateway.metrics().reloaded(loaded.is_ok());
        let (config, loaded) = loaded.map_err(|error| {
            tracing::error!(%error, "reload failed: what is in force stays");
            error.to_string()
        })?;
        self.targets
            .watched
            .set(watched(source.file.as_deref(), &config, &loaded.profile));
        if let (Some(federation), Some(section)) = (&self.targets.federation, &config.federation)
            && self.allow.as_ref() != Some(&section.allow)
        {
            // Checked when the config was loaded.
            let allowlist = section.static_allowlist().map_err(|e| e.to_string())?;
            federation.replace_static(allowlist);
            self.allow = Some(section.allow.clone());
            tracing::info!(allow = ?section.allow, "reloaded: the static allowlist is in force");
        }
        let revision = loaded.profile.revision();
        let digest = loaded.profile.digest.clone();
        gateway.put_in_force(loaded.profile);
        let restart_needed = settings(&config) != self.settings;
        tracing::info!(profile = %revision, %digest, "reloaded: the profile is in force for new requests");
        if restart_needed {
            tracing::warn!(
                "settings other than [profile], federation.allow and TLS files changed: they take effect on restart"
            );
        }
        Ok(restart_needed)
    }
}

fn allow(config: &Config) -> Option<Vec<String>> {
    config
        .federation
        .as_ref()
        .map(|section| section.allow.clone())
}

/// What to watch: the config file, the profile's folder and the sibling
/// folders of the profiles it extends (bundled ones cannot change).
pub(crate) fn watched(file: Option<&Path>, config: &Config, profile: &Profile) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = file.map(Path::to_owned).into_iter().collect();
    if let Some(folder) = &config.profile.path {
        let folder = if folder.ends_with("profile.yaml") {
            folder.parent().unwrap_or(folder).to_owned()
        } else {
            folder.clone()
        };
        if let Some(parent) = folder.parent() {
            roots.extend(
                profile
                    .extends
                    .iter()
                    .map(|id| parent.join(id))
                    .filter(|sibling| sibling.is_dir()),
            );
        }
        roots.push(folder);
    }
    roots
}

/// Every setting but those a reload applies, to tell whether they changed.
fn settings(config: &Config) -> String {
    let mut text = format!("{config:?}");
    // The profile section and the static allowlist are what a reload
    // applies.
    let profile = format!("profile: {:?}", config.profile);
    text = text.replacen(&profile, "", 1);
    if let Some(federation) = &config.federation {
        let allow = format!("allow: {:?}", federation.allow);
        text = text.replacen(&allow, "", 1);
    }
    text
}
