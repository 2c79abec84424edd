//! What the writer's callers wait for, and the only answer each may get.
//!
//! A batch keeps its appends, its probes and a close apart, each with an
//! acknowledgement type of its own that takes only the result of the
//! operation it waited for: an append's ack takes a [`Committed`], a probe's
//! a [`Probed`], a close's a [`Flushed`]. The writer makes each of those
//! from one operation only, so one result can never stand in for another
//! (an append is never told it is durable because a probe succeeded).

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

/// Waits for the commit that holds its record.
pub(super) struct AppendAck(oneshot::Sender<Answer>);

/// Waits for a probe of the store.
pub(super) struct ProbeAck(oneshot::Sender<Answer>);

/// Waits for the writer to write what is queued and stop.
pub(super) struct CloseAck(oneshot::Sender<Answer>);

/// The receiving end of an acknowledgement.
pub(super) type Waiting = oneshot::Receiver<Answer>;

impl AppendAck {
    pub(super) fn new() -> (Self, Waiting) {
        let (sender, receiver) = oneshot::channel();
        (Self(sender), receiver)
    }

    pub(super) fn answer(self, committed: &Committed) {
        // A requester that gave up (client went away) needs no answer.
        let _ = self.0.send(committed.0.clone());
    }
}

impl ProbeAck {
    pub(super) fn new() -> (Self, Waiting) {
        let (sender, receiver) = oneshot::channel();
        (Self(sender), receiver)
    }

    /// Whether the prober stopped waiting (its deadline passed).
    pub(super) fn abandoned(&self) -> bool {
        self.0.is_closed()
    }

    pub(super) fn answer(self, probed: &Probed) {
        let _ = self.0.send(probed.0.clone());
    }
}

impl CloseAck {
    pub(super) fn new() -> (Self, Waiting) {
        let (sender, receiver) = oneshot::channel();
        (Self(sender), receiver)
    }

    pub(super) fn answer(self, flushed: Flushed) {
        let _ = self.0.send(flushed.0);
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
