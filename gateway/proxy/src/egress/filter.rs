//! Answers that carry other servers' events (backfill, missing events,
//! state, single events): events sent by users of servers outside the
//! federation are taken out before the homeserver sees them. Auth chains
//! are left whole: they authorise the rest, and an event there grants
//! nothing by itself.

use ruma::UserId;
use serde_json::Value;

use sectorgate_policy::federation::{Admission, FederationFacts};

/// The field holding the events of an answer to `endpoint`, if it is one
/// whose events are filtered.
pub(crate) fn events_field(endpoint: &str) -> Option<&'static str> {
    match endpoint {
        "federation.get_backfill" | "federation.get_event" | "federation.get_room_state" => {
            Some("pdus")
        }
        "federation.get_missing_events" => Some("events"),
        _ => None,
    }
}

/// Removes the events of non-members from `answer[field]`; how many went.
pub(crate) fn filter(answer: &mut Value, field: &str, facts: &FederationFacts<'_>) -> usize {
    let Some(events) = answer.get_mut(field).and_then(Value::as_array_mut) else {
        return 0;
    };
    let before = events.len();
    events.retain(|event| {
        event
            .get("sender")
            .and_then(Value::as_str)
            .and_then(|sender| UserId::parse(sender).ok())
            .is_some_and(|sender| facts.admits(sender.server_name()) == Admission::Member)
    });
    before - events.len()
}
