//! `rooms.publish`: which rooms may be listed in the room directory, at
//! `createRoom` (`visibility: public`, judged on the state the request sets
//! up) and later (`PUT /directory/list/room/{roomId}`, judged on the room's
//! state as learned). Taking a room out of the directory is always allowed.

use std::collections::BTreeMap;

use sectorgate_action::Action;
use serde_json::Value;

use crate::decide::Judge;
use crate::profile::{Condition, Link, Resolver, RuleMeta, Situation, all_hold, nearest};
use crate::{Decision, Needs, Profile, RoomFacts, rules};

/// A room may be listed in the room directory only where `when` holds.
#[derive(Clone, Debug)]
pub struct PublishRule {
    /// The rule.
    pub meta: RuleMeta,
    /// What the room must be like.
    pub when: Vec<Condition>,
}

/// Resolves `rooms.publish`, the nearest profile's.
pub(super) fn resolve(resolver: &mut Resolver<'_>, chain: &[Link]) -> Option<PublishRule> {
    let (rule, link) = nearest(chain, |f| f.rooms.publish.as_ref())?;
    Some(PublishRule {
        meta: resolver.meta_of(rule, "this room may not be listed in the room directory"),
        when: resolver.conditions(&rule.when, link, "rooms.publish"),
    })
}

/// Listing a room later needs the state its conditions read.
pub(super) fn needs(action: &Action, profile: &Profile, needs: &mut Needs) {
    if let Action::SetRoomVisibility {
        room_id,
        public: true,
    } = action
        && let Some(rule) = &profile.rooms.publish
    {
        let types = rule.when.iter().flat_map(Condition::state_types);
        needs.room_state(room_id, types.collect::<Vec<_>>());
    }
}

/// Checks a room to be created listed, with the state it sets up.
pub(super) fn check_created(
    body: &Value,
    state: &BTreeMap<String, Value>,
    profile: &Profile,
    judge: &mut Judge,
) -> Result<(), Decision> {
    let public = body.get("visibility").and_then(Value::as_str) == Some("public");
    match &profile.rooms.publish {
        Some(rule) if public => {
            let situation = Situation {
                state: Some(state),
                request: Some(body),
                ..Situation::default()
            };
            judge_listing(rule, &situation, judge)
        }
        _ => Ok(()),
    }
}

/// Checks a room to be listed later, with its state as learned.
pub(super) fn check_listed(
    profile: &Profile,
    room: Option<&RoomFacts>,
    judge: &mut Judge,
) -> Result<(), Decision> {
    let Some(rule) = &profile.rooms.publish else {
        return Ok(());
    };
    let situation = Situation {
        state: room.map(|room| &room.state),
        ..Situation::default()
    };
    judge_listing(rule, &situation, judge)
}

fn judge_listing(
    rule: &PublishRule,
    situation: &Situation<'_>,
    judge: &mut Judge,
) -> Result<(), Decision> {
    match all_hold(&rule.when, situation) {
        Some(true) => Ok(()),
        Some(false) => judge.deny(Decision::deny_by(
            &rule.meta,
            403,
            "M_FORBIDDEN",
            rule.meta.reason.clone(),
        )),
        None => Err(Decision::deny(
            rules::ROOM_STATE_UNAVAILABLE,
            403,
            "M_FORBIDDEN",
            "The gateway could not learn this room's state with your access; \
             the room was not listed.",
        )),
    }
}
