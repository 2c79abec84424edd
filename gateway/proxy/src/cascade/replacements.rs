//! The replacements (`m.replace` edits) of a redacted event that its sender
//! made: `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/m.replace`
//! (client-server API, "Relationships"), page by page, within bounds.

use std::time::Duration;

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use serde_json::Value;

use super::requester::AsRequester;
use crate::facts::encode;
use crate::respond::Fault;

/// Most replacements redacted after one redaction.
pub const MAX_REPLACEMENTS: usize = 100;
/// Most pages of relations read after one redaction.
pub const MAX_RELATION_PAGES: usize = 10;
/// Longest the lookup may hold up the client's redaction.
pub const LOOKUP_DEADLINE: Duration = Duration::from_secs(5);
/// Relations asked for per page.
const PAGE_SIZE: u32 = 50;

/// The replacements found.
#[derive(Debug, Default)]
pub(crate) struct Replacements {
    /// Their event ids, oldest last as the homeserver lists them.
    pub(crate) ids: Vec<OwnedEventId>,
    /// Whether every replacement was read: false when a bound was reached
    /// or a later page could not be read.
    pub(crate) complete: bool,
}

/// Why no replacement could be looked for.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unfound {
    /// The redacted event cannot be read, so neither can its sender.
    #[error("the redacted event cannot be read (status {0})")]
    Event(u16),
    /// The relations cannot be read.
    #[error("the replacements cannot be read (status {0})")]
    Relations(u16),
    /// The homeserver did not answer.
    #[error("the homeserver did not answer ({0:?})")]
    Homeserver(Fault),
}

impl From<Fault> for Unfound {
    fn from(fault: Fault) -> Self {
        Self::Homeserver(fault)
    }
}

/// The replacements of `event_id` that its sender made and that are not
/// redacted yet.
pub(crate) async fn find(
    homeserver: &AsRequester<'_>,
    room_id: &OwnedRoomId,
    event_id: &OwnedEventId,
) -> Result<Replacements, Unfound> {
    let room = encode(room_id.as_str());
    let event = encode(event_id.as_str());
    let sender = sender(homeserver, &room, &event).await?;
    let path = format!("/_matrix/client/v1/rooms/{room}/relations/{event}/m.replace");
    let mut found = Replacements::default();
    let mut from: Option<String> = None;
    for page in 0..MAX_RELATION_PAGES {
        let query = match &from {
            Some(token) => format!("limit={PAGE_SIZE}&from={}", encode(token)),
            None => format!("limit={PAGE_SIZE}"),
        };
        let (status, body) = match homeserver.get(&path, &query).await {
            Ok(answer) => answer,
            Err(fault) if page == 0 => return Err(fault.into()),
            Err(_) => return Ok(found),
        };
        if !status.is_success() {
            return if page == 0 {
                Err(Unfound::Relations(status.as_u16()))
            } else {
                Ok(found)
            };
        }
        for id in by_sender(&body, &sender) {
            if found.ids.len() == MAX_REPLACEMENTS {
                return Ok(found);
            }
            if !found.ids.contains(&id) {
                found.ids.push(id);
            }
        }
        from = body
            .get("next_batch")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if from.is_none() {
            found.complete = true;
            return Ok(found);
        }
    }
    Ok(found)
}

/// The sender of the redacted event (a redacted event keeps its sender).
async fn sender(
    homeserver: &AsRequester<'_>,
    room: &str,
    event: &str,
) -> Result<OwnedUserId, Unfound> {
    let path = format!("/_matrix/client/v3/rooms/{room}/event/{event}");
    let (status, body) = homeserver.get(&path, "").await?;
    body.get("sender")
        .and_then(Value::as_str)
        .filter(|_| status.is_success())
        .and_then(|sender| OwnedUserId::try_from(sender).ok())
        .ok_or(Unfound::Event(status.as_u16()))
}

/// The ids of a page's events sent by `sender` and not yet redacted.
fn by_sender(page: &Value, sender: &OwnedUserId) -> Vec<OwnedEventId> {
    let Some(chunk) = page.get("chunk").and_then(Value::as_array) else {
        return Vec::new();
    };
    chunk
        .iter()
        .filter(|event| event.get("sender").and_then(Value::as_str) == Some(sender.as_str()))
        .filter(|event| event.pointer("/unsigned/redacted_because").is_none())
        .filter_map(|event| event.get("event_id").and_then(Value::as_str))
        .filter_map(|id| OwnedEventId::try_from(id).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use ruma::OwnedUserId;
    use serde_json::json;

    use super::by_sender;

    #[test]
    fn only_the_senders_unredacted_replacements_are_taken() {
        let alice = OwnedUserId::try_from("@alice:example.org").expect("user");
        let page = json!({"chunk": [
            {"event_id": "$mine:example.org", "sender": "@alice:example.org"},
            {"event_id": "$theirs:example.org", "sender": "@carol:example.org"},
            {"event_id": "$gone:example.org", "sender": "@alice:example.org",
             "unsigned": {"redacted_because": {}}},
            {"event_id": "not an id", "sender": "@alice:example.org"},
        ]});
        let ids: Vec<String> = by_sender(&page, &alice)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(ids, ["$mine:example.org"]);
        assert!(by_sender(&json!({"errcode": "M_FORBIDDEN"}), &alice).is_empty());
    }
}
