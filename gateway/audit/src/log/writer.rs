//! The writer task: one at a time, it commits a batch's records, probes
//! the store for readiness, makes checkpoints when due and writes the
//! outcome records left waiting; after a failure it reopens the store and
//! reads the tree's edge back before the next write.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tlog_tiles::record_hash;
use tokio::sync::mpsc;

use super::batch::{Batch, CloseAck, Command, Committed, Flushed, Probed};
use super::{
    LATER_WAIT, LaterList, Leaf, LogConfig, MAX_LATER, Observer, WriteStatus, now_ms, take,
};
use crate::AuditError;
use crate::checkpoint::CheckpointSigner;
use crate::merkle::Frontier;
use crate::sink::CheckpointSink;
use crate::store::{Bundle, CheckpointRow, Claim, Store, StoredHead, bounded};

/// Records per commit at most.
const MAX_BATCH: usize = 2048;
/// How long outcome records held by a failed commit wait before the
/// writer tries them again, when no other commit comes.
const RETRY_WAIT: Duration = Duration::from_secs(1);
/// A typical leaf's size (a decision with its nonce), to size a commit's
/// buffers once.
const RECORD_BYTES: usize = 448;
/// How many times the writer yields to let a batch grow before it commits.
const LINGER_YIELDS: usize = 8;

/// What the writer shares with the handles.
pub(super) struct Shared {
    /// Outcome records waiting for a commit.
    pub(super) later: LaterList,
    pub(super) status: Arc<Mutex<WriteStatus>>,
    /// When the write under way began (ms since the Unix epoch; 0: none).
    pub(super) writing_since: Arc<AtomicI64>,
    /// Appends in the batch the writer holds, waiting for its commit.
    pub(super) in_batch: Arc<AtomicUsize>,
    pub(super) observer: Observer,
    /// Whether the log's leaves are committed, as the handles make them.
    pub(super) commit: Arc<AtomicBool>,
}

/// Outcome records failed commits held, written with the next commit.
struct Retry {
    leaves: Vec<Leaf>,
    /// The log's size when the first of those commits was attempted:
    /// records past it can only be from failed commits that landed after
    /// all (their answer was lost, or they reached the database late).
    from: Option<u64>,
    /// When the last of those commits failed.
    since: Instant,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            leaves: Vec::new(),
            from: None,
            since: Instant::now(),
        }
    }
}

/// What the writer knows of the tree's edge.
struct Head {
    frontier: Frontier,
    checkpointed: u64,
    checkpointed_at: Instant,
    /// Whether the log's leaves are committed.
    commit: bool,
}

pub(super) struct Writer {
    store: Store,
    /// Outcome records waiting for a commit.
    later: LaterList,
    /// This instance's claim on the origin, taken again if it lapsed.
    claim: Claim,
    signer: CheckpointSigner,
    config: LogConfig,
    sink: CheckpointSink,
    /// `None` until read from the store, and again after a failed write.
    head: Option<Head>,
    /// Outcome records of failed commits.
    retry: Retry,
    status: Arc<Mutex<WriteStatus>>,
    writing_since: Arc<AtomicI64>,
    in_batch: Arc<AtomicUsize>,
    observer: Observer,
    commit: Arc<AtomicBool>,
}

impl Writer {
    pub(super) fn new(
        store: Store,
        claim: Claim,
        signer: CheckpointSigner,
        config: LogConfig,
        sink: CheckpointSink,
        shared: Shared,
    ) -> Self {
        Self {
            store,
            later: shared.later,
            claim,
            signer,
            config,
            sink,
            head: None,
            retry: Retry::default(),
            status: shared.status,
            writing_since: shared.writing_since,
            in_batch: shared.in_batch,
            observer: shared.observer,
            commit: shared.commit,
        }
    }

    pub(super) async fn run(mut self, mut receiver: mpsc::Receiver<Command>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut ticker = tokio::time::interval(
            self.config
                .checkpoint_interval
                .clamp(Duration::from_millis(1), LATER_WAIT),
        );
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = receiver.recv_many(&mut batch, MAX_BATCH) => {
                    if received == 0 {
                        // Every handle is gone: what waits is written last.
                        // Its failure is logged; nobody is left to tell.
                        let _ = self.write_later().await;
                        break;
                    }
                }
                _ = ticker.tick() => {
                    self.write_later_if_waiting().await;
                    self.checkpoint_if_due().await;
                    continue;
                }
            }
            // Let requests that are ready to run queue their records too, so
            // one commit covers them: yields, not a timer, so an idle gateway
            // adds no latency. Yield again as long as records keep coming.
            for _ in 0..LINGER_YIELDS {
                tokio::task::yield_now().await;
                let before = batch.len();
                while batch.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(command) => batch.push(command),
                        Err(_) => break,
                    }
                }
                if batch.len() == before || batch.len() >= MAX_BATCH {
                    break;
                }
            }
            let batch = Batch::of(take(&self.later), batch.drain(..));
            let Some(close) = self.answer(batch).await else {
                continue;
            };
            receiver.close();
            let flushed = self.flush().await;
            drop(self);
            close.answer(&flushed);
            return;
        }
    }

    /// Commits `batch`'s records and answers each append with that
    /// commit's result; probes the store if anyone still waits for that,
    /// and answers each probe with the probe's result. Returns the close
    /// the batch holds, if any.
    async fn answer(&mut self, batch: Batch) -> Option<CloseAck> {
        let wants_probe = batch.wants_probe();
        let Batch {
            leaves,
            later,
            appends,
            probes,
            close,
        } = batch;
        if !leaves.is_empty() {
            self.in_batch.store(appends.len(), Ordering::Relaxed);
            let committed = self.commit_batch(leaves, later).await;
            self.in_batch.store(0, Ordering::Relaxed);
            for ack in appends {
                ack.answer(&committed);
            }
        }
        if wants_probe {
            let probed = self.probe().await;
            for ack in probes {
                ack.answer(&probed);
            }
        }
        close
    }

    /// Commits a batch's records: the first `later` outcome records, the
    /// rest decisions whose requests wait for this result.
    async fn commit_batch(&mut self, leaves: Vec<Leaf>, later: usize) -> Committed {
        let count = leaves.len();
        let result = self.commit(leaves, later, false).await;
        if let Err(error) = &result {
            tracing::error!(%error, records = count, "audit write failed");
        }
        Committed(result.map_err(Arc::new))
    }

    /// Writes what waits before the writer stops, with a checkpoint over
    /// the whole log: a log that was closed ends signed.
    async fn flush(&mut self) -> Flushed {
        let leaves = take(&self.later);
        let count = leaves.len();
        let result = self.commit(leaves, count, true).await;
        if let Err(error) = &result {
            tracing::error!(%error, "the last audit records or the final checkpoint could not be written");
        }
        Flushed(result.map_err(Arc::new))
    }

    async fn load_head(&mut self) -> Result<Head, AuditError> {
        let origin = &self.config.origin;
        if !self.claim.holds().await {
            self.claim = match self.store.claim(origin, Duration::ZERO).await {
                Err(AuditError::Claimed(origin)) => return Err(AuditError::ClaimLost(origin)),
                claimed => claimed?,
            };
        }
        let stored = self.store.head(origin).await?;
        Ok(self.head_at(stored))
    }

    /// The writer's head of the `stored` one; the handles learn what kind
    /// of leaf to make.
    fn head_at(&self, stored: StoredHead) -> Head {
        let StoredHead {
            frontier,
            last_checkpoint: last,
            commit,
        } = stored;
        self.commit.store(commit, Ordering::Relaxed);
        if let Some(last) = &last
            && let Ok(mut status) = self.status.lock()
        {
            status.checkpoint_at_ms = status.checkpoint_at_ms.max(last.created_at);
        }
        let checkpointed = last.map_or(0, |checkpoint| checkpoint.size);
        Head {
            frontier,
            checkpointed,
            checkpointed_at: Instant::now(),
            commit,
        }
    }

    /// Appends `leaves` (possibly none; the first `later` of them outcome
    /// records) and, if due or `force`d, a checkpoint. Outcome records of
    /// an earlier failed commit go first, unless the log holds them
    /// already. If this one fails, its outcome records are kept for the
    /// next (nobody else waits for them); its decisions are not, since
    /// their requests are refused.
    async fn commit(
        &mut self,
        mut leaves: Vec<Leaf>,
        mut later: usize,
        force: bool,
    ) -> Result<(), AuditError> {
        let retried = self.retry.leaves.len();
        if retried > 0 {
            let mut all = std::mem::take(&mut self.retry.leaves);
            later += retried;
            all.append(&mut leaves);
            leaves = all;
        }
        self.writing();
        let (result, attempted_at) = match self.head().await {
            Ok(head) => {
                let size = head.frontier.size();
                match self.drop_landed(&mut leaves, retried, size).await {
                    Ok(dropped) => {
                        later -= dropped;
                        (self.write(head, &mut leaves, force).await, Some(size))
                    }
                    Err(error) => (Err(self.failed(error).await), None),
                }
            }
            Err(error) => (Err(error), None),
        };
        self.written();
        if result.is_ok() {
            self.retry.from = None;
            return result;
        }
        leaves.truncate(later);
        let excess = leaves.len().saturating_sub(MAX_LATER);
        if excess > 0 {
            tracing::error!(
                dropped = excess,
                "audit writer failing for long; outcome records are dropped"
            );
            leaves.drain(..excess);
        }
        if let Some(size) = attempted_at {
            self.retry.from.get_or_insert(size);
        }
        self.retry.leaves = leaves;
        self.retry.since = Instant::now();
        result
    }

    /// Removes from the first `retried` of `leaves` those that failed
    /// commits stored after all: the records the log holds past the size
    /// it had when the first of them was attempted, up to `size`. Returns
    /// how many it removed.
    async fn drop_landed(
        &self,
        leaves: &mut Vec<Leaf>,
        retried: usize,
        size: u64,
    ) -> Result<usize, AuditError> {
        let Some(from) = self.retry.from.filter(|&from| from < size && retried > 0) else {
            return Ok(0);
        };
        let count = u32::try_from(size - from).unwrap_or(u32::MAX);
        let landed: std::collections::HashSet<[u8; 32]> = self
            .store
            .leaves(&self.config.origin, from, count)
            .await?
            .iter()
            .filter_map(|row| Some(record_hash(row.record.as_deref()?).0))
            .collect();
        let mut index = 0;
        let mut dropped = 0;
        leaves.retain(|leaf| {
            index += 1;
            let stored = index <= retried && landed.contains(&leaf.hash.0);
            dropped += usize::from(stored);
            !stored
        });
        Ok(dropped)
    }

    /// The tree's edge: as known, or read back from the store.
    async fn head(&mut self) -> Result<Head, AuditError> {
        if let Some(head) = self.head.take() {
            return Ok(head);
        }
        // The claim's own connection is bounded here; the store bounds its
        // reads itself.
        match bounded(self.store.stall_after(), self.load_head()).await {
            Ok(head) => Ok(head),
            Err(error) => Err(self.failed(error).await),
        }
    }

    /// Writes `leaves` after `head` and, if due or `force`d, a checkpoint.
    async fn write(
        &mut self,
        head: Head,
        leaves: &mut [Leaf],
        force: bool,
    ) -> Result<(), AuditError> {
        let mut frontier = head.frontier.clone();
        for leaf in leaves.iter_mut() {
            // Made before the log was read: of the kind a new log has.
            leaf.conform(head.commit);
        }
        let mut bundle = Bundle::starting_at(frontier.size(), leaves.len(), RECORD_BYTES);
        for leaf in leaves.iter() {
            bundle.add_record(leaf.recorded_at, &leaf.bytes);
            frontier.push(leaf.hash, |hash| bundle.add_hash(hash));
        }
        let grown = frontier.size() > head.checkpointed;
        let due = frontier.size() - head.checkpointed >= self.config.checkpoint_every
            || head.checkpointed_at.elapsed() >= self.config.checkpoint_interval;
        let checkpoint = if grown && (due || force) {
            Some(CheckpointRow {
                size: frontier.size(),
                root: frontier.root().0.to_vec(),
                note: self.signer.sign(frontier.size(), frontier.root())?,
                created_at: now_ms(),
            })
        } else {
            None
        };
        let started = Instant::now();
        match self
            .store
            .append(&self.config.origin, bundle, checkpoint.as_ref())
            .await
        {
            Ok(()) => {
                if let Some(observer) = self.observer.get() {
                    observer.committed(leaves.len(), started.elapsed());
                }
                let size = frontier.size();
                self.head = Some(match checkpoint {
                    Some(checkpoint) => {
                        if let Ok(mut status) = self.status.lock() {
                            status.checkpoint_at_ms = checkpoint.created_at;
                        }
                        self.sink.send(checkpoint.note);
                        Head {
                            frontier,
                            checkpointed: size,
                            checkpointed_at: Instant::now(),
                            commit: head.commit,
                        }
                    }
                    None => Head { frontier, ..head },
                });
                self.set_status(None, Some(size));
                Ok(())
            }
            Err(error) => Err(self.failed(error).await),
        }
    }

    /// Commits the outcome records that waited [`LATER_WAIT`] for a
    /// decision to take them along.
    async fn write_later_if_waiting(&mut self) {
        let waited = self.later.lock().is_ok_and(|later| {
            later
                .since
                .is_some_and(|since| since.elapsed() >= LATER_WAIT)
        });
        let retry_due = !self.retry.leaves.is_empty() && self.retry.since.elapsed() >= RETRY_WAIT;
        if waited || retry_due {
            // Its failure is logged, and its records wait for the next.
            let _ = self.write_later().await;
        }
    }

    /// Commits the outcome records waiting, if any.
    async fn write_later(&mut self) -> Result<(), AuditError> {
        let leaves = take(&self.later);
        if leaves.is_empty() && self.retry.leaves.is_empty() {
            return Ok(());
        }
        let count = leaves.len();
        let result = self.commit(leaves, count, false).await;
        if let Err(error) = &result {
            tracing::error!(%error, "audit write failed; its outcome records wait for the next");
        }
        result
    }

    async fn checkpoint_if_due(&mut self) {
        let due = self.head.as_ref().is_some_and(|head| {
            head.frontier.size() > head.checkpointed
                && head.checkpointed_at.elapsed() >= self.config.checkpoint_interval
        });
        if due && let Err(error) = self.commit(Vec::new(), 0, true).await {
            tracing::error!(%error, "audit checkpoint failed");
        }
    }

    /// A durable write of the log's health row, on its own.
    async fn probe(&mut self) -> Probed {
        self.writing();
        let result = match self.store.probe(&self.config.origin, now_ms()).await {
            Ok(()) => {
                let size = self.head.as_ref().map(|head| head.frontier.size());
                self.set_status(None, size);
                Ok(())
            }
            Err(error) => Err(self.failed(error).await),
        };
        self.written();
        Probed(result.map_err(Arc::new))
    }

    fn writing(&self) {
        self.writing_since.store(now_ms().max(1), Ordering::Relaxed);
    }

    fn written(&self) {
        self.writing_since.store(0, Ordering::Relaxed);
    }

    /// Notes a failed write and makes the next one start afresh.
    async fn failed(&mut self, error: AuditError) -> AuditError {
        self.head = None;
        self.set_status(Some(error.to_string()), None);
        self.store.recover().await;
        error
    }

    fn set_status(&self, error: Option<String>, size: Option<u64>) {
        if let Ok(mut status) = self.status.lock() {
            *status = WriteStatus {
                ok: error.is_none(),
                at_ms: now_ms(),
                size: size.unwrap_or(status.size),
                error,
                checkpoint_at_ms: status.checkpoint_at_ms,
            };
        }
    }
}
