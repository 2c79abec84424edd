//! [`AuditLog`]: the pipeline's handle on the log, with group commit.
//!
//! Requests encode and hash their record themselves, hand it to one writer
//! task ([`writer`]) and wait. The writer takes every record waiting (up to
//! a batch limit), gives each the next sequence number, stores its Merkle
//! hashes and, when one is due, a signed checkpoint, all in one durable
//! transaction; then it answers each request with that transaction's result
//! and nothing else ([`batch`]). Under load one fsync covers many requests;
//! alone, a request pays for one. After a failed write the writer reopens
//! the store and rereads the tree's edge from it before the next write, so
//! the gateway recovers by itself once the database is writable again.
//!
//! Outcome records, which nobody waits for, never start a commit of their
//! own: they wait in a list that the next commit takes along, or, when no
//! decision comes, the writer's next tick (at most [`LATER_WAIT`] after).
//! A commit that fails keeps its outcome records for the next one, which
//! leaves out those the log shows a failed commit stored after all.

mod batch;
mod writer;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tlog_tiles::{Hash, record_hash};
use tokio::sync::mpsc;

use crate::checkpoint::CheckpointSigner;
use crate::sink::CheckpointSink;
use crate::store::{Claim, Store};
use crate::{AuditError, Entry, leaf};
use batch::{AppendAck, CloseAck, Command, ProbeAck, Waiting};
use writer::Writer;

const QUEUE: usize = 16384;
/// Outcome records waiting at most; more are dropped (and logged) while
/// the writer is stuck.
const MAX_LATER: usize = 4 * QUEUE;
/// How long outcome records wait for a commit to take them along.
const LATER_WAIT: Duration = Duration::from_millis(50);

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
    /// When this instance last signed a checkpoint, in milliseconds since
    /// the Unix epoch (0: none yet).
    pub checkpoint_at_ms: i64,
}

/// Told of every commit that made records durable.
pub trait CommitObserver: Send + Sync {
    /// `records` were made durable in one commit that took `took`.
    fn committed(&self, records: usize, took: Duration);
}

/// The observer, once one is set.
type Observer = Arc<std::sync::OnceLock<Arc<dyn CommitObserver>>>;

/// A record, encoded and hashed by the requester.
struct Leaf {
    recorded_at: i64,
    bytes: Vec<u8>,
    hash: Hash,
}

impl Leaf {
    /// The leaf of `entry`, committed (see [`crate::leaf`]) or plain.
    fn of(entry: &Entry, commit: bool) -> Self {
        let bytes = entry.encode_leaf(commit);
        Self {
            recorded_at: entry.ts(),
            hash: record_hash(&bytes),
            bytes,
        }
    }

    /// This leaf made committed or plain, as `commit` says.
    fn conform(&mut self, commit: bool) {
        if leaf::is_committed(&self.bytes) != commit
            && let Ok(bytes) = leaf::converted(&self.bytes, commit)
        {
            self.hash = record_hash(&bytes);
            self.bytes = bytes;
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
    /// When the write under way began (ms since the Unix epoch; 0: none).
    writing_since: Arc<AtomicI64>,
    /// Appends in the batch the writer holds.
    in_batch: Arc<AtomicUsize>,
    observer: Observer,
    origin: Arc<str>,
    /// Whether the log's leaves are committed (it began with commitments,
    /// or is new): set by the writer once it has read the log.
    commit: Arc<AtomicBool>,
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
        let writing_since = Arc::new(AtomicI64::new(0));
        let in_batch = Arc::new(AtomicUsize::new(0));
        let observer = Observer::default();
        let commit = Arc::new(AtomicBool::new(true));
        let writer = Writer::new(
            store,
            claim,
            signer,
            config,
            sink,
            writer::Shared {
                later: Arc::clone(&later),
                status: Arc::clone(&status),
                writing_since: Arc::clone(&writing_since),
                in_batch: Arc::clone(&in_batch),
                observer: Arc::clone(&observer),
                commit: Arc::clone(&commit),
            },
        );
        tokio::spawn(writer.run(receiver));
        Self {
            queue,
            later,
            status,
            writing_since,
            in_batch,
            observer,
            origin,
            commit,
        }
    }

    /// Tells `observer` of every commit from now on (the first observer
    /// set stays).
    pub fn observe(&self, observer: Arc<dyn CommitObserver>) {
        let _ = self.observer.set(observer);
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Appends a record; returns once it is durable, or with why it is not.
    pub async fn append(&self, entry: &Entry) -> Result<(), Arc<AuditError>> {
        let (ack, done) = AppendAck::new();
        let leaf = Leaf::of(entry, self.commit.load(Ordering::Relaxed));
        self.send(Command::Append(leaf, ack), done).await
    }

    /// Appends a record without waiting for it (outcome records, written
    /// after the answer): it goes with the next commit. A failure is logged
    /// by the writer.
    pub fn append_later(&self, entry: &Entry) {
        if self.queue.is_closed() {
            tracing::error!("audit writer gone; an outcome record is lost");
            return;
        }
        let leaf = Leaf::of(entry, self.commit.load(Ordering::Relaxed));
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

    /// Writes to the store now, through the writer, after what is queued
    /// (for readiness): `Ok` means the store took a durable write. Gives up
    /// after `within`, saying how much waits and for how long the writer
    /// has been writing, so that readiness answers in time whatever the
    /// store does.
    pub async fn probe(&self, within: Duration) -> Result<(), Arc<AuditError>> {
        let (ack, done) = ProbeAck::new();
        let probed = self.send(Command::Probe(ack), done);
        match tokio::time::timeout(within, probed).await {
            Ok(probed) => probed,
            Err(_) => Err(Arc::new(AuditError::Busy {
                within,
                // Those queued (the probe among them) and those the
                // writer holds.
                waiting: (self.queue.max_capacity() - self.queue.capacity()).saturating_sub(1)
                    + self.in_batch.load(Ordering::Relaxed),
                writing_for: self.writing_for(),
            })),
        }
    }

    /// Writes every record queued so far (outcomes included), then stops
    /// the writer and lets its claim on the origin go. Later appends fail.
    pub async fn close(&self) -> Result<(), Arc<AuditError>> {
        let (ack, done) = CloseAck::new();
        if self.queue.send(Command::Close(ack)).await.is_err() {
            return Ok(());
        }
        done.await.unwrap_or(Ok(()))
    }

    async fn send(&self, command: Command, done: Waiting) -> Result<(), Arc<AuditError>> {
        self.queue
            .send(command)
            .await
            .map_err(|_| Arc::new(AuditError::Closed))?;
        done.await.map_err(|_| Arc::new(AuditError::Closed))?
    }

    /// How long the write under way has been running, if one is.
    fn writing_for(&self) -> Option<Duration> {
        let since = self.writing_since.load(Ordering::Relaxed);
        (since > 0).then(|| Duration::from_millis(u64::try_from(now_ms() - since).unwrap_or(0)))
    }

    /// Records and commands waiting for the writer.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// The outcome of the last write.
    pub fn status(&self) -> WriteStatus {
        self.status
            .lock()
            .map(|status| status.clone())
            .unwrap_or_default()
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
