//! Decision cases: a request in, the decision expected, as data
//! (`profiles/<id>/cases/*.yaml`).
//!
//! The same cases run three ways: here, through `classify` and `decide`
//! (the policy crate's tests and `sectorgate profile check`); and end to end
//! through the gateway in front of a real homeserver, where placeholders in
//! the path and body are filled with real rooms and events.
//!
//! Placeholders: `{room}` (a room with the case's `context.room` facts),
//! `{event}` (an event in it, `context.event_age` old), `{txn}` (a fresh
//! transaction id).

mod decide;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use ruma::OwnedServerName;

use crate::error::Problem;
use crate::federation::{Allowlist, ServerPattern};
use crate::profile::ProfileSource;
use crate::{Decision, Profile, RoomFacts, Verdict, created_room_state};

/// The room id that `{room}` stands for when a case runs without a homeserver.
pub const PLACEHOLDER_ROOM: &str = "!room:example.org";
/// The acting user of a case that names none.
pub const DEFAULT_USER: &str = "@user:localhost";
/// The event id that `{event}` stands for when a case runs without a homeserver.
pub const PLACEHOLDER_EVENT: &str = "$event:example.org";

/// One decision case.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows.
    pub name: String,
    /// The request.
    pub request: CaseRequest,
    /// Facts around the request.
    #[serde(default)]
    pub context: CaseContext,
    /// The decision expected.
    pub expect: Expected,
    /// Why the case does not run end to end, if it does not.
    #[serde(default)]
    pub e2e_skip: Option<String>,
}

/// A case's request.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    /// The HTTP method.
    pub method: String,
    /// Path and query, with placeholders.
    pub path: String,
    /// A JSON body (written as YAML).
    #[serde(default)]
    pub body: Option<Value>,
    /// A body as raw text (for bodies that are not valid JSON).
    #[serde(default)]
    pub raw_body: Option<String>,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// Facts around a case's request.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseContext {
    /// The room `{room}` names: encrypted or not, its join rule.
    #[serde(default)]
    pub room: Option<CaseRoom>,
    /// How old the event `{event}` names is.
    #[serde(default, with = "humantime_serde")]
    pub event_age: Option<Duration>,
    /// The user the request acts for.
    #[serde(default)]
    pub user: Option<String>,
    /// The homeserver knows no user behind the request: it bears no access
    /// token, or (given in the request's headers) one it does not know.
    #[serde(default)]
    pub anonymous: bool,
    /// Whether the acting user shares a room with the user a lookup names
    /// (not known when not given).
    #[serde(default)]
    pub shares_room: Option<bool>,
    /// The acting user's membership in the room a join names (`invite`,
    /// `join`, `leave`, …; not known when not given).
    #[serde(default)]
    pub membership: Option<String>,
    /// The application service (bridge) acting, by its registration's id.
    #[serde(default)]
    pub appservice: Option<String>,
    /// Invitees' invite-permission settings: user id → account data type
    /// → content (an invitee not named has set none).
    #[serde(default)]
    pub invitees: BTreeMap<String, BTreeMap<String, Value>>,
    /// Members added to the profile's user groups for this case (user id
    /// globs), as the gateway's configuration would add them.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    /// Federation: the allowlist, and the server whose signature verified.
    #[serde(default)]
    pub federation: Option<CaseFederation>,
}

/// The federation facts of a case.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFederation {
    /// The homeserver's server name (`localhost` when not given).
    #[serde(default)]
    pub local: Option<String>,
    /// The allowlist entries.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Servers the list flags as insurers' (`isInsurance`).
    #[serde(default)]
    pub insurers: Vec<String>,
    /// Whether the list is past its maximum age.
    #[serde(default)]
    pub stale: bool,
    /// The requesting server, as verified; none for client requests.
    #[serde(default)]
    pub origin: Option<String>,
}

impl CaseFederation {
    fn parts(&self) -> Result<(OwnedServerName, Allowlist, Option<OwnedServerName>), String> {
        let server = |name: &str| {
            OwnedServerName::try_from(name).map_err(|_| format!("bad server name {name:?}"))
        };
        let local = server(self.local.as_deref().unwrap_or("localhost"))?;
        let patterns = self
            .allow
            .iter()
            .map(|entry| {
                ServerPattern::parse(entry).ok_or(format!("bad allowlist entry {entry:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut allowlist = Allowlist::new(patterns, "case");
        allowlist.extend([], self.insurers.iter().cloned(), "case insurers");
        if self.stale {
            allowlist.mark_stale();
        }
        let origin = self.origin.as_deref().map(server).transpose()?;
        Ok((local, allowlist, origin))
    }
}

/// The room of a case.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRoom {
    /// Whether the room is encrypted.
    #[serde(default)]
    pub encrypted: bool,
    /// Its join rule (`invite` when not given).
    #[serde(default)]
    pub join_rule: Option<String>,
    /// Other state: event type → content.
    #[serde(default)]
    pub state: BTreeMap<String, Value>,
    /// Whether the room is listed in the room directory (not known when
    /// not given).
    #[serde(default)]
    pub published: Option<bool>,
    /// The users with a membership in the room (not known when not given).
    #[serde(default)]
    pub members: Option<Vec<String>>,
}

impl CaseRoom {
    /// The room's state as the gateway would learn it.
    pub fn facts(&self) -> RoomFacts {
        let mut state = self.state.clone();
        state.insert(
            "m.room.join_rules".to_owned(),
            serde_json::json!({"join_rule": self.join_rule.as_deref().unwrap_or("invite")}),
        );
        if self.encrypted {
            state.insert(
                "m.room.encryption".to_owned(),
                serde_json::json!({"algorithm": "m.megolm.v1.aes-sha2"}),
            );
        }
        RoomFacts {
            state,
            published: self.published,
            members: self
                .members
                .as_ref()
                .map(|members| members.iter().cloned().collect()),
        }
    }
}

/// The decision a case expects.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// `allow`, `deny` or `shadow`.
    pub verdict: String,
    /// The rule id.
    pub rule: String,
    /// The HTTP status of a denial.
    #[serde(default)]
    pub status: Option<u16>,
    /// The Matrix errcode of a denial.
    #[serde(default)]
    pub errcode: Option<String>,
    /// The rule of the requests the gateway makes on the user's behalf
    /// once the homeserver took this one: the cascade that follows an
    /// allowed redaction (`redactions.cascade_replacements`), the state
    /// carried into an upgraded room (`rooms.upgrade.carry_state`); none
    /// when not given.
    #[serde(default)]
    pub cascade: Option<String>,
    /// For a `createRoom`: state the room is created with, as forwarded
    /// (type → the content's expected members; `null`: no such state).
    #[serde(default)]
    pub creates: BTreeMap<String, Value>,
}

impl Case {
    /// Whether the request names `{room}` or `{event}`: run end to end, it
    /// needs a real room.
    pub fn needs_room(&self) -> bool {
        let names = |text: &str| text.contains("{room}") || text.contains("{event}");
        names(&self.request.path)
            || self
                .request
                .body
                .as_ref()
                .is_some_and(|body| names(&body.to_string()))
            || self.request.raw_body.as_deref().is_some_and(names)
    }

    /// The path with placeholders filled.
    pub fn path(&self, room: &str, event: &str, txn: &str) -> String {
        fill(&self.request.path, &encode(room), &encode(event), txn)
    }

    /// The body with placeholders filled (ids not encoded).
    pub fn body(&self, room: &str, event: &str, txn: &str) -> Vec<u8> {
        match (&self.request.body, &self.request.raw_body) {
            (Some(json), _) => fill(&json.to_string(), room, event, txn).into_bytes(),
            (None, Some(raw)) => fill(raw, room, event, txn).into_bytes(),
            (None, None) => Vec::new(),
        }
    }

    /// Whether `decision` is what the case expects; if not, how it differs.
    pub fn check(&self, decision: &Decision) -> Result<(), String> {
        let expected = &self.expect;
        let mut wrong = Vec::new();
        if decision.verdict_str() != expected.verdict {
            wrong.push(format!(
                "verdict {} (expected {})",
                decision.verdict_str(),
                expected.verdict
            ));
        }
        if decision.rule.as_str() != expected.rule {
            wrong.push(format!(
                "rule {} (expected {})",
                decision.rule, expected.rule
            ));
        }
        let cascade = decision
            .follow_up
            .as_ref()
            .map(|follow_up| follow_up.rule().as_str());
        if cascade != expected.cascade.as_deref() {
            wrong.push(format!(
                "cascade {cascade:?} (expected {:?})",
                expected.cascade
            ));
        }
        if let Verdict::Deny(denial) | Verdict::Shadow(denial) = &decision.verdict {
            if expected
                .status
                .is_some_and(|status| status != denial.status)
            {
                wrong.push(format!(
                    "status {} (expected {:?})",
                    denial.status, expected.status
                ));
            }
            if expected
                .errcode
                .as_deref()
                .is_some_and(|code| code != denial.errcode)
            {
                wrong.push(format!(
                    "errcode {} (expected {:?})",
                    denial.errcode, expected.errcode
                ));
            }
        }
        wrong.extend(self.check_created(decision));
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join(", "))
        }
    }

    /// How the state the forwarded `createRoom` sets up differs from what
    /// the case expects.
    fn check_created(&self, decision: &Decision) -> Vec<String> {
        if self.expect.creates.is_empty() {
            return Vec::new();
        }
        let forwarded = decision
            .amended_body
            .as_deref()
            .and_then(|body| serde_json::from_slice(body).ok())
            .or_else(|| self.request.body.clone());
        let state = forwarded
            .as_ref()
            .map(created_room_state)
            .unwrap_or_default();
        self.expect
            .creates
            .iter()
            .filter(|(event_type, expected)| !includes(state.get(*event_type), expected))
            .map(|(event_type, expected)| {
                format!(
                    "{event_type} is {} (expected {expected})",
                    state.get(event_type).unwrap_or(&Value::Null)
                )
            })
            .collect()
    }
}

/// Whether `actual` has what `expected` names: every member of an expected
/// object (recursively), any other value equal; `null` expects nothing.
fn includes(actual: Option<&Value>, expected: &Value) -> bool {
    match (actual, expected) {
        (None, Value::Null) => true,
        (Some(Value::Object(actual)), Value::Object(expected)) => expected
            .iter()
            .all(|(key, value)| includes(actual.get(key), value)),
        (Some(actual), expected) => actual == expected,
        (None, _) => false,
    }
}

/// The case files of a profile, parsed: (file label, cases), or the
/// problems of files that do not parse.
pub fn load(source: &ProfileSource) -> Result<Vec<(String, Vec<Case>)>, Vec<Problem>> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for (name, text) in source.case_files() {
        let label = source.label(&name);
        let text = match text {
            Ok(text) => text,
            Err(error) => {
                problems.push(Problem::new(label, "", error));
                continue;
            }
        };
        let deserializer = serde_yaml_ng::Deserializer::from_str(&text);
        match serde_path_to_error::deserialize::<_, Vec<Case>>(deserializer) {
            Ok(cases) => files.push((label, cases)),
            Err(error) => {
                problems.push(Problem::new(
                    label,
                    error.path().to_string(),
                    error.into_inner().to_string(),
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(problems)
    }
}

/// Runs every case of a profile folder against the loaded profile; every
/// case whose decision differs is a problem. Returns how many cases ran.
pub fn run_all(
    source: &ProfileSource,
    profile: &Profile,
    now_ms: u64,
) -> Result<usize, Vec<Problem>> {
    let files = load(source)?;
    let mut problems = Vec::new();
    let mut count = 0;
    for (label, cases) in files {
        for (index, case) in cases.iter().enumerate() {
            count += 1;
            let outcome = case
                .decide(profile, now_ms)
                .and_then(|decision| case.check(&decision));
            if let Err(why) = outcome {
                problems.push(Problem::new(
                    label.clone(),
                    format!("[{index}] {}", case.name),
                    format!("case does not hold: {why}"),
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(count)
    } else {
        Err(problems)
    }
}

fn fill(text: &str, room: &str, event: &str, txn: &str) -> String {
    text.replace("{room}", room)
        .replace("{event}", event)
        .replace("{txn}", txn)
}

/// Percent-encodes an id for a path segment.
pub fn encode(id: &str) -> String {
    let mut out = String::with_capacity(id.len() * 2);
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
