//! The journal's own thread: it owns the [`Journal`] and does its blocking
//! writes and syncs, one commit at a time, so that no runtime worker waits
//! in `fdatasync`. The log's writer task sends it a commit and awaits the
//! answer; commits that queue meanwhile wait for the next frame.

use std::sync::mpsc;

use tokio::sync::oneshot;

use super::Journal;
use super::storage::Storage;
use crate::AuditError;
use crate::merkle::Frontier;
use crate::store::{Bundle, CheckpointRow};

/// The tree's edge and the last checkpoint.
pub type Head = (Frontier, Option<CheckpointRow>);

enum Job {
    Append(
        Bundle,
        Option<CheckpointRow>,
        oneshot::Sender<Result<(), AuditError>>,
    ),
    Probe(oneshot::Sender<Result<(), AuditError>>),
    Head(oneshot::Sender<Result<Head, AuditError>>),
}

/// A handle on the thread; the thread ends when the last handle is dropped.
#[derive(Clone, Debug)]
pub struct JournalThread {
    jobs: mpsc::Sender<Job>,
}

impl JournalThread {
    /// Starts the thread that writes `journal`.
    pub fn spawn<S: Storage>(mut journal: Journal<S>) -> std::io::Result<Self> {
        let (jobs, receiver) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("audit-journal".into())
            .spawn(move || {
                while let Ok(job) = receiver.recv() {
                    // A caller that stopped waiting needs no answer.
                    match job {
                        Job::Append(bundle, checkpoint, done) => {
                            let _ = done.send(journal.append(&bundle, checkpoint.as_ref()));
                        }
                        Job::Probe(done) => {
                            let _ = done.send(journal.probe());
                        }
                        Job::Head(done) => {
                            let _ = done.send(journal.check().map(|()| journal.head()));
                        }
                    }
                }
            })?;
        Ok(Self { jobs })
    }

    /// Appends `bundle` and `checkpoint` as one frame; returns once they
    /// are durable.
    pub async fn append(
        &self,
        bundle: Bundle,
        checkpoint: Option<CheckpointRow>,
    ) -> Result<(), AuditError> {
        self.ask(|done| Job::Append(bundle, checkpoint, done)).await
    }

    /// Whether the journal still takes durable writes (a sync of its
    /// segment).
    pub async fn probe(&self) -> Result<(), AuditError> {
        self.ask(Job::Probe).await
    }

    /// The tree's edge and the last checkpoint; an error once a write
    /// failed.
    pub async fn head(&self) -> Result<Head, AuditError> {
        self.ask(Job::Head).await
    }

    async fn ask<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, AuditError>>) -> Job,
    ) -> Result<T, AuditError> {
        let (done, answer) = oneshot::channel();
        self.jobs.send(job(done)).map_err(|_| AuditError::Closed)?;
        answer.await.map_err(|_| AuditError::Closed)?
    }
}
