//! What one PDU or EDU may carry: every server it names must be part of the
//! federation, and every user an EDU speaks for must belong to the server
//! that sent it.

use ruma::canonical_json::CanonicalJsonObject;
use ruma::{RoomVersionId, ServerName, UserId};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::federation::{Admission, FederationFacts};

/// Why an item is refused, in words for the sending server's log.
pub(crate) type Problem = String;

/// The ids a PDU may have. A PDU does not say its room version, and the
/// reference hash depends on the version's redaction rules: so every id it
/// has under the versions that use reference hashes (4 and later; version 3
/// ids differ only in their base64 alphabet) is given, each once. Versions 1
/// and 2 PDUs carry their own `event_id`.
pub(super) fn event_ids(pdu: &RawValue) -> Vec<String> {
    let Ok(object) = serde_json::from_str::<CanonicalJsonObject>(pdu.get()) else {
        return Vec::new();
    };
    if let Some(ruma::CanonicalJsonValue::String(id)) = object.get("event_id") {
        return vec![id.clone()];
    }
    let versions = [
        RoomVersionId::V12,
        RoomVersionId::V11,
        RoomVersionId::V10,
        RoomVersionId::V9,
        RoomVersionId::V8,
        RoomVersionId::V7,
        RoomVersionId::V6,
        RoomVersionId::V5,
        RoomVersionId::V4,
    ];
    let mut ids: Vec<String> = Vec::new();
    for rules in versions.iter().filter_map(RoomVersionId::rules) {
        if let Ok(hash) = ruma::signatures::reference_hash(&object, &rules) {
            let id = format!("${hash}");
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// Checks one PDU: its sender, the target of a membership event and every
/// server that signed it must be members.
pub(crate) fn pdu_problem(pdu: &Value, facts: &FederationFacts<'_>) -> Option<Problem> {
    let Some(object) = pdu.as_object() else {
        return Some("a PDU is not a JSON object".to_owned());
    };
    let Some(sender) = object.get("sender").and_then(Value::as_str) else {
        return Some("a PDU has no sender".to_owned());
    };
    if let Some(problem) = member_user(sender, "sender", facts) {
        return Some(problem);
    }
    if object.get("type").and_then(Value::as_str) == Some("m.room.member") {
        let Some(target) = object.get("state_key").and_then(Value::as_str) else {
            return Some("a membership event has no state_key".to_owned());
        };
        if let Some(problem) = member_user(target, "membership target", facts) {
            return Some(problem);
        }
    }
    let Some(signatures) = object.get("signatures").and_then(Value::as_object) else {
        return Some("a PDU carries no signatures".to_owned());
    };
    signatures
        .keys()
        .find_map(|server| member_server(server, "signing server", facts))
}

/// Checks one EDU: every user it speaks for must belong to `origin`, and
/// every user it addresses must be local. An EDU type the gateway cannot
/// check is refused.
pub(crate) fn edu_problem(
    edu: &Value,
    origin: &ServerName,
    facts: &FederationFacts<'_>,
) -> Option<Problem> {
    let edu_type = edu.get("edu_type").and_then(Value::as_str).unwrap_or("");
    let content = edu.get("content").unwrap_or(&Value::Null);
    let speaks_for = |user: Option<&Value>| own_user(user, origin, edu_type);
    match edu_type {
        "m.typing"
        | "m.device_list_update"
        | "m.signing_key_update"
        | "org.matrix.signing_key_update" => speaks_for(content.get("user_id")),
        "m.presence" => match content.get("push").and_then(Value::as_array) {
            Some(pushes) => pushes
                .iter()
                .find_map(|push| speaks_for(push.get("user_id"))),
            None => Some(format!("a {edu_type} EDU has no push list")),
        },
        "m.receipt" => match content.as_object() {
            Some(rooms) => rooms
                .values()
                .filter_map(Value::as_object)
                .flat_map(|types| types.values())
                .filter_map(Value::as_object)
                .flat_map(|users| users.keys())
                .find_map(|user| own_user(Some(&Value::from(user.as_str())), origin, edu_type)),
            None => Some(format!("a {edu_type} EDU has no content")),
        },
        "m.direct_to_device" => speaks_for(content.get("sender")).or_else(|| {
            let messages = content.get("messages").and_then(Value::as_object)?;
            messages.keys().find_map(|user| match UserId::parse(user) {
                Ok(user) if facts.is_local(&user) => None,
                _ => Some(format!(
                    "a to-device message is addressed to {user}, who is not local"
                )),
            })
        }),
        other => Some(format!("EDUs of type {other:?} are not accepted")),
    }
}

fn own_user(user: Option<&Value>, origin: &ServerName, edu_type: &str) -> Option<Problem> {
    let Some(user) = user.and_then(Value::as_str) else {
        return Some(format!("a {edu_type} EDU names no user"));
    };
    match UserId::parse(user) {
        Ok(parsed) if parsed.server_name() == origin => None,
        Ok(_) => Some(format!(
            "a {edu_type} EDU from {origin} speaks for {user}, who belongs to another server"
        )),
        Err(_) => Some(format!("a {edu_type} EDU names {user:?}, not a user id")),
    }
}

/// `Some(problem)` unless `user` is on a member server.
pub(crate) fn member_user(user: &str, role: &str, facts: &FederationFacts<'_>) -> Option<Problem> {
    match UserId::parse(user) {
        Ok(parsed) => not_admitted(parsed.server_name(), facts).map(|why| {
            format!(
                "the {role} {user} is on {}, which {why}",
                parsed.server_name()
            )
        }),
        Err(_) => Some(format!("the {role} {user:?} is not a user id")),
    }
}

/// `Some(problem)` unless `server` is a member.
pub(crate) fn member_server(
    server: &str,
    role: &str,
    facts: &FederationFacts<'_>,
) -> Option<Problem> {
    match <&ServerName>::try_from(server) {
        Ok(name) => not_admitted(name, facts).map(|why| format!("the {role} {server} {why}")),
        Err(_) => Some(format!("the {role} {server:?} is not a server name")),
    }
}

fn not_admitted(server: &ServerName, facts: &FederationFacts<'_>) -> Option<&'static str> {
    match facts.admits(server) {
        Admission::Member => None,
        Admission::NotMember => Some("is not part of the federation"),
        Admission::Stale => Some("cannot be admitted: the federation list is out of date"),
    }
}
