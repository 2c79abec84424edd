//! The audit log's C2SP tiles as the admin listener serves them: from the
//! folder `[audit] tiles` keeps durable, brought up to each checkpoint by a
//! task off the hot path; without it, computed from the store on request.

use std::sync::Arc;
use std::time::Duration;

use sectorgate_audit::{AuditError, Store, TileFolder};

/// How often the folder is brought up to the log's latest checkpoint.
const CATCH_UP_EVERY: Duration = Duration::from_secs(1);

/// Where the admin listener's tiles come from.
#[derive(Clone)]
pub(crate) struct Tiles {
    store: Store,
    origin: Arc<str>,
    folder: Option<Arc<TileFolder>>,
}

impl Tiles {
    /// The tiles of `origin`'s log in `store`, kept in `folder` if given.
    pub(crate) fn new(store: Store, origin: Arc<str>, folder: Option<TileFolder>) -> Self {
        Self {
            store,
            origin,
            folder: folder.map(Arc::new),
        }
    }

    /// One file by its tile path; `None` for no such tile.
    pub(crate) async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, AuditError> {
        match &self.folder {
            Some(folder) => folder.read(path).await,
            None => sectorgate_audit::tile(&self.store, &self.origin, path).await,
        }
    }

    /// Brings the folder up to the log's latest checkpoint once, if there
    /// is a folder.
    pub(crate) async fn catch_up(&self) -> Result<(), AuditError> {
        if let Some(folder) = &self.folder {
            let written = folder.catch_up(&self.store, &self.origin).await?;
            if written.hash_tiles > 0 {
                tracing::debug!(
                    size = written.size,
                    tiles = written.hash_tiles,
                    "audit tiles brought up to a checkpoint"
                );
            }
        }
        Ok(())
    }

    /// Keeps the folder up to the log, if there is one, until the process
    /// ends. The tiles are a view: requests never wait for them, and a
    /// failure is logged (once until it changes) and tried again.
    pub(crate) fn spawn(&self) {
        if self.folder.is_none() {
            return;
        }
        let tiles = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(CATCH_UP_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing: Option<String> = None;
            loop {
                every.tick().await;
                match tiles.catch_up().await {
                    Ok(()) if failing.take().is_some() => {
                        tracing::info!("audit tiles: up to the log again");
                    }
                    Ok(()) => {}
                    Err(error) => {
                        let error = error.to_string();
                        if failing.as_ref() != Some(&error) {
                            tracing::warn!(%error, "audit tiles: not brought up to the latest checkpoint; trying again every second");
                        }
                        failing = Some(error);
                    }
                }
            }
        });
    }
}
