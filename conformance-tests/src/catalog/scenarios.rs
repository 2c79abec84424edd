//! Scenarios built into the suite, for rules no single request shows: they
//! need a second user, or a federation peer. Which apply follows from the
//! profile.

use sectorgate_policy::Profile;
use sectorgate_policy::profile::PermissionFormat;
use serde_json::{Value, json};

use super::{Catalog, Mode, Need, Source, Target, TestSpec};

/// A built-in scenario.
#[derive(Clone, Debug)]
pub enum Scenario {
    /// An invitee sets its invite permissions (this account data type, in
    /// this format) to block everyone, or everyone but the inviter; the
    /// inviter then invites.
    InviteSettings {
        /// The account data type the invitee sets.
        event_type: String,
        /// Its format.
        format: PermissionFormat,
        /// Whether the inviter is the setting's exception.
        excepted: bool,
    },
    /// A server that is not a member of the federation sends a signed
    /// transaction.
    FederationNonMember,
}

impl Scenario {
    /// A setting in `format` that allows every invite.
    pub fn allow_all(format: PermissionFormat) -> Value {
        match format {
            PermissionFormat::Gematik => json!({"defaultSetting": "allow all"}),
            PermissionFormat::Msc4155 => json!({}),
        }
    }

    /// The settings the invitee sets, naming `inviter` as the exception
    /// when the scenario has one.
    pub fn invite_settings(&self, inviter: &str) -> Option<(&str, Value)> {
        let Self::InviteSettings {
            event_type,
            format,
            excepted,
        } = self
        else {
            return None;
        };
        let content = match (format, excepted) {
            (PermissionFormat::Gematik, false) => json!({"defaultSetting": "block all"}),
            (PermissionFormat::Gematik, true) => {
                json!({"defaultSetting": "block all", "userExceptions": {inviter: {}}})
            }
            (PermissionFormat::Msc4155, false) => json!({"blocked_users": ["*"]}),
            (PermissionFormat::Msc4155, true) => {
                json!({"allowed_users": [inviter], "blocked_users": ["*"]})
            }
        };
        Some((event_type, content))
    }
}

/// The scenarios that apply to `profile`.
pub(super) fn tests(profile: &Profile) -> Vec<TestSpec> {
    let mut tests = Vec::new();
    if let Some(permissions) = &profile.invites.permissions {
        let rule = permissions.meta.id.as_str();
        if let Some((event_type, format)) = permissions.types.first() {
            for excepted in [false, true] {
                let (name, title) = if excepted {
                    (
                        "settings_exception_may_invite",
                        format!("the exception named in the invitee's {event_type} may invite"),
                    )
                } else {
                    (
                        "settings_block_all",
                        format!("an invitee whose {event_type} blocks all cannot be invited"),
                    )
                };
                tests.push(TestSpec {
                    id: format!("scenario.invites.{name}"),
                    title,
                    requirements: Catalog::references(profile, rule),
                    targets: vec![Target::Server, Target::Gateway],
                    modes: vec![Mode::Active],
                    needs: Vec::new(),
                    not_exercised: None,
                    source: Source::Scenario(Scenario::InviteSettings {
                        event_type: event_type.clone(),
                        format: *format,
                        excepted,
                    }),
                });
            }
        }
    }
    tests.push(TestSpec {
        id: "scenario.federation.non_member_refused".to_owned(),
        title: "a server outside the federation is refused, though its signature is valid"
            .to_owned(),
        requirements: Catalog::references(profile, "federation.origin_not_allowed"),
        targets: vec![Target::Server, Target::Gateway],
        modes: vec![Mode::Active],
        needs: vec![Need::Federation],
        not_exercised: None,
        source: Source::Scenario(Scenario::FederationNonMember),
    });
    tests
}
