//! Conditions a rule names under `when:`: what a room must be like (a field
//! of one of its state events, whether it is listed in the room directory),
//! what a `createRoom` request asks, or how much power the acting user has
//! in the room, for the rule to apply. They are
//! judged against a [`Situation`]: the room's state as learned (or the state
//! a `createRoom` sets up), the request, and the directory listing.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::load::Link;
use super::resolve::Resolver;
use crate::error::Problem;

/// One condition as written in `profile.yaml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConditionFile {
    /// A state event type of the room (empty state key).
    #[serde(default)]
    state: Option<String>,
    /// A JSON pointer into the `createRoom` request.
    #[serde(default)]
    request: Option<String>,
    /// Whether the room is listed in the room directory.
    #[serde(default)]
    published: Option<bool>,
    /// The acting user's power level in the room is below this.
    #[serde(default)]
    power_below: Option<i64>,
    /// A JSON pointer into the state event's content (the whole content
    /// when not given).
    #[serde(default)]
    field: Option<String>,
    /// The value must be one of these.
    #[serde(default)]
    allow: Option<Vec<Value>>,
    /// The value must be none of these (an absent value is none of them).
    #[serde(default)]
    forbid: Option<Vec<Value>>,
    /// The value must be there (`true`) or not (`false`).
    #[serde(default)]
    present: Option<bool>,
    /// The value the field counts as when the room has none.
    #[serde(default)]
    default: Option<Value>,
}

/// What a value must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Test {
    /// One of these.
    Allow(Vec<Value>),
    /// None of these.
    Forbid(Vec<Value>),
    /// There, or not.
    Present(bool),
}

impl Test {
    fn passes(&self, value: Option<&Value>) -> bool {
        match self {
            Self::Allow(values) => value.is_some_and(|value| values.contains(value)),
            Self::Forbid(values) => !value.is_some_and(|value| values.contains(value)),
            Self::Present(present) => value.is_some() == *present,
        }
    }
}

/// A condition, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// A field of one of the room's state events.
    State {
        /// The state event type (empty state key).
        event_type: String,
        /// A JSON pointer into its content; `None`: the content itself.
        field: Option<String>,
        /// What the value must be.
        test: Test,
        /// The value the field counts as when the room has none.
        default: Option<Value>,
    },
    /// A field of the `createRoom` request.
    Request {
        /// A JSON pointer into the request's body.
        field: String,
        /// What the value must be.
        test: Test,
    },
    /// Whether the room is listed in the room directory.
    Published(bool),
    /// The acting user's power level in the room is below this (read from
    /// its `m.room.power_levels` and `m.room.create`).
    PowerBelow(i64),
}

/// What conditions are judged against. A fact that is `None` is not known.
#[derive(Clone, Copy, Debug, Default)]
pub struct Situation<'a> {
    /// The room's state (or the state a `createRoom` sets up), by type.
    pub state: Option<&'a BTreeMap<String, Value>>,
    /// The `createRoom` request, when that is the request.
    pub request: Option<&'a Value>,
    /// Whether the room is listed in the room directory.
    pub published: Option<bool>,
    /// The acting user.
    pub user: Option<&'a str>,
}

impl Condition {
    /// Whether the condition holds; `None` when a fact it reads is not known.
    pub fn holds(&self, situation: &Situation<'_>) -> Option<bool> {
        match self {
            Self::State {
                event_type,
                field,
                test,
                default,
            } => {
                let content = situation.state?.get(event_type);
                let value = match field {
                    Some(field) => content.and_then(|content| content.pointer(field)),
                    None => content,
                };
                Some(test.passes(value.or(default.as_ref())))
            }
            Self::Request { field, test } => Some(
                situation
                    .request
                    .is_some_and(|request| test.passes(request.pointer(field))),
            ),
            Self::Published(published) => situation.published.map(|known| known == *published),
            Self::PowerBelow(level) => {
                let level_of = power_level(situation.state?, situation.user?);
                Some(level_of < *level)
            }
        }
    }

    /// The room state event types the condition reads.
    pub fn state_types(&self) -> Vec<String> {
        match self {
            Self::State { event_type, .. } => vec![event_type.clone()],
            Self::PowerBelow(_) => vec![POWER_LEVELS.to_owned(), CREATE.to_owned()],
            Self::Request { .. } | Self::Published(_) => Vec::new(),
        }
    }
}

const POWER_LEVELS: &str = "m.room.power_levels";
const CREATE: &str = "m.room.create";

/// `user`'s power level in a room with this state: infinite for a creator
/// in a room version that makes creators privileged (12 on), else what
/// `m.room.power_levels` says (its `users`, then `users_default`), or 100
/// for the creator of a room without power levels. The creators are
/// `m.room.create`'s `creator` (as the gateway learns it: the event's
/// sender) and `additional_creators`.
pub fn power_level(state: &BTreeMap<String, Value>, user: &str) -> i64 {
    let create = state.get(CREATE);
    let creator = create.is_some_and(|create| {
        create.get("creator").and_then(Value::as_str) == Some(user)
            || create
                .get("additional_creators")
                .and_then(Value::as_array)
                .is_some_and(|creators| creators.iter().any(|c| c.as_str() == Some(user)))
    });
    let version = create
        .and_then(|create| create.get("room_version"))
        .and_then(Value::as_str)
        .unwrap_or("1");
    let privileged = !matches!(
        version,
        "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "10" | "11"
    );
    if creator && privileged {
        return i64::MAX;
    }
    let Some(levels) = state.get(POWER_LEVELS) else {
        return if creator { 100 } else { 0 };
    };
    levels
        .get("users")
        .and_then(|users| users.get(user))
        .or_else(|| levels.get("users_default"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Whether all of `conditions` hold: `Some(false)` as soon as one does not,
/// `None` when one cannot be judged and none fails.
pub fn all_hold(conditions: &[Condition], situation: &Situation<'_>) -> Option<bool> {
    let mut known = true;
    for condition in conditions {
        match condition.holds(situation) {
            Some(false) => return Some(false),
            Some(true) => {}
            None => known = false,
        }
    }
    known.then_some(true)
}

/// Whether any of `conditions` reads the room directory.
pub fn read_directory(conditions: &[Condition]) -> bool {
    conditions
        .iter()
        .any(|condition| matches!(condition, Condition::Published(_)))
}

impl Resolver<'_> {
    /// Resolves a `when:` list; each problem names its place (`at`).
    pub(crate) fn conditions(
        &mut self,
        files: &[ConditionFile],
        link: &Link,
        at: &str,
    ) -> Vec<Condition> {
        let mut conditions = Vec::new();
        for (index, file) in files.iter().enumerate() {
            match condition(file) {
                Ok(condition) => conditions.push(condition),
                Err(why) => self.problems.push(Problem::new(
                    link.source.label("profile.yaml"),
                    format!("{at}.when[{index}]"),
                    why,
                )),
            }
        }
        conditions
    }
}

fn condition(file: &ConditionFile) -> Result<Condition, String> {
    let pointer = |field: &str| {
        if field.starts_with('/') {
            Ok(field.to_owned())
        } else {
            Err(format!(
                "{field:?} is not a JSON pointer (it must start with /)"
            ))
        }
    };
    if let Some(level) = file.power_below {
        return match file {
            ConditionFile {
                state: None,
                request: None,
                published: None,
                field: None,
                allow: None,
                forbid: None,
                present: None,
                default: None,
                ..
            } => Ok(Condition::PowerBelow(level)),
            _ => Err("`power_below` is a condition of its own".to_owned()),
        };
    }
    match (&file.state, &file.request, file.published) {
        (Some(event_type), None, None) => Ok(Condition::State {
            event_type: event_type.clone(),
            field: file.field.as_deref().map(pointer).transpose()?,
            test: test(file)?,
            default: file.default.clone(),
        }),
        (None, Some(field), None) if file.field.is_none() && file.default.is_none() => {
            Ok(Condition::Request {
                field: pointer(field)?,
                test: test(file)?,
            })
        }
        (None, None, Some(published))
            if file.field.is_none()
                && file.default.is_none()
                && file.allow.is_none()
                && file.forbid.is_none()
                && file.present.is_none() =>
        {
            Ok(Condition::Published(published))
        }
        _ => Err(
            "a condition is one of `state` (with `field`, `default`), `request`, \
             `published` or `power_below`, alone"
                .to_owned(),
        ),
    }
}

fn test(file: &ConditionFile) -> Result<Test, String> {
    match (&file.allow, &file.forbid, file.present) {
        (Some(values), None, None) => Ok(Test::Allow(values.clone())),
        (None, Some(values), None) => Ok(Test::Forbid(values.clone())),
        (None, None, Some(present)) => Ok(Test::Present(present)),
        _ => Err("a condition tests its value with one of `allow`, `forbid` or `present`".into()),
    }
}
