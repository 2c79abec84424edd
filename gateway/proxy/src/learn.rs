//! What the gateway learns from what passes through it, once the homeserver
//! took the change: the state a new room was created with, a state event
//! set, a user's invite-permission setting. Learning saves asking the
//! homeserver later; what is not learned is asked for when it is needed.

use axum::body::Body;
use axum::response::Response;
use http_body_util::{BodyExt, Limited};
use ruma::{OwnedRoomId, OwnedUserId};
use sectorgate_action::{Action, Classified};
use sectorgate_policy::{Profile, created_room_state};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::facts::FactCache;

/// Largest `createRoom` answer read for its room id.
const MAX_CREATED_BYTES: usize = 64 * 1024;

/// What an allowed request teaches, if the homeserver takes it. Contents
/// are kept as sent and read only once the homeserver has taken them.
pub(crate) enum Learned {
    Nothing,
    /// A room is created from this body (as forwarded).
    CreatedRoom(Vec<u8>),
    /// A state event with an empty state key was set.
    RoomState(OwnedRoomId, String, Box<RawValue>),
    /// A user set an honoured invite-permission setting.
    Setting(OwnedUserId, String, Box<RawValue>),
}

impl Learned {
    /// What `classified` will teach; `amended_body` is the body forwarded in
    /// place of the client's, when the profile filled in defaults.
    pub(crate) fn from(
        classified: &Classified,
        profile: &Profile,
        amended_body: Option<&[u8]>,
    ) -> Self {
        match &classified.action {
            Action::CreateRoom { body, .. } => Self::CreatedRoom(
                amended_body.map_or_else(|| body.get().as_bytes().to_vec(), <[u8]>::to_vec),
            ),
            // The gateway keeps only state with an empty state key.
            Action::SendStateEvent {
                room_id,
                event_type,
                state_key,
                content,
            } if state_key.is_empty() => {
                Self::RoomState(room_id.clone(), event_type.clone(), content.clone())
            }
            Action::SetAccountData {
                user_id,
                room_id: None,
                event_type,
                content,
            } if profile
                .invites
                .permissions
                .as_ref()
                .is_some_and(|permissions| permissions.format(event_type).is_some()) =>
            {
                Self::Setting(user_id.clone(), event_type.clone(), content.clone())
            }
            _ => Self::Nothing,
        }
    }

    /// Learns from a successful answer, and passes the answer on.
    pub(crate) async fn apply(self, response: Response, facts: &FactCache) -> Response {
        if !response.status().is_success() {
            return response;
        }
        match self {
            Self::Nothing => response,
            Self::RoomState(room_id, event_type, content) => {
                if let Ok(content) = serde_json::from_str(content.get()) {
                    facts.learn_room_state(&room_id, &event_type, Some(content));
                }
                response
            }
            Self::Setting(user_id, event_type, content) => {
                if let Ok(content) = serde_json::from_str(content.get()) {
                    facts.learn_setting(&user_id, &event_type, content);
                }
                response
            }
            Self::CreatedRoom(request_body) => {
                // The room id is in the answer: read it (it is small), then
                // pass the same bytes on.
                let (parts, body) = response.into_parts();
                let bytes = match Limited::new(body, MAX_CREATED_BYTES).collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(_) => return Response::from_parts(parts, Body::empty()),
                };
                let room_id = serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .and_then(|answer| {
                        answer
                            .get("room_id")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .and_then(|room_id| OwnedRoomId::try_from(room_id).ok());
                let state = serde_json::from_slice::<Value>(&request_body)
                    .map(|body| created_room_state(&body))
                    .ok();
                if let (Some(room_id), Some(state)) = (room_id, state) {
                    // A room made without encryption has none yet: that is
                    // known too, for as long as other state is believed.
                    let encryption = state.get("m.room.encryption").cloned();
                    facts.learn_room_state(&room_id, "m.room.encryption", encryption);
                    // The create event's sender is not in the request: it
                    // is asked for when it is needed.
                    for (event_type, content) in state {
                        if event_type != "m.room.create" {
                            facts.learn_room_state(&room_id, &event_type, Some(content));
                        }
                    }
                }
                Response::from_parts(parts, Body::from(bytes))
            }
        }
    }
}
