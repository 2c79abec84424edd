//! Event rules: which event types and msgtypes may be sent, field rules on
//! contents, and encryption on send.

use sectorgate_action::Action;
use serde_json::Value;

use super::{Input, Judge, rules};
use crate::profile::{EncryptionScope, any_matches};
use crate::{Decision, Profile, RoomFacts};

/// Whether an event is a message event or a state event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A message event sent into a room.
    Message,
    /// A state event sent into a room.
    State,
    /// A state event a `createRoom` sets up.
    Created,
}

pub(super) fn check(
    input: &Input<'_>,
    content: Option<&Value>,
    judge: &mut Judge,
) -> Result<(), Decision> {
    let Some(content) = content else {
        return Ok(());
    };
    match &input.classified.action {
        Action::SendMessageEvent { event_type, .. } => {
            check_event(Kind::Message, event_type, content, input.profile, judge)?;
            check_encrypted(event_type, input, judge)
        }
        Action::SendStateEvent { event_type, .. } => {
            check_event(Kind::State, event_type, content, input.profile, judge)
        }
        _ => Ok(()),
    }
}

/// Type, msgtype and field rules for one event (also used for the state a
/// `createRoom` sets up).
pub(super) fn check_event(
    kind: Kind,
    event_type: &str,
    content: &Value,
    profile: &Profile,
    judge: &mut Judge,
) -> Result<(), Decision> {
    let types = match kind {
        Kind::Message => profile.events.message_types.as_ref(),
        Kind::State | Kind::Created => profile.events.state_types.as_ref(),
    };
    if let Some(types) = types
        && !types.allows(event_type)
    {
        judge.deny(Decision::deny_by(
            &types.meta,
            403,
            "M_FORBIDDEN",
            format!("{}: {event_type}", types.meta.reason),
        ))?;
    }
    if event_type == "m.room.message"
        && let Some(msgtypes) = &profile.events.msgtypes
        && let Some(msgtype) = content.get("msgtype").and_then(Value::as_str)
        && !msgtypes.allows(msgtype)
    {
        judge.deny(Decision::deny_by(
            &msgtypes.meta,
            403,
            "M_FORBIDDEN",
            format!("{}: {msgtype}", msgtypes.meta.reason),
        ))?;
    }
    let stage_applies = |rule: &&crate::profile::FieldRule| match kind {
        Kind::Message | Kind::State => rule.on_send,
        Kind::Created => rule.on_create,
    };
    for rule in profile
        .events
        .rules
        .iter()
        .filter(|r| r.applies_to(event_type))
        .filter(stage_applies)
    {
        if let Err(why) = rule.check(content) {
            judge.deny(Decision::deny_by(
                &rule.meta,
                403,
                "M_FORBIDDEN",
                format!("{} ({event_type}: {why})", rule.meta.reason),
            ))?;
        }
    }
    Ok(())
}

/// Refuses a message sent in the clear into a room that must be encrypted.
fn check_encrypted(event_type: &str, input: &Input<'_>, judge: &mut Judge) -> Result<(), Decision> {
    let Some(encryption) = &input.profile.events.encryption else {
        return Ok(());
    };
    if encryption.scope == EncryptionScope::None
        || event_type == "m.room.encrypted"
        || any_matches(&encryption.plaintext_allowed, event_type)
    {
        return Ok(());
    }
    let must_encrypt = match (encryption.scope, input.context.room) {
        (EncryptionScope::AllRooms, _) => true,
        (_, Some(room)) => must_be_encrypted(encryption.scope, room),
        (_, None) => {
            return Err(Decision::deny(
                rules::ROOM_STATE_UNAVAILABLE,
                403,
                "M_FORBIDDEN",
                "The gateway could not learn whether this room is encrypted with your access; \
                 the message was not sent.",
            ));
        }
    };
    if must_encrypt {
        judge.deny(Decision::deny_by(
            &encryption.meta,
            403,
            "M_FORBIDDEN",
            format!(
                "{}: {event_type} may not be sent unencrypted into this room",
                encryption.meta.reason
            ),
        ))?;
    }
    Ok(())
}

/// Whether a room with these facts must only receive encrypted messages.
pub(crate) fn must_be_encrypted(scope: EncryptionScope, room: &RoomFacts) -> bool {
    room.encrypted()
        || match scope {
            EncryptionScope::None => false,
            EncryptionScope::AllRooms => true,
            EncryptionScope::PrivateRooms => room.join_rule() != Some("public"),
        }
}
