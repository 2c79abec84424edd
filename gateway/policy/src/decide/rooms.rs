//! Room rules: `createRoom` (defaults, versions, field rules, invites, the
//! initial state the request sets up, encryption at creation) and room
//! upgrades (versions).

use sectorgate_action::Action;
use serde_json::{Map, Value, json};

use super::content::{check_event_content, content_len};
use super::events::{Kind, check_event, must_be_encrypted};
use super::{Input, Judge};
use crate::profile::AllowList;
use crate::{Decision, Profile, RoomFacts};

pub(super) fn check(
    input: &Input<'_>,
    content: Option<&mut Value>,
    judge: &mut Judge,
) -> Result<(), Decision> {
    let profile = input.profile;
    match &input.classified.action {
        Action::CreateRoom { invite, .. } => {
            let Some(body) = content else {
                return Ok(());
            };
            if apply_defaults(body, profile) {
                judge.amended_body = serde_json::to_vec(body).ok();
            }
            let body: &Value = body;
            if let Some(version) = body.get("room_version").and_then(Value::as_str) {
                check_version(profile.rooms.versions.as_ref(), version, judge)?;
            }
            let user = input.context.user.map(|user| user.as_str());
            for rule in &profile.rooms.create_rules {
                let concerned = match (&rule.who, user) {
                    (None, _) => true,
                    (Some(who), Some(user)) => who.matches(user, input.groups()),
                    (Some(_), None) => true,
                };
                if !concerned {
                    continue;
                }
                if let Err(why) = rule.check(body) {
                    judge.deny(Decision::deny_by(
                        &rule.meta,
                        403,
                        "M_FORBIDDEN",
                        format!("{} (createRoom: {why})", rule.meta.reason),
                    ))?;
                }
            }
            if let Some(max) = &profile.rooms.max_invites
                && invite.len() as u64 > max.limit
            {
                judge.deny(Decision::deny_by(
                    &max.meta,
                    403,
                    "M_FORBIDDEN",
                    format!(
                        "{}: {} invited, at most {} allowed",
                        max.meta.reason,
                        invite.len(),
                        max.limit
                    ),
                ))?;
            }
            check_initial_state(body, profile, judge)
        }
        Action::UpgradeRoom { new_version, .. } => {
            check_version(profile.rooms.versions.as_ref(), new_version.as_str(), judge)
        }
        _ => Ok(()),
    }
}

fn check_version(
    versions: Option<&AllowList>,
    version: &str,
    judge: &mut Judge,
) -> Result<(), Decision> {
    match versions {
        Some(versions) if !versions.allows(version) => judge.deny(Decision::deny_by(
            &versions.meta,
            400,
            "M_UNSUPPORTED_ROOM_VERSION",
            format!("{}: room version {version}", versions.meta.reason),
        )),
        _ => Ok(()),
    }
}

/// Fills in the profile's defaults the client left out; true if any was.
fn apply_defaults(body: &mut Value, profile: &Profile) -> bool {
    let mut changed = false;
    for (pointer, value) in &profile.rooms.create_defaults {
        if body.pointer(pointer).is_none() && set_pointer(body, pointer, value.clone()) {
            changed = true;
        }
    }
    changed
}

/// Sets the field at `pointer`, creating objects on the way; false if a
/// non-object is in the way.
fn set_pointer(root: &mut Value, pointer: &str, value: Value) -> bool {
    let mut keys: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|key| key.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some(last) = keys.pop() else {
        return false;
    };
    let mut node = root;
    for key in keys {
        let Some(object) = node.as_object_mut() else {
            return false;
        };
        node = object
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new()));
    }
    match node.as_object_mut() {
        Some(object) => {
            object.insert(last, value);
            true
        }
        None => false,
    }
}

/// The state a `createRoom` body sets up, by type (empty state keys only).
pub fn initial_state_map(body: &Value) -> std::collections::BTreeMap<String, Value> {
    initial_state(body)
        .into_iter()
        .filter(|(_, state_key, _)| state_key.is_empty())
        .map(|(event_type, _, content)| (event_type, content))
        .collect()
}

/// The state a `createRoom` body sets up: what its preset implies, then its
/// `initial_state`, `name`, `topic`, creation content and power levels.
fn initial_state(body: &Value) -> Vec<(String, String, Value)> {
    let visibility = body.get("visibility").and_then(Value::as_str);
    let preset =
        body.get("preset")
            .and_then(Value::as_str)
            .unwrap_or(if visibility == Some("public") {
                "public_chat"
            } else {
                "private_chat"
            });
    let (join_rule, guest_access) = match preset {
        "public_chat" => ("public", "forbidden"),
        _ => ("invite", "can_join"),
    };
    let mut create = body
        .get("creation_content")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let (Some(object), Some(version)) = (create.as_object_mut(), body.get("room_version")) {
        object.insert("room_version".to_owned(), version.clone());
    }
    let mut state: Vec<(String, String, Value)> = vec![
        ("m.room.create".to_owned(), String::new(), create),
        (
            "m.room.join_rules".to_owned(),
            String::new(),
            json!({"join_rule": join_rule}),
        ),
        (
            "m.room.history_visibility".to_owned(),
            String::new(),
            json!({"history_visibility": "shared"}),
        ),
        (
            "m.room.guest_access".to_owned(),
            String::new(),
            json!({"guest_access": guest_access}),
        ),
    ];
    let mut set = |event_type: &str, state_key: &str, content: Value| {
        state.retain(|(t, k, _)| !(t == event_type && k == state_key));
        state.push((event_type.to_owned(), state_key.to_owned(), content));
    };
    if let Some(levels) = body.get("power_level_content_override") {
        set("m.room.power_levels", "", levels.clone());
    }
    for event in body
        .get("initial_state")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let event_type = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let state_key = event
            .get("state_key")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let content = event.get("content").cloned().unwrap_or_else(|| json!({}));
        set(event_type, state_key, content);
    }
    if let Some(name) = body.get("name") {
        set("m.room.name", "", json!({"name": name}));
    }
    if let Some(topic) = body.get("topic") {
        set("m.room.topic", "", json!({"topic": topic}));
    }
    state
}

/// Every initial state event goes through the same checks as a later
/// state send; then the room must be encrypted from the start if the
/// profile requires it.
fn check_initial_state(body: &Value, profile: &Profile, judge: &mut Judge) -> Result<(), Decision> {
    let state = initial_state(body);
    for (event_type, _, content) in &state {
        // m.room.create is built from creation_content: its schema is the
        // homeserver's business, its fields are the profile's.
        if event_type != "m.room.create" {
            check_event_content(event_type, content, content_len(content), profile, judge)?;
        }
        check_event(Kind::Created, event_type, content, profile, judge)?;
    }
    if let Some(required) = &profile.rooms.required_state {
        for event_type in &required.types {
            if !state.iter().any(|(t, _, _)| t == event_type) {
                judge.deny(Decision::deny_by(
                    &required.meta,
                    403,
                    "M_FORBIDDEN",
                    format!(
                        "{}: {event_type} is missing from initial_state",
                        required.meta.reason
                    ),
                ))?;
            }
        }
    }
    let Some(encryption) = &profile.events.encryption else {
        return Ok(());
    };
    let facts = RoomFacts {
        state: state
            .into_iter()
            .filter(|(_, state_key, _)| state_key.is_empty())
            .map(|(event_type, _, content)| (event_type, content))
            .collect(),
    };
    if !facts.encrypted() && must_be_encrypted(encryption.scope, &facts) {
        judge.deny(Decision::deny_by(
            &encryption.meta,
            403,
            "M_FORBIDDEN",
            format!(
                "{}: create the room with an m.room.encryption event in initial_state",
                encryption.meta.reason
            ),
        ))?;
    }
    Ok(())
}
