//! Reloading on SIGHUP. The config file is read and checked again whole, as
//! at start (the profile, its schemas and groups, tokens, registrations,
//! the federation section); only then is the new profile put in force, for
//! every request that starts after. A reload that fails keeps the profile
//! in force and says why: in the log, in `/ready` and in the metrics.
//!
//! Only the profile takes effect without a restart. When other settings
//! changed too, the reload says that they wait for a restart.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sectorgate_proxy::Gateway;
use serde::Serialize;

use crate::config::Config;

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
    /// Whether the last one put its profile in force (`None`: none yet).
    pub(crate) ok: Option<bool>,
    /// Why the last one failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// Settings outside the profile changed: they wait for a restart.
    pub(crate) restart_needed: bool,
}

/// The reload status, shared with the admin listener.
pub(crate) type Reloads = Arc<Mutex<ReloadStatus>>;

/// Reloads on every SIGHUP, for as long as the gateway runs.
pub(crate) fn on_hangup(source: Source, started_with: &Config, gateway: Arc<Gateway>) -> Reloads {
    let status = Reloads::default();
    let shared = Arc::clone(&status);
    let settings = settings(started_with);
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::error!("cannot listen for SIGHUP: no reloads");
            return;
        };
        while hangups.recv().await.is_some() {
            let outcome = reload(&source, &settings, &gateway);
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

/// One reload: whether settings outside the profile changed, or why it
/// failed.
fn reload(source: &Source, settings: &str, gateway: &Gateway) -> Result<bool, String> {
    let loaded = Config::load_with(source.file.as_deref(), source.profile.as_deref());
    gateway.metrics().reloaded(loaded.is_ok());
    let (config, loaded) = loaded.map_err(|error| {
        tracing::error!(%error, "reload failed: the profile in force stays");
        error.to_string()
    })?;
    let revision = loaded.profile.revision();
    gateway.put_in_force(loaded.profile);
    let restart_needed = self::settings(&config) != settings;
    tracing::info!(profile = %revision, "reloaded: the profile is in force for new requests");
    if restart_needed {
        tracing::warn!("settings outside [profile] changed: they take effect on restart");
    }
    Ok(restart_needed)
}

/// Every setting but the profile's, to tell whether they changed.
fn settings(config: &Config) -> String {
    let text = format!("{config:?}");
    // The profile section is the one part a reload applies.
    let profile = format!("profile: {:?}", config.profile);
    text.replacen(&profile, "", 1)
}
