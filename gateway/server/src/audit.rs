//! Opening the audit log from `[audit]`: the store, the claim on the
//! origin, the checkpoint key, the checkpoint copies, the pseudonym keys
//! the folder of tiles and the query index.

use std::sync::Arc;
use std::time::Duration;

use sectorgate_audit::{
    AuditError, AuditLog, CheckpointSigner, CheckpointSink, LogConfig, Pseudonymiser, QueryIndex,
    SinkConfig, Store, TileFolder,
};

use crate::config::Config;

/// Why the database `[audit] database` names could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the audit database {database}: {source}")]
pub(crate) struct StoreError {
    /// The database's URL, without its password.
    database: String,
    /// Why.
    source: AuditError,
}

/// The store, as `[audit] database` names it.
pub(crate) async fn store(config: &Config) -> Result<Store, StoreError> {
    Store::open(&config.audit.database, config.audit.lock_timeout)
        .await
        .map_err(|source| StoreError {
            database: redact(&config.audit.database),
            source,
        })
}

/// The pseudonym keys.
pub(crate) fn pseudonyms(config: &Config) -> Result<Arc<Pseudonymiser>, AuditError> {
    Pseudonymiser::open(&config.audit.pseudonym_keys, config.audit.pseudonym_period).map(Arc::new)
}

/// The folder `[audit] tiles` names, opened (made if missing).
pub(crate) fn tile_folder(config: &Config) -> Result<Option<TileFolder>, AuditError> {
    config
        .audit
        .tiles
        .as_deref()
        .map(TileFolder::open)
        .transpose()
}

/// The query index `[audit] index` names, opened (made if missing).
pub(crate) async fn query_index(config: &Config) -> Result<Option<QueryIndex>, AuditError> {
    match &config.audit.index {
        Some(file) => QueryIndex::open(file).await.map(Some),
        None => Ok(None),
    }
}

/// The log's origin.
pub(crate) fn origin(config: &Config) -> String {
    config.audit.origin(config.federation.as_ref())
}

/// Claims the log's origin and starts its writer. Must be called inside a
/// Tokio runtime.
pub(crate) async fn spawn(config: &Config, store: Store) -> Result<AuditLog, AuditError> {
    let origin = origin(config);
    let claim = store.claim(&origin, CLAIM_WAIT).await?;
    let signer = CheckpointSigner::load_or_create(&config.audit.checkpoint_key, &origin)?;
    tracing::info!(
        origin = %origin,
        verifier_key = %signer.verifier_key(),
        "audit log: checkpoints are signed with this key"
    );
    let sink = CheckpointSink::spawn(SinkConfig {
        file: config.audit.checkpoint_file.clone(),
        syslog: config.audit.checkpoint_syslog,
    });
    Ok(AuditLog::spawn(
        store,
        claim,
        signer,
        LogConfig {
            origin,
            checkpoint_every: config.audit.checkpoint_every,
            checkpoint_interval: config.audit.checkpoint_interval,
        },
        sink,
    ))
}

/// How long a starting gateway waits for the claim on its origin: an
/// instance that has just ended lets it go within moments.
const CLAIM_WAIT: Duration = Duration::from_secs(5);

/// A database URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
