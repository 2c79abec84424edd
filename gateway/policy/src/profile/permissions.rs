//! Users' own invite-permission settings, as account data: gematik's
//! `permissionConfig` (`de.gematik.tim.account.permissionconfig.pro.v1`,
//! `….epa.v1`) and MSC4155's `m.invite_permission_config`. Which types a
//! profile honours, and in which order, is the profile's choice.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

pub use super::file::PermissionFormat;
use super::rules::{Glob, Groups, RuleMeta};

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

fn server_of(user_id: &str) -> &str {
    user_id.split_once(':').map_or("", |(_, server)| server)
}

/// gematik: the default setting, inverted for exceptions (by server, by
/// user, by group).
fn gematik(
    content: &Value,
    inviter: &str,
    group_names: &BTreeMap<String, String>,
    groups: Groups<'_>,
) -> Result<bool, String> {
    let allow_by_default = match content.get("defaultSetting").and_then(Value::as_str) {
        Some("allow all") => true,
        Some("block all") => false,
        other => {
            return Err(format!(
                "defaultSetting must be \"allow all\" or \"block all\", not {other:?}"
            ));
        }
    };
    let keys = |field: &str| -> Result<Vec<String>, String> {
        match content.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Object(map)) => Ok(map.keys().cloned().collect()),
            Some(_) => Err(format!("{field} must be an object")),
        }
    };
    let servers = keys("serverExceptions")?;
    let users = keys("userExceptions")?;
    let group_exceptions: Vec<&str> = match content.get("groupExceptions") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.get("groupName")
                    .and_then(Value::as_str)
                    .ok_or_else(|| "groupExceptions items need a groupName".to_owned())
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("groupExceptions must be an array".to_owned()),
    };
    let in_group = group_exceptions.iter().any(|name| {
        group_names.get(*name).is_some_and(|group| {
            groups
                .named
                .get(group)
                .is_some_and(|selector| selector.matches(inviter, groups))
        })
    });
    let excepted = servers.iter().any(|server| server == server_of(inviter))
        || users.iter().any(|user| user == inviter)
        || in_group;
    Ok(allow_by_default != excepted)
}

/// MSC4155: the first list that matches decides, in the MSC's order; no
/// match allows.
fn msc4155(content: &Value, inviter: &str) -> Result<bool, String> {
    let lists = [
        ("allowed_users", true, false),
        ("ignored_users", false, false),
        ("blocked_users", false, false),
        ("allowed_servers", true, true),
        ("ignored_servers", false, true),
        ("blocked_servers", false, true),
    ];
    for (field, allows, by_server) in lists {
        let globs = match content.get(field) {
            None => continue,
            Some(Value::Array(items)) => items,
            Some(_) => return Err(format!("{field} must be an array of globs")),
        };
        let subject = if by_server {
            server_of(inviter)
        } else {
            inviter
        };
        for glob in globs {
            let glob = glob
                .as_str()
                .ok_or_else(|| format!("{field} must be an array of globs"))?;
            if Glob::new(glob).matches(subject) {
                return Ok(allows);
            }
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
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
