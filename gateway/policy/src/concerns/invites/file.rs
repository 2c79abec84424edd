//! `invites:` as written in `profile.yaml`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::profile::{ConditionFile, UserSelectorFile, rule_file};

/// `invites:`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InvitesFile {
    /// Rules on who may invite whom, checked at `/invite` and on the
    /// invites of `createRoom`.
    #[serde(default)]
    pub(crate) rules: Vec<InviteRuleFile>,
    /// Honour each user's own invite-permission settings.
    #[serde(default)]
    pub(crate) permissions: Option<PermissionsFile>,
}

rule_file! {
    /// `invites.permissions`
    PermissionsFile {
        /// The account data types honoured, first set wins.
        account_data: Vec<PermissionTypeFile>,
        /// gematik `groupExceptions` group names → the profile's user groups.
        #[serde(default)]
        group_names: BTreeMap<String, String>,
    }
}

/// One honoured account data type and its shape.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PermissionTypeFile {
    #[serde(rename = "type")]
    pub(crate) event_type: String,
    pub(crate) format: PermissionFormat,
}

/// The shape of an invite-permission setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionFormat {
    /// gematik's `permissionConfig`: `defaultSetting` and exceptions.
    Gematik,
    /// MSC4155's `m.invite_permission_config`: allowed, ignored and blocked
    /// users and servers.
    Msc4155,
}

rule_file! {
    /// One invite rule: an invite of an `invitee` by an `inviter` is refused,
    /// unless the room's state meets `room_state`.
    InviteRuleFile {
        #[serde(default)]
        invitee: Option<UserSelectorFile>,
        #[serde(default)]
        inviter: Option<UserSelectorFile>,
        #[serde(default)]
        room_state: Option<StateConditionFile>,
        /// Only into rooms that meet all of these.
        #[serde(default)]
        when: Vec<ConditionFile>,
        /// The most users a room may have had a membership in, the invitee
        /// included (instead of `room_state`).
        #[serde(default)]
        max_members: Option<u64>,
    }
}

/// A condition on one field of one state event of a room.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateConditionFile {
    /// The state event type (empty state key).
    #[serde(rename = "type")]
    pub(crate) event_type: String,
    /// A JSON pointer into its content.
    pub(crate) field: String,
    /// The field must have one of these values.
    pub(crate) allow: Vec<Value>,
}
