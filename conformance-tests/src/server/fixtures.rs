//! Rooms and events that cases act on. A room is made through the target
//! the way a compliant client makes it under the profile ([`RoomPlan`]);
//! a room the profile does not let a client create (a case about what
//! happens in one) is made on the homeserver directly, when the run was
//! given its URL, and is otherwise not made: the case is not exercised.
//! A room the target refuses although the profile allows it is an error of
//! the run. Each room is made once per plan and reused.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ruma::OwnedRoomId;
use ruma::api::client::message::send_message_event;
use ruma::serde::Raw;
use sectorgate_policy::Profile;
use sectorgate_policy::cases::{Case, CaseRoom};
use serde_json::{Value, json};

use super::client::{Client, Failure};
use super::compliant::{RoomPlan, holds_in};
use crate::report::Exchange;

/// A room and an event in it.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// The room id.
    pub room: String,
    /// An event id in the room.
    pub event: String,
}

/// Why a fixture was not made.
#[derive(Clone, Debug)]
pub enum Unmade {
    /// It cannot be made in this run (the reason says what would make it
    /// possible): the test is not exercised.
    NotHere(String),
    /// The target refused a room the profile lets a compliant client
    /// create, or no answer came: an error of the run.
    Failed(String),
}

/// Where a room is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    /// Through the target, as a client.
    Target,
    /// On the homeserver directly (`--fixture-url`).
    Homeserver,
}

/// What the suite knows when it plans a room.
pub struct Setting<'a> {
    /// The profile in test.
    pub profile: &'a Profile,
    /// The room versions the product offers.
    pub offered: &'a BTreeSet<String>,
    /// Now, for the profile's decisions.
    pub now_ms: u64,
    /// How old the event a case acts on will be.
    pub event_age: Duration,
}

/// Makes and remembers fixtures.
pub struct Fixtures {
    target: Client,
    homeserver: Option<Client>,
    /// Who makes the rooms of the scenarios.
    token: String,
    made: BTreeMap<(Place, String, String), Result<Fixture, Unmade>>,
}

impl Fixtures {
    /// Fixtures made as the user of `token`, through `target`, or on
    /// `homeserver` when the profile does not let a client make them.
    pub fn new(target: Client, homeserver: Option<Client>, token: &str) -> Self {
        Self {
            target,
            homeserver,
            token: token.to_owned(),
            made: BTreeMap::new(),
        }
    }

    /// The room `case` acts on, made by the user of `token`, and an event
    /// in it.
    pub fn for_case(
        &mut self,
        trail: &mut Vec<Exchange>,
        case: &Case,
        setting: &Setting<'_>,
        token: &str,
    ) -> Result<Fixture, Unmade> {
        let (plan, place) = self.plan(case, setting)?;
        let key = (place, plan.body().to_string(), token.to_owned());
        if let Some(made) = self.made.get(&key) {
            return made.clone();
        }
        let made = self.make(trail, &plan, place, token);
        self.made.insert(key, made.clone());
        made
    }

    /// A new room as a compliant client makes it, made through the target.
    pub fn fresh(
        &self,
        trail: &mut Vec<Exchange>,
        wanted: &CaseRoom,
        setting: &Setting<'_>,
    ) -> Result<Fixture, Unmade> {
        let plan = RoomPlan::compliant(setting.profile, wanted, setting.offered)
            .map_err(Unmade::NotHere)?;
        if let Some(why) = plan.refused_by(setting.profile, setting.now_ms) {
            return Err(Unmade::Failed(format!(
                "the suite cannot make a room the profile allows: {why}"
            )));
        }
        self.make(trail, &plan, Place::Target, &self.token)
    }

    /// How `case`'s room is made: as a compliant client makes it, through
    /// the target, when the profile allows that room and the case decides
    /// the same in it; otherwise as the case states it, on the homeserver.
    fn plan(&self, case: &Case, setting: &Setting<'_>) -> Result<(RoomPlan, Place), Unmade> {
        let Setting {
            profile,
            offered,
            now_ms,
            event_age,
        } = *setting;
        let wanted = case.context.room.clone().unwrap_or_default();
        let plan = RoomPlan::compliant(profile, &wanted, offered).map_err(Unmade::NotHere)?;
        let why_not = match plan.refused_by(profile, now_ms) {
            None if holds_in(case, &plan.facts, event_age, profile, now_ms) => {
                return Ok((plan, Place::Target));
            }
            None => format!(
                "in the room a compliant client makes under this profile ({}) the case \
                 would decide otherwise",
                describe(&plan.facts)
            ),
            Some(why) => format!("the profile does not let a client create it ({why})"),
        };
        if !holds_in(case, &wanted, event_age, profile, now_ms) {
            return Err(Unmade::NotHere(format!(
                "the case does not decide as it expects in the room it states ({}): {why_not}",
                describe(&wanted)
            )));
        }
        if self.homeserver.is_none() {
            return Err(Unmade::NotHere(format!(
                "the case needs a room that is {}, and {why_not}; give --fixture-url (the \
                 homeserver's own URL) to make that room there",
                describe(&wanted)
            )));
        }
        Ok((RoomPlan::as_wanted(&wanted), Place::Homeserver))
    }

    fn make(
        &self,
        trail: &mut Vec<Exchange>,
        plan: &RoomPlan,
        place: Place,
        token: &str,
    ) -> Result<Fixture, Unmade> {
        let client = match (place, &self.homeserver) {
            (Place::Homeserver, Some(homeserver)) => homeserver,
            _ => &self.target,
        };
        let body = plan.body().to_string().into_bytes();
        let answer = client
            .raw(
                trail,
                "POST",
                "/_matrix/client/v3/createRoom",
                Some(token),
                &[],
                body,
            )
            .map_err(Unmade::Failed)?;
        let room = answer
            .body
            .get("room_id")
            .and_then(Value::as_str)
            .filter(|_| answer.is_success())
            .ok_or_else(|| match place {
                Place::Target => Unmade::Failed(format!(
                    "the target refused a room a compliant client makes under this profile \
                     ({}): {}",
                    describe(&plan.facts),
                    answer.describe()
                )),
                Place::Homeserver => Unmade::NotHere(format!(
                    "the homeserver refused to make the room the case needs ({}): {}",
                    describe(&plan.facts),
                    answer.describe()
                )),
            })?;
        let room: OwnedRoomId = room
            .try_into()
            .map_err(|_| Unmade::Failed(format!("{room} is not a room id")))?;
        let event = self
            .event_in(client, trail, &room, plan.facts.encrypted, token)
            .map_err(|failure| {
                Unmade::Failed(format!(
                    "cannot send an event into the test's room: {failure}"
                ))
            })?;
        Ok(Fixture {
            room: room.to_string(),
            event,
        })
    }

    /// Sends an event to relate to: encrypted-looking in an encrypted room
    /// (a profile may refuse plaintext there), a text message otherwise.
    fn event_in(
        &self,
        client: &Client,
        trail: &mut Vec<Exchange>,
        room: &OwnedRoomId,
        encrypted: bool,
        token: &str,
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
        let sent = client.send(trail, request, Some(token))?;
        Ok(sent.event_id.to_string())
    }
}

/// A room's facts in words.
fn describe(facts: &CaseRoom) -> String {
    let mut words = vec![
        if facts.encrypted {
            "encrypted"
        } else {
            "not encrypted"
        }
        .to_owned(),
        format!(
            "join rule {}",
            facts.join_rule.as_deref().unwrap_or("invite")
        ),
    ];
    words.extend(
        facts
            .state
            .keys()
            .map(|event_type| format!("with {event_type}")),
    );
    words.join(", ")
}

/// JSON as a ruma raw value.
pub(crate) fn raw<T>(value: &Value) -> Result<Raw<T>, Failure> {
    serde_json::value::to_raw_value(value)
        .map(Raw::from_json)
        .map_err(|e| Failure::Broken(format!("cannot encode {value}: {e}")))
}
