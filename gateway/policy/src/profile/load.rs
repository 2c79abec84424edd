//! Loading a profile: read it and every profile it extends, merge them (the
//! child overrides any part), resolve endpoint names, compile schemas.
//!
//! Merging, child over parent:
//! - scalar settings and single rules (`events.encryption`,
//!   `rooms.versions`, …): the child's replaces the parent's;
//! - rule lists (`endpoints.rules`, `events.rules`, `rooms.create.rules`):
//!   the child's come first, and a child rule with a parent rule's id
//!   replaces it;
//! - maps (`events.schemas`, `rooms.create.defaults`): merged by key, the
//!   child's entry winning; a schema entry of `null` drops the parent's.
//!
//! Every problem found is collected, each with its file and path.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use sectorgate_action::{Api, Catalog, Endpoint};
use serde_json::Value;

use super::discovery::{Discovery, parse_version};
use super::file::{AllowListFile, Effect, FieldRuleFile, ProfileFile, Stage, UserSelectorFile};
use super::permissions::InvitePermissions;
use super::rules::{
    AllowList, ERRCODES, FieldRule, Glob, InviteRule, RuleMeta, StateCondition, UserSelector,
};
use super::schemas::{Schema, Schemas};
use super::{
    AgeLimit, AppserviceRule, AppserviceRules, Encryption, EndpointRule, EventRules, InviteRules,
    Limit, MediaRules, Profile, RedactionRules, RequiredState, RoomRules,
};
use crate::error::Problem;
use crate::{ProfileError, RuleId};

mod bundled {
    include!(concat!(env!("OUT_DIR"), "/bundled.rs"));
}

/// The deepest `extends` chain accepted.
const MAX_DEPTH: usize = 8;

/// A file of a bundled profile, by its path under `profiles/`.
pub fn bundled_file(path: &str) -> Option<&'static str> {
    bundled::BUNDLED_FILES
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, text)| *text)
}

/// The ids of the bundled profiles (folders with a `profile.yaml`).
pub(crate) fn bundled_ids() -> Vec<&'static str> {
    bundled::BUNDLED_FILES
        .iter()
        .filter_map(|(name, _)| name.strip_suffix("/profile.yaml"))
        .collect()
}

/// Where a profile's files are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProfileSource {
    /// Built into the binary, by id.
    Bundled(String),
    /// A folder on disk.
    Dir(PathBuf),
}

impl ProfileSource {
    /// A bundled profile; an error when there is none of that id.
    pub fn bundled(id: &str) -> Result<Self, ProfileError> {
        if bundled_ids().contains(&id) {
            Ok(Self::Bundled(id.to_owned()))
        } else {
            Err(ProfileError::UnknownBundled(
                id.to_owned(),
                bundled_ids().join(", "),
            ))
        }
    }

    /// A profile folder; a path to its `profile.yaml` is taken as the folder.
    pub fn dir(path: &Path) -> Self {
        if path.file_name().is_some_and(|name| name == "profile.yaml") {
            Self::Dir(path.parent().unwrap_or(Path::new(".")).to_owned())
        } else {
            Self::Dir(path.to_owned())
        }
    }

    /// How a file of this profile is named in messages.
    pub fn label(&self, relative: &str) -> String {
        match self {
            Self::Bundled(id) => format!("bundled:{id}/{relative}"),
            Self::Dir(dir) => dir.join(relative).display().to_string(),
        }
    }

    /// Reads a file of the profile, by its path inside the folder.
    pub fn read(&self, relative: &str) -> Result<String, String> {
        match self {
            Self::Bundled(id) => bundled_file(&format!("{id}/{relative}"))
                .map(str::to_owned)
                .ok_or_else(|| "no such file in the bundled profile".to_owned()),
            Self::Dir(dir) => {
                std::fs::read_to_string(dir.join(relative)).map_err(|e| e.to_string())
            }
        }
    }

    /// The files under `cases/`, as (path inside the folder, text), sorted.
    pub fn case_files(&self) -> Vec<(String, Result<String, String>)> {
        let mut names: Vec<String> = match self {
            Self::Bundled(id) => {
                let prefix = format!("{id}/cases/");
                bundled::BUNDLED_FILES
                    .iter()
                    .filter_map(|(name, _)| name.strip_prefix(&prefix))
                    .filter(|name| name.ends_with(".yaml"))
                    .map(|name| format!("cases/{name}"))
                    .collect()
            }
            Self::Dir(dir) => std::fs::read_dir(dir.join("cases"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
                .filter(|name| name.ends_with(".yaml"))
                .map(|name| format!("cases/{name}"))
                .collect(),
        };
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let text = self.read(&name);
                (name, text)
            })
            .collect()
    }

    /// Where the profile `id` that this one extends is found: a sibling
    /// folder, else a bundled profile.
    fn parent(&self, id: &str) -> Result<Self, ProfileError> {
        if let Self::Dir(dir) = self {
            let sibling = dir.parent().map(|parent| parent.join(id));
            if let Some(sibling) = sibling.filter(|path| path.join("profile.yaml").is_file()) {
                return Ok(Self::Dir(sibling));
            }
        }
        Self::bundled(id)
    }
}

/// One profile of the chain, parsed, with where it came from.
struct Link {
    source: ProfileSource,
    file: ProfileFile,
}

/// Loads and resolves a profile and everything it extends.
pub(crate) fn load(source: ProfileSource) -> Result<Profile, ProfileError> {
    let mut problems = Vec::new();
    let chain = read_chain(source, &mut problems);
    let name = chain
        .first()
        .map(|link| link.file.id.clone())
        .unwrap_or_default();
    if !problems.is_empty() {
        return Err(ProfileError::Invalid {
            profile: name,
            problems,
        });
    }
    let profile = resolve(&chain, &mut problems);
    if problems.is_empty() {
        Ok(profile)
    } else {
        Err(ProfileError::Invalid {
            profile: name,
            problems,
        })
    }
}

/// Reads a profile and every profile it extends, child first.
fn read_chain(first: ProfileSource, problems: &mut Vec<Problem>) -> Vec<Link> {
    let mut chain: Vec<Link> = Vec::new();
    let mut seen = HashSet::new();
    let mut next = Some(first);
    while let Some(source) = next.take() {
        let label = source.label("profile.yaml");
        let text = match source.read("profile.yaml") {
            Ok(text) => text,
            Err(error) => {
                problems.push(Problem::new(label, "", format!("cannot read: {error}")));
                break;
            }
        };
        let deserializer = serde_yaml_ng::Deserializer::from_str(&text);
        let file: ProfileFile = match serde_path_to_error::deserialize(deserializer) {
            Ok(file) => file,
            Err(error) => {
                let path = error.path().to_string();
                let path = if path == "." { String::new() } else { path };
                problems.push(Problem::new(label, path, error.into_inner().to_string()));
                break;
            }
        };
        if !seen.insert(file.id.clone()) {
            problems.push(Problem::new(
                label,
                "extends",
                format!("`extends` is circular: {} is extended twice", file.id),
            ));
            break;
        }
        if chain.len() >= MAX_DEPTH {
            problems.push(Problem::new(
                label,
                "extends",
                format!("`extends` is deeper than {MAX_DEPTH} levels"),
            ));
            break;
        }
        if let Some(parent) = &file.extends {
            match source.parent(parent) {
                Ok(parent) => next = Some(parent),
                Err(error) => {
                    problems.push(Problem::new(label.clone(), "extends", error.to_string()))
                }
            }
        }
        chain.push(Link { source, file });
    }
    chain
}

/// Picks the nearest profile's setting (chain is child first).
fn nearest<'c, T>(
    chain: &'c [Link],
    pick: impl Fn(&'c ProfileFile) -> Option<T>,
) -> Option<(T, &'c Link)> {
    chain
        .iter()
        .find_map(|link| pick(&link.file).map(|value| (value, link)))
}

fn resolve(chain: &[Link], problems: &mut Vec<Problem>) -> Profile {
    let child = &chain[0].file;
    let shadow = nearest(chain, |f| f.shadow).is_some_and(|(shadow, _)| shadow);
    let mut group_files: BTreeMap<&str, (&UserSelectorFile, &Link)> = BTreeMap::new();
    for link in chain.iter().rev() {
        for (name, selector) in &link.file.user_groups {
            group_files.insert(name, (selector, link));
        }
    }
    let mut resolver = Resolver {
        shadow,
        problems,
        group_names: group_files.keys().map(|name| (*name).to_owned()).collect(),
    };
    let mut user_groups = HashMap::new();
    for (name, (selector, link)) in &group_files {
        let at = format!("user_groups.{name}");
        if !selector.groups.is_empty() || !selector.outside_groups.is_empty() {
            resolver.problems.push(Problem::new(
                link.source.label("profile.yaml"),
                format!("{at}.groups"),
                "a user group cannot name other groups",
            ));
        }
        let resolved = resolver.selector(selector, link, &at);
        user_groups.insert((*name).to_owned(), resolved);
    }
    let invites = resolver.invites(chain);
    let appservices = resolver.appservices(chain);
    let discovery = Discovery {
        max_version: nearest(chain, |f| f.discovery.max_version.as_ref()).and_then(
            |(version, link)| {
                let parsed = parse_version(version);
                if parsed.is_none() {
                    resolver.problems.push(Problem::new(
                        link.source.label("profile.yaml"),
                        "discovery.max_version",
                        format!("{version:?} is not a spec version like v1.11"),
                    ));
                }
                parsed
            },
        ),
        unstable_features: nearest(chain, |f| f.discovery.unstable_features.as_ref())
            .map(|(features, _)| features.iter().map(|f| Glob::new(f)).collect()),
    };
    let media = MediaRules {
        max_upload_bytes: nearest(chain, |f| f.media.max_upload_bytes.as_ref()).map(
            |(limit, _)| Limit {
                meta: resolver.meta(
                    &limit.id,
                    limit.reason.as_deref(),
                    limit.shadow,
                    "this upload is larger than the profile allows",
                ),
                limit: limit.limit,
            },
        ),
    };
    let (rules, by_endpoint) = resolver.endpoint_rules(chain);
    let events = resolver.events(chain);
    let rooms = resolver.rooms(chain);
    let redactions = RedactionRules {
        max_age: nearest(chain, |f| f.redactions.max_age.as_ref()).map(|(limit, _)| AgeLimit {
            meta: resolver.meta(
                &limit.id,
                limit.reason.as_deref(),
                limit.shadow,
                "this event is too old to be redacted",
            ),
            limit: limit.limit,
        }),
    };
    Profile {
        id: child.id.clone(),
        title: child.title.clone(),
        version: nearest(chain, |f| f.version.clone()).map_or_else(|| "0".to_owned(), |(v, _)| v),
        spec_version: nearest(chain, |f| f.spec_version.clone())
            .map_or_else(String::new, |(v, _)| v),
        extends: chain
            .iter()
            .skip(1)
            .map(|link| link.file.id.clone())
            .collect(),
        shadow,
        default: nearest(chain, |f| f.endpoints.default).map_or(Effect::Deny, |(d, _)| d),
        rules,
        homeserver_paths: nearest(chain, |f| f.endpoints.homeserver_paths.clone())
            .map_or_else(Vec::new, |(paths, _)| paths),
        events,
        rooms,
        redactions,
        invites,
        media,
        discovery,
        appservices,
        user_groups,
        by_endpoint,
    }
}

struct Resolver<'p> {
    shadow: bool,
    problems: &'p mut Vec<Problem>,
    group_names: HashSet<String>,
}

impl Resolver<'_> {
    fn meta(&self, id: &str, reason: Option<&str>, shadow: bool, fallback: &str) -> RuleMeta {
        RuleMeta::new(id, reason, shadow || self.shadow, fallback)
    }

    fn endpoint_rules(&mut self, chain: &[Link]) -> (Vec<EndpointRule>, HashMap<Endpoint, usize>) {
        let catalog = Catalog::global();
        let mut rules = Vec::new();
        let mut by_endpoint = HashMap::new();
        for link in chain {
            for (index, rule) in link.file.endpoints.rules.iter().enumerate() {
                let position = rules.len();
                for (at, pattern) in rule.endpoints.iter().enumerate() {
                    let matched = matching_endpoints(catalog, pattern);
                    if matched.is_empty() {
                        self.problems.push(Problem::new(
                            link.source.label("profile.yaml"),
                            format!("endpoints.rules[{index}].endpoints[{at}]"),
                            format!("rule {} names unknown endpoint {pattern:?}", rule.id),
                        ));
                    }
                    for endpoint in matched {
                        by_endpoint.entry(endpoint).or_insert(position);
                    }
                }
                rules.push(EndpointRule {
                    id: RuleId::profile(&rule.id),
                    effect: rule.verdict,
                    reason: rule
                        .reason
                        .clone()
                        .unwrap_or_else(|| format!("refused by rule {}", rule.id)),
                    shadow: rule.shadow || self.shadow,
                    answer: self
                        .answer(
                            link,
                            &format!("endpoints.rules[{index}]"),
                            rule.status,
                            rule.errcode.as_deref(),
                        )
                        .unwrap_or((404, "M_UNRECOGNIZED")),
                });
            }
        }
        (rules, by_endpoint)
    }

    /// A rule's own answer, if it sets one (both or neither).
    fn answer(
        &mut self,
        link: &Link,
        at: &str,
        status: Option<u16>,
        errcode: Option<&str>,
    ) -> Option<(u16, &'static str)> {
        match (status, errcode) {
            (None, None) => None,
            (Some(status), Some(errcode)) => {
                let known = ERRCODES.iter().find(|known| **known == errcode);
                if known.is_none() {
                    self.problems.push(Problem::new(
                        link.source.label("profile.yaml"),
                        format!("{at}.errcode"),
                        format!(
                            "unknown errcode {errcode:?} (known: {})",
                            ERRCODES.join(", ")
                        ),
                    ));
                }
                if !(400..=499).contains(&status) {
                    self.problems.push(Problem::new(
                        link.source.label("profile.yaml"),
                        format!("{at}.status"),
                        "a denial's status is a 4xx",
                    ));
                }
                known.map(|errcode| (status, *errcode))
            }
            _ => {
                self.problems.push(Problem::new(
                    link.source.label("profile.yaml"),
                    at.to_owned(),
                    "`status` and `errcode` go together",
                ));
                None
            }
        }
    }

    fn selector(&mut self, file: &UserSelectorFile, link: &Link, at: &str) -> UserSelector {
        let named = file.groups.iter().map(|g| ("groups", g));
        let outside = file.outside_groups.iter().map(|g| ("outside_groups", g));
        for (index, (key, group)) in named.chain(outside).enumerate() {
            if !self.group_names.contains(group) {
                self.problems.push(Problem::new(
                    link.source.label("profile.yaml"),
                    format!("{at}.{key}[{index}]"),
                    format!("no user group is named {group:?}"),
                ));
            }
        }
        let globs = |list: &Vec<String>| list.iter().map(|p| Glob::new(p)).collect();
        UserSelector {
            users: globs(&file.users),
            domains: globs(&file.domains),
            outside_domains: globs(&file.outside_domains),
            groups: file.groups.clone(),
            outside_groups: file.outside_groups.clone(),
        }
    }

    fn invites(&mut self, chain: &[Link]) -> InviteRules {
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
                    .map(|s| self.selector(s, link, &format!("{at}.invitee")));
                let inviter = rule
                    .inviter
                    .as_ref()
                    .map(|s| self.selector(s, link, &format!("{at}.inviter")));
                rules.push(InviteRule {
                    meta: self.meta(
                        &rule.id,
                        rule.reason.as_deref(),
                        rule.shadow,
                        "this invite is not allowed",
                    ),
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
        let permissions = nearest(chain, |f| f.invites.permissions.as_ref()).map(|(rule, link)| {
            for (name, group) in &rule.group_names {
                if !self.group_names.contains(group) {
                    self.problems.push(Problem::new(
                        link.source.label("profile.yaml"),
                        format!("invites.permissions.group_names.{name}"),
                        format!("no user group is named {group:?}"),
                    ));
                }
            }
            InvitePermissions {
                meta: self.meta(
                    &rule.id,
                    rule.reason.as_deref(),
                    rule.shadow,
                    "the invitee does not accept invites from you",
                ),
                types: rule
                    .account_data
                    .iter()
                    .map(|entry| (entry.event_type.clone(), entry.format))
                    .collect(),
                group_names: rule.group_names.clone(),
            }
        });
        InviteRules { rules, permissions }
    }

    fn appservices(&mut self, chain: &[Link]) -> AppserviceRules {
        let mut seen = HashSet::new();
        let mut rules = Vec::new();
        for link in chain {
            for rule in &link.file.appservices.rules {
                if !seen.insert(rule.id.clone()) {
                    continue;
                }
                rules.push(AppserviceRule {
                    meta: self.meta(
                        &rule.id,
                        rule.reason.as_deref(),
                        rule.shadow,
                        "this application service may not act here",
                    ),
                    appservice: Glob::new(&rule.appservice),
                    effect: rule.verdict,
                    users: rule
                        .users
                        .as_ref()
                        .map(|users| users.iter().map(|u| Glob::new(u)).collect()),
                });
            }
        }
        AppserviceRules {
            // The gateway recognises only the application services its
            // configuration names; a profile that says nothing lets them act.
            default: nearest(chain, |f| f.appservices.default).map_or(Effect::Allow, |(d, _)| d),
            rules,
        }
    }

    fn allow_list(&self, list: &AllowListFile, fallback: &str) -> AllowList {
        AllowList {
            meta: self.meta(&list.id, list.reason.as_deref(), list.shadow, fallback),
            allow: list
                .allow
                .iter()
                .map(|pattern| Glob::new(pattern))
                .collect(),
        }
    }

    fn field_rules(
        &mut self,
        chain: &[Link],
        section: &str,
        pick: impl Fn(&ProfileFile) -> &Vec<FieldRuleFile>,
    ) -> Vec<FieldRule> {
        let mut seen = HashSet::new();
        let mut rules = Vec::new();
        for link in chain {
            for (index, rule) in pick(&link.file).iter().enumerate() {
                if !seen.insert(rule.id.clone()) {
                    continue;
                }
                if !rule.field.starts_with('/') {
                    self.problems.push(Problem::new(
                        link.source.label("profile.yaml"),
                        format!("{section}[{index}].field"),
                        format!(
                            "{:?} is not a JSON pointer (it must start with /)",
                            rule.field
                        ),
                    ));
                }
                if !rule.required && rule.allow.is_none() && rule.forbid.is_none() {
                    self.problems.push(Problem::new(
                        link.source.label("profile.yaml"),
                        format!("{section}[{index}]"),
                        "a field rule needs `required`, `allow` or `forbid`",
                    ));
                }
                let mut meta = self.meta(
                    &rule.id,
                    rule.reason.as_deref(),
                    rule.shadow,
                    &format!("refused by rule {}", rule.id),
                );
                meta.answer = self.answer(
                    link,
                    &format!("{section}[{index}]"),
                    rule.status,
                    rule.errcode.as_deref(),
                );
                let stages = rule
                    .on
                    .clone()
                    .unwrap_or_else(|| vec![Stage::Create, Stage::Send]);
                let who = rule
                    .who
                    .as_ref()
                    .map(|who| self.selector(who, link, &format!("{section}[{index}].who")));
                rules.push(FieldRule {
                    who,
                    meta,
                    on_create: stages.contains(&Stage::Create),
                    on_send: stages.contains(&Stage::Send),
                    types: rule
                        .types
                        .as_ref()
                        .map(|types| types.iter().map(|t| Glob::new(t)).collect()),
                    field: rule.field.clone(),
                    required: rule.required,
                    allow: rule.allow.clone(),
                    forbid: rule.forbid.clone(),
                });
            }
        }
        rules
    }

    fn events(&mut self, chain: &[Link]) -> EventRules {
        let by_type = self.schema_map(chain, "events.schemas", |f| &f.events.schemas);
        let by_msgtype = self.schema_map(chain, "events.msgtype_schemas", |f| {
            &f.events.msgtype_schemas
        });
        EventRules {
            max_content_bytes: nearest(chain, |f| f.events.max_content_bytes).map(|(n, _)| n),
            message_types: nearest(chain, |f| f.events.message_types.as_ref())
                .map(|(list, _)| self.allow_list(list, "this event type may not be sent")),
            state_types: nearest(chain, |f| f.events.state_types.as_ref())
                .map(|(list, _)| self.allow_list(list, "this state event type may not be set")),
            msgtypes: nearest(chain, |f| f.events.msgtypes.as_ref())
                .map(|(list, _)| self.allow_list(list, "this msgtype may not be sent")),
            schemas: Schemas {
                by_type,
                by_msgtype,
            },
            rules: self.field_rules(chain, "events.rules", |f| &f.events.rules),
            encryption: nearest(chain, |f| f.events.encryption.as_ref()).map(|(rule, _)| {
                Encryption {
                    meta: self.meta(
                        &rule.id,
                        rule.reason.as_deref(),
                        rule.shadow,
                        "this room must be end-to-end encrypted",
                    ),
                    scope: rule.required_in,
                    plaintext_allowed: rule
                        .plaintext_allowed
                        .iter()
                        .map(|t| Glob::new(t))
                        .collect(),
                }
            }),
        }
    }

    fn rooms(&mut self, chain: &[Link]) -> RoomRules {
        let mut defaults: BTreeMap<String, Value> = BTreeMap::new();
        for link in chain.iter().rev() {
            for (pointer, value) in &link.file.rooms.create.defaults {
                if !pointer.starts_with('/') || pointer.len() < 2 {
                    self.problems.push(Problem::new(
                        link.source.label("profile.yaml"),
                        format!("rooms.create.defaults.{pointer}"),
                        "a default names its field by JSON pointer (it must start with /)",
                    ));
                }
                defaults.insert(pointer.clone(), value.clone());
            }
        }
        RoomRules {
            versions: nearest(chain, |f| f.rooms.versions.as_ref())
                .map(|(list, _)| self.allow_list(list, "this room version is not allowed")),
            max_invites: nearest(chain, |f| f.rooms.create.max_invites.as_ref()).map(
                |(limit, _)| Limit {
                    meta: self.meta(
                        &limit.id,
                        limit.reason.as_deref(),
                        limit.shadow,
                        "too many invites at room creation",
                    ),
                    limit: limit.limit,
                },
            ),
            create_rules: self.field_rules(chain, "rooms.create.rules", |f| &f.rooms.create.rules),
            create_defaults: defaults.into_iter().collect(),
            required_state: nearest(chain, |f| f.rooms.create.required_state.as_ref()).map(
                |(rule, _)| RequiredState {
                    meta: self.meta(
                        &rule.id,
                        rule.reason.as_deref(),
                        rule.shadow,
                        "the room must be created with this state",
                    ),
                    types: rule.types.clone(),
                },
            ),
        }
    }

    /// Merges a schema map (root first, so the child's entries win) and
    /// compiles every schema that remains.
    fn schema_map(
        &mut self,
        chain: &[Link],
        section: &str,
        pick: impl Fn(&ProfileFile) -> &BTreeMap<String, Option<String>>,
    ) -> HashMap<String, Schema> {
        let mut merged: BTreeMap<&str, Option<(&ProfileSource, &str)>> = BTreeMap::new();
        for link in chain.iter().rev() {
            for (key, file) in pick(&link.file) {
                merged.insert(key, file.as_deref().map(|file| (&link.source, file)));
            }
        }
        let mut compiled = HashMap::new();
        for (key, entry) in merged {
            let Some((source, file)) = entry else {
                continue;
            };
            let label = source.label(file);
            let text = match source.read(file) {
                Ok(text) => text,
                Err(error) => {
                    self.problems.push(Problem::new(
                        source.label("profile.yaml"),
                        format!("{section}.{key}"),
                        format!("cannot read schema {file}: {error}"),
                    ));
                    continue;
                }
            };
            let schema: Value = match serde_json::from_str(&text) {
                Ok(schema) => schema,
                Err(error) => {
                    self.problems.push(Problem::new(
                        label,
                        format!("line {}", error.line()),
                        error.to_string(),
                    ));
                    continue;
                }
            };
            match Schema::compile(&label, &schema) {
                Ok(schema) => {
                    compiled.insert(key.to_owned(), schema);
                }
                Err((at, message)) => self.problems.push(Problem::new(label, at, message)),
            }
        }
        compiled
    }
}

/// The endpoints a pattern names: `client.<name>`, `federation.<name>`,
/// `client.*`, `federation.*` or `*`.
fn matching_endpoints(catalog: &Catalog, pattern: &str) -> Vec<Endpoint> {
    let (api, name) = match pattern.split_once('.') {
        Some(("client", name)) => (Some(Api::Client), name),
        Some(("federation", name)) => (Some(Api::Federation), name),
        None if pattern == "*" => (None, "*"),
        _ => return Vec::new(),
    };
    catalog
        .endpoints()
        .filter(|endpoint| api.is_none_or(|api| endpoint.api == api))
        .filter(|endpoint| name == "*" || endpoint.name == name)
        .collect()
}
