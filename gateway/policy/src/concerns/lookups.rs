//! Lookups: whom a user may look up. The `lookups:` section, its
//! resolution, what it needs (whether the acting user shares a room with
//! the user looked up) and its check. The user directory's answer follows
//! the same rule: the pipeline keeps only the users [`may_look_up`] allows
//! ([`directory_filter`]).

use ruma::{OwnedUserId, UserId};
use sectorgate_action::Action;
use serde::Deserialize;

use crate::decide::{Input, Judge};
use crate::profile::{Link, Resolver, RuleMeta, nearest, rule_file};
use crate::{Decision, Needs, Profile, rules};

/// `lookups:`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LookupsFile {
    #[serde(default)]
    pub(crate) shared_rooms: Option<SharedRoomsFile>,
}

rule_file! {
    /// Profiles and directory entries only of users who share a room with
    /// the requester.
    SharedRoomsFile {}
}

/// Who may look whom up.
#[derive(Clone, Debug, Default)]
pub struct LookupRules {
    /// A user may look up (a profile, the user directory) only themselves
    /// and the users they share a room with.
    pub shared_rooms: Option<RuleMeta>,
}

/// Resolves `lookups`.
pub(crate) fn resolve(resolver: &Resolver<'_>, chain: &[Link]) -> LookupRules {
    LookupRules {
        shared_rooms: nearest(chain, |f| f.lookups.shared_rooms.as_ref())
            .map(|(rule, _)| resolver.meta_of(rule, "you share no room with this user")),
    }
}

/// A profile lookup under the shared-rooms rule needs to know whether the
/// acting user shares a room with the user looked up.
pub(crate) fn needs(action: &Action, profile: &Profile, needs: &mut Needs) {
    if let Action::GetProfile { user_id } = action
        && profile.lookups.shared_rooms.is_some()
    {
        needs.shared_room = Some(user_id.clone());
    }
}

/// Whether `requester` may look `target` up under the shared-rooms rule,
/// knowing whether the two share a room (`None`: not known). Themselves
/// always; nobody, when no user asks; `None` when it cannot be said.
pub fn may_look_up(
    requester: Option<&UserId>,
    target: &UserId,
    shares_room: Option<bool>,
) -> Option<bool> {
    match requester {
        None => Some(false),
        Some(requester) if requester == target => Some(true),
        Some(_) => shares_room,
    }
}

/// The rule a user directory search's answer is filtered by: the
/// shared-rooms rule, enforced (a rule in shadow mode changes no answer).
pub fn directory_filter<'p>(action: &Action, profile: &'p Profile) -> Option<&'p RuleMeta> {
    match action {
        Action::SearchUsers => profile
            .lookups
            .shared_rooms
            .as_ref()
            .filter(|rule| !rule.shadow),
        _ => None,
    }
}

/// Checks a profile lookup against the shared-rooms rule; a lookup it
/// allows, and a directory search it will filter, are recorded as its.
pub(crate) fn check(input: &Input<'_>, judge: &mut Judge) -> Result<(), Decision> {
    let Some(rule) = &input.profile.lookups.shared_rooms else {
        return Ok(());
    };
    let target = match &input.classified.action {
        Action::GetProfile { user_id } => user_id,
        Action::SearchUsers => {
            if !rule.shadow {
                judge.allowed_by = rule.id.clone();
            }
            return Ok(());
        }
        _ => return Ok(()),
    };
    let requester = input.context.user.map(OwnedUserId::as_ref);
    match may_look_up(requester, target, input.context.shares_room) {
        Some(true) => {
            if !rule.shadow {
                judge.allowed_by = rule.id.clone();
            }
            Ok(())
        }
        Some(false) => judge.deny(Decision::deny_by(
            rule,
            403,
            "M_FORBIDDEN",
            rule.reason.clone(),
        )),
        None => {
            let mut decision = Decision::deny(
                rules::SHARED_ROOMS_UNAVAILABLE,
                403,
                "M_FORBIDDEN",
                "The gateway could not learn whether you share a room with this user.",
            );
            if rule.shadow {
                decision.into_shadow();
            }
            judge.deny(decision)
        }
    }
}
