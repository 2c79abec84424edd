//! Judging what a client sent: each check of the catalog, over the whole
//! capture. A check whose situation never came up is NOT_EXERCISED, never
//! PASS.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sectorgate_policy::Profile;
use sectorgate_policy::profile::Groups;
use serde_json::Value;

use super::capture::Line;
use super::plan::People;
use crate::catalog::client::{Check, Step, client_rules, preview_rules};
use crate::status::Status;

/// More repeats of a refused request than this, within [`STORM_WINDOW_MS`],
/// is a retry storm.
pub const STORM_REPEATS: usize = 3;

/// How long after a refusal repeats count.
pub const STORM_WINDOW_MS: u64 = 60_000;

/// A user no invite setting names.
const STRANGER: &str = "@stranger:conformance.invalid";

/// What the checks look at.
pub struct Evidence<'a> {
    /// The profile.
    pub profile: &'a Profile,
    /// The captured lines.
    pub lines: &'a [Line],
    /// Where each step was done.
    pub steps: &'a BTreeMap<Step, Option<usize>>,
    /// The users the run names.
    pub people: &'a People,
    /// The invite-permission account data types the profile honours.
    pub setting_types: &'a [String],
}

/// A check's outcome: status, messages, and the lines it rests on.
pub type Outcome = (Status, Vec<String>, Vec<usize>);

impl Evidence<'_> {
    /// Lines the run itself asked to be refused (the refused invite).
    fn expected_refusals(&self) -> BTreeSet<usize> {
        self.step(Step::InviteRefused)
            .filter(|index| self.lines[*index].refused())
            .into_iter()
            .collect()
    }

    fn step(&self, step: Step) -> Option<usize> {
        self.steps.get(&step).copied().flatten()
    }

    fn any(&self, actions: &[&str]) -> bool {
        self.lines
            .iter()
            .any(|line| actions.iter().any(|action| line.is(action)))
    }

    /// Judges one check.
    pub fn judge(&self, check: &Check) -> Outcome {
        match check {
            Check::Performed(step) => self.performed(*step),
            Check::Rule(rule) => self.rule(rule),
            Check::AuthenticatedMedia => self.authenticated_media(),
            Check::InviteSettingsMeaning => self.settings_meaning(),
            Check::NoRetryStorm => self.no_retry_storm(),
            Check::WellFormed => self.well_formed(),
        }
    }

    fn performed(&self, step: Step) -> Outcome {
        let asked = format!("asked: {}", super::plan::instruction(step, self.people));
        let Some(index) = self.step(step) else {
            return (
                Status::NotExercised,
                vec![
                    format!("the step {} was never performed", step.name()),
                    asked,
                ],
                Vec::new(),
            );
        };
        let line = &self.lines[index];
        if step == Step::InviteRefused && !line.refused() {
            return (
                Status::Error,
                vec![format!(
                    "the invite of {} was not refused ({}): the run's setup did not hold",
                    self.people.blocker, line.status
                )],
                vec![index],
            );
        }
        (
            Status::Pass,
            vec![
                format!("performed: {} {} → {}", line.method, line.path, line.status),
                asked,
            ],
            vec![index],
        )
    }

    /// Whether the client met a situation `rule` looks at.
    fn exercised(&self, rule: &str) -> bool {
        let profile = self.profile;
        if preview_rules(profile).iter().any(|id| id == rule) {
            return self.step(Step::SendLink).is_some();
        }
        let is = |id: Option<&sectorgate_policy::RuleId>| id.is_some_and(|id| id.as_str() == rule);
        if profile.rules.iter().any(|r| r.id.as_str() == rule) {
            return self.steps.values().any(Option::is_some);
        }
        if is(profile.events.encryption.as_ref().map(|e| &e.meta.id)) {
            return self.any(&["create_room", "send_message_event"]);
        }
        let rooms = &profile.rooms;
        if is(rooms.versions.as_ref().map(|r| &r.meta.id))
            || is(rooms.max_invites.as_ref().map(|r| &r.meta.id))
            || rooms
                .create_rules
                .iter()
                .any(|r| r.meta.id.as_str() == rule)
        {
            return self.any(&["create_room", "upgrade_room"]);
        }
        if is(profile.redactions.max_age.as_ref().map(|r| &r.meta.id)) {
            return self.any(&["redact_event"]);
        }
        if is(profile.invites.permissions.as_ref().map(|p| &p.meta.id)) {
            return self.step(Step::SetInvitePermissions).is_some() || self.any(&["invite_user"]);
        }
        if profile
            .invites
            .rules
            .iter()
            .any(|r| r.meta.id.as_str() == rule)
        {
            return self.any(&["invite_user", "create_room"]);
        }
        self.any(&["send_message_event", "send_state_event", "create_room"])
    }

    fn rule(&self, rule: &str) -> Outcome {
        let expected = self.expected_refusals();
        let offending: Vec<usize> = self
            .lines
            .iter()
            .enumerate()
            .filter(|(index, line)| line.rule.as_deref() == Some(rule) && !expected.contains(index))
            .map(|(index, _)| index)
            .collect();
        if !offending.is_empty() {
            let first = &self.lines[offending[0]];
            return (
                Status::Fail,
                vec![format!(
                    "{} request(s) refused by {rule}; the first: {} {} → {} {}",
                    offending.len(),
                    first.method,
                    first.path,
                    first.status,
                    first.errcode.as_deref().unwrap_or_default()
                )],
                offending,
            );
        }
        if self.exercised(rule) {
            (
                Status::Pass,
                vec![format!("no request was refused by {rule}")],
                Vec::new(),
            )
        } else {
            (
                Status::NotExercised,
                vec![format!("the client never did what {rule} looks at")],
                Vec::new(),
            )
        }
    }

    fn authenticated_media(&self) -> Outcome {
        let unauthenticated: Vec<usize> = self
            .lines
            .iter()
            .enumerate()
            .filter(|(_, line)| {
                line.method == "GET"
                    && line.path.starts_with("/_matrix/media/")
                    && (line.path.contains("/download/") || line.path.contains("/thumbnail/"))
            })
            .map(|(index, _)| index)
            .collect();
        if !unauthenticated.is_empty() {
            return (
                Status::Fail,
                vec![format!(
                    "{} media request(s) through the unauthenticated /_matrix/media/ endpoints",
                    unauthenticated.len()
                )],
                unauthenticated,
            );
        }
        let used_media = self.step(Step::SendImage).is_some()
            || self.lines.iter().any(|line| line.path.contains("/media/"));
        if used_media {
            (
                Status::Pass,
                vec!["media went through authenticated endpoints".to_owned()],
                Vec::new(),
            )
        } else {
            (
                Status::NotExercised,
                vec!["the client handled no media".to_owned()],
                Vec::new(),
            )
        }
    }

    fn settings_meaning(&self) -> Outcome {
        let Some(permissions) = &self.profile.invites.permissions else {
            return (
                Status::NotApplicable,
                vec!["the profile has no invite permissions".to_owned()],
                Vec::new(),
            );
        };
        let Some(index) = self.step(Step::SetInvitePermissions) else {
            return (
                Status::NotExercised,
                vec!["the client never saved invite permissions".to_owned()],
                Vec::new(),
            );
        };
        let line = &self.lines[index];
        let event_type = self
            .setting_types
            .iter()
            .find(|event_type| line.path.ends_with(&format!("/account_data/{event_type}")));
        let (Some(event_type), Some(content), false) = (event_type, &line.body, line.refused())
        else {
            return (
                Status::Fail,
                vec![format!(
                    "the setting was not saved: {} {}",
                    line.status,
                    line.errcode.as_deref().unwrap_or_default()
                )],
                vec![index],
            );
        };
        let settings = BTreeMap::from([(event_type.clone(), Some(content.clone()))]);
        let groups = Groups {
            named: &self.profile.user_groups,
            allowlist: None,
        };
        let peer = permissions.allows(&settings, &self.people.peer, groups);
        let stranger = permissions.allows(&settings, STRANGER, groups);
        match (peer, stranger) {
            (Ok(true), Ok(false)) => (
                Status::Pass,
                vec![format!("{event_type} blocks all but {}", self.people.peer)],
                vec![index],
            ),
            (Ok(peer), Ok(stranger)) => (
                Status::Fail,
                vec![format!(
                    "{event_type} {} {} and {} others, where the step asked to block all but them",
                    if peer { "admits" } else { "blocks" },
                    self.people.peer,
                    if stranger { "admits" } else { "blocks" },
                )],
                vec![index],
            ),
            (Err(why), _) | (_, Err(why)) => (
                Status::Fail,
                vec![format!("{event_type} cannot be read: {why}")],
                vec![index],
            ),
        }
    }

    fn no_retry_storm(&self) -> Outcome {
        let refused: Vec<usize> = (0..self.lines.len())
            .filter(|i| self.lines[*i].refused())
            .collect();
        if refused.is_empty() {
            return (
                Status::NotExercised,
                vec!["the client was never refused".to_owned()],
                Vec::new(),
            );
        }
        let mut worst: HashMap<usize, Vec<usize>> = HashMap::new();
        for index in &refused {
            let line = &self.lines[*index];
            let key = retry_key(line);
            let repeats: Vec<usize> = self.lines[index + 1..]
                .iter()
                .enumerate()
                .filter(|(_, later)| {
                    later.ts <= line.ts + STORM_WINDOW_MS && retry_key(later) == key
                })
                .map(|(offset, _)| index + 1 + offset)
                .collect();
            worst.insert(*index, repeats);
        }
        let stormy: Vec<(&usize, &Vec<usize>)> = worst
            .iter()
            .filter(|(_, repeats)| repeats.len() > STORM_REPEATS)
            .collect();
        if let Some((index, repeats)) = stormy.first() {
            let line = &self.lines[**index];
            let mut evidence = vec![**index];
            evidence.extend(repeats.iter().copied());
            return (
                Status::Fail,
                vec![format!(
                    "{} {} was refused, then sent {} more times within {} s",
                    line.method,
                    line.path,
                    repeats.len(),
                    STORM_WINDOW_MS / 1000
                )],
                evidence,
            );
        }
        let most = worst.values().map(Vec::len).max().unwrap_or_default();
        (
            Status::Pass,
            vec![format!(
                "{} refusal(s), each repeated at most {most} time(s)",
                refused.len()
            )],
            refused,
        )
    }

    fn well_formed(&self) -> Outcome {
        if self.lines.is_empty() {
            return (
                Status::NotExercised,
                vec!["the capture is empty".to_owned()],
                Vec::new(),
            );
        }
        let named: BTreeSet<String> = client_rules(self.profile).into_iter().collect();
        let expected = self.expected_refusals();
        let other: Vec<usize> = self
            .lines
            .iter()
            .enumerate()
            .filter(|(index, line)| {
                line.rule.as_ref().is_some_and(|rule| !named.contains(rule))
                    && !expected.contains(index)
            })
            .map(|(index, _)| index)
            .collect();
        match other.first() {
            Some(first) => {
                let line = &self.lines[*first];
                (
                    Status::Fail,
                    vec![format!(
                        "{} request(s) refused; the first: {} {} by {}",
                        other.len(),
                        line.method,
                        line.path,
                        line.rule.as_deref().unwrap_or_default()
                    )],
                    other,
                )
            }
            None => (
                Status::Pass,
                vec![format!(
                    "{} requests, none refused by another rule",
                    self.lines.len()
                )],
                Vec::new(),
            ),
        }
    }
}

/// What makes two requests the same for retry counting: method, path (a
/// send's transaction id left out) and body.
fn retry_key(line: &Line) -> (String, String, Option<Value>) {
    let path = if line.is("send_message_event") || line.is("redact_event") {
        line.path
            .rsplit_once('/')
            .map_or(line.path.as_str(), |(head, _)| head)
            .to_owned()
    } else {
        line.path.clone()
    };
    (line.method.clone(), path, line.body.clone())
}
