//! What the query index keeps of one record: the fields an auditor looks
//! records up by. An outcome carries the fields of the decision it belongs
//! to, so that asking for a user's or a rule's records finds both.

use crate::{Entry, Peer};

/// One record's row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Row {
    pub(super) seq: u64,
    pub(super) ts: i64,
    /// `decision` or `outcome`.
    pub(super) kind: &'static str,
    /// The decision's id (an outcome's: the decision it belongs to).
    pub(super) decision: String,
    /// The outcome's status to the client; `None` on a decision.
    pub(super) status: Option<u16>,
    pub(super) of: Decided,
}

/// The decision's fields, shared by its outcome. All `None` for an
/// outcome whose decision is not in the index (pruned before it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Decided {
    pub(super) request_id: Option<String>,
    /// The peer's public name or pseudonym.
    pub(super) peer: Option<String>,
    pub(super) peer_kind: Option<String>,
    pub(super) destination: Option<String>,
    pub(super) direction: Option<String>,
    pub(super) endpoint: Option<String>,
    pub(super) action: Option<String>,
    pub(super) rule: Option<String>,
    pub(super) verdict: Option<String>,
    pub(super) profile: Option<String>,
}

impl Row {
    /// The row of record `seq`; an outcome's decision fields are left for
    /// the caller to fill ([`Row::of`]).
    pub(super) fn new(seq: u64, entry: &Entry) -> Self {
        match entry {
            Entry::Decision(decision) => Self {
                seq,
                ts: decision.ts,
                kind: "decision",
                decision: decision.id.clone(),
                status: None,
                of: Decided {
                    request_id: Some(decision.request_id.clone()),
                    peer: decision.peer.id().map(str::to_owned),
                    peer_kind: Some(decision.peer.kind().to_owned()),
                    destination: decision
                        .destination
                        .as_ref()
                        .and_then(Peer::id)
                        .map(str::to_owned),
                    direction: Some(
                        match decision.direction {
                            crate::Direction::Inbound => "inbound",
                            crate::Direction::Outbound => "outbound",
                        }
                        .to_owned(),
                    ),
                    endpoint: decision.endpoint.clone(),
                    action: Some(decision.action.clone()),
                    rule: Some(decision.rule.clone()),
                    verdict: Some(decision.verdict.as_str().to_owned()),
                    profile: Some(decision.profile.id.clone()),
                },
            },
            Entry::Outcome(outcome) => Self {
                seq,
                ts: outcome.ts,
                kind: "outcome",
                decision: outcome.decision.clone(),
                status: Some(outcome.status),
                of: Decided::default(),
            },
        }
    }

    /// Whether this is an outcome, whose decision's fields are to be found.
    pub(super) fn is_outcome(&self) -> bool {
        self.kind == "outcome"
    }
}
