//! Reading a user's invite-permission setting, by its format: gematik's
//! `permissionConfig` and MSC4155's `m.invite_permission_config`. A
//! setting the gateway cannot read is an `Err`, saying why.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::profile::{Glob, Groups};

fn server_of(user_id: &str) -> &str {
    user_id.split_once(':').map_or("", |(_, server)| server)
}

/// gematik: the default setting, inverted for exceptions (by server, by
/// user, by group).
pub(super) fn gematik(
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
pub(super) fn msc4155(content: &Value, inviter: &str) -> Result<bool, String> {
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
