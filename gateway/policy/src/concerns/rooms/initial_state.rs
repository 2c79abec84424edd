//! The state a `createRoom` sets up, as the homeserver will set it up: the
//! profile's defaults filled in, the preset's state, then the request's
//! own.

use serde_json::{Map, Value, json};

use crate::Profile;

/// Fills in the profile's defaults the client left out; true if any was.
pub(super) fn apply_defaults(body: &mut Value, profile: &Profile) -> bool {
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
pub(super) fn initial_state(body: &Value) -> Vec<(String, String, Value)> {
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
