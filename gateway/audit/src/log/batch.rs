//! What the writer's callers wait for, and the only answer each may get.
//!
//! A batch keeps its appends, its probes and a close apart, each with an
//! acknowledgement type of its own that takes only the result of the
//! operation it waited for: an append's ack takes a [`Committed`], a probe's
//! a [`Probed`], a close's a [`Flushed`]. The writer makes each of those
//! from one operation only, so one result can never stand in for another
//! (an append is never told it is durable because a probe succeeded).

use std::marker::PhantomData;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::Leaf;
use crate::AuditError;

/// What a waiter is told.
pub(super) type Answer = Result<(), Arc<AuditError>>;

/// The result of one commit of a batch's records.
pub(super) struct Committed(pub(super) Answer);

/// The result of one probe of the store.
pub(super) struct Probed(pub(super) Answer);

/// The result of the last write before the writer stops.
pub(super) struct Flushed(pub(super) Answer);

/// The result of one operation, which only the acks waiting for that kind
/// of operation take.
pub(super) trait Outcome {
    fn answer(&self) -> Answer;
}

impl Outcome for Committed {
    fn answer(&self) -> Answer {
        self.0.clone()
    }
}

impl Outcome for Probed {
    fn answer(&self) -> Answer {
        self.0.clone()
    }
}

impl Outcome for Flushed {
    fn answer(&self) -> Answer {
        self.0.clone()
    }
}

/// Waits for the result of one operation of kind `O`.
pub(super) struct Ack<O>(oneshot::Sender<Answer>, PhantomData<O>);

/// Waits for the commit that holds its record.
pub(super) type AppendAck = Ack<Committed>;

/// Waits for a probe of the store.
pub(super) type ProbeAck = Ack<Probed>;

/// Waits for the writer to write what is queued and stop.
pub(super) type CloseAck = Ack<Flushed>;

/// The receiving end of an acknowledgement.
pub(super) type Waiting = oneshot::Receiver<Answer>;

impl<O: Outcome> Ack<O> {
    pub(super) fn new() -> (Self, Waiting) {
        let (sender, receiver) = oneshot::channel();
        (Self(sender, PhantomData), receiver)
    }

    /// Whether the waiter stopped waiting (its deadline passed, its client
    /// went away).
    pub(super) fn abandoned(&self) -> bool {
        self.0.is_closed()
    }

    pub(super) fn answer(self, outcome: &O) {
        // A waiter that gave up needs no answer.
        let _ = self.0.send(outcome.answer());
    }
}

/// What a handle asks of the writer.
pub(super) enum Command {
    Append(Leaf, AppendAck),
    Probe(ProbeAck),
    /// Write what is queued, stop, and let the claim go.
    Close(CloseAck),
}

/// The commands the writer took at once, sorted by what they wait for.
pub(super) struct Batch {
    /// The records to commit: the first `later` are outcome records,
    /// which nobody waits for; the rest are the appends' decisions.
    pub(super) leaves: Vec<Leaf>,
    pub(super) later: usize,
    /// One per decision record, answered from that commit's result.
    pub(super) appends: Vec<AppendAck>,
    /// Answered from a probe of their own.
    pub(super) probes: Vec<ProbeAck>,
    pub(super) close: Option<CloseAck>,
}

impl Batch {
    /// Sorts `commands` behind the outcome records `later`.
    pub(super) fn of(later: Vec<Leaf>, commands: impl ExactSizeIterator<Item = Command>) -> Self {
        let mut batch = Self {
            later: later.len(),
            leaves: later,
            appends: Vec::with_capacity(commands.len()),
            probes: Vec::new(),
            close: None,
        };
        batch.leaves.reserve(commands.len());
        for command in commands {
            match command {
                Command::Append(leaf, ack) => {
                    batch.leaves.push(leaf);
                    batch.appends.push(ack);
                }
                Command::Probe(ack) => batch.probes.push(ack),
                Command::Close(ack) => batch.close = Some(ack),
            }
        }
        batch
    }

    /// Whether some prober still waits for an answer.
    pub(super) fn wants_probe(&self) -> bool {
        self.probes.iter().any(|probe| !probe.abandoned())
    }
}
