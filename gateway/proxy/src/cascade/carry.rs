//! The state carried into an upgraded room (`rooms.upgrade.carry_state`):
//! the homeserver copies only the state the specification names into a
//! room's replacement, not a deployment's own (Tchap's access rule). Once
//! it has upgraded the room, the gateway sets that state in the
//! replacement, as it was in the old room, as the requester: each event a
//! request on their behalf (`behalf.rs`), in a task of its own. The
//! replacement's id is read from the homeserver's answer, which passes on
//! unchanged. The homeserver's power levels decide, as for the requester's
//! own state events: whoever may upgrade a room may set its state.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use http::request::Parts;
use http_body_util::{BodyExt, Limited};
use ruma::OwnedRoomId;
use sectorgate_audit::Peer;
use sectorgate_policy::StateCarry;
use serde_json::Value;
use tracing::Instrument;

use super::behalf::{Behalf, Put};
use super::requester::{AsRequester, Requester};
use crate::Gateway;
use crate::facts::encode;

/// Largest upgrade answer read for the replacement's id.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The state a room upgrade carries, with whom it acts for.
pub(crate) struct Carry {
    plan: Box<StateCarry>,
    requester: Requester,
    peer: Peer,
    /// What links its records to the upgrade: that request's trace id, or
    /// its request id when it carried none.
    trace_id: String,
}

impl Carry {
    /// The carry `plan` for the upgrade of `parts`, made as `peer`; `None`
    /// for a request without an access token (the homeserver refuses those).
    pub(crate) fn new(
        plan: Box<StateCarry>,
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
        })
    }

    /// Reads the replacement's id from the homeserver's successful answer,
    /// sets the state there in a task of its own, and passes the same
    /// answer on.
    pub(crate) async fn follow(self, response: Response, gateway: Arc<Gateway>) -> Response {
        let (parts, body) = response.into_parts();
        let bytes = match Limited::new(body, MAX_ANSWER_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return Response::from_parts(parts, Body::empty()),
        };
        let replacement = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|answer| answer.get("replacement_room").cloned())
            .and_then(|room| serde_json::from_value::<OwnedRoomId>(room).ok());
        match replacement {
            Some(room) => {
                let span = tracing::info_span!(
                    "carry_state",
                    rule = %self.plan.rule,
                    trace_id = %self.trace_id,
                );
                tokio::spawn(async move { self.run(&room, &gateway).await }.instrument(span));
            }
            None => tracing::warn!(
                rule = %self.plan.rule,
                "the upgrade's answer names no replacement room; no state carried"
            ),
        }
        Response::from_parts(parts, Body::from(bytes))
    }

    async fn run(self, room: &OwnedRoomId, gateway: &Gateway) {
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
        for (event_type, content) in &self.plan.state {
            let put = Put {
                endpoint: "client.send_state_event",
                action: "send_state_event",
                path: format!(
                    "/_matrix/client/v3/rooms/{}/state/{}/",
                    encode(room.as_str()),
                    encode(event_type)
                ),
                body: content.to_string().into_bytes(),
            };
            if behalf.put(put).await.is_none() {
                tracing::error!("no more state is carried");
                break;
            }
        }
    }
}
