//! The profile format as written in `profile.yaml`, before `extends` is
//! merged and names are resolved: [`ProfileFile`], which names each
//! concern's section (the sections' forms live with their concerns, in
//! `crate::concerns`), and the forms several concerns share. Every struct
//! refuses unknown keys, so a typo is an error with its YAML path, never a
//! rule that silently does not apply.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::concerns::answers::AnswerRuleFile;
use crate::concerns::appservices::AppservicesFile;
use crate::concerns::audit::AuditFile;
use crate::concerns::discovery::DiscoveryFile;
use crate::concerns::endpoints::EndpointsFile;
use crate::concerns::events::EventsFile;
use crate::concerns::federation::FederationFile;
use crate::concerns::homeserver_settings::HomeserverSettingsFile;
use crate::concerns::invites::InvitesFile;
use crate::concerns::lookups::LookupsFile;
use crate::concerns::media::MediaFile;
use crate::concerns::redactions::RedactionsFile;
use crate::concerns::rooms::RoomsFile;

use super::conditions::ConditionFile;

/// The three fields every rule's file form has, whatever else it says.
pub(crate) trait RuleFile {
    /// Its id, its refusals' text, whether it is in shadow mode.
    fn head(&self) -> (&str, Option<&str>, bool);
}

/// Declares a rule's file form: its own fields, and those every rule has
/// (`id`; optional `reason` and `shadow`), read strictly.
macro_rules! rule_file {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, ::serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $name {
            /// The rule's id, named in answers and audit records.
            pub(crate) id: String,
            $($(#[$field_meta])* pub(crate) $field: $ty,)*
            /// The text of its refusals' `error`.
            #[serde(default)]
            pub(crate) reason: Option<String>,
            /// Whether its denials are only recorded.
            #[serde(default)]
            pub(crate) shadow: bool,
        }

        impl $crate::profile::RuleFile for $name {
            fn head(&self) -> (&str, Option<&str>, bool) {
                (&self.id, self.reason.as_deref(), self.shadow)
            }
        }
    };
}

pub(crate) use rule_file;

/// Allow or deny, as written in a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// The request passes.
    Allow,
    /// The request is refused.
    Deny,
}

/// One `profile.yaml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileFile {
    pub(crate) id: String,
    pub(crate) title: String,
    /// The profile's own version (recorded with every decision).
    #[serde(default)]
    pub(crate) version: Option<String>,
    /// The Matrix specification version the profile follows, e.g. `v1.16`.
    #[serde(default)]
    pub(crate) spec_version: Option<String>,
    #[serde(default)]
    pub(crate) extends: Option<String>,
    /// Every rule of this profile is in shadow mode: decided and recorded,
    /// but forwarded anyway.
    #[serde(default)]
    pub(crate) shadow: Option<bool>,
    #[serde(default)]
    pub(crate) endpoints: EndpointsFile,
    #[serde(default)]
    pub(crate) events: EventsFile,
    #[serde(default)]
    pub(crate) rooms: RoomsFile,
    #[serde(default)]
    pub(crate) redactions: RedactionsFile,
    /// Named groups of users (`insured`, `minors`), for rules to name.
    #[serde(default)]
    pub(crate) user_groups: BTreeMap<String, UserSelectorFile>,
    #[serde(default)]
    pub(crate) invites: InvitesFile,
    #[serde(default)]
    pub(crate) media: MediaFile,
    #[serde(default)]
    pub(crate) lookups: LookupsFile,
    /// Answers the gateway gives itself, for some endpoints and requesters.
    #[serde(default)]
    pub(crate) answers: Vec<AnswerRuleFile>,
    #[serde(default)]
    pub(crate) discovery: DiscoveryFile,
    #[serde(default)]
    pub(crate) appservices: AppservicesFile,
    #[serde(default)]
    pub(crate) federation: FederationFile,
    #[serde(default)]
    pub(crate) audit: AuditFile,
    /// What the homeserver behind must be set up to do (merged by id, the
    /// child's winning; `null` drops the parent's).
    #[serde(default)]
    pub(crate) homeserver_settings: HomeserverSettingsFile,
    /// The public requirements each rule implements: rule id → references
    /// such as `gematik:A_26344` (merged by rule id, the child's winning).
    #[serde(default)]
    pub(crate) requirements: BTreeMap<String, Vec<String>>,
}

/// Which users a rule is about: any user matching one of the lists.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserSelectorFile {
    /// User id globs (`@*:pupils.example`).
    #[serde(default)]
    pub(crate) users: Vec<String>,
    /// Server name globs.
    #[serde(default)]
    pub(crate) domains: Vec<String>,
    /// Users on any server but these (globs).
    #[serde(default)]
    pub(crate) outside_domains: Vec<String>,
    /// Named user groups (`user_groups`).
    #[serde(default)]
    pub(crate) groups: Vec<String>,
    /// Users in none of these groups.
    #[serde(default)]
    pub(crate) outside_groups: Vec<String>,
    /// Users of servers the signed federation list flags as insurers'
    /// (gematik's `isInsurance`).
    #[serde(default)]
    pub(crate) insurer_servers: bool,
}

rule_file! {
    /// An allow list of names (globs ending in `*` allowed) with its rule id.
    AllowListFile {
        allow: Vec<String>,
    }
}

rule_file! {
    /// A rule on one field of a JSON object (an event content, or the
    /// `createRoom` body).
    FieldRuleFile {
        /// Event types the rule applies to (globs); unused for `createRoom` rules.
        #[serde(default)]
        types: Option<Vec<String>>,
        /// A JSON pointer, e.g. `/m.relates_to/rel_type`; without one, the
        /// rule refuses whatever it applies to.
        #[serde(default)]
        field: Option<String>,
        /// The field must be present.
        #[serde(default)]
        required: bool,
        /// If present, the field must have one of these values.
        #[serde(default)]
        allow: Option<Vec<Value>>,
        /// If present, the field must not have any of these values.
        #[serde(default)]
        forbid: Option<Vec<Value>>,
        /// If present, the field must be a number at least this.
        #[serde(default)]
        min: Option<f64>,
        /// If present, the field must be a number at most this.
        #[serde(default)]
        max: Option<f64>,
        /// The field is an object keyed by user ids (a power levels'
        /// `users`): the checks apply to the entries of these users.
        #[serde(default)]
        entries_of: Option<UserSelectorFile>,
        /// The field's value in the room's current state event of the same
        /// type → the values it may change to (staying the same always may).
        #[serde(default)]
        transitions: Option<BTreeMap<String, Vec<Value>>>,
        /// Only when the room (or the `createRoom` request) meets all of these.
        #[serde(default)]
        when: Vec<ConditionFile>,
        /// Only when the acting user matches (e.g. `groups: [insured]`).
        #[serde(default)]
        who: Option<UserSelectorFile>,
        /// When an event rule applies: `create` (the state a `createRoom` sets
        /// up) and `send` (events sent later). Both when not given.
        #[serde(default)]
        on: Option<Vec<Stage>>,
        /// The answer instead of 403 `M_FORBIDDEN`.
        #[serde(default)]
        status: Option<u16>,
        #[serde(default)]
        errcode: Option<String>,
    }
}

/// When an event rule applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// To the state a `createRoom` sets up.
    Create,
    /// To events sent into existing rooms.
    Send,
}

rule_file! {
    /// A numeric limit with its rule id.
    LimitFile {
        limit: u64,
    }
}
