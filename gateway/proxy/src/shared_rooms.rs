//! Whether two users share a room, as the homeserver tells the first of
//! them (the requester, with their own access): their joined rooms
//! (`GET …/joined_rooms`), then, room by room, the other user's
//! membership (`GET …/rooms/{roomId}/state/m.room.member/{userId}`),
//! stopping at the first room both are joined to.
//!
//! Bounded: at most [`MAX_ROOMS_CHECKED`] of the requester's rooms are
//! asked about, [`CONCURRENT_CHECKS`] at a time. A requester in more rooms
//! who shares none of those with the other user is not judged: the answer
//! is unknown (and a lookup that needed it refused as such), never taken
//! for a no. So is an answer the homeserver would not give.
//!
//! Answers, and the requester's rooms, are kept for [`SHARED_ROOMS_TTL`],
//! by user ids (never by token).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use http::StatusCode;
use quick_cache::sync::Cache;
use ruma::{OwnedUserId, UserId};
use serde_json::Value;

use crate::facts::{Asker, encode};
use crate::respond::Fault;

/// How long whether two users share a room, and a user's rooms, are
/// believed.
pub const SHARED_ROOMS_TTL: Duration = Duration::from_secs(10);
/// The most of a requester's rooms asked about for one other user.
pub const MAX_ROOMS_CHECKED: usize = 100;
/// How many of those questions are asked at once.
pub const CONCURRENT_CHECKS: usize = 8;
/// Entries per cache.
const CACHE_ENTRIES: usize = 20_000;

type Stamped<T> = (Instant, T);

/// The caches, shared by all requests.
pub(crate) struct SharedRooms {
    /// A requester's joined rooms.
    joined: Cache<OwnedUserId, Stamped<Arc<[String]>>>,
    /// (requester, other user) → whether they share a room.
    answers: Cache<(OwnedUserId, OwnedUserId), Stamped<bool>>,
}

impl std::fmt::Debug for SharedRooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRooms")
            .field("joined", &self.joined.len())
            .field("answers", &self.answers.len())
            .finish()
    }
}

impl SharedRooms {
    pub(crate) fn new() -> Self {
        Self {
            joined: Cache::new(CACHE_ENTRIES),
            answers: Cache::new(CACHE_ENTRIES),
        }
    }

    /// Whether `requester` (who `asker` asks as) shares a room with
    /// `other`; `None` when that cannot be learned. A homeserver that
    /// cannot be reached is a fault.
    pub(crate) async fn share(
        &self,
        asker: &Asker<'_>,
        requester: &OwnedUserId,
        other: &UserId,
    ) -> Result<Option<bool>, Fault> {
        let key = (requester.clone(), other.to_owned());
        if let Some((at, answer)) = self.answers.get(&key)
            && at.elapsed() < SHARED_ROOMS_TTL
        {
            return Ok(Some(answer));
        }
        let Some(rooms) = self.joined_rooms(asker, requester).await? else {
            return Ok(None);
        };
        let answer = joined_to_any(asker, &rooms, other).await?;
        if let Some(answer) = answer {
            self.answers.insert(key, (Instant::now(), answer));
        }
        Ok(answer)
    }

    /// The requester's joined rooms; `None` when the homeserver does not
    /// list them.
    async fn joined_rooms(
        &self,
        asker: &Asker<'_>,
        requester: &OwnedUserId,
    ) -> Result<Option<Arc<[String]>>, Fault> {
        if let Some((at, rooms)) = self.joined.get(requester)
            && at.elapsed() < SHARED_ROOMS_TTL
        {
            return Ok(Some(rooms));
        }
        let (status, body) = asker.get("/_matrix/client/v3/joined_rooms").await?;
        if status != StatusCode::OK {
            return Ok(None);
        }
        let listed = body.get("joined_rooms").and_then(Value::as_array);
        let rooms: Option<Arc<[String]>> = listed.and_then(|rooms| {
            rooms
                .iter()
                .map(|room| room.as_str().map(str::to_owned))
                .collect()
        });
        if let Some(rooms) = &rooms {
            self.joined
                .insert(requester.clone(), (Instant::now(), rooms.clone()));
        }
        Ok(rooms)
    }
}

/// Whether `other` is joined to one of `rooms` (the first
/// [`MAX_ROOMS_CHECKED`]); `None` when a room could not be asked about
/// and none said yes, or when rooms were left unasked.
async fn joined_to_any(
    asker: &Asker<'_>,
    rooms: &[String],
    other: &UserId,
) -> Result<Option<bool>, Fault> {
    // Owned ids: a stream of borrowed ones cannot be proven `Send`.
    let asked: Vec<String> = rooms.iter().take(MAX_ROOMS_CHECKED).cloned().collect();
    let mut answers = stream::iter(asked)
        .map(|room| async move { joined(asker, &room, other).await })
        .buffer_unordered(CONCURRENT_CHECKS);
    let mut known = rooms.len() <= MAX_ROOMS_CHECKED;
    while let Some(answer) = answers.next().await {
        match answer? {
            Some(true) => return Ok(Some(true)),
            Some(false) => {}
            None => known = false,
        }
    }
    if !known {
        tracing::warn!(
            rooms = rooms.len(),
            max = MAX_ROOMS_CHECKED,
            "cannot tell whether two users share a room"
        );
    }
    Ok(known.then_some(false))
}

/// Whether `other` is joined to `room`, as its member state says; `None`
/// when the homeserver gives no answer to read.
async fn joined(asker: &Asker<'_>, room: &str, other: &UserId) -> Result<Option<bool>, Fault> {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
        encode(room),
        encode(other.as_str())
    );
    let (status, body) = asker.get(&path).await?;
    Ok(match status {
        StatusCode::OK => Some(body.get("membership").and_then(Value::as_str) == Some("join")),
        // No membership at all; or a room the requester has left since.
        StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => Some(false),
        _ => None,
    })
}
