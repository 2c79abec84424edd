//! Event contents: canonical JSON, size, and the content schema.

use sectorgate_action::Action;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{Input, Judge, profile_denial, rules};
use crate::{Decision, Profile, canonical};

/// Checks the content a request carries (an event content, or the whole
/// `createRoom` body) and returns it parsed for the later checks.
pub(super) fn check(input: &Input<'_>, judge: &mut Judge) -> Result<Option<Value>, Decision> {
    let profile = input.profile;
    match &input.classified.action {
        Action::SendMessageEvent {
            event_type,
            content,
            ..
        }
        | Action::SendStateEvent {
            event_type,
            content,
            ..
        } => {
            let len = content.get().len() as u64;
            let content = parse(content)?;
            check_event_content(event_type, &content, len, profile, judge)?;
            Ok(Some(content))
        }
        // The initial state's contents are checked by the room rules, with
        // the state the presets imply.
        Action::CreateRoom { body, .. } => parse(body).map(Some),
        _ => Ok(None),
    }
}

/// Parses a content as canonical JSON.
fn parse(raw: &RawValue) -> Result<Value, Decision> {
    canonical::parse(raw.get()).map_err(|reason| {
        Decision::deny(
            rules::EVENT_NOT_CANONICAL,
            400,
            "M_BAD_JSON",
            format!("the event content is not canonical JSON: {reason}"),
        )
    })
}

/// The size of a content as the homeserver will count it (compact JSON).
pub(super) fn content_len(content: &Value) -> u64 {
    serde_json::to_vec(content).map_or(u64::MAX, |bytes| bytes.len() as u64)
}

/// Checks one event content against the size limit and its schemas.
pub(super) fn check_event_content(
    event_type: &str,
    content: &Value,
    len: u64,
    profile: &Profile,
    judge: &mut Judge,
) -> Result<(), Decision> {
    if let Some(limit) = profile.events.max_content_bytes
        && len > limit
    {
        judge.deny(profile_denial(
            profile,
            rules::EVENT_TOO_LARGE,
            413,
            "M_TOO_LARGE",
            format!("the {event_type} content is {len} bytes; the profile allows {limit}"),
        ))?;
    }
    for schema in profile.events.schemas.for_content(event_type, content) {
        if let Err(reason) = schema.check(content) {
            judge.deny(profile_denial(
                profile,
                rules::EVENT_SCHEMA_INVALID,
                400,
                "M_BAD_JSON",
                format!("the {event_type} content does not match its schema: {reason}"),
            ))?;
        }
    }
    Ok(())
}
