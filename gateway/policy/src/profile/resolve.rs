//! The [`Resolver`], which the concerns resolve their sections with: rules
//! with their metadata and answers, user selectors checked against the
//! profile's groups, allow lists, limits and field rules. Every problem is
//! collected.

use std::collections::HashSet;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::file::{
    AllowListFile, FieldRuleFile, LimitFile, ProfileFile, RuleFile, Stage, UserSelectorFile,
};
use super::load::Link;
use super::rules::{AllowList, ERRCODES, FieldRule, Glob, Limit, RuleMeta, UserSelector};
use crate::error::Problem;

/// Resolves the parts of a merged chain, collecting every problem.
pub(crate) struct Resolver<'p> {
    /// Whether the whole profile is in shadow mode.
    pub(crate) shadow: bool,
    /// The problems found so far.
    pub(crate) problems: &'p mut Vec<Problem>,
    /// The names of the profile's user groups.
    pub(crate) group_names: HashSet<String>,
    /// The digest of every file read.
    pub(crate) digest: Digest,
}

/// A SHA-256 over the files a profile is made of, each named by its
/// profile's id and its path in the folder, so that the same content
/// has the same digest wherever it is read from.
pub(crate) struct Digest(Sha256);

impl Digest {
    pub(crate) fn new() -> Self {
        Self(Sha256::new())
    }

    /// Adds a file: its name and its text, each length-prefixed.
    pub(crate) fn add(&mut self, profile: &str, relative: &str, text: &str) {
        for part in [profile, relative, text] {
            self.0.update((part.len() as u64).to_be_bytes());
            self.0.update(part.as_bytes());
        }
    }

    /// `sha256:` and the digest in hex.
    pub(crate) fn finish(self) -> String {
        format!("sha256:{}", hex::encode(self.0.finalize()))
    }
}

impl Resolver<'_> {
    /// A rule's id, text and mode, from its file form.
    pub(crate) fn meta_of(&self, rule: &impl RuleFile, fallback: &str) -> RuleMeta {
        let (id, reason, shadow) = rule.head();
        RuleMeta::new(id, reason, shadow || self.shadow, fallback)
    }

    /// A rule's own answer, if it sets one (both or neither).
    pub(crate) fn answer(
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

    pub(crate) fn limit(&self, limit: &LimitFile, fallback: &str) -> Limit {
        Limit {
            meta: self.meta_of(limit, fallback),
            limit: limit.limit,
        }
    }

    pub(crate) fn selector(
        &mut self,
        file: &UserSelectorFile,
        link: &Link,
        at: &str,
    ) -> UserSelector {
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
            insurer_servers: file.insurer_servers,
        }
    }

    pub(crate) fn allow_list(&self, list: &AllowListFile, fallback: &str) -> AllowList {
        AllowList {
            meta: self.meta_of(list, fallback),
            allow: list
                .allow
                .iter()
                .map(|pattern| Glob::new(pattern))
                .collect(),
        }
    }

    pub(crate) fn field_rules(
        &mut self,
        chain: &[Link],
        section: &str,
        pick: impl Fn(&ProfileFile) -> &Vec<FieldRuleFile>,
    ) -> Vec<FieldRule> {
        let mut seen = HashSet::new();
        let mut rules = Vec::new();
        for link in chain {
            for (index, rule) in pick(&link.file).iter().enumerate() {
                if seen.insert(rule.id.clone()) {
                    let at = format!("{section}[{index}]");
                    rules.push(self.field_rule(rule, link, &at));
                }
            }
        }
        rules
    }

    fn field_rule(&mut self, rule: &FieldRuleFile, link: &Link, at: &str) -> FieldRule {
        self.check_field_rule(rule, link, at);
        let mut meta = self.meta_of(rule, &format!("refused by rule {}", rule.id));
        meta.answer = self.answer(link, at, rule.status, rule.errcode.as_deref());
        let stages = rule
            .on
            .clone()
            .unwrap_or_else(|| vec![Stage::Create, Stage::Send]);
        let who = rule
            .who
            .as_ref()
            .map(|who| self.selector(who, link, &format!("{at}.who")));
        let entries_of = rule
            .entries_of
            .as_ref()
            .map(|users| self.selector(users, link, &format!("{at}.entries_of")));
        let transitions = rule.transitions.as_ref().map(|transitions| {
            transitions
                .iter()
                .map(|(from, to)| (Value::String(from.clone()), to.clone()))
                .collect()
        });
        FieldRule {
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
            min: rule.min,
            max: rule.max,
            entries_of,
            transitions,
            when: self.conditions(&rule.when, link, at),
        }
    }

    /// A field rule names its field by JSON pointer and says what it asks
    /// of it; a rule without a field refuses whatever it applies to, so it
    /// asks nothing of one.
    fn check_field_rule(&mut self, rule: &FieldRuleFile, link: &Link, at: &str) {
        let asks = rule.required
            || rule.allow.is_some()
            || rule.forbid.is_some()
            || rule.min.is_some()
            || rule.max.is_some()
            || rule.transitions.is_some();
        let problem = match &rule.field {
            Some(field) if !field.starts_with('/') => Some(format!(
                "{field:?} is not a JSON pointer (it must start with /)"
            )),
            Some(_) if !asks => Some(
                "a field rule needs `required`, `allow`, `forbid`, `min`, `max` or `transitions`"
                    .to_owned(),
            ),
            None if asks || rule.entries_of.is_some() => Some(
                "a rule without `field` refuses whatever it applies to: it asks nothing of a field"
                    .to_owned(),
            ),
            _ => None,
        };
        if let Some(problem) = problem {
            self.problems.push(Problem::new(
                link.source.label("profile.yaml"),
                at.to_owned(),
                problem,
            ));
        }
    }
}
