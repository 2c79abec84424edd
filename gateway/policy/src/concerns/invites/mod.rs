//! Invite rules: who may invite whom, into what kind of room, and what the
//! invitee's own invite-permission settings say ([`permissions`]). The
//! `invites:` section ([`file`]), resolved into [`InviteRules`], what it
//! needs, and its check: at `/invite` (with the room's state as learned)
//! and for each invite of a `createRoom` (with the state the request sets
//! up). A user's setting is checked for its shape when it is set.

mod file;
mod permissions;
mod settings;

use std::collections::{BTreeMap, HashSet};

use sectorgate_action::Action;
use serde_json::Value;

pub(crate) use file::InvitesFile;
pub use file::PermissionFormat;
pub use permissions::{InvitePermissions, PermissionFacts};

use crate::concerns::rooms::initial_state_map;
use crate::decide::{Input, Judge};
use crate::profile::{Groups, Link, Resolver, RuleMeta, UserSelector};
use crate::{Decision, Needs, Profile, rules};

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
    /// What the room must be like for the invite to pass (`None`: never).
    pub room_state: Option<StateCondition>,
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
            });
        }
    }
    InviteRules {
        rules,
        permissions: permissions::resolve(resolver, chain),
    }
}

/// An invite needs the inviter when a rule limits inviters, the invitees'
/// settings when the profile honours them, and the room's state that the
/// rules' conditions read.
pub(crate) fn needs(action: &Action, profile: &Profile, needs: &mut Needs) {
    let invite_rules = &profile.invites.rules;
    let limits_inviters = invite_rules.iter().any(|rule| rule.inviter.is_some());
    let honours_settings = profile.invites.permissions.is_some();
    match action {
        Action::Invite {
            room_id,
            invitee: Some(invitee),
        } => {
            needs.user |= limits_inviters || honours_settings;
            if honours_settings {
                needs.invitees.push(invitee.clone());
            }
            let types: Vec<String> = invite_rules
                .iter()
                .filter_map(|rule| rule.room_state.as_ref())
                .map(|condition| condition.event_type.clone())
                .collect();
            if !types.is_empty() {
                needs.room_state(room_id, types);
            }
        }
        Action::CreateRoom { invite, .. } if !invite.is_empty() => {
            needs.user |= limits_inviters || honours_settings;
            if honours_settings {
                needs.invitees.extend(invite.iter().cloned());
            }
        }
        _ => {}
    }
}

/// Checks an invite, the invites of a `createRoom`, or a user's own
/// invite-permission setting.
pub(crate) fn check(
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
        } => permissions::check_setting(input, event_type, content.get()),
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

/// One invite: the invitee's settings, then the rules in order.
fn check_invite(
    input: &Input<'_>,
    invitee: &str,
    state: Option<&BTreeMap<String, Value>>,
    judge: &mut Judge,
) -> Result<(), Decision> {
    permissions::check(input, invitee, judge)?;
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
