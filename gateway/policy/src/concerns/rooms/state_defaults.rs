//! `rooms.create.state_defaults`: the state a room is created with when
//! the request sets none of that type up, as a homeserver module would fill
//! it in (an access rule, power levels, history visibility, encryption, a
//! retention policy). The first entry for a type whose `when` holds is the
//! one that applies; each entry sees the state the entries before it filled.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::file::StateDefaultFile;
use super::initial_state::initial_state_map;
use crate::profile::{Condition, Link, Resolver, Situation, all_hold};

/// The power levels are set up by `power_level_content_override` (which
/// the homeserver lays over its own, keeping the creator's level).
const POWER_LEVELS: &str = "m.room.power_levels";

/// A state event filled in at `createRoom`.
#[derive(Clone, Debug)]
pub struct StateDefault {
    /// The state event type (empty state key).
    pub event_type: String,
    /// Its content, when the request sets up none.
    pub content: Map<String, Value>,
    /// Whether the keys a request's own content lacks are filled in.
    pub merge: bool,
    /// Only where these hold (on the state the request sets up, and the
    /// request).
    pub when: Vec<Condition>,
}

/// Resolves the entries, the child's first: for a type, a child's entry
/// is met before its parent's.
pub(super) fn resolve(resolver: &mut Resolver<'_>, chain: &[Link]) -> Vec<StateDefault> {
    let mut defaults = Vec::new();
    for link in chain {
        for (index, entry) in link.file.rooms.create.state_defaults.iter().enumerate() {
            let at = format!("rooms.create.state_defaults[{index}]");
            defaults.push(resolve_entry(resolver, entry, link, &at));
        }
    }
    defaults
}

fn resolve_entry(
    resolver: &mut Resolver<'_>,
    entry: &StateDefaultFile,
    link: &Link,
    at: &str,
) -> StateDefault {
    StateDefault {
        event_type: entry.event_type.clone(),
        content: entry.content.clone(),
        merge: entry.merge,
        when: resolver.conditions(&entry.when, link, at),
    }
}

/// Fills the state defaults into a `createRoom` body; true if it changed.
pub(super) fn fill(body: &mut Value, defaults: &[StateDefault]) -> bool {
    let mut done: HashSet<&str> = HashSet::new();
    let mut changed = false;
    for default in defaults {
        if done.contains(default.event_type.as_str()) {
            continue;
        }
        let state = initial_state_map(body);
        let situation = Situation {
            state: Some(&state),
            request: Some(body),
            ..Situation::default()
        };
        if all_hold(&default.when, &situation) != Some(true) {
            continue;
        }
        done.insert(&default.event_type);
        changed |= apply(body, default);
    }
    changed
}

/// Sets one default up in the body: added where the request sets up none
/// of its type, merged into the request's own where the entry says so.
fn apply(body: &mut Value, default: &StateDefault) -> bool {
    if let Some(own) = own_content(body, &default.event_type) {
        return default.merge && fill_missing(own, &default.content);
    }
    let Some(object) = body.as_object_mut() else {
        return false;
    };
    let content = Value::Object(default.content.clone());
    if default.event_type == POWER_LEVELS {
        object.insert("power_level_content_override".to_owned(), content);
        return true;
    }
    let event = json!({"type": default.event_type, "state_key": "", "content": content});
    match object
        .entry("initial_state")
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        Value::Array(events) => {
            events.push(event);
            true
        }
        _ => false,
    }
}

/// The content the request itself sets up for `event_type` (empty state
/// key): in `initial_state`, or for power levels in
/// `power_level_content_override` when `initial_state` has none.
fn own_content<'b>(body: &'b mut Value, event_type: &str) -> Option<&'b mut Map<String, Value>> {
    let in_initial_state = body
        .get("initial_state")
        .and_then(Value::as_array)
        .and_then(|events| events.iter().position(|event| is_event(event, event_type)));
    match in_initial_state {
        Some(index) => body
            .pointer_mut(&format!("/initial_state/{index}/content"))
            .and_then(Value::as_object_mut),
        None if event_type == POWER_LEVELS => body
            .get_mut("power_level_content_override")
            .and_then(Value::as_object_mut),
        None => None,
    }
}

fn is_event(event: &Value, event_type: &str) -> bool {
    event.get("type").and_then(Value::as_str) == Some(event_type)
        && event
            .get("state_key")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .is_empty()
}

/// Fills in the keys of `defaults` that `own` lacks, recursively into
/// objects both have; true if any was.
fn fill_missing(own: &mut Map<String, Value>, defaults: &Map<String, Value>) -> bool {
    let mut changed = false;
    for (key, value) in defaults {
        match (own.get_mut(key), value) {
            (None, _) => {
                own.insert(key.clone(), value.clone());
                changed = true;
            }
            (Some(Value::Object(inner)), Value::Object(defaults)) => {
                changed |= fill_missing(inner, defaults);
            }
            (Some(_), _) => {}
        }
    }
    changed
}
