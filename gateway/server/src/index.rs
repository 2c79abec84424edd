//! The audit log's query index (`[audit] index`), kept up to the log by a
//! task off the hot path, for `sectorgate audit query`.

use std::sync::Arc;

use sectorgate_audit::{AuditError, QueryIndex, Store};
use sectorgate_proxy::metrics::Metrics;

/// The index and the log it is of.
#[derive(Clone)]
pub(crate) struct Index {
    store: Store,
    origin: Arc<str>,
    index: Arc<QueryIndex>,
    metrics: Arc<Metrics>,
}

impl Index {
    /// The index of `origin`'s log in `store`; the size it covers
    /// reported to `metrics`.
    pub(crate) fn new(
        store: Store,
        origin: Arc<str>,
        index: QueryIndex,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            origin,
            index: Arc::new(index),
            metrics,
        }
    }

    /// Brings the index up to the log once.
    pub(crate) async fn catch_up(&self) -> Result<(), AuditError> {
        let done = self.index.catch_up(&self.store, &self.origin).await?;
        self.metrics.audit_view_size("index", done.size);
        if done.added > 0 || done.forgotten > 0 {
            tracing::debug!(
                size = done.size,
                added = done.added,
                forgotten = done.forgotten,
                "audit query index brought up to the log"
            );
        }
        Ok(())
    }

    /// Keeps the index up to the log until the process ends.
    pub(crate) fn spawn(&self) {
        let index = self.clone();
        crate::keep_up::every_second("query index", move || {
            let index = index.clone();
            async move { index.catch_up().await }
        });
    }
}
