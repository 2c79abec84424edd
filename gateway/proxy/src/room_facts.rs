//! What the gateway learns of a room besides its state, each time it is
//! needed (they are asked for rarely, and change at any time, so they are
//! not cached), always as the requester:
//!
//! - its listing in the room directory
//!   (`GET …/directory/list/room/{roomId}`);
//! - the users with a membership in it (`GET …/rooms/{roomId}/members`),
//!   only where the room's state meets the rule that reads them;
//! - the requester's own membership in a room they may not be in yet
//!   (`GET /_matrix/client/v1/room_summary/{roomIdOrAlias}`, which a user
//!   invited to a room, or a room anyone may join, may read): a room the
//!   homeserver will not describe to them is one they have no invitation to.
//!
//! A fact the homeserver will not tell is unknown: `decide` refuses what
//! needed it.

use std::collections::BTreeSet;

use http::StatusCode;
use ruma::{OwnedRoomId, OwnedRoomOrAliasId};
use serde_json::Value;

use crate::facts::{Asker, encode};
use crate::respond::Fault;

/// Whether the room is listed in the room directory; `None` when the
/// homeserver does not say.
pub(crate) async fn published(
    asker: &Asker<'_>,
    room_id: &OwnedRoomId,
) -> Result<Option<bool>, Fault> {
    let path = format!(
        "/_matrix/client/v3/directory/list/room/{}",
        encode(room_id.as_str())
    );
    let (status, body) = asker.get(&path).await?;
    Ok((status == StatusCode::OK)
        .then(|| body.get("visibility").and_then(Value::as_str))
        .flatten()
        .map(|visibility| visibility == "public"))
}

/// The users with a membership event in the room, as the requester sees
/// them; `None` when the homeserver does not show them.
pub(crate) async fn members(
    asker: &Asker<'_>,
    room_id: &OwnedRoomId,
) -> Result<Option<BTreeSet<String>>, Fault> {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/members",
        encode(room_id.as_str())
    );
    let (status, body) = asker.get(&path).await?;
    if status != StatusCode::OK {
        return Ok(None);
    }
    let Some(chunk) = body.get("chunk").and_then(Value::as_array) else {
        return Ok(None);
    };
    Ok(Some(
        chunk
            .iter()
            .filter_map(|event| event.get("state_key").and_then(Value::as_str))
            .map(str::to_owned)
            .collect(),
    ))
}

/// The requester's membership in the room (`invite`, `join`, `leave`, …):
/// `leave` when they have none, or the homeserver will not describe the
/// room to them; `None` when the homeserver does not answer the question
/// (it does not know the endpoint).
pub(crate) async fn membership(
    asker: &Asker<'_>,
    room: &OwnedRoomOrAliasId,
) -> Result<Option<String>, Fault> {
    let path = format!("/_matrix/client/v1/room_summary/{}", encode(room.as_str()));
    let (status, body) = asker.get(&path).await?;
    let errcode = body.get("errcode").and_then(Value::as_str);
    Ok(match status {
        StatusCode::OK => Some(
            body.get("membership")
                .and_then(Value::as_str)
                .unwrap_or("leave")
                .to_owned(),
        ),
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND if errcode != Some("M_UNRECOGNIZED") => {
            Some("leave".to_owned())
        }
        _ => None,
    })
}
