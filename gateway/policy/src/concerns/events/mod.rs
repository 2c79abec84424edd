//! Event rules: which event types and msgtypes may be sent, field rules on
//! contents, and encryption on send ([`encryption`]). The `events:` section
//! ([`file`]; its content settings are the content concern's), resolved
//! into [`EventRules`], and its check, which the state a `createRoom` sets
//! up also goes through.

mod encryption;
mod file;
mod index;

use sectorgate_action::Action;
use serde_json::Value;

pub use encryption::Encryption;
pub(crate) use encryption::must_be_encrypted;
pub use file::EncryptionScope;
pub(crate) use file::EventsFile;
pub use index::RuleIndex;

use super::content::{self, Schemas};
use crate::decide::{Input, Judge};
use crate::profile::{
    AllowList, Condition, FieldRule, Groups, Link, Resolver, Situation, all_hold, nearest,
    read_directory,
};
use crate::{Decision, Needs, Profile, rules};

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
    /// Which of them may apply to which event type.
    pub index: RuleIndex,
    /// Encryption requirement.
    pub encryption: Option<Encryption>,
}

/// Resolves `events`: the content settings (by the content concern), the
/// allow lists, the field rules and encryption.
pub(crate) fn resolve(resolver: &mut Resolver<'_>, chain: &[Link]) -> EventRules {
    let content = content::resolve(resolver, chain);
    let rules = resolver.field_rules(chain, "events.rules", |f| &f.events.rules);
    EventRules {
        max_content_bytes: content.max_bytes,
        message_types: nearest(chain, |f| f.events.message_types.as_ref())
            .map(|(list, _)| resolver.allow_list(list, "this event type may not be sent")),
        state_types: nearest(chain, |f| f.events.state_types.as_ref())
            .map(|(list, _)| resolver.allow_list(list, "this state event type may not be set")),
        msgtypes: nearest(chain, |f| f.events.msgtypes.as_ref())
            .map(|(list, _)| resolver.allow_list(list, "this msgtype may not be sent")),
        schemas: content.schemas,
        index: RuleIndex::new(&rules),
        rules,
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
    let room = input.context.room;
    let user = input.context.user.map(|user| user.as_str());
    let around = Around {
        situation: Situation {
            state: room.map(|room| &room.state),
            request: None,
            published: room.and_then(|room| room.published),
            user,
        },
        groups: input.groups(),
        user,
    };
    match &input.classified.action {
        Action::SendMessageEvent { event_type, .. } => {
            check_event(
                Kind::Message,
                event_type,
                content,
                &around,
                input.profile,
                judge,
            )?;
            encryption::check(event_type, input, judge)
        }
        Action::SendStateEvent { event_type, .. } => check_event(
            Kind::State,
            event_type,
            content,
            &around,
            input.profile,
            judge,
        ),
        _ => Ok(()),
    }
}

/// What an event is checked in: the room (or the state a `createRoom` sets
/// up, and its request), the profile's groups and the acting user.
pub(crate) struct Around<'a> {
    pub(crate) situation: Situation<'a>,
    pub(crate) groups: Groups<'a>,
    pub(crate) user: Option<&'a str>,
}

/// Type, msgtype and field rules for one event (also used for the state a
/// `createRoom` sets up).
pub(crate) fn check_event(
    kind: Kind,
    event_type: &str,
    content: &Value,
    around: &Around<'_>,
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
    // The state a room has now, for rules on how a field may change; the
    // state a createRoom sets up changes nothing.
    let current = match kind {
        Kind::State => around
            .situation
            .state
            .and_then(|state| state.get(event_type)),
        Kind::Message | Kind::Created => None,
    };
    for rule in applicable(kind, event_type, profile) {
        if !concerns(rule, around)? {
            continue;
        }
        if let Err(why) = rule.check(content, current, around.groups) {
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

/// The field rules for events of `event_type` at this stage.
fn applicable<'p>(
    kind: Kind,
    event_type: &'p str,
    profile: &'p Profile,
) -> impl Iterator<Item = &'p FieldRule> {
    let events = &profile.events;
    let candidates = events.index.candidates(event_type);
    candidates
        .filter_map(|at| events.rules.get(at))
        .filter(move |rule| {
            rule.applies_to(event_type)
                && match kind {
                    Kind::Message | Kind::State => rule.on_send,
                    Kind::Created => rule.on_create,
                }
        })
}

/// Whether a field rule concerns this event: its acting user (an unknown
/// user is concerned) and its `when`; a condition that cannot be judged
/// refuses, as a fact the homeserver would not show.
pub(crate) fn concerns(rule: &FieldRule, around: &Around<'_>) -> Result<bool, Decision> {
    if let (Some(who), Some(user)) = (&rule.who, around.user)
        && !who.matches(user, around.groups)
    {
        return Ok(false);
    }
    match all_hold(&rule.when, &around.situation) {
        Some(holds) => Ok(holds),
        None => Err(Decision::deny(
            rules::ROOM_STATE_UNAVAILABLE,
            403,
            "M_FORBIDDEN",
            "The gateway could not learn this room's state with your access; \
             the request was not sent.",
        )),
    }
}

/// What an event into a room needs: what encryption on send needs, and
/// what its field rules read.
pub(crate) fn needs(action: &Action, profile: &Profile, needs: &mut Needs) {
    encryption::needs(action, profile, needs);
    rules_need(action, profile, needs);
}

/// An event into a room whose field rules read the room (their `when`,
/// how a field may change) needs the room's state, and its listing in the
/// room directory when a condition reads it.
fn rules_need(action: &Action, profile: &Profile, needs: &mut Needs) {
    let (room_id, event_type, kind) = match action {
        Action::SendMessageEvent {
            room_id,
            event_type,
            ..
        } => (room_id, event_type, Kind::Message),
        Action::SendStateEvent {
            room_id,
            event_type,
            ..
        } => (room_id, event_type, Kind::State),
        _ => return,
    };
    let mut types = Vec::new();
    for rule in applicable(kind, event_type, profile) {
        types.extend(rule.when.iter().flat_map(Condition::state_types));
        if rule
            .when
            .iter()
            .any(|condition| matches!(condition, Condition::PowerBelow(_)))
        {
            needs.user = true;
        }
        if rule.transitions.is_some() {
            types.push(event_type.clone());
        }
        if read_directory(&rule.when) {
            needs.published = Some(room_id.clone());
        }
    }
    if !types.is_empty() {
        needs.room_state(room_id, types);
    }
}
