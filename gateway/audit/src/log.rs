//! [`AuditLog`]: the pipeline's handle on the log, with group commit.
//!
//! Requests encode and hash their record themselves, hand it to one writer
//! task and wait. The writer takes every record waiting (up to a batch
//! limit), gives each the next sequence number, stores its Merkle hashes and,
//! when one is due, a signed checkpoint, all in one durable transaction; then
//! it answers each request. Under load one fsync covers many requests;
//! alone, a request pays for one. After a failed write the writer reopens
//! the store and rereads the tree's edge from it before the next write, so
//! the gateway recovers by itself once the database is writable again.
//!
//! Outcome records, which nobody waits for, never start a commit of their
//! own: they wait in a list that the next commit takes along, or, when no
//! decision comes, the writer's next tick (at most [`LATER_WAIT`] after).
//! A commit that fails keeps its outcome records for the next one, which
//! leaves out those the log shows a failed commit stored after all.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tlog_tiles::{Hash, record_hash, sub_tree_index};
use tokio::sync::{mpsc, oneshot};

use crate::checkpoint::CheckpointSigner;
use crate::merkle::{Frontier, from_blob, locate};
use crate::sink::CheckpointSink;
use crate::store::{Bundle, CheckpointRow, Claim, Store, bounded};
use crate::{AuditError, Entry};

/// Records per commit at most.
const MAX_BATCH: usize = 2048;
const QUEUE: usize = 16384;
/// Outcome records waiting at most; more are dropped (and logged) while
/// the writer is stuck.
const MAX_LATER: usize = 4 * QUEUE;
/// How long outcome records wait for a commit to take them along.
const LATER_WAIT: Duration = Duration::from_millis(50);
/// How long outcome records held by a failed commit wait before the
/// writer tries them again, when no other commit comes.
const RETRY_WAIT: Duration = Duration::from_secs(1);
/// A typical record's size, to size a commit's buffers once.
const RECORD_BYTES: usize = 320;
/// How many times the writer yields to let a batch grow before it commits.
const LINGER_YIELDS: usize = 8;

type Ack = oneshot::Sender<Result<(), Arc<AuditError>>>;

/// When checkpoints are made, and where they are sent.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// The log's origin line (unique per gateway instance).
    pub origin: String,
    /// A checkpoint after this many records…
    pub checkpoint_every: u64,
    /// …or after this long, whichever comes first (if records were added).
    pub checkpoint_interval: Duration,
}

/// The outcome of the last write to the store.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WriteStatus {
    /// Whether it succeeded.
    pub ok: bool,
    /// When it ended, in milliseconds since the Unix epoch (0: none yet).
    pub at_ms: i64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Records in the log after it.
    pub size: u64,
}

enum Command {
    Append(Leaf, Option<Ack>),
    Probe(Ack),
    /// Write what is queued, stop, and let the claim go.
    Close(Ack),
}

/// A record, encoded and hashed by the requester.
struct Leaf {
    recorded_at: i64,
    bytes: Vec<u8>,
    hash: Hash,
}

impl Leaf {
    fn of(entry: &Entry) -> Self {
        let bytes = entry.encode();
        Self {
            recorded_at: entry.ts(),
            hash: record_hash(&bytes),
            bytes,
        }
    }
}

/// Outcome records waiting for the next commit.
#[derive(Default)]
struct Later {
    leaves: Vec<Leaf>,
    /// When the first of them came.
    since: Option<Instant>,
}

/// The list of records written later, shared by the handles and the writer.
type LaterList = Arc<Mutex<Later>>;

/// Takes the records waiting in `later`.
fn take(later: &LaterList) -> Vec<Leaf> {
    later
        .lock()
        .map(|mut later| {
            later.since = None;
            std::mem::take(&mut later.leaves)
        })
        .unwrap_or_default()
}

/// A cloneable handle that appends records durably.
#[derive(Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<Command>,
    later: LaterList,
    status: Arc<Mutex<WriteStatus>>,
    origin: Arc<str>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Starts the writer task, which holds `claim` (on `config.origin`,
    /// from [`Store::claim`]) while it runs. Must be called inside a Tokio
    /// runtime.
    pub fn spawn(
        store: Store,
        claim: Claim,
        signer: CheckpointSigner,
        config: LogConfig,
        sink: CheckpointSink,
    ) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let status = Arc::new(Mutex::new(WriteStatus::default()));
        let origin: Arc<str> = config.origin.clone().into();
        let later = LaterList::default();
        let writer = Writer {
            later: Arc::clone(&later),
            store,
            claim,
            signer,
            config,
            sink,
            head: None,
            retry: Retry::default(),
            status: Arc::clone(&status),
        };
        tokio::spawn(writer.run(receiver));
        Self {
            queue,
            later,
            status,
            origin,
        }
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Appends a record; returns once it is durable.
    pub async fn append(&self, entry: &Entry) -> Result<(), Arc<AuditError>> {
        let (ack, done) = oneshot::channel();
        self.queue
            .send(Command::Append(Leaf::of(entry), Some(ack)))
            .await
            .map_err(|_| Arc::new(AuditError::Closed))?;
        done.await.map_err(|_| Arc::new(AuditError::Closed))?
    }

    /// Appends a record without waiting for it (outcome records, written
    /// after the answer): it goes with the next commit. A failure is logged
    /// by the writer.
    pub fn append_later(&self, entry: &Entry) {
        if self.queue.is_closed() {
            tracing::error!("audit writer gone; an outcome record is lost");
            return;
        }
        let leaf = Leaf::of(entry);
        let Ok(mut later) = self.later.lock() else {
            return;
        };
        if later.leaves.len() >= MAX_LATER {
            drop(later);
            tracing::error!("audit writer stuck; an outcome record is dropped");
            return;
        }
        if later.since.is_none() {
            later.since = Some(Instant::now());
        }
        later.leaves.push(leaf);
    }

    /// Writes to the store now, through the writer (for readiness).
    pub async fn probe(&self) -> Result<(), Arc<AuditError>> {
        let (ack, done) = oneshot::channel();
        self.queue
            .send(Command::Probe(ack))
            .await
            .map_err(|_| Arc::new(AuditError::Closed))?;
        done.await.map_err(|_| Arc::new(AuditError::Closed))?
    }

    /// Writes every record queued so far (outcomes included), then stops
    /// the writer and lets its claim on the origin go. Later appends fail.
    pub async fn close(&self) -> Result<(), Arc<AuditError>> {
        let (ack, done) = oneshot::channel();
        if self.queue.send(Command::Close(ack)).await.is_err() {
            return Ok(());
        }
        done.await.unwrap_or(Ok(()))
    }

    /// The outcome of the last write.
    pub fn status(&self) -> WriteStatus {
        self.status
            .lock()
            .map(|status| status.clone())
            .unwrap_or_default()
    }
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
}

struct Writer {
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
}

impl Writer {
    async fn run(mut self, mut receiver: mpsc::Receiver<Command>) {
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
                        self.write_later().await;
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
            let mut leaves = take(&self.later);
            let later = leaves.len();
            leaves.reserve(batch.len());
            let mut acks = Vec::with_capacity(batch.len());
            let mut probes = Vec::new();
            let mut closing = None;
            for command in batch.drain(..) {
                match command {
                    Command::Append(leaf, ack) => {
                        leaves.push(leaf);
                        acks.extend(ack);
                    }
                    Command::Probe(ack) => probes.push(ack),
                    Command::Close(ack) => closing = Some(ack),
                }
            }
            let appended = !leaves.is_empty();
            let mut result = Ok(());
            if appended {
                let count = leaves.len();
                result = self.commit(leaves, later, false).await.map_err(Arc::new);
                if let Err(error) = &result {
                    tracing::error!(%error, records = count, "audit write failed");
                }
            }
            if !probes.is_empty() && (!appended || result.is_err()) {
                result = self.probe().await.map_err(Arc::new);
            }
            for ack in acks.into_iter().chain(probes) {
                // A requester that gave up (client went away) needs no answer.
                let _ = ack.send(result.clone());
            }
            if let Some(ack) = closing {
                receiver.close();
                self.write_later().await;
                drop(self);
                let _ = ack.send(result);
                return;
            }
        }
    }

    async fn load_head(&mut self) -> Result<Head, AuditError> {
        let origin = &self.config.origin;
        if !self.claim.holds().await {
            self.claim = match self.store.claim(origin, Duration::ZERO).await {
                Err(AuditError::Claimed(origin)) => return Err(AuditError::ClaimLost(origin)),
                claimed => claimed?,
            };
        }
        let size = self.store.size(origin).await?;
        let places: Vec<(u64, usize)> = sub_tree_index(0, size, vec![])
            .into_iter()
            .map(locate)
            .collect();
        let seqs: Vec<u64> = places.iter().map(|(seq, _)| *seq).collect();
        let blobs = self.store.hashes(origin, &seqs).await?;
        let corrupt = || AuditError::Corrupt(format!("the stored hashes of {origin} are damaged"));
        let mut nodes = Vec::with_capacity(places.len());
        for ((seq, position), (found, blob)) in places.iter().zip(&blobs) {
            if seq != found {
                return Err(corrupt());
            }
            let hashes = from_blob(blob).ok_or_else(corrupt)?;
            nodes.push(*hashes.get(*position).ok_or_else(corrupt)?);
        }
        let frontier = Frontier::from_subtrees(size, nodes).ok_or_else(corrupt)?;
        let checkpointed = self
            .store
            .last_checkpoint(origin)
            .await?
            .map_or(0, |checkpoint| checkpoint.size);
        Ok(Head {
            frontier,
            checkpointed,
            checkpointed_at: Instant::now(),
        })
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
        let (result, attempted_at) = match self.head().await {
            Ok(head) => {
                let size = head.frontier.size();
                match self.drop_landed(&mut leaves, retried, size).await {
                    Ok(dropped) => {
                        later -= dropped;
                        (self.write(head, &leaves, force).await, Some(size))
                    }
                    Err(error) => (Err(self.failed(error).await), None),
                }
            }
            Err(error) => (Err(error), None),
        };
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
    async fn write(&mut self, head: Head, leaves: &[Leaf], force: bool) -> Result<(), AuditError> {
        let mut frontier = head.frontier.clone();
        let mut bundle = Bundle::starting_at(frontier.size(), leaves.len(), RECORD_BYTES);
        for leaf in leaves {
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
        match self
            .store
            .append(&self.config.origin, &bundle, checkpoint.as_ref())
            .await
        {
            Ok(()) => {
                let size = frontier.size();
                self.head = Some(match checkpoint {
                    Some(checkpoint) => {
                        self.sink.send(checkpoint.note);
                        Head {
                            frontier,
                            checkpointed: size,
                            checkpointed_at: Instant::now(),
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
            self.write_later().await;
        }
    }

    /// Commits the outcome records waiting, if any.
    async fn write_later(&mut self) {
        let leaves = take(&self.later);
        if leaves.is_empty() && self.retry.leaves.is_empty() {
            return;
        }
        let count = leaves.len();
        if let Err(error) = self.commit(leaves, count, false).await {
            tracing::error!(%error, "audit write failed; its outcome records wait for the next");
        }
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

    async fn probe(&mut self) -> Result<(), AuditError> {
        match self.store.probe(&self.config.origin, now_ms()).await {
            Ok(()) => {
                let size = self.head.as_ref().map(|head| head.frontier.size());
                self.set_status(None, size);
                Ok(())
            }
            Err(error) => Err(self.failed(error).await),
        }
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
            };
        }
    }
}

/// Milliseconds since the Unix epoch, as records and checkpoints count time.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
