//! `rooms.join`: who may join a room, by their membership in it (an
//! invitation, say). A join is `POST /join/{roomIdOrAlias}`,
//! `POST /rooms/{roomId}/join`, or the user's own `m.room.member` state
//! set to `join`. The joiner's membership is a fact the proxy learns as the
//! joiner ([`Needs::membership`]).

use std::collections::HashSet;

use ruma::OwnedRoomOrAliasId;
use sectorgate_action::Action;

use crate::decide::{Input, Judge};
use crate::profile::{Link, Resolver, RuleMeta, UserSelector};
use crate::{Decision, Needs, Profile, rules};

/// A join by `who` is refused unless their membership is one of `membership`.
#[derive(Clone, Debug)]
pub struct JoinRule {
    /// The rule.
    pub meta: RuleMeta,
    /// Whose joins it limits (`None`: everyone's).
    pub who: Option<UserSelector>,
    /// The memberships a joiner may have beforehand (`invite`, `join`, …).
    pub membership: Vec<String>,
}

/// Resolves `rooms.join`, the child's rules first (a rule with a parent's
/// id replaces it).
pub(super) fn resolve(resolver: &mut Resolver<'_>, chain: &[Link]) -> Vec<JoinRule> {
    let mut seen = HashSet::new();
    let mut resolved = Vec::new();
    for link in chain {
        for (index, rule) in link.file.rooms.join.iter().enumerate() {
            if !seen.insert(rule.id.clone()) {
                continue;
            }
            let who = rule
                .who
                .as_ref()
                .map(|who| resolver.selector(who, link, &format!("rooms.join[{index}].who")));
            resolved.push(JoinRule {
                meta: resolver.meta_of(rule, "you may not join this room"),
                who,
                membership: rule.membership.clone(),
            });
        }
    }
    resolved
}

/// The room a request joins the acting user to, if it is a join.
fn joined(action: &Action) -> Option<OwnedRoomOrAliasId> {
    match action {
        Action::Join { room, .. } => Some(room.clone()),
        Action::SendStateEvent {
            room_id,
            event_type,
            content,
            ..
        } if event_type == "m.room.member" && membership_of(content.get()) == Some("join") => {
            Some(room_id.clone().into())
        }
        _ => None,
    }
}

/// The `membership` of an `m.room.member` content as sent.
pub(crate) fn membership_of(content: &str) -> Option<&str> {
    #[derive(serde::Deserialize)]
    struct Member<'a> {
        #[serde(borrow)]
        membership: Option<&'a str>,
    }
    serde_json::from_str::<Member<'_>>(content)
        .ok()
        .and_then(|member| member.membership)
}

/// A join under join rules needs the joiner, and their membership.
pub(super) fn needs(action: &Action, profile: &Profile, needs: &mut Needs) {
    if profile.rooms.join.is_empty() {
        return;
    }
    if let Some(room) = joined(action) {
        needs.user = true;
        needs.membership = Some(room);
    }
}

/// Checks a join against the rules that concern the joiner (a join of no
/// known user, which the homeserver refuses, only by rules for everyone).
pub(super) fn check(input: &Input<'_>, judge: &mut Judge) -> Result<(), Decision> {
    let action = &input.classified.action;
    if joined(action).is_none() {
        return Ok(());
    }
    if let Action::SendStateEvent { state_key, .. } = action
        && input.context.user.map(|user| user.as_str()) != Some(state_key.as_str())
    {
        // Setting another user's membership to join is the homeserver's
        // to refuse.
        return Ok(());
    }
    let user = input.context.user.map(|user| user.as_str());
    for rule in &input.profile.rooms.join {
        let concerned = match (&rule.who, user) {
            (None, _) => true,
            (Some(who), Some(user)) => who.matches(user, input.groups()),
            // No user: the homeserver refuses the join itself.
            (Some(_), None) => false,
        };
        if !concerned {
            continue;
        }
        let Some(membership) = input.context.membership else {
            return Err(Decision::deny(
                rules::MEMBERSHIP_UNAVAILABLE,
                403,
                "M_FORBIDDEN",
                "The gateway could not learn your membership in this room; \
                 the join was not sent.",
            ));
        };
        if !rule.membership.iter().any(|allowed| allowed == membership) {
            judge.deny(Decision::deny_by(
                &rule.meta,
                403,
                "M_FORBIDDEN",
                format!("{} (your membership: {membership})", rule.meta.reason),
            ))?;
        }
    }
    Ok(())
}
