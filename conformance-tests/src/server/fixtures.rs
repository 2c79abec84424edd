//! Rooms and events that cases act on, made once per set of room facts and
//! reused. They are made through the target, or directly on the homeserver
//! when the operator gives its URL (a profile may refuse to make a room
//! whose refusal another case shows).

use std::collections::BTreeMap;

use ruma::OwnedRoomId;
use ruma::api::client::message::send_message_event;
use ruma::api::client::room::create_room;
use ruma::serde::Raw;
use sectorgate_policy::cases::CaseRoom;
use serde_json::{Value, json};

use super::client::{Client, Failure};
use crate::report::Exchange;

/// A room and an event in it.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// The room id.
    pub room: String,
    /// An event id in the room.
    pub event: String,
}

/// Makes and remembers fixtures for one user.
pub struct Fixtures {
    client: Client,
    token: String,
    made: BTreeMap<String, Result<Fixture, Failure>>,
}

impl Fixtures {
    /// Fixtures made through `client` as the user of `token`.
    pub fn new(client: Client, token: &str) -> Self {
        Self {
            client,
            token: token.to_owned(),
            made: BTreeMap::new(),
        }
    }

    /// A room with these facts and an event in it.
    pub fn room(
        &mut self,
        trail: &mut Vec<Exchange>,
        facts: Option<&CaseRoom>,
    ) -> Result<Fixture, Failure> {
        let facts = facts.cloned().unwrap_or_default();
        let key = format!(
            "{}|{:?}|{:?}",
            facts.encrypted, facts.join_rule, facts.state
        );
        if let Some(made) = self.made.get(&key) {
            return made.clone();
        }
        let made = self.make(trail, &facts);
        self.made.insert(key, made.clone());
        made
    }

    /// A new room with these facts, never one made before.
    pub fn fresh(&self, trail: &mut Vec<Exchange>, facts: &CaseRoom) -> Result<Fixture, Failure> {
        self.make(trail, facts)
    }

    fn make(&self, trail: &mut Vec<Exchange>, facts: &CaseRoom) -> Result<Fixture, Failure> {
        let mut initial_state = Vec::new();
        if facts.encrypted {
            initial_state.push(raw(&json!({"type": "m.room.encryption", "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"}}))?);
        }
        for (event_type, content) in &facts.state {
            initial_state.push(raw(
                &json!({"type": event_type, "state_key": "", "content": content}),
            )?);
        }
        let mut request = create_room::v3::Request::new();
        request.preset = Some(match facts.join_rule.as_deref() {
            Some("public") => create_room::v3::RoomPreset::PublicChat,
            _ => create_room::v3::RoomPreset::PrivateChat,
        });
        request.initial_state = initial_state;
        let room = self.client.send(trail, request, Some(&self.token))?.room_id;
        let event = self.event_in(trail, &room, facts.encrypted)?;
        Ok(Fixture {
            room: room.to_string(),
            event,
        })
    }

    /// Sends an event to relate to: encrypted-looking in an encrypted room
    /// (a profile may refuse plaintext there), a text message otherwise.
    fn event_in(
        &self,
        trail: &mut Vec<Exchange>,
        room: &OwnedRoomId,
        encrypted: bool,
    ) -> Result<String, Failure> {
        let (event_type, content) = if encrypted {
            (
                "m.room.encrypted",
                json!({"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEn",
                       "session_id": "conformance", "sender_key": "conformance",
                       "device_id": "CONFORMANCE"}),
            )
        } else {
            (
                "m.room.message",
                json!({"msgtype": "m.text", "body": "an event to relate to"}),
            )
        };
        let request = send_message_event::v3::Request::new_raw(
            room.clone(),
            super::txn_id(),
            event_type.into(),
            raw(&content)?,
        );
        let sent = self.client.send(trail, request, Some(&self.token))?;
        Ok(sent.event_id.to_string())
    }
}

/// JSON as a ruma raw value.
pub(crate) fn raw<T>(value: &Value) -> Result<Raw<T>, Failure> {
    serde_json::value::to_raw_value(value)
        .map(Raw::from_json)
        .map_err(|e| Failure::Broken(format!("cannot encode {value}: {e}")))
}
