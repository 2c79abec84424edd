//! Signed requests other than transactions: a server acts only for its own
//! users, on the room it names, and asks only about local users.

use ruma::{RoomId, ServerName, UserId};
use sectorgate_action::{Action, Api};
use serde_json::Value;
use serde_json::value::RawValue;

use super::items::{member_server, pdu_problem};
use super::{forbidden, rules};
use crate::Decision;
use crate::federation::FederationFacts;

pub(super) fn check(
    action: &Action,
    origin: &ServerName,
    facts: &FederationFacts<'_>,
) -> Result<(), Decision> {
    match action {
        Action::MakeJoin { user_id, .. }
        | Action::MakeLeave { user_id, .. }
        | Action::MakeKnock { user_id, .. } => origins_user(user_id, origin),
        Action::SendJoin { room_id, pdu, .. }
        | Action::SendLeave { room_id, pdu, .. }
        | Action::SendKnock { room_id, pdu, .. } => {
            let event = event(pdu, room_id)?;
            let sender = user_field(&event, "sender")?;
            origins_user(&sender, origin)?;
            allowed_event(&event, facts)
        }
        Action::FederationInvite { room_id, event, .. } => {
            let event = self::event(event, room_id)?;
            let inviter = user_field(&event, "sender")?;
            origins_user(&inviter, origin)?;
            let invitee = user_field(&event, "state_key")?;
            local_user(&invitee, facts)?;
            allowed_event(&event, facts)
        }
        Action::QueryProfile { user_id, .. } | Action::UserDevices { user_id } => {
            local_user(user_id, facts)
        }
        Action::UserKeys {
            api: Api::Federation,
            users,
        } => users.iter().try_for_each(|user| local_user(user, facts)),
        _ => Ok(()),
    }
}

/// The event of a membership request, checked to be for the room in the path.
fn event(raw: &RawValue, room_id: &RoomId) -> Result<Value, Decision> {
    let event: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
    let in_body = event.get("room_id").and_then(Value::as_str);
    if in_body != Some(room_id.as_str()) {
        return Err(Decision::deny(
            rules::ROOM_MISMATCH,
            400,
            "M_INVALID_PARAM",
            format!(
                "the event is for room {}, the path names {room_id}",
                in_body.unwrap_or("(none)")
            ),
        ));
    }
    Ok(event)
}

fn user_field(event: &Value, field: &str) -> Result<ruma::OwnedUserId, Decision> {
    event
        .get(field)
        .and_then(Value::as_str)
        .and_then(|user| UserId::parse(user).ok())
        .ok_or_else(|| {
            Decision::deny(
                rules::EVENT_NOT_ALLOWED,
                400,
                "M_BAD_JSON",
                format!("the event's {field} is not a user id"),
            )
        })
}

fn origins_user(user: &UserId, origin: &ServerName) -> Result<(), Decision> {
    if user.server_name() == origin {
        return Ok(());
    }
    Err(forbidden(
        rules::NOT_ORIGINS_USER,
        format!("{origin} cannot act for {user}, who belongs to another server"),
    ))
}

fn local_user(user: &UserId, facts: &FederationFacts<'_>) -> Result<(), Decision> {
    if facts.is_local(user) {
        return Ok(());
    }
    Err(forbidden(
        rules::USER_NOT_LOCAL,
        format!("{user} is not a user of {}", facts.local),
    ))
}

/// Every server the event names or is signed by must be a member.
fn allowed_event(event: &Value, facts: &FederationFacts<'_>) -> Result<(), Decision> {
    let problem = pdu_problem(event, facts).or_else(|| {
        event
            .get("origin")
            .and_then(Value::as_str)
            .and_then(|server| member_server(server, "origin", facts))
    });
    match problem {
        None => Ok(()),
        Some(problem) => Err(forbidden(rules::EVENT_NOT_ALLOWED, problem)),
    }
}
