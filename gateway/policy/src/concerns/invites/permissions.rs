//! Users' own invite-permission settings, as account data: gematik's
//! `permissionConfig` (`de.gematik.tim.account.permissionconfig.pro.v1`,
//! `….epa.v1`) and MSC4155's `m.invite_permission_config`. Which types a
//! profile honours, and in which order, is the profile's choice
//! (`invites.permissions`, resolved here); the settings are read in
//! [`settings`](super::settings).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::file::PermissionFormat;
use super::settings::{gematik, msc4155};
use crate::decide::{Input, Judge};
use crate::profile::{Groups, Link, Resolver, RuleMeta, nearest};
use crate::{Decision, Problem, canonical, rules};

/// A profile's invite-permission rule.
#[derive(Clone, Debug)]
pub struct InvitePermissions {
    /// The rule.
    pub meta: RuleMeta,
    /// The honoured account data types, in order: the first one a user has
    /// set decides.
    pub types: Vec<(String, PermissionFormat)>,
    /// gematik group names → the profile's user groups.
    pub group_names: BTreeMap<String, String>,
}

/// What the gateway knows of one invitee's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PermissionFacts {
    /// The invitee is on another server, whose gateway and homeserver
    /// enforce the invitee's settings.
    Remote,
    /// The invitee's settings, by honoured type (`None`: not set).
    Local(BTreeMap<String, Option<Value>>),
}

impl InvitePermissions {
    /// The format of an honoured type.
    pub fn format(&self, event_type: &str) -> Option<PermissionFormat> {
        self.types
            .iter()
            .find(|(honoured, _)| honoured == event_type)
            .map(|(_, format)| *format)
    }

    /// Whether an invitee with these settings accepts invites from `inviter`;
    /// `Err` says why a setting cannot be read.
    pub fn allows(
        &self,
        settings: &BTreeMap<String, Option<Value>>,
        inviter: &str,
        groups: Groups<'_>,
    ) -> Result<bool, String> {
        for (event_type, format) in &self.types {
            if let Some(Some(content)) = settings.get(event_type) {
                return match format {
                    PermissionFormat::Gematik => {
                        gematik(content, inviter, &self.group_names, groups)
                    }
                    PermissionFormat::Msc4155 => msc4155(content, inviter),
                };
            }
        }
        Ok(true)
    }

    /// Checks a setting's shape, as the client sends it.
    pub fn validate(&self, format: PermissionFormat, content: &Value) -> Result<(), String> {
        let probe = "@probe:probe.invalid";
        match format {
            PermissionFormat::Gematik => gematik(
                content,
                probe,
                &self.group_names,
                Groups {
                    named: &HashMap::new(),
                    allowlist: None,
                },
            )
            .map(|_| ()),
            PermissionFormat::Msc4155 => msc4155(content, probe).map(|_| ()),
        }
    }
}

/// Resolves `invites.permissions`, the nearest profile's: its group names
/// must name user groups.
pub(super) fn resolve(resolver: &mut Resolver<'_>, chain: &[Link]) -> Option<InvitePermissions> {
    nearest(chain, |f| f.invites.permissions.as_ref()).map(|(rule, link)| {
        for (name, group) in &rule.group_names {
            if !resolver.group_names.contains(group) {
                resolver.problems.push(Problem::new(
                    link.source.label("profile.yaml"),
                    format!("invites.permissions.group_names.{name}"),
                    format!("no user group is named {group:?}"),
                ));
            }
        }
        InvitePermissions {
            meta: resolver.meta_of(rule, "the invitee does not accept invites from you"),
            types: rule
                .account_data
                .iter()
                .map(|entry| (entry.event_type.clone(), entry.format))
                .collect(),
            group_names: rule.group_names.clone(),
        }
    })
}

/// A user's own invite-permission setting must have the shape its type
/// has, or the gateway could not honour it.
pub(super) fn check_setting(
    input: &Input<'_>,
    event_type: &str,
    raw: &str,
) -> Result<(), Decision> {
    let Some(permissions) = &input.profile.invites.permissions else {
        return Ok(());
    };
    let Some(format) = permissions.format(event_type) else {
        return Ok(());
    };
    let invalid = |why: String| {
        Decision::deny(
            rules::INVITE_PERMISSIONS_INVALID,
            400,
            "M_BAD_JSON",
            format!("{event_type} is not a valid invite-permission setting: {why}"),
        )
    };
    let content = canonical::parse(raw).map_err(invalid)?;
    permissions.validate(format, &content).map_err(invalid)
}

/// The invitee's own settings: may this inviter invite them?
pub(super) fn check(input: &Input<'_>, invitee: &str, judge: &mut Judge) -> Result<(), Decision> {
    let profile = input.profile;
    let Some(permissions) = &profile.invites.permissions else {
        return Ok(());
    };
    let facts = input
        .context
        .invitees
        .and_then(|invitees| invitees.iter().find(|(user, _)| user.as_str() == invitee))
        .map(|(_, facts)| facts);
    let (Some(inviter), Some(facts)) = (input.context.user, facts) else {
        return Err(Decision::deny(
            rules::INVITE_PERMISSIONS_UNAVAILABLE,
            503,
            "M_UNKNOWN",
            "The gateway could not learn whether the invitee accepts your invite; try again later.",
        ));
    };
    let PermissionFacts::Local(settings) = facts else {
        return Ok(());
    };
    match permissions.allows(settings, inviter.as_str(), input.groups()) {
        Ok(true) => Ok(()),
        Ok(false) => judge.deny(Decision::deny_by(
            &permissions.meta,
            403,
            "M_FORBIDDEN",
            format!("{}: {invitee}", permissions.meta.reason),
        )),
        // A setting the gateway cannot read refuses, as "block all" would.
        Err(why) => judge.deny(Decision::deny_by(
            &permissions.meta,
            403,
            "M_FORBIDDEN",
            format!("{}: {invitee} ({why})", permissions.meta.reason),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Glob;
    use serde_json::json;

    fn rule() -> InvitePermissions {
        InvitePermissions {
            meta: RuleMeta::new("p", None, false, "x"),
            types: vec![
                (
                    "de.gematik.tim.account.permissionconfig.pro.v1".to_owned(),
                    PermissionFormat::Gematik,
                ),
                (
                    "m.invite_permission_config".to_owned(),
                    PermissionFormat::Msc4155,
                ),
            ],
            group_names: BTreeMap::from([("isInsuredPerson".to_owned(), "insured".to_owned())]),
        }
    }

    fn no_groups() -> Groups<'static> {
        static EMPTY: std::sync::LazyLock<HashMap<String, crate::profile::UserSelector>> =
            std::sync::LazyLock::new(HashMap::new);
        Groups {
            named: &EMPTY,
            allowlist: None,
        }
    }

    fn settings(event_type: &str, content: Value) -> BTreeMap<String, Option<Value>> {
        BTreeMap::from([(event_type.to_owned(), Some(content))])
    }

    #[test]
    fn gematik_block_all_with_exceptions() {
        // Insured: users of versicherte.example (configured), and of
        // servers the federation list flags as insurers'.
        let named = HashMap::from([(
            "insured".to_owned(),
            crate::profile::UserSelector {
                domains: vec![Glob::new("versicherte.example")],
                insurer_servers: true,
                ..Default::default()
            },
        )]);
        let mut allowlist = crate::federation::Allowlist::default();
        allowlist.extend([], ["kasse.example".to_owned()], "list");
        let groups = Groups {
            named: &named,
            allowlist: Some(&allowlist),
        };
        let config = settings(
            "de.gematik.tim.account.permissionconfig.pro.v1",
            json!({"defaultSetting": "block all",
                   "userExceptions": {"@dr:praxis.example": {}},
                   "serverExceptions": {"klinik.example": {}},
                   "groupExceptions": [{"groupName": "isInsuredPerson"}]}),
        );
        let rule = rule();
        assert_eq!(rule.allows(&config, "@dr:praxis.example", groups), Ok(true));
        assert_eq!(
            rule.allows(&config, "@any:klinik.example", groups),
            Ok(true)
        );
        assert_eq!(
            rule.allows(&config, "@pat:versicherte.example", groups),
            Ok(true)
        );
        assert_eq!(rule.allows(&config, "@pat:kasse.example", groups), Ok(true));
        assert_eq!(
            rule.allows(&config, "@other:praxis.example", groups),
            Ok(false)
        );
    }

    #[test]
    fn gematik_allow_all_with_an_exception() {
        let config = settings(
            "de.gematik.tim.account.permissionconfig.pro.v1",
            json!({"defaultSetting": "allow all", "userExceptions": {"@spam:x.example": {}}}),
        );
        assert_eq!(
            rule().allows(&config, "@spam:x.example", no_groups()),
            Ok(false)
        );
        assert_eq!(
            rule().allows(&config, "@ok:x.example", no_groups()),
            Ok(true)
        );
        let broken = settings(
            "de.gematik.tim.account.permissionconfig.pro.v1",
            json!({"defaultSetting": "maybe"}),
        );
        assert!(
            rule()
                .allows(&broken, "@ok:x.example", no_groups())
                .is_err()
        );
    }

    #[test]
    fn msc4155_lists_in_order() {
        let config = settings(
            "m.invite_permission_config",
            json!({"allowed_users": ["@friend:bad.example"], "blocked_servers": ["bad.example"],
                   "ignored_users": ["@*:noisy.example"]}),
        );
        assert_eq!(
            rule().allows(&config, "@friend:bad.example", no_groups()),
            Ok(true)
        );
        assert_eq!(
            rule().allows(&config, "@foe:bad.example", no_groups()),
            Ok(false)
        );
        assert_eq!(
            rule().allows(&config, "@x:noisy.example", no_groups()),
            Ok(false)
        );
        assert_eq!(
            rule().allows(&config, "@x:fine.example", no_groups()),
            Ok(true)
        );
    }

    #[test]
    fn the_first_honoured_type_set_decides_and_nothing_set_allows() {
        let mut both = settings(
            "de.gematik.tim.account.permissionconfig.pro.v1",
            json!({"defaultSetting": "allow all"}),
        );
        both.insert(
            "m.invite_permission_config".to_owned(),
            Some(json!({"blocked_servers": ["*"]})),
        );
        assert_eq!(rule().allows(&both, "@x:y.example", no_groups()), Ok(true));
        assert_eq!(
            rule().allows(&BTreeMap::new(), "@x:y.example", no_groups()),
            Ok(true)
        );
    }
}
