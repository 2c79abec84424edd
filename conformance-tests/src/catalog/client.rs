//! The client tests of a profile (target `client`, passive mode): the
//! guided steps a vendor's client performs, each a test of its own, and the
//! checks made on what the client sent while performing them.

use sectorgate_action::Endpoint;
use sectorgate_policy::Profile;
use sectorgate_policy::profile::Effect;
use serde::Serialize;

use super::{Catalog, Mode, Source, Target, TestSpec};

/// A guided step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Log in as the test user.
    Login,
    /// Create an encrypted direct chat with the peer.
    CreateDirectChat,
    /// Send a text message there.
    SendMessage,
    /// Send a message holding a link.
    SendLink,
    /// Send an image.
    SendImage,
    /// Set the user's invite permissions: block all but the peer.
    SetInvitePermissions,
    /// Invite a user who blocks all invites; the server refuses.
    InviteRefused,
}

impl Step {
    /// Every step, in the order the vendor is guided through them.
    pub const ALL: [Self; 7] = [
        Self::Login,
        Self::CreateDirectChat,
        Self::SendMessage,
        Self::SendLink,
        Self::SendImage,
        Self::SetInvitePermissions,
        Self::InviteRefused,
    ];

    /// The step's id segment.
    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::CreateDirectChat => "create_direct_chat",
            Self::SendMessage => "send_message",
            Self::SendLink => "send_link",
            Self::SendImage => "send_image",
            Self::SetInvitePermissions => "set_invite_permissions",
            Self::InviteRefused => "invite_refused",
        }
    }

    /// Whether a profile has what the step exercises.
    pub fn applies(self, profile: &Profile) -> bool {
        match self {
            Self::SetInvitePermissions | Self::InviteRefused => {
                profile.invites.permissions.is_some()
            }
            _ => true,
        }
    }
}

/// A check on what the client sent.
#[derive(Clone, Debug)]
pub enum Check {
    /// A guided step was performed.
    Performed(Step),
    /// No request was refused by this profile rule.
    Rule(String),
    /// Media is fetched through the authenticated endpoints only.
    AuthenticatedMedia,
    /// The saved invite permissions mean what the step asked: all blocked
    /// but the peer.
    InviteSettingsMeaning,
    /// A refusal is not answered with a storm of the same request.
    NoRetryStorm,
    /// No request was refused by a rule the other checks do not name.
    WellFormed,
}

/// What a step shows, as requirement references.
fn step_requirements(profile: &Profile, step: Step) -> Vec<String> {
    let rules: Vec<String> = match step {
        Step::Login => return vec!["matrix:client-server-api#login".to_owned()],
        Step::SendImage => return vec!["matrix:client-server-api#content-repository".to_owned()],
        Step::CreateDirectChat => encryption_rule(profile).into_iter().collect(),
        Step::SendMessage => encryption_rule(profile).into_iter().collect(),
        Step::SendLink => preview_rules(profile),
        Step::SetInvitePermissions | Step::InviteRefused => {
            permissions_rule(profile).into_iter().collect()
        }
    };
    let mut references: Vec<String> = rules
        .iter()
        .flat_map(|rule| Catalog::references(profile, rule))
        .collect();
    references.dedup();
    references
}

fn encryption_rule(profile: &Profile) -> Option<String> {
    profile
        .events
        .encryption
        .as_ref()
        .map(|encryption| encryption.meta.id.as_str().to_owned())
}

fn permissions_rule(profile: &Profile) -> Option<String> {
    profile
        .invites
        .permissions
        .as_ref()
        .map(|permissions| permissions.meta.id.as_str().to_owned())
}

/// The endpoint rule that refuses URL previews, if the profile has one.
pub(crate) fn preview_rules(profile: &Profile) -> Vec<String> {
    profile
        .rule_for(&Endpoint::client("get_media_preview"))
        .filter(|rule| rule.effect == Effect::Deny)
        .map(|rule| rule.id.as_str().to_owned())
        .into_iter()
        .collect()
}

/// The profile rules a client's requests are held to, each a check.
pub(crate) fn client_rules(profile: &Profile) -> Vec<String> {
    let mut rules: Vec<String> = profile
        .rules
        .iter()
        .filter(|rule| rule.effect == Effect::Deny)
        .map(|rule| rule.id.as_str().to_owned())
        .collect();
    let events = &profile.events;
    rules.extend(
        events
            .rules
            .iter()
            .map(|rule| rule.meta.id.as_str().to_owned()),
    );
    rules.extend(encryption_rule(profile));
    if !events.schemas.by_type.is_empty() || !events.schemas.by_msgtype.is_empty() {
        rules.push("event.schema_invalid".to_owned());
    }
    let rooms = &profile.rooms;
    rules.extend(
        rooms
            .versions
            .as_ref()
            .map(|rule| rule.meta.id.as_str().to_owned()),
    );
    rules.extend(
        rooms
            .max_invites
            .as_ref()
            .map(|rule| rule.meta.id.as_str().to_owned()),
    );
    rules.extend(
        rooms
            .create_rules
            .iter()
            .map(|rule| rule.meta.id.as_str().to_owned()),
    );
    rules.extend(
        profile
            .redactions
            .max_age
            .as_ref()
            .map(|rule| rule.meta.id.as_str().to_owned()),
    );
    rules.extend(
        profile
            .invites
            .rules
            .iter()
            .map(|rule| rule.meta.id.as_str().to_owned()),
    );
    rules.extend(permissions_rule(profile));
    let mut seen = std::collections::BTreeSet::new();
    rules.retain(|rule| seen.insert(rule.clone()));
    rules
}

/// The client tests of `profile`.
pub(super) fn tests(profile: &Profile) -> Vec<TestSpec> {
    let spec = |id: String, title: String, requirements: Vec<String>, check: Check| TestSpec {
        id,
        title,
        requirements,
        targets: vec![Target::Client],
        modes: vec![Mode::Passive],
        needs: Vec::new(),
        not_exercised: None,
        source: Source::Client(check),
    };
    let mut tests = Vec::new();
    for step in Step::ALL.into_iter().filter(|step| step.applies(profile)) {
        tests.push(spec(
            format!("client.step.{}", step.name()),
            format!("the client performed the step {}", step.name()),
            step_requirements(profile, step),
            Check::Performed(step),
        ));
    }
    for rule in client_rules(profile) {
        tests.push(spec(
            format!("client.rule.{rule}"),
            format!("no request the client sent was refused by {rule}"),
            Catalog::references(profile, &rule),
            Check::Rule(rule),
        ));
    }
    tests.push(spec(
        "client.media.authenticated".to_owned(),
        "media is fetched through the authenticated endpoints only".to_owned(),
        vec!["matrix:client-server-api#content-repository".to_owned()],
        Check::AuthenticatedMedia,
    ));
    if let Some(rule) = permissions_rule(profile) {
        tests.push(spec(
            "client.invites.settings_mean_what_was_asked".to_owned(),
            "the saved invite permissions block all but the peer".to_owned(),
            Catalog::references(profile, &rule),
            Check::InviteSettingsMeaning,
        ));
    }
    tests.push(spec(
        "client.behaviour.no_retry_storm".to_owned(),
        "a refused request is not sent again and again".to_owned(),
        vec!["matrix:client-server-api#standard-error-response".to_owned()],
        Check::NoRetryStorm,
    ));
    tests.push(spec(
        "client.requests.well_formed".to_owned(),
        "no request was refused by a rule the other checks do not name".to_owned(),
        vec!["matrix:client-server-api#api-standards".to_owned()],
        Check::WellFormed,
    ));
    tests
}
