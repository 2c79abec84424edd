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

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tlog_tiles::{Hash, record_hash, sub_tree_index};
use tokio::sync::{mpsc, oneshot};

use crate::checkpoint::CheckpointSigner;
use crate::merkle::{Frontier, from_blob, locate};
use crate::sink::CheckpointSink;
use crate::store::{Bundle, CheckpointRow, Claim, Store};
use crate::{AuditError, Entry};

/// Records per commit at most.
const MAX_BATCH: usize = 2048;
const QUEUE: usize = 16384;
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

/// A cloneable handle that appends records durably.
#[derive(Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<Command>,
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
        let writer = Writer {
            store,
            claim,
            signer,
            config,
            sink,
            head: None,
            status: Arc::clone(&status),
        };
        tokio::spawn(writer.run(receiver));
        Self {
            queue,
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
    /// after the answer). A failure is logged by the writer.
    pub fn append_later(&self, entry: &Entry) {
        let leaf = Leaf::of(entry);
        match self.queue.try_send(Command::Append(leaf, None)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(command)) => {
                let queue = self.queue.clone();
                tokio::spawn(async move {
                    if queue.send(command).await.is_err() {
                        tracing::error!("audit writer gone; an outcome record is lost");
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("audit writer gone; an outcome record is lost");
            }
        }
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

/// What the writer knows of the tree's edge.
struct Head {
    frontier: Frontier,
    checkpointed: u64,
    checkpointed_at: Instant,
}

struct Writer {
    store: Store,
    /// This instance's claim on the origin, taken again if it lapsed.
    claim: Claim,
    signer: CheckpointSigner,
    config: LogConfig,
    sink: CheckpointSink,
    /// `None` until read from the store, and again after a failed write.
    head: Option<Head>,
    status: Arc<Mutex<WriteStatus>>,
}

impl Writer {
    async fn run(mut self, mut receiver: mpsc::Receiver<Command>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut ticker = tokio::time::interval(
            self.config
                .checkpoint_interval
                .min(Duration::from_secs(1))
                .max(MIN_TICK),
        );
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = receiver.recv_many(&mut batch, MAX_BATCH) => {
                    if received == 0 {
                        break;
                    }
                }
                _ = ticker.tick() => {
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
            let mut leaves = Vec::with_capacity(batch.len());
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
                result = self.commit(&leaves, false).await.map_err(Arc::new);
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
                drop(self);
                let _ = ack.send(result);
                return;
            }
        }
    }

    async fn load_head(&mut self) -> Result<Head, AuditError> {
        let origin = &self.config.origin;
        if !self.claim.holds().await {
            self.claim = self.store.claim(origin).await?;
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

    /// Appends `leaves` (possibly none) and, if due or `force`d, a checkpoint.
    async fn commit(&mut self, leaves: &[Leaf], force: bool) -> Result<(), AuditError> {
        let head = match self.head.take() {
            Some(head) => head,
            None => match self.load_head().await {
                Ok(head) => head,
                Err(error) => return Err(self.failed(error).await),
            },
        };
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

    async fn checkpoint_if_due(&mut self) {
        let due = self.head.as_ref().is_some_and(|head| {
            head.frontier.size() > head.checkpointed
                && head.checkpointed_at.elapsed() >= self.config.checkpoint_interval
        });
        if due && let Err(error) = self.commit(&[], true).await {
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

/// The writer wakes at least this often to see whether a checkpoint is due.
const MIN_TICK: Duration = Duration::from_millis(100);

/// Milliseconds since the Unix epoch, as records and checkpoints count time.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
