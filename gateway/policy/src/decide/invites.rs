//! Invite rules: who may invite whom, into what kind of room, and what the
//! invitee's own invite-permission settings say. Checked at `/invite` (with
//! the room's state as learned) and for each invite of a `createRoom` (with
//! the state the request sets up). A user's setting is checked for its
//! shape when it is set.

use std::collections::BTreeMap;

use sectorgate_action::Action;
use serde_json::Value;

use super::{Input, Judge, rules};
use crate::concerns::rooms::initial_state_map;
use crate::profile::PermissionFacts;
use crate::{Decision, canonical};

pub(super) fn check(
    input: &Input<'_>,
    content: Option<&Value>,
    judge: &mut Judge,
) -> Result<(), Decision> {
    match &input.classified.action {
        Action::SetAccountData {
            event_type,
            content,
            room_id: None,
            ..
        } => check_setting(input, event_type, content.get()),
        Action::Invite {
            invitee: Some(invitee),
            ..
        } => {
            let state = input.context.room.map(|room| &room.state);
            check_invite(input, invitee.as_str(), state, judge)
        }
        Action::CreateRoom { invite, .. } if !invite.is_empty() => {
            let state = content.map(initial_state_map).unwrap_or_default();
            for invitee in invite {
                check_invite(input, invitee.as_str(), Some(&state), judge)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A user's own invite-permission setting must have the shape its type
/// has, or the gateway could not honour it.
fn check_setting(input: &Input<'_>, event_type: &str, raw: &str) -> Result<(), Decision> {
    let Some(permissions) = &input.profile.invites.permissions else {
        return Ok(());
    };
    let Some(format) = permissions.format(event_type) else {
        return Ok(());
    };
    let invalid = |why: String| {
        Decision::deny(
            rules::INVITE_PERMISSIONS_INVALID,
            400,
            "M_BAD_JSON",
            format!("{event_type} is not a valid invite-permission setting: {why}"),
        )
    };
    let content = canonical::parse(raw).map_err(invalid)?;
    permissions.validate(format, &content).map_err(invalid)
}

/// The invitee's own settings: may this inviter invite them?
fn check_permissions(input: &Input<'_>, invitee: &str, judge: &mut Judge) -> Result<(), Decision> {
    let profile = input.profile;
    let Some(permissions) = &profile.invites.permissions else {
        return Ok(());
    };
    let facts = input
        .context
        .invitees
        .and_then(|invitees| invitees.iter().find(|(user, _)| user.as_str() == invitee))
        .map(|(_, facts)| facts);
    let (Some(inviter), Some(facts)) = (input.context.user, facts) else {
        return Err(Decision::deny(
            rules::INVITE_PERMISSIONS_UNAVAILABLE,
            503,
            "M_UNKNOWN",
            "The gateway could not learn whether the invitee accepts your invite; try again later.",
        ));
    };
    let PermissionFacts::Local(settings) = facts else {
        return Ok(());
    };
    match permissions.allows(settings, inviter.as_str(), input.groups()) {
        Ok(true) => Ok(()),
        Ok(false) => judge.deny(Decision::deny_by(
            &permissions.meta,
            403,
            "M_FORBIDDEN",
            format!("{}: {invitee}", permissions.meta.reason),
        )),
        // A setting the gateway cannot read refuses, as "block all" would.
        Err(why) => judge.deny(Decision::deny_by(
            &permissions.meta,
            403,
            "M_FORBIDDEN",
            format!("{}: {invitee} ({why})", permissions.meta.reason),
        )),
    }
}

fn check_invite(
    input: &Input<'_>,
    invitee: &str,
    state: Option<&BTreeMap<String, Value>>,
    judge: &mut Judge,
) -> Result<(), Decision> {
    check_permissions(input, invitee, judge)?;
    let profile = input.profile;
    let inviter = input.context.user.map(|user| user.as_str());
    for rule in &profile.invites.rules {
        if !rule.concerns(inviter, invitee, input.groups()) {
            continue;
        }
        let allowed = match (&rule.room_state, state) {
            (None, _) => false,
            (Some(condition), Some(state)) => condition.holds(state.get(&condition.event_type)),
            (Some(_), None) => {
                return Err(Decision::deny(
                    rules::ROOM_STATE_UNAVAILABLE,
                    403,
                    "M_FORBIDDEN",
                    "The gateway could not learn this room's state with your access; \
                     the invite was not sent.",
                ));
            }
        };
        if !allowed {
            judge.deny(Decision::deny_by(
                &rule.meta,
                403,
                "M_FORBIDDEN",
                format!("{}: {invitee}", rule.meta.reason),
            ))?;
        }
    }
    Ok(())
}
