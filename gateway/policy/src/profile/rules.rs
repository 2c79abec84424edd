//! The resolved building blocks several concerns' rules share: rule
//! metadata, name globs, allow lists, limits, field rules, user selectors
//! and groups.

use crate::federation::Allowlist;
use std::collections::HashMap;

use serde_json::Value;

use super::conditions::Condition;
use crate::RuleId;

/// What every profile rule carries: its id, the reason told to the client,
/// and whether it runs in shadow mode.
#[derive(Clone, Debug)]
pub struct RuleMeta {
    /// The rule's stable id.
    pub id: RuleId,
    /// Why, as told to the client on a denial.
    pub reason: String,
    /// Decided and recorded, but forwarded anyway.
    pub shadow: bool,
    /// The status and errcode of a denial, when the profile sets them.
    pub answer: Option<(u16, &'static str)>,
}

impl RuleMeta {
    pub(crate) fn new(id: &str, reason: Option<&str>, shadow: bool, fallback: &str) -> Self {
        Self {
            id: RuleId::profile(id),
            reason: reason.map_or_else(|| fallback.to_owned(), str::to_owned),
            shadow,
            answer: None,
        }
    }
}

/// The Matrix errcodes a profile may answer a denial with.
pub(crate) const ERRCODES: &[&str] = &[
    "M_FORBIDDEN",
    "M_UNRECOGNIZED",
    "M_NOT_FOUND",
    "M_BAD_JSON",
    "M_INVALID_PARAM",
    "M_INVALID_ROOM_STATE",
    "M_UNSUPPORTED_ROOM_VERSION",
    "M_TOO_LARGE",
    "M_UNKNOWN",
];

/// A name pattern where `*` stands for any run of characters (`m.call.*`,
/// `@*:pupils.example`, `*`); without `*` it matches exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    /// A pattern as written.
    pub fn new(pattern: &str) -> Self {
        Self(pattern.to_owned())
    }

    /// The name the pattern is, if it has no `*`.
    pub fn literal(&self) -> Option<&str> {
        (!self.0.contains('*')).then_some(self.0.as_str())
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let mut parts = self.0.split('*');
        let first = parts.next().unwrap_or_default();
        let Some(mut rest) = name.strip_prefix(first) else {
            return false;
        };
        let parts: Vec<&str> = parts.collect();
        let Some((last, middle)) = parts.split_last() else {
            return rest.is_empty();
        };
        for part in middle {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        rest.ends_with(last)
    }
}

impl std::fmt::Display for Glob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether any glob of `globs` matches `name`.
pub(crate) fn any_matches(globs: &[Glob], name: &str) -> bool {
    globs.iter().any(|glob| glob.matches(name))
}

/// A list of allowed names, with the rule that refuses the others.
#[derive(Clone, Debug)]
pub struct AllowList {
    /// The rule.
    pub meta: RuleMeta,
    /// The allowed names.
    pub allow: Vec<Glob>,
}

impl AllowList {
    /// Whether `name` is allowed.
    pub fn allows(&self, name: &str) -> bool {
        any_matches(&self.allow, name)
    }
}

/// A numeric limit.
#[derive(Clone, Debug)]
pub struct Limit {
    /// The rule.
    pub meta: RuleMeta,
    /// The limit.
    pub limit: u64,
}

/// A rule on one field of a JSON object.
#[derive(Clone, Debug)]
pub struct FieldRule {
    /// The rule.
    pub meta: RuleMeta,
    /// Event types it applies to (`None`: every type, or the `createRoom` body).
    pub types: Option<Vec<Glob>>,
    /// The field, as a JSON pointer; `None`: the rule refuses whatever it
    /// applies to.
    pub field: Option<String>,
    /// The field must be present.
    pub required: bool,
    /// The field, when present, must be one of these.
    pub allow: Option<Vec<Value>>,
    /// The field, when present, must be none of these.
    pub forbid: Option<Vec<Value>>,
    /// The field, when present, must be a number at least this.
    pub min: Option<f64>,
    /// The field, when present, must be a number at most this.
    pub max: Option<f64>,
    /// The field is an object keyed by user ids; the checks apply to the
    /// entries of these users.
    pub entries_of: Option<UserSelector>,
    /// The field's current value → the values it may change to.
    pub transitions: Option<Vec<(Value, Vec<Value>)>>,
    /// Only where all of these hold.
    pub when: Vec<Condition>,
    /// Only when the acting user is one of these.
    pub who: Option<UserSelector>,
    /// Whether it applies to the state a `createRoom` sets up.
    pub on_create: bool,
    /// Whether it applies to events sent into existing rooms.
    pub on_send: bool,
}

impl FieldRule {
    /// Whether the rule applies to events of `event_type`.
    pub fn applies_to(&self, event_type: &str) -> bool {
        self.types
            .as_ref()
            .is_none_or(|types| any_matches(types, event_type))
    }

    /// Checks `object`, whose room's current state event of the same type
    /// is `current` (for `transitions`); on a violation, says what is wrong.
    pub fn check(
        &self,
        object: &Value,
        current: Option<&Value>,
        groups: Groups<'_>,
    ) -> Result<(), String> {
        let Some(field) = &self.field else {
            return Err("not allowed".to_owned());
        };
        let value = object.pointer(field);
        if let Some(transitions) = &self.transitions {
            let before = current.and_then(|current| current.pointer(field));
            check_transition(field, transitions, before, value)?;
        }
        let Some(value) = value else {
            return match self.required {
                true => Err(format!("{field} is required")),
                false => Ok(()),
            };
        };
        match &self.entries_of {
            None => self.check_value(field, value),
            Some(users) => {
                let entries = value.as_object().into_iter().flatten();
                for (user, value) in entries.filter(|(user, _)| users.matches(user, groups)) {
                    self.check_value(&format!("{field}/{user}"), value)?;
                }
                Ok(())
            }
        }
    }

    fn check_value(&self, field: &str, value: &Value) -> Result<(), String> {
        if let Some(allow) = &self.allow
            && !allow.contains(value)
        {
            return Err(format!("{field} may not be {value}"));
        }
        if let Some(forbid) = &self.forbid
            && forbid.contains(value)
        {
            return Err(format!("{field} may not be {value}"));
        }
        if self.min.is_some() || self.max.is_some() {
            let Some(number) = value.as_f64() else {
                return Err(format!("{field} must be a number"));
            };
            if let Some(min) = self.min
                && number < min
            {
                return Err(format!("{field} may not be below {min}"));
            }
            if let Some(max) = self.max
                && number > max
            {
                return Err(format!("{field} may not be above {max}"));
            }
        }
        Ok(())
    }
}

/// A field may keep its value, or change as `transitions` says from the
/// value it has (a room without the field may take any).
fn check_transition(
    field: &str,
    transitions: &[(Value, Vec<Value>)],
    before: Option<&Value>,
    after: Option<&Value>,
) -> Result<(), String> {
    let Some(before) = before else {
        return Ok(());
    };
    if after == Some(before) {
        return Ok(());
    }
    let allowed = transitions
        .iter()
        .find(|(from, _)| from == before)
        .is_some_and(|(_, to)| after.is_some_and(|after| to.contains(after)));
    match (allowed, after) {
        (true, _) => Ok(()),
        (false, Some(after)) => Err(format!("{field} may not change from {before} to {after}")),
        (false, None) => Err(format!("{field} may not be taken away from {before}")),
    }
}

/// Which users a rule is about.
#[derive(Clone, Debug, Default)]
pub struct UserSelector {
    /// User id globs.
    pub users: Vec<Glob>,
    /// Server name globs.
    pub domains: Vec<Glob>,
    /// Users on any server but these.
    pub outside_domains: Vec<Glob>,
    /// Named user groups.
    pub groups: Vec<String>,
    /// Users in none of these groups.
    pub outside_groups: Vec<String>,
    /// Users of servers the federation list flags as insurers'.
    pub insurer_servers: bool,
}

/// What selecting users needs besides the selector: the profile's user
/// groups, and the allowlist (which knows the insurers' servers), if any.
#[derive(Clone, Copy, Debug)]
pub struct Groups<'a> {
    /// The profile's named user groups.
    pub named: &'a HashMap<String, UserSelector>,
    /// The federation allowlist in force.
    pub allowlist: Option<&'a Allowlist>,
}

impl UserSelector {
    /// Whether `user_id` is selected (named groups name no groups themselves).
    pub fn matches(&self, user_id: &str, groups: Groups<'_>) -> bool {
        let server = user_id.split_once(':').map_or("", |(_, server)| server);
        let insurer = || {
            groups.allowlist.is_some_and(|allowlist| {
                <&ruma::ServerName>::try_from(server).is_ok_and(|name| allowlist.is_insurer(name))
            })
        };
        (self.insurer_servers && insurer())
            || any_matches(&self.users, user_id)
            || any_matches(&self.domains, server)
            || (!self.outside_domains.is_empty() && !any_matches(&self.outside_domains, server))
            || self
                .groups
                .iter()
                .any(|name| in_group(name, user_id, groups))
            || (!self.outside_groups.is_empty()
                && !self
                    .outside_groups
                    .iter()
                    .any(|name| in_group(name, user_id, groups)))
    }
}

/// Whether `user_id` is in the named group (groups name no groups).
fn in_group(name: &str, user_id: &str, groups: Groups<'_>) -> bool {
    groups.named.get(name).is_some_and(|group| {
        group.groups.is_empty() && group.outside_groups.is_empty() && group.matches(user_id, groups)
    })
}
