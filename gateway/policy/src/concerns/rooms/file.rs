//! `rooms:` as written in `profile.yaml`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::profile::{AllowListFile, FieldRuleFile, LimitFile, rule_file};

/// `rooms:`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoomsFile {
    /// Room versions allowed at `createRoom` and at upgrade.
    #[serde(default)]
    pub(crate) versions: Option<AllowListFile>,
    #[serde(default)]
    pub(crate) create: CreateFile,
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
}

rule_file! {
    /// `rooms.create.required_state`
    RequiredStateFile {
        types: Vec<String>,
    }
}
