//! What the gateway does on a user's behalf once the homeserver has taken
//! their request, each a request of its own ([`behalf`]): redaction
//! cascades, here, and the state carried into an upgraded room
//! ([`carry`]).
//!
//! Redaction cascades (`redactions.cascade_replacements`): once the
//! homeserver has taken a redaction the profile says is followed, the
//! gateway redacts the replacements (`m.replace` edits) of the redacted
//! event, so that no edited text stays visible.
//!
//! Only replacements by the redacted event's own sender are redacted: a
//! replacement by anyone else is not an edit (clients ignore it). They are
//! redacted as the requester, with their access token: for a moderator who
//! redacted someone else's message, that is what hides the edits, and the
//! homeserver's own power levels decide as for the original.
//!
//! The replacements are looked up just before the client's redaction is
//! forwarded (the relations API, as the requester; see `replacements.rs`):
//! once an event is redacted, Synapse no longer lists its edits. The lookup
//! is bounded ([`LOOKUP_DEADLINE`], [`MAX_RELATION_PAGES`],
//! [`MAX_REPLACEMENTS`]) and never refuses: if it fails, that is logged and
//! nothing follows. An edit sent between the lookup and the redaction is
//! not seen.
//!
//! Once the homeserver has answered the client's redaction with a 2xx, the
//! replacements are redacted in a task of its own, which never holds up or
//! changes the client's answer. Each is a request of its own: its own
//! request id and decision record (rule and `by_gateway` the cascade's
//! rule, the peer the requester's; its trace id the client's request's, or
//! that request's id), durable before it is sent, then its outcome (the
//! homeserver's status, or the gateway's fault). What fails is logged and
//! recorded, never told to the client. Its transaction id is derived from
//! the client's redaction, so a retried redaction repeats the same requests
//! and the homeserver takes each once. In shadow mode each is recorded
//! (`shadow`, outcome 0) and not sent.

mod behalf;
mod carry;
mod replacements;
mod requester;

use std::sync::Arc;

use http::request::Parts;
use ruma::{EventId, OwnedEventId};
use sectorgate_audit::Peer;
use sectorgate_policy::RedactionCascade;
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::Gateway;
use crate::facts::encode;
use behalf::{Behalf, Put};
pub(crate) use carry::Carry;
use requester::{AsRequester, Requester};

pub use replacements::{LOOKUP_DEADLINE, MAX_RELATION_PAGES, MAX_REPLACEMENTS};

/// The endpoint of a cascaded redaction, as recorded.
const ENDPOINT: &str = "client.redact_event";
/// Its action kind, as recorded.
const ACTION: &str = "redact_event";

/// A cascade the policy asked for, with whom it acts for.
pub(crate) struct Cascade {
    plan: Box<RedactionCascade>,
    requester: Requester,
    peer: Peer,
    /// What links its records to the client's redaction: that request's
    /// trace id, or its request id when it carried none.
    trace_id: String,
    /// The replacements to redact, once looked up.
    replacements: Vec<OwnedEventId>,
}

impl Cascade {
    /// The cascade `plan` for the request of `parts`, made as `peer`;
    /// `None` for a request without an access token (the homeserver
    /// refuses those).
    pub(crate) fn new(
        plan: Box<RedactionCascade>,
        parts: &Parts,
        peer: Peer,
        request_id: &str,
        trace_id: Option<&str>,
    ) -> Option<Self> {
        Some(Self {
            requester: Requester::of(parts)?,
            plan,
            peer,
            trace_id: trace_id.unwrap_or(request_id).to_owned(),
            replacements: Vec::new(),
        })
    }

    /// Finds the replacements to redact, before the client's redaction is
    /// forwarded: once an event is redacted, the homeserver no longer lists
    /// its edits (Synapse hides them, as they would show its content).
    /// Within [`LOOKUP_DEADLINE`]; a lookup that fails is logged and leaves
    /// nothing to redact, never a refusal. `None`: nothing to redact.
    pub(crate) async fn look_up(mut self, gateway: &Gateway) -> Option<Self> {
        let homeserver = AsRequester {
            client: &gateway.client,
            config: &gateway.config,
            requester: &self.requester,
        };
        let lookup = replacements::find(&homeserver, &self.plan.room_id, &self.plan.event_id);
        let found = match tokio::time::timeout(LOOKUP_DEADLINE, lookup).await {
            Ok(Ok(found)) => found,
            Ok(Err(why)) => {
                tracing::warn!(rule = %self.plan.rule, %why, "replacements not looked up");
                return None;
            }
            Err(_) => {
                tracing::warn!(rule = %self.plan.rule, "replacements not looked up in time");
                return None;
            }
        };
        if !found.complete {
            tracing::warn!(
                rule = %self.plan.rule,
                found = found.ids.len(),
                "not every replacement could be read, or there are more than the bounds \
                 allow; only those found are redacted"
            );
        }
        self.replacements = found.ids;
        (!self.replacements.is_empty()).then_some(self)
    }

    /// Redacts the replacements found, in a task of its own.
    pub(crate) fn spawn(self, gateway: Arc<Gateway>) {
        let span = tracing::info_span!(
            "cascade",
            rule = %self.plan.rule,
            trace_id = %self.trace_id,
        );
        tokio::spawn(async move { self.run(&gateway).await }.instrument(span));
    }

    async fn run(self, gateway: &Gateway) {
        let homeserver = AsRequester {
            client: &gateway.client,
            config: &gateway.config,
            requester: &self.requester,
        };
        let behalf = Behalf {
            gateway,
            homeserver: &homeserver,
            peer: &self.peer,
            trace_id: &self.trace_id,
            rule: &self.plan.rule,
            shadow: self.plan.shadow,
        };
        for replacement in &self.replacements {
            if behalf.put(self.redaction(replacement)).await.is_none() {
                tracing::error!("the cascade stops");
                break;
            }
        }
    }

    /// The redaction of one replacement.
    fn redaction(&self, replacement: &OwnedEventId) -> Put {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/redact/{}/{}",
            encode(self.plan.room_id.as_str()),
            encode(replacement.as_str()),
            txn_id(&self.plan, replacement)
        );
        let body = match &self.plan.reason {
            Some(reason) => json!({ "reason": reason }),
            None => json!({}),
        };
        Put {
            endpoint: ENDPOINT,
            action: ACTION,
            path,
            body: body.to_string().into_bytes(),
        }
    }
}

/// The transaction id of the redaction of `replacement` that follows the
/// client's redaction of `event_id` (transaction `txn_id`): the same for
/// every retry of that redaction, another for any other.
fn txn_id(plan: &RedactionCascade, replacement: &EventId) -> String {
    let mut hasher = Sha256::new();
    for part in [
        plan.event_id.as_str(),
        plan.txn_id.as_str(),
        replacement.as_str(),
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    format!("sgcascade.{}", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use ruma::{OwnedEventId, OwnedRoomId, OwnedTransactionId};
    use sectorgate_policy::{RedactionCascade, RuleId};

    use super::txn_id;

    fn plan(event: &str, txn: &str) -> RedactionCascade {
        RedactionCascade {
            rule: RuleId::profile("tim.redaction_cascade"),
            shadow: false,
            room_id: OwnedRoomId::try_from("!room:example.org").expect("room"),
            event_id: OwnedEventId::try_from(event).expect("event"),
            txn_id: OwnedTransactionId::from(txn),
            reason: None,
        }
    }

    #[test]
    fn a_retried_redaction_repeats_its_transaction_ids_and_no_other_does() {
        let edit = OwnedEventId::try_from("$edit:example.org").expect("edit");
        let other = OwnedEventId::try_from("$other:example.org").expect("edit");
        let first = txn_id(&plan("$a:example.org", "t1"), &edit);
        assert_eq!(first, txn_id(&plan("$a:example.org", "t1"), &edit));
        assert!(
            first.starts_with("sgcascade.") && first.len() == 42,
            "{first}"
        );
        for different in [
            txn_id(&plan("$a:example.org", "t1"), &other),
            txn_id(&plan("$a:example.org", "t2"), &edit),
            txn_id(&plan("$b:example.org", "t1"), &edit),
        ] {
            assert_ne!(first, different);
        }
    }
}
