//! [`AuditLog`]: the pipeline's handle on the audit store, with group commit.
//!
//! Requests hand their record to one writer task and wait. The writer takes
//! every record waiting (up to a batch limit), writes them in one durable
//! transaction and then answers each request. Under load one fsync covers many
//! requests; alone, a request pays for one.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::{AuditError, AuditRecord, AuditStore};

/// Records per commit; the SQLite store writes up to 256 in one statement.
const MAX_BATCH: usize = 256;
const QUEUE: usize = 4096;

type Ack = oneshot::Sender<Result<(), Arc<AuditError>>>;
type Probe =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), AuditError>> + Send>> + Send + Sync>;

/// A cloneable handle that appends records durably.
#[derive(Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<(AuditRecord, Ack)>,
    probe: Probe,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Starts the writer task over `store`. Must be called inside a Tokio runtime.
    pub fn spawn<S: AuditStore>(store: S) -> Self {
        let store = Arc::new(store);
        let (queue, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(Arc::clone(&store), receiver));
        let probe: Probe = Arc::new(move || {
            let store = Arc::clone(&store);
            Box::pin(async move { store.check_writable().await })
        });
        Self { queue, probe }
    }

    /// Checks that the store can take a write now (for readiness).
    pub async fn check_writable(&self) -> Result<(), AuditError> {
        if self.queue.is_closed() {
            return Err(AuditError::Closed);
        }
        (self.probe)().await
    }

    /// Appends a record; returns once it is durable.
    pub async fn append(&self, record: AuditRecord) -> Result<(), Arc<AuditError>> {
        let (ack, done) = oneshot::channel();
        self.queue
            .send((record, ack))
            .await
            .map_err(|_| Arc::new(AuditError::Closed))?;
        done.await.map_err(|_| Arc::new(AuditError::Closed))?
    }
}

async fn write_batches<S: AuditStore>(
    store: Arc<S>,
    mut receiver: mpsc::Receiver<(AuditRecord, Ack)>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Let requests that are ready to run queue their records too, so one
        // commit covers them: a yield, not a timer, so an idle gateway adds
        // no latency.
        tokio::task::yield_now().await;
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let (records, acks): (Vec<AuditRecord>, Vec<Ack>) = batch.drain(..).unzip();
        let result = store.append_batch(&records).await.map_err(Arc::new);
        match &result {
            Ok(()) => tracing::debug!(records = records.len(), "audit batch committed"),
            Err(error) => tracing::error!(%error, records = records.len(), "audit write failed"),
        }
        for ack in acks {
            // A requester that gave up (client went away) needs no answer.
            let _ = ack.send(result.clone());
        }
    }
}
