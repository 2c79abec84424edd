//! Invite rules: who may invite whom, into what kind of room, and what the
//! invitee's own invite-permission settings say ([`permissions`]). The
//! `invites:` section ([`file`]), resolved into [`InviteRules`], what it
//! needs, and its check: at `/invite` and on an `m.room.member` state
//! event set to `invite` (with the room's state and members as learned),
//! and for each invite of a `createRoom` (with the state the request sets
//! up, the creator and the invitees before counting as members). A user's
//! setting is checked for its shape when it is set.

mod file;
mod permissions;
mod settings;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use ruma::{OwnedRoomId, OwnedUserId};
use sectorgate_action::Action;
use serde_json::Value;

pub(crate) use file::InvitesFile;
pub use file::PermissionFormat;
pub use permissions::{InvitePermissions, PermissionFacts};

use crate::concerns::rooms::{initial_state_map, membership_of};
use crate::decide::{Input, Judge};
use crate::profile::{
    Condition, Groups, Link, Resolver, RuleMeta, Situation, UserSelector, all_hold,
};
use crate::{Decision, MembersNeed, Needs, Profile, rules};

/// Rules on invites.
#[derive(Clone, Debug, Default)]
pub struct InviteRules {
    /// The rules, in order.
    pub rules: Vec<InviteRule>,
    /// Users' own invite-permission settings, when the profile honours them.
    pub permissions: Option<InvitePermissions>,
}

/// A condition on one field of one state event of a room.
#[derive(Clone, Debug)]
pub struct StateCondition {
    /// The state event type (empty state key).
    pub event_type: String,
    /// A JSON pointer into its content.
    pub field: String,
    /// The values that meet the condition.
    pub allow: Vec<Value>,
}

impl StateCondition {
    /// Whether a room whose `event_type` state has this content (or none)
    /// meets the condition.
    pub fn holds(&self, content: Option<&Value>) -> bool {
        content
            .and_then(|content| content.pointer(&self.field))
            .is_some_and(|value| self.allow.contains(value))
    }
}

/// An invite rule: an `invitee` invited by an `inviter` is refused unless
/// the room meets `room_state`.
#[derive(Clone, Debug)]
pub struct InviteRule {
    /// The rule.
    pub meta: RuleMeta,
    /// Whom the rule protects (`None`: everyone).
    pub invitee: Option<UserSelector>,
    /// Whose invites it limits (`None`: everyone's).
    pub inviter: Option<UserSelector>,
    /// What the room must be like for the invite to pass (`None`: never,
    /// unless `max_members` says how many it may hold).
    pub room_state: Option<StateCondition>,
    /// Only into rooms that meet all of these.
    pub when: Vec<Condition>,
    /// The most users a room may have had a membership in, the invitee
    /// included: the rule refuses only invites beyond.
    pub max_members: Option<u64>,
}

impl InviteRule {
    /// Whether the rule concerns an invite of `invitee` by `inviter`
    /// (an unknown inviter is concerned by every inviter selector).
    pub fn concerns(&self, inviter: Option<&str>, invitee: &str, groups: Groups<'_>) -> bool {
        self.invitee
            .as_ref()
            .is_none_or(|selector| selector.matches(invitee, groups))
            && match (&self.inviter, inviter) {
                (None, _) => true,
                (Some(selector), Some(inviter)) => selector.matches(inviter, groups),
                (Some(_), None) => true,
            }
    }
}

/// Resolves `invites`: the rules, child first (a rule with a parent's id
/// replaces it), each selector checked against the user groups; then the
/// invite permissions.
pub(crate) fn resolve(resolver: &mut Resolver<'_>, chain: &[Link]) -> InviteRules {
    let mut seen = HashSet::new();
    let mut rules = Vec::new();
    for link in chain {
        for (index, rule) in link.file.invites.rules.iter().enumerate() {
            if !seen.insert(rule.id.clone()) {
                continue;
            }
            let at = format!("invites.rules[{index}]");
            let invitee = rule
                .invitee
                .as_ref()
                .map(|s| resolver.selector(s, link, &format!("{at}.invitee")));
            let inviter = rule
                .inviter
                .as_ref()
                .map(|s| resolver.selector(s, link, &format!("{at}.inviter")));
            rules.push(InviteRule {
                meta: resolver.meta_of(rule, "this invite is not allowed"),
                invitee,
                inviter,
                room_state: rule.room_state.as_ref().map(|condition| StateCondition {
                    event_type: condition.event_type.clone(),
                    field: condition.field.clone(),
                    allow: condition.allow.clone(),
                }),
                when: resolver.conditions(&rule.when, link, &at),
                max_members: rule.max_members,
            });
        }
    }
    InviteRules {
        rules,
        permissions: permissions::resolve(resolver, chain),
    }
}

/// The room and the invitee of an invite: `POST /rooms/{roomId}/invite`,
/// or an `m.room.member` state event set to `invite`.
fn invite_of(action: &Action) -> Option<(&OwnedRoomId, OwnedUserId)> {
    match action {
        Action::Invite {
            room_id,
            invitee: Some(invitee),
        } => Some((room_id, invitee.clone())),
        Action::SendStateEvent {
            room_id,
            event_type,
            state_key,
            content,
        } if event_type == "m.room.member" && membership_of(content.get()) == Some("invite") => {
            OwnedUserId::try_from(state_key.as_str())
                .ok()
                .map(|invitee| (room_id, invitee))
        }
        _ => None,
    }
}

/// An invite needs the inviter when a rule limits inviters, the invitees'
/// settings when the profile honours them, the room's state that the
/// rules' conditions read, and its members where a rule caps them.
pub(crate) fn needs(action: &Action, profile: &Profile, needs: &mut Needs) {
    let invite_rules = &profile.invites.rules;
    let limits_inviters = invite_rules.iter().any(|rule| rule.inviter.is_some());
    let caps_members = invite_rules.iter().any(|rule| rule.max_members.is_some());
    let honours_settings = profile.invites.permissions.is_some();
    if let Some((room_id, invitee)) = invite_of(action) {
        needs.user |= limits_inviters || honours_settings;
        if honours_settings {
            needs.invitees.push(invitee);
        }
        let conditions = invite_rules.iter().flat_map(|rule| rule.when.iter());
        let types: Vec<String> = invite_rules
            .iter()
            .filter_map(|rule| rule.room_state.as_ref())
            .map(|condition| condition.event_type.clone())
            .chain(conditions.flat_map(Condition::state_types))
            .collect();
        if !types.is_empty() {
            needs.room_state(room_id, types);
        }
        if caps_members {
            needs.members = Some(members_need(room_id, invite_rules));
        }
        return;
    }
    if let Action::CreateRoom { invite, .. } = action
        && !invite.is_empty()
    {
        needs.user |= limits_inviters || honours_settings || caps_members;
        if honours_settings {
            needs.invitees.extend(invite.iter().cloned());
        }
    }
}

/// The members of `room_id`, wanted where the one rule that caps them
/// applies (always, when several do).
fn members_need(room_id: &OwnedRoomId, invite_rules: &[InviteRule]) -> MembersNeed {
    let mut capping = invite_rules
        .iter()
        .filter(|rule| rule.max_members.is_some());
    let only_if = match (capping.next(), capping.next()) {
        (Some(rule), None) => rule.when.clone(),
        _ => Vec::new(),
    };
    MembersNeed {
        room_id: room_id.clone(),
        only_if,
    }
}

/// Checks an invite, the invites of a `createRoom`, or a user's own
/// invite-permission setting.
pub(crate) fn check(
    input: &Input<'_>,
    content: Option<&Value>,
    judge: &mut Judge,
) -> Result<(), Decision> {
    let action = &input.classified.action;
    if let Some((_, invitee)) = invite_of(action) {
        let room = input.context.room;
        let into = Room {
            state: room.map(|room| &room.state),
            members: room.and_then(|room| room.members.clone()),
        };
        return check_invite(input, invitee.as_str(), &into, judge);
    }
    match action {
        Action::SetAccountData {
            event_type,
            content,
            room_id: None,
            ..
        } => permissions::check_setting(input, event_type, content.get()),
        Action::CreateRoom { invite, .. } if !invite.is_empty() => {
            let state = content.map(initial_state_map).unwrap_or_default();
            // The creator is the first member, then each invitee in turn.
            let mut members: BTreeSet<String> = input
                .context
                .user
                .map(|user| user.to_string())
                .into_iter()
                .collect();
            for invitee in invite {
                let into = Room {
                    state: Some(&state),
                    members: Some(members.clone()),
                };
                check_invite(input, invitee.as_str(), &into, judge)?;
                members.insert(invitee.to_string());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The room an invite is into, as far as it is known.
struct Room<'a> {
    state: Option<&'a BTreeMap<String, Value>>,
    members: Option<BTreeSet<String>>,
}

/// One invite: the invitee's settings, then the rules in order.
fn check_invite(
    input: &Input<'_>,
    invitee: &str,
    room: &Room<'_>,
    judge: &mut Judge,
) -> Result<(), Decision> {
    permissions::check(input, invitee, judge)?;
    let inviter = input.context.user.map(|user| user.as_str());
    for rule in &input.profile.invites.rules {
        if !rule.concerns(inviter, invitee, input.groups()) {
            continue;
        }
        let situation = Situation {
            state: room.state,
            ..Situation::default()
        };
        match all_hold(&rule.when, &situation) {
            Some(true) => {}
            Some(false) => continue,
            None => return Err(state_unavailable()),
        }
        let allowed = match (rule.max_members, &rule.room_state, room.state) {
            (Some(max), _, _) => within(max, invitee, room.members.as_ref())?,
            (None, None, _) => false,
            (None, Some(condition), Some(state)) => {
                condition.holds(state.get(&condition.event_type))
            }
            (None, Some(_), None) => return Err(state_unavailable()),
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

/// Whether a room whose members are `members` may take `invitee` under a
/// cap of `max` (a user who had a membership already counts once).
fn within(max: u64, invitee: &str, members: Option<&BTreeSet<String>>) -> Result<bool, Decision> {
    let Some(members) = members else {
        return Err(Decision::deny(
            rules::MEMBERS_UNAVAILABLE,
            403,
            "M_FORBIDDEN",
            "The gateway could not learn this room's members with your access; \
             the invite was not sent.",
        ));
    };
    let others = members.iter().filter(|member| *member != invitee).count();
    Ok((others as u64) < max)
}

fn state_unavailable() -> Decision {
    Decision::deny(
        rules::ROOM_STATE_UNAVAILABLE,
        403,
        "M_FORBIDDEN",
        "The gateway could not learn this room's state with your access; \
         the invite was not sent.",
    )
}
