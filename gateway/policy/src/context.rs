//! [`Context`]: what `decide` knows besides the request: who asks, what the
//! room and the targeted event are like, and the time. The pipeline gathers
//! these facts (from what passes through, or by asking the homeserver)
//! before it decides; `decide` reads them and never fetches anything.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ruma::{OwnedEventId, OwnedRoomId, OwnedRoomOrAliasId, OwnedUserId};
use sectorgate_action::Classified;
use serde_json::Value;

use crate::Profile;
use crate::concerns::{answers, events, invites, lookups, redactions, rooms};
use crate::federation::FederationFacts;
use crate::profile::{Condition, PermissionFacts, Situation, all_hold};

/// Who sent the request, as far as the network tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The client's address (after trusted `X-Forwarded-For`).
    pub addr: IpAddr,
}

/// What the gateway knows of a room: the contents of the state events
/// (empty state key) the profile needs, by type (a type without an entry
/// has no such state event); whether it is listed in the room directory,
/// and who has a membership in it, when those are needed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomFacts {
    /// State event contents by type.
    pub state: BTreeMap<String, Value>,
    /// Whether the room is listed in the room directory, when needed.
    pub published: Option<bool>,
    /// The users with a membership event in the room (joined, invited,
    /// left, banned), when needed.
    pub members: Option<BTreeSet<String>>,
}

impl RoomFacts {
    /// Whether the room has an `m.room.encryption` state event.
    pub fn encrypted(&self) -> bool {
        self.state.contains_key("m.room.encryption")
    }

    /// The room's join rule (`public`, `invite`, …), if it has one.
    pub fn join_rule(&self) -> Option<&str> {
        self.state
            .get("m.room.join_rules")
            .and_then(|content| content.get("join_rule"))
            .and_then(Value::as_str)
    }
}

/// What the gateway knows of an event that a request targets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFacts {
    /// When the event was sent, in ms since the epoch (its `origin_server_ts`).
    pub origin_server_ts: u64,
}

/// Everything `decide` knows besides the request.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// The network peer.
    pub peer: Peer,
    /// Now, in ms since the epoch.
    pub now_ms: u64,
    /// The user the request acts for, when known.
    pub user: Option<&'a OwnedUserId>,
    /// Whether the request bears an access token; without a `user`, one
    /// the homeserver does not know.
    pub token: bool,
    /// The room's facts, when the profile needs them and they were learned.
    pub room: Option<&'a RoomFacts>,
    /// The targeted event's facts, when needed and learned.
    pub event: Option<&'a EventFacts>,
    /// The invitees' invite-permission settings, when needed and learned.
    pub invitees: Option<&'a BTreeMap<OwnedUserId, PermissionFacts>>,
    /// Whether the acting user shares a room with the user a lookup names
    /// ([`Needs::shared_room`]), when needed and learned.
    pub shares_room: Option<bool>,
    /// The acting user's membership in the room a request names (`join`,
    /// `invite`, `leave`, …; `leave` for a room they cannot see), when
    /// needed and learned ([`Needs::membership`]).
    pub membership: Option<&'a str>,
    /// The application service (bridge) acting, by the id its
    /// registration gives, when the request bears its token.
    pub appservice: Option<&'a str>,
    /// The federation allowlist and the verified origin, when the gateway
    /// manages federation.
    pub federation: Option<FederationFacts<'a>>,
}

/// The application service id the gateway's own token stands for; no
/// request from outside may bear it.
pub const GATEWAY_APPSERVICE: &str = "org.sectorgate.gateway";

impl<'a> Context<'a> {
    /// A context with no facts: for requests whose decision needs none.
    pub fn bare(peer: Peer, now_ms: u64) -> Self {
        Self {
            peer,
            now_ms,
            user: None,
            token: false,
            room: None,
            event: None,
            invitees: None,
            shares_room: None,
            membership: None,
            appservice: None,
            federation: None,
        }
    }
}

/// The facts a decision on one request needs, so the pipeline fetches
/// exactly these and nothing else.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// The room whose state is needed, and which state event types.
    pub room: Option<(OwnedRoomId, BTreeSet<String>)>,
    /// The event whose facts are needed, with its room.
    pub event: Option<(OwnedRoomId, OwnedEventId)>,
    /// Whether the acting user's id is needed.
    pub user: bool,
    /// The invitees whose invite-permission settings are needed.
    pub invitees: Vec<OwnedUserId>,
    /// The user looked up, when whether the acting user shares a room
    /// with them is needed.
    pub shared_room: Option<OwnedUserId>,
    /// The room whose listing in the room directory is needed.
    pub published: Option<OwnedRoomId>,
    /// The room whose members are needed, if its state meets the conditions.
    pub members: Option<MembersNeed>,
    /// The room (or alias) the acting user's membership in is needed.
    pub membership: Option<OwnedRoomOrAliasId>,
}

/// A room's members, needed only where the room's state meets `only_if`
/// (so that the members of a large room are not asked for in vain).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembersNeed {
    /// The room.
    pub room_id: OwnedRoomId,
    /// The conditions on its state (the state [`Needs::room`] names).
    pub only_if: Vec<Condition>,
}

impl MembersNeed {
    /// Whether the members are needed, for a room with this state; with
    /// the state not known, they are.
    pub fn wanted(&self, state: Option<&BTreeMap<String, Value>>) -> bool {
        let situation = Situation {
            state,
            ..Situation::default()
        };
        all_hold(&self.only_if, &situation) != Some(false)
    }
}

impl Needs {
    /// Whether nothing needs fetching.
    pub fn is_empty(&self) -> bool {
        self.room.is_none()
            && self.event.is_none()
            && !self.user
            && self.invitees.is_empty()
            && self.shared_room.is_none()
            && self.published.is_none()
            && self.members.is_none()
            && self.membership.is_none()
    }

    /// Adds state event types of `room_id` to those needed.
    pub(crate) fn room_state(
        &mut self,
        room_id: &OwnedRoomId,
        types: impl IntoIterator<Item = String>,
    ) {
        let entry = self
            .room
            .get_or_insert_with(|| (room_id.clone(), BTreeSet::new()));
        entry.1.extend(types);
    }
}

/// What `decide` will need to know to decide `classified` under `profile`:
/// what each concern's check needs, in the order `decide` checks them.
pub fn needs(classified: &Classified, profile: &Profile) -> Needs {
    let mut needs = Needs::default();
    let action = &classified.action;
    answers::needs(classified.endpoint.as_ref(), profile, &mut needs);
    events::needs(action, profile, &mut needs);
    rooms::needs(action, profile, &mut needs);
    invites::needs(action, profile, &mut needs);
    redactions::needs(action, profile, &mut needs);
    lookups::needs(action, profile, &mut needs);
    needs
}
