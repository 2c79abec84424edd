//! Invite rules: who may invite whom, into what kind of room. Checked at
//! `/invite` (with the room's state as learned) and for each invite of a
//! `createRoom` (with the state the request sets up).

use std::collections::BTreeMap;

use sectorgate_action::Action;
use serde_json::Value;

use super::rooms::initial_state_map;
use super::{Input, Judge, rules};
use crate::Decision;

pub(super) fn check(
    input: &Input<'_>,
    content: Option<&Value>,
    judge: &mut Judge,
) -> Result<(), Decision> {
    match &input.classified.action {
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

fn check_invite(
    input: &Input<'_>,
    invitee: &str,
    state: Option<&BTreeMap<String, Value>>,
    judge: &mut Judge,
) -> Result<(), Decision> {
    let profile = input.profile;
    let inviter = input.context.user.map(|user| user.as_str());
    for rule in &profile.invites.rules {
        if !rule.concerns(inviter, invitee, &profile.user_groups) {
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
