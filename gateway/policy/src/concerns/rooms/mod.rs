//! Room rules: `createRoom` (defaults, state defaults, versions, field
//! rules, invites, the initial state the request sets up, encryption at
//! creation), joins ([`join`]), listing in the room directory
//! ([`publish`]) and room upgrades (versions, state carried over). The
//! `rooms:` section ([`file`]), resolved into [`RoomRules`], and its
//! check; the state a `createRoom` sets up is worked out in
//! [`initial_state`], and filled in by [`state_defaults`].

mod file;
mod initial_state;
mod join;
mod publish;
mod state_defaults;

use std::collections::BTreeMap;

use ruma::OwnedRoomId;
use sectorgate_action::Action;
use serde_json::Value;

pub(crate) use file::RoomsFile;
pub use initial_state::initial_state_map;
use initial_state::{apply_defaults, initial_state};
pub use join::JoinRule;
pub(crate) use join::membership_of;
pub use publish::PublishRule;
pub use state_defaults::StateDefault;

use super::content::{check_event_content, content_len};
use super::events::{Around, Kind, check_event, concerns, must_be_encrypted};
use crate::decide::{Input, Judge};
use crate::profile::{AllowList, FieldRule, Limit, Link, Resolver, RuleMeta, Situation, nearest};
use crate::{Decision, FollowUp, Needs, Problem, Profile, RoomFacts, RuleId};

/// Rules on rooms: creation, joins, the room directory and upgrades.
#[derive(Clone, Debug, Default)]
pub struct RoomRules {
    /// Allowed room versions.
    pub versions: Option<AllowList>,
    /// Most invites at `createRoom`.
    pub max_invites: Option<Limit>,
    /// Field rules on the `createRoom` body.
    pub create_rules: Vec<FieldRule>,
    /// Fields set when the client leaves them out.
    pub create_defaults: Vec<(String, Value)>,
    /// State a room is created with when the request sets none up.
    pub state_defaults: Vec<StateDefault>,
    /// State event types a room must be created with.
    pub required_state: Option<RequiredState>,
    /// Who may join, by their membership.
    pub join: Vec<JoinRule>,
    /// Which rooms may be listed in the room directory.
    pub publish: Option<PublishRule>,
    /// State the gateway copies into a room's replacement after an upgrade.
    pub carry_state: Option<CarryState>,
}

/// State event types a room must be created with.
#[derive(Clone, Debug)]
pub struct RequiredState {
    /// The rule.
    pub meta: RuleMeta,
    /// The types.
    pub types: Vec<String>,
}

/// State event types (empty state key) a room's replacement is given from
/// the old room once the homeserver upgraded it: a request the gateway
/// makes on the user's behalf, recorded under the rule's id.
#[derive(Clone, Debug)]
pub struct CarryState {
    /// The rule.
    pub meta: RuleMeta,
    /// The types.
    pub types: Vec<String>,
}

/// What follows an allowed room upgrade under `rooms.upgrade.carry_state`:
/// once the homeserver has upgraded the room, the gateway sets these state
/// events, as the old room has them, in its replacement, as the requester.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateCarry {
    /// The rule that sets them.
    pub rule: RuleId,
    /// The rule is in shadow mode: the requests are recorded, not made.
    pub shadow: bool,
    /// The room upgraded.
    pub room_id: OwnedRoomId,
    /// The state events (empty state key) to set: type and content.
    pub state: Vec<(String, Value)>,
}

/// Resolves `rooms`.
pub(crate) fn resolve(resolver: &mut Resolver<'_>, chain: &[Link]) -> RoomRules {
    let defaults = defaults(resolver, chain);
    RoomRules {
        versions: nearest(chain, |f| f.rooms.versions.as_ref())
            .map(|(list, _)| resolver.allow_list(list, "this room version is not allowed")),
        max_invites: nearest(chain, |f| f.rooms.create.max_invites.as_ref())
            .map(|(limit, _)| resolver.limit(limit, "too many invites at room creation")),
        create_rules: resolver.field_rules(chain, "rooms.create.rules", |f| &f.rooms.create.rules),
        create_defaults: defaults,
        state_defaults: state_defaults::resolve(resolver, chain),
        required_state: nearest(chain, |f| f.rooms.create.required_state.as_ref()).map(
            |(rule, _)| RequiredState {
                meta: resolver.meta_of(rule, "the room must be created with this state"),
                types: rule.types.clone(),
            },
        ),
        join: join::resolve(resolver, chain),
        publish: publish::resolve(resolver, chain),
        carry_state: nearest(chain, |f| f.rooms.upgrade.carry_state.as_ref()).map(|(rule, _)| {
            CarryState {
                meta: resolver.meta_of(rule, "state carried over to the upgraded room"),
                types: rule.types.clone(),
            }
        }),
    }
}

/// `rooms.create.defaults`, merged by JSON pointer (the child's winning).
fn defaults(resolver: &mut Resolver<'_>, chain: &[Link]) -> Vec<(String, Value)> {
    let mut defaults: BTreeMap<String, Value> = BTreeMap::new();
    for link in chain.iter().rev() {
        for (pointer, value) in &link.file.rooms.create.defaults {
            if !pointer.starts_with('/') || pointer.len() < 2 {
                resolver.problems.push(Problem::new(
                    link.source.label("profile.yaml"),
                    format!("rooms.create.defaults.{pointer}"),
                    "a default names its field by JSON pointer (it must start with /)",
                ));
            }
            defaults.insert(pointer.clone(), value.clone());
        }
    }
    defaults.into_iter().collect()
}

/// A `createRoom` with field rules for some users needs the acting user; a
/// join under join rules needs the joiner's membership; listing a room
/// later needs its state; an upgrade that carries state needs that state.
pub(crate) fn needs(action: &Action, profile: &Profile, needs: &mut Needs) {
    match action {
        Action::CreateRoom { .. }
            if profile
                .rooms
                .create_rules
                .iter()
                .any(|rule| rule.who.is_some()) =>
        {
            needs.user = true;
        }
        Action::UpgradeRoom { room_id, .. } => {
            if let Some(carry) = &profile.rooms.carry_state {
                needs.room_state(room_id, carry.types.iter().cloned());
            }
        }
        _ => {}
    }
    join::needs(action, profile, needs);
    publish::needs(action, profile, needs);
}

/// Checks a `createRoom` (whose body it may amend), a join, a listing in
/// the room directory or a room upgrade.
pub(crate) fn check(
    input: &Input<'_>,
    content: Option<&mut Value>,
    judge: &mut Judge,
) -> Result<(), Decision> {
    let profile = input.profile;
    match &input.classified.action {
        Action::CreateRoom { .. } => match content {
            Some(body) => check_create(input, body, judge),
            None => Ok(()),
        },
        Action::SetRoomVisibility { public: true, .. } => {
            publish::check_listed(profile, input.context.room, judge)
        }
        Action::UpgradeRoom {
            room_id,
            new_version,
        } => {
            check_version(profile.rooms.versions.as_ref(), new_version.as_str(), judge)?;
            judge.follow_up = carry(room_id, profile, input.context.room);
            Ok(())
        }
        _ => join::check(input, judge),
    }
}

/// A `createRoom`: defaults filled in (the body forwarded is amended),
/// then the version, the field rules, the invites, the state it sets up
/// and its listing in the room directory.
fn check_create(input: &Input<'_>, body: &mut Value, judge: &mut Judge) -> Result<(), Decision> {
    let profile = input.profile;
    let filled = apply_defaults(body, profile);
    if filled | state_defaults::fill(body, &profile.rooms.state_defaults) {
        judge.amended_body = serde_json::to_vec(body).ok().map(Vec::into_boxed_slice);
    }
    let body: &Value = body;
    if let Some(version) = body.get("room_version").and_then(Value::as_str) {
        check_version(profile.rooms.versions.as_ref(), version, judge)?;
    }
    let state = initial_state_map(body);
    let user = input.context.user.map(|user| user.as_str());
    let around = Around {
        situation: Situation {
            state: Some(&state),
            request: Some(body),
            published: None,
            user,
        },
        groups: input.groups(),
        user,
    };
    for rule in &profile.rooms.create_rules {
        if !concerns(rule, &around)? {
            continue;
        }
        if let Err(why) = rule.check(body, None, around.groups) {
            judge.deny(Decision::deny_by(
                &rule.meta,
                403,
                "M_FORBIDDEN",
                format!("{} (createRoom: {why})", rule.meta.reason),
            ))?;
        }
    }
    let invites = body
        .get("invite")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if let Some(max) = &profile.rooms.max_invites
        && invites as u64 > max.limit
    {
        judge.deny(Decision::deny_by(
            &max.meta,
            403,
            "M_FORBIDDEN",
            format!(
                "{}: {invites} invited, at most {} allowed",
                max.meta.reason, max.limit
            ),
        ))?;
    }
    check_initial_state(body, &around, profile, judge)?;
    publish::check_created(body, &state, profile, judge)
}

/// The state an upgrade carries into the new room: the types the rule
/// names that the old room has (nothing when its state is not known: the
/// homeserver refuses an upgrade by whom cannot see it).
fn carry(
    room_id: &OwnedRoomId,
    profile: &Profile,
    room: Option<&RoomFacts>,
) -> Option<Box<FollowUp>> {
    let rule = profile.rooms.carry_state.as_ref()?;
    let room = room?;
    let state: Vec<(String, Value)> = rule
        .types
        .iter()
        .filter_map(|event_type| Some((event_type.clone(), room.state.get(event_type)?.clone())))
        .collect();
    (!state.is_empty()).then(|| {
        Box::new(FollowUp::CarryState(StateCarry {
            rule: rule.meta.id.clone(),
            shadow: rule.meta.shadow,
            room_id: room_id.clone(),
            state,
        }))
    })
}

fn check_version(
    versions: Option<&AllowList>,
    version: &str,
    judge: &mut Judge,
) -> Result<(), Decision> {
    match versions {
        Some(versions) if !versions.allows(version) => judge.deny(Decision::deny_by(
            &versions.meta,
            400,
            "M_UNSUPPORTED_ROOM_VERSION",
            format!("{}: room version {version}", versions.meta.reason),
        )),
        _ => Ok(()),
    }
}

/// Every initial state event goes through the same checks as a later
/// state send; then the room must be encrypted from the start if the
/// profile requires it.
fn check_initial_state(
    body: &Value,
    around: &Around<'_>,
    profile: &Profile,
    judge: &mut Judge,
) -> Result<(), Decision> {
    let state = initial_state(body);
    for (event_type, _, content) in &state {
        // m.room.create is built from creation_content: its schema is the
        // homeserver's business, its fields are the profile's.
        if event_type != "m.room.create" {
            check_event_content(event_type, content, content_len(content), profile, judge)?;
        }
        check_event(Kind::Created, event_type, content, around, profile, judge)?;
    }
    if let Some(required) = &profile.rooms.required_state {
        for event_type in &required.types {
            if !state.iter().any(|(t, _, _)| t == event_type) {
                judge.deny(Decision::deny_by(
                    &required.meta,
                    403,
                    "M_FORBIDDEN",
                    format!(
                        "{}: {event_type} is missing from initial_state",
                        required.meta.reason
                    ),
                ))?;
            }
        }
    }
    let Some(encryption) = &profile.events.encryption else {
        return Ok(());
    };
    let facts = RoomFacts {
        state: state
            .into_iter()
            .filter(|(_, state_key, _)| state_key.is_empty())
            .map(|(event_type, _, content)| (event_type, content))
            .collect(),
        ..RoomFacts::default()
    };
    if !facts.encrypted() && must_be_encrypted(encryption.scope, &facts) {
        judge.deny(Decision::deny_by(
            &encryption.meta,
            403,
            "M_FORBIDDEN",
            format!(
                "{}: create the room with an m.room.encryption event in initial_state",
                encryption.meta.reason
            ),
        ))?;
    }
    Ok(())
}
