//! The audit log's C2SP tiles as the admin listener serves them: from the
//! folder `[audit] tiles` keeps durable, brought up to each checkpoint by a
//! task off the hot path; without it, computed from the store on request.

use std::sync::Arc;

use sectorgate_audit::{AuditError, Store, TileFolder};
use sectorgate_proxy::metrics::Metrics;

/// Where the admin listener's tiles come from.
#[derive(Clone)]
pub(crate) struct Tiles {
    store: Store,
    origin: Arc<str>,
    folder: Option<Arc<TileFolder>>,
    metrics: Arc<Metrics>,
}

impl Tiles {
    /// The tiles of `origin`'s log in `store`, kept in `folder` if given;
    /// the size they cover reported to `metrics`.
    pub(crate) fn new(
        store: Store,
        origin: Arc<str>,
        folder: Option<TileFolder>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            origin,
            folder: folder.map(Arc::new),
            metrics,
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
            self.metrics.audit_view_size("tiles", written.size);
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
    /// ends.
    pub(crate) fn spawn(&self) {
        if self.folder.is_none() {
            return;
        }
        let tiles = self.clone();
        crate::keep_up::every_second("tiles", move || {
            let tiles = tiles.clone();
            async move { tiles.catch_up().await }
        });
    }
}
