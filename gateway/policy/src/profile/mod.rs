//! [`Profile`]: a sector's policy as data, loaded from a profile folder
//! (`profile.yaml`, `schemas/*.json`, `cases/*.yaml`).
//!
//! A profile may `extend` another; the child can override any part (see
//! [`load`] for the merge). Every name a rule uses is resolved and every
//! schema compiled when the profile loads, so a mistake is an error at
//! start-up, not a rule that silently never matches.
//!
//! Each section's file form, resolution and resolved type live with its
//! concern (`crate::concerns`) and are re-exported here; this module holds
//! the profile as a whole and what several concerns share: rule metadata,
//! globs, user selectors and groups, allow lists, limits, field rules
//! (`rules.rs`), conditions on rooms and requests (`conditions.rs`), their
//! file forms and `ProfileFile` (`file.rs`), and the `Resolver`
//! (`resolve.rs`).

mod conditions;
mod file;
mod load;
mod resolve;
mod rules;
mod source;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use sectorgate_action::Endpoint;

pub use crate::concerns::answers::AnswerRule;
pub use crate::concerns::appservices::{AppserviceRule, AppserviceRules};
pub use crate::concerns::audit::AuditRules;
pub use crate::concerns::content::{EMOJI_FORMAT, Schema, Schemas, is_one_emoji};
pub use crate::concerns::discovery::{Discovery, parse_version};
pub use crate::concerns::endpoints::{EndpointRule, Requester};
pub use crate::concerns::events::{Encryption, EncryptionScope, EventRules};
pub use crate::concerns::federation::{FederationRules, TransactionMode};
pub use crate::concerns::homeserver_settings::{HomeserverSetting, Probe};
pub use crate::concerns::invites::{
    InvitePermissions, InviteRule, InviteRules, PermissionFacts, PermissionFormat, StateCondition,
};
pub use crate::concerns::lookups::LookupRules;
pub use crate::concerns::media::MediaRules;
pub use crate::concerns::redactions::{AgeLimit, RedactionCascade, RedactionRules};
pub use crate::concerns::rooms::{
    CarryState, JoinRule, PublishRule, RequiredState, RoomRules, StateDefault,
};
pub(crate) use conditions::ConditionFile;
pub use conditions::{Condition, Situation, Test, all_hold, power_level, read_directory};
pub(crate) use file::{
    AllowListFile, FieldRuleFile, LimitFile, ProfileFile, RuleFile, UserSelectorFile, rule_file,
};
pub use file::{Effect, Stage};
pub(crate) use load::{Link, is_reference, nearest};
pub(crate) use resolve::Resolver;
pub(crate) use rules::any_matches;
pub use rules::{AllowList, FieldRule, Glob, Groups, Limit, RuleMeta, UserSelector};
pub use source::{ProfileSource, bundled_file};

use crate::ProfileError;

/// A loaded, resolved sector profile.
#[derive(Clone, Debug)]
pub struct Profile {
    /// The profile's id, e.g. `healthcare-tim-pro`.
    pub id: String,
    /// A human-readable title.
    pub title: String,
    /// The profile's version.
    pub version: String,
    /// A digest of every file it was loaded from (`sha256:…`), the same
    /// wherever they are read from.
    pub digest: String,
    /// The Matrix specification version it follows.
    pub spec_version: String,
    /// The profile ids it extends, nearest first.
    pub extends: Vec<String>,
    /// Whether the whole profile is in shadow mode.
    pub shadow: bool,
    /// What happens to recognised endpoints no rule names.
    pub default: Effect,
    /// Endpoint rules, most specific profile first.
    pub rules: Vec<EndpointRule>,
    /// Path prefixes outside the Matrix API that may pass.
    pub homeserver_paths: Vec<String>,
    /// Rules on event contents.
    pub events: EventRules,
    /// Rules on rooms.
    pub rooms: RoomRules,
    /// Rules on redactions.
    pub redactions: RedactionRules,
    /// Rules on invites.
    pub invites: InviteRules,
    /// Who may look whom up.
    pub lookups: LookupRules,
    /// Answers the gateway gives itself.
    pub answers: Vec<AnswerRule>,
    /// Rules on media.
    pub media: MediaRules,
    /// What `/versions` announces.
    pub discovery: Discovery,
    /// Rules on application services.
    pub appservices: AppserviceRules,
    /// Rules on federation.
    pub federation: FederationRules,
    /// What the audit log may name.
    pub audit: AuditRules,
    /// What the homeserver behind must be set up to do, by id.
    pub homeserver_settings: Vec<HomeserverSetting>,
    /// Named groups of users.
    pub user_groups: HashMap<String, UserSelector>,
    /// The public requirements each rule implements: rule id → references
    /// (`scheme:id`, e.g. `gematik:A_26344`).
    pub requirements: BTreeMap<String, Vec<String>>,
    by_endpoint: HashMap<Endpoint, usize>,
}

impl Profile {
    /// The ids of the profiles built into the binary.
    pub fn bundled_ids() -> Vec<&'static str> {
        source::bundled_ids()
    }

    /// Loads a profile built into the binary.
    pub fn bundled(id: &str) -> Result<Self, ProfileError> {
        load::load(ProfileSource::bundled(id)?)
    }

    /// Loads a profile folder (or its `profile.yaml`). `extends` names a
    /// sibling folder or, failing that, a bundled profile.
    pub fn from_dir(path: &Path) -> Result<Self, ProfileError> {
        load::load(ProfileSource::dir(path))
    }

    /// Loads a bundled profile by id, or a profile folder by path: a name
    /// with a `/`, or one that is an existing folder, is a path.
    pub fn named(name: &str) -> Result<Self, ProfileError> {
        load::load(ProfileSource::named(name)?)
    }

    /// The endpoint rule that names `endpoint`, if any.
    pub fn rule_for(&self, endpoint: &Endpoint) -> Option<&EndpointRule> {
        self.by_endpoint
            .get(endpoint)
            .and_then(|index| self.rules.get(*index))
    }

    /// Adds users to a named group (the gateway's configuration can say who
    /// is insured, or a minor, beside what the profile says).
    pub fn add_to_group(&mut self, group: &str, users: &[String]) {
        let selector = self.user_groups.entry(group.to_owned()).or_default();
        selector
            .users
            .extend(users.iter().map(|user| Glob::new(user)));
    }

    /// Whether `user_id` is in the named group.
    pub fn in_group(&self, group: &str, user_id: &str) -> bool {
        self.user_groups.get(group).is_some_and(|selector| {
            selector.matches(
                user_id,
                Groups {
                    named: &self.user_groups,
                    allowlist: None,
                },
            )
        })
    }

    /// A `profile@version` label for records.
    pub fn revision(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }
}
