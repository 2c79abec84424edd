//! The room a compliant client creates under the profile in test: the facts
//! a case wants, plus what the profile asks of every room it lets a client
//! create (encryption, an allowed room version the product offers, its
//! required state, the fields it fills in by default). Derived from the
//! profile's rules, never written per profile, and checked against the
//! profile's own decision before the suite sends it.

use std::collections::BTreeSet;
use std::time::Duration;

use sectorgate_policy::Profile;
use sectorgate_policy::cases::{Case, CaseRoom};
use sectorgate_policy::profile::EncryptionScope;
use sectorgate_policy::{Verdict, rules};
use serde_json::{Map, Value, json};

/// A room to create: its facts once made, and how to ask for it.
#[derive(Clone, Debug)]
pub struct RoomPlan {
    /// The room's facts, as the profile's decisions will see them.
    pub facts: CaseRoom,
    /// The room version asked for (none: the server's default).
    pub room_version: Option<String>,
    /// Other fields of the `createRoom` body: JSON pointer → value.
    pub fields: Vec<(String, Value)>,
}

impl RoomPlan {
    /// The room exactly as a case describes it, nothing added.
    pub fn as_wanted(facts: &CaseRoom) -> Self {
        Self {
            facts: facts.clone(),
            room_version: None,
            fields: Vec::new(),
        }
    }

    /// The room a compliant client makes for `wanted` under `profile`, in
    /// a room version the product offers; `Err` says why there is none.
    pub fn compliant(
        profile: &Profile,
        wanted: &CaseRoom,
        offered: &BTreeSet<String>,
    ) -> Result<Self, String> {
        let mut facts = wanted.clone();
        if let Some(encryption) = &profile.events.encryption {
            let public = facts.join_rule.as_deref() == Some("public");
            facts.encrypted |= match encryption.scope {
                EncryptionScope::AllRooms => true,
                EncryptionScope::PrivateRooms => !public,
                EncryptionScope::None => false,
            };
        }
        if let Some(required) = &profile.rooms.required_state {
            for event_type in &required.types {
                if !facts.state.contains_key(event_type) {
                    let content = profile
                        .events
                        .schemas
                        .by_type
                        .get(event_type)
                        .map_or_else(|| json!({}), |schema| example(schema.source()));
                    facts.state.insert(event_type.clone(), content);
                }
            }
        }
        let defaults = &profile.rooms.create_defaults;
        let room_version = room_version(profile, offered)?;
        let fields = defaults
            .iter()
            .filter(|(pointer, _)| pointer != "/room_version")
            .cloned()
            .collect();
        Ok(Self {
            facts,
            room_version,
            fields,
        })
    }

    /// The `createRoom` body.
    pub fn body(&self) -> Value {
        let mut initial_state = Vec::new();
        if self.facts.encrypted {
            initial_state.push(json!({"type": "m.room.encryption", "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"}}));
        }
        for (event_type, content) in &self.facts.state {
            initial_state.push(json!({"type": event_type, "state_key": "", "content": content}));
        }
        let preset = match self.facts.join_rule.as_deref() {
            Some("public") => "public_chat",
            _ => "private_chat",
        };
        let mut body = json!({"preset": preset, "initial_state": initial_state});
        if let Some(version) = &self.room_version {
            body["room_version"] = json!(version);
        }
        for (pointer, value) in &self.fields {
            set(&mut body, pointer, value.clone());
        }
        body
    }

    /// Why `profile` refuses to let a client create this room, if it does:
    /// the profile's own decision on the `createRoom` request.
    pub fn refused_by(&self, profile: &Profile, now_ms: u64) -> Option<String> {
        let case = synthetic_case(&self.body())?;
        match case.decide(profile, now_ms) {
            Ok(decision) => match decision.verdict {
                Verdict::Allow => None,
                Verdict::Deny(denial) | Verdict::Shadow(denial) => {
                    Some(format!("{}: {}", decision.rule, denial.message))
                }
            },
            Err(why) => Some(why),
        }
    }
}

/// Whether `case` still decides as it expects in a room with `facts`, on
/// an event `event_age` old.
pub fn holds_in(
    case: &Case,
    facts: &CaseRoom,
    event_age: Duration,
    profile: &Profile,
    now_ms: u64,
) -> bool {
    let mut case = case.clone();
    case.context.room = Some(facts.clone());
    if case.context.event_age.is_some() {
        case.context.event_age = Some(event_age);
    }
    case.decide(profile, now_ms)
        .and_then(|decision| case.check(&decision))
        .is_ok()
}

/// The room version to ask for: the one the profile fills in, when the
/// product offers it, or else the newest the profile allows and the
/// product offers; none when the profile allows every version.
fn room_version(profile: &Profile, offered: &BTreeSet<String>) -> Result<Option<String>, String> {
    let Some(allowed) = &profile.rooms.versions else {
        return Ok(None);
    };
    let default = profile
        .rooms
        .create_defaults
        .iter()
        .find(|(pointer, _)| pointer == "/room_version")
        .and_then(|(_, version)| version.as_str());
    if let Some(version) = default.filter(|version| offered.contains(*version)) {
        return Ok(Some(version.to_owned()));
    }
    offered
        .iter()
        .filter(|version| allowed.allows(version))
        .max_by_key(|version| version.parse::<u64>().unwrap_or(0))
        .map(|version| Some(version.clone()))
        .ok_or_else(|| {
            format!(
                "the product offers none of the room versions the profile allows ({}): \
                 it offers {}",
                allowed
                    .allow
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                offered.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
}

/// A `createRoom` request as a case, for the profile's decision on it.
fn synthetic_case(body: &Value) -> Option<Case> {
    serde_json::from_value(json!({
        "name": "the suite's room",
        "request": {"method": "POST", "path": "/_matrix/client/v3/createRoom", "body": body},
        "expect": {"verdict": "allow", "rule": rules::ENDPOINT_ALLOWED.as_str()},
    }))
    .ok()
}

/// A small instance of a JSON Schema: each required property from its
/// `const`, its first `enum` value, or an empty value of its type.
pub fn example(schema: &Value) -> Value {
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|values| values.first())
    {
        return first.clone();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => json!("conformance"),
        Some("integer" | "number") => json!(0),
        Some("boolean") => json!(false),
        Some("array") => json!([]),
        _ => {
            let mut object = Map::new();
            let required = schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str);
            for name in required {
                let property = schema
                    .pointer(&format!("/properties/{name}"))
                    .cloned()
                    .unwrap_or(Value::Null);
                object.insert(name.to_owned(), example(&property));
            }
            Value::Object(object)
        }
    }
}

/// Sets the field at `pointer` (`/a/b`), making the objects on the way.
fn set(body: &mut Value, pointer: &str, value: Value) {
    let mut at = body;
    let mut names = pointer.split('/').skip(1).peekable();
    while let Some(name) = names.next() {
        if !at.is_object() {
            *at = json!({});
        }
        let Some(object) = at.as_object_mut() else {
            return;
        };
        if names.peek().is_none() {
            object.insert(name.to_owned(), value);
            return;
        }
        at = object.entry(name.to_owned()).or_insert_with(|| json!({}));
    }
}
