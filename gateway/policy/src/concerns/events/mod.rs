//! Event rules: which event types and msgtypes may be sent, field rules on
//! contents, and encryption on send ([`encryption`]). The `events:` section
//! ([`file`]; its content settings are the content concern's), resolved
//! into [`EventRules`], and its check, which the state a `createRoom` sets
//! up also goes through.

mod encryption;
mod file;

use sectorgate_action::Action;
use serde_json::Value;

pub use encryption::Encryption;
pub(crate) use encryption::{must_be_encrypted, needs};
pub use file::EncryptionScope;
pub(crate) use file::EventsFile;

use super::content::{self, Schemas};
use crate::decide::{Input, Judge};
use crate::profile::{AllowList, FieldRule, Link, Resolver, nearest};
use crate::{Decision, Profile};

/// Rules on event contents.
#[derive(Clone, Debug, Default)]
pub struct EventRules {
    /// Largest content, in bytes of JSON.
    pub max_content_bytes: Option<u64>,
    /// Allowed message event types.
    pub message_types: Option<AllowList>,
    /// Allowed state event types.
    pub state_types: Option<AllowList>,
    /// Allowed `msgtype`s.
    pub msgtypes: Option<AllowList>,
    /// Content schemas.
    pub schemas: Schemas,
    /// Field rules on contents, in order.
    pub rules: Vec<FieldRule>,
    /// Encryption requirement.
    pub encryption: Option<Encryption>,
}

/// Resolves `events`: the content settings (by the content concern), the
/// allow lists, the field rules and encryption.
pub(crate) fn resolve(resolver: &mut Resolver<'_>, chain: &[Link]) -> EventRules {
    let content = content::resolve(resolver, chain);
    EventRules {
        max_content_bytes: content.max_bytes,
        message_types: nearest(chain, |f| f.events.message_types.as_ref())
            .map(|(list, _)| resolver.allow_list(list, "this event type may not be sent")),
        state_types: nearest(chain, |f| f.events.state_types.as_ref())
            .map(|(list, _)| resolver.allow_list(list, "this state event type may not be set")),
        msgtypes: nearest(chain, |f| f.events.msgtypes.as_ref())
            .map(|(list, _)| resolver.allow_list(list, "this msgtype may not be sent")),
        schemas: content.schemas,
        rules: resolver.field_rules(chain, "events.rules", |f| &f.events.rules),
        encryption: encryption::resolve(resolver, chain),
    }
}

/// Whether an event is a message event or a state event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A message event sent into a room.
    Message,
    /// A state event sent into a room.
    State,
    /// A state event a `createRoom` sets up.
    Created,
}

/// Checks an event sent into a room (a message or a state event).
pub(crate) fn check(
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
            encryption::check(event_type, input, judge)
        }
        Action::SendStateEvent { event_type, .. } => {
            check_event(Kind::State, event_type, content, input.profile, judge)
        }
        _ => Ok(()),
    }
}

/// Type, msgtype and field rules for one event (also used for the state a
/// `createRoom` sets up).
pub(crate) fn check_event(
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
    let stage_applies = |rule: &&FieldRule| match kind {
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
