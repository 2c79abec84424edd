//! `rooms:` as written in `profile.yaml`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::profile::{
    AllowListFile, ConditionFile, FieldRuleFile, LimitFile, UserSelectorFile, rule_file,
};

/// `rooms:`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoomsFile {
    /// Room versions allowed at `createRoom` and at upgrade.
    #[serde(default)]
    pub(crate) versions: Option<AllowListFile>,
    #[serde(default)]
    pub(crate) create: CreateFile,
    /// Who may join a room, by their membership in it.
    #[serde(default)]
    pub(crate) join: Vec<JoinRuleFile>,
    /// Which rooms may be listed in the room directory.
    #[serde(default)]
    pub(crate) publish: Option<PublishFile>,
    /// What a room upgrade carries over.
    #[serde(default)]
    pub(crate) upgrade: UpgradeFile,
}

/// `rooms.create:`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateFile {
    /// Most users a `createRoom` may invite.
    #[serde(default)]
    pub(crate) max_invites: Option<LimitFile>,
    /// Field rules on the `createRoom` body.
    #[serde(default)]
    pub(crate) rules: Vec<FieldRuleFile>,
    /// Fields set when the client leaves them out (JSON pointer → value).
    #[serde(default)]
    pub(crate) defaults: BTreeMap<String, Value>,
    /// State event types the room must be created with.
    #[serde(default)]
    pub(crate) required_state: Option<RequiredStateFile>,
    /// State events filled in when the request sets none up (the first
    /// entry for a type whose `when` holds).
    #[serde(default)]
    pub(crate) state_defaults: Vec<StateDefaultFile>,
}

/// One `rooms.create.state_defaults` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateDefaultFile {
    /// The state event type (empty state key).
    #[serde(rename = "type")]
    pub(crate) event_type: String,
    /// Its content, when the request sets up none.
    pub(crate) content: Map<String, Value>,
    /// When the request sets one up: fill in the keys it lacks (recursively).
    #[serde(default)]
    pub(crate) merge: bool,
    /// Only when the state the request sets up (or the request) meets these.
    #[serde(default)]
    pub(crate) when: Vec<ConditionFile>,
}

rule_file! {
    /// One `rooms.join` rule: a join by `who` is refused unless their
    /// membership in the room is one of `membership`.
    JoinRuleFile {
        #[serde(default)]
        who: Option<UserSelectorFile>,
        membership: Vec<String>,
    }
}

rule_file! {
    /// `rooms.publish`: a room may be listed in the room directory (at
    /// `createRoom` or later) only when it meets `when`.
    PublishFile {
        when: Vec<ConditionFile>,
    }
}

/// `rooms.upgrade:`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpgradeFile {
    /// State the new room is given from the old one, once the homeserver
    /// upgraded it.
    #[serde(default)]
    pub(crate) carry_state: Option<CarryStateFile>,
}

rule_file! {
    /// `rooms.upgrade.carry_state`: state event types (empty state key)
    /// the gateway copies into the new room on the user's behalf.
    CarryStateFile {
        types: Vec<String>,
    }
}

rule_file! {
    /// `rooms.create.required_state`
    RequiredStateFile {
        types: Vec<String>,
    }
}
