//! The invite settings a case that invites rests on: each account that
//! plays one of the case's invitees saves the settings the case gives it,
//! and every other account but the acting one allows all invites, so that
//! a setting left from an earlier test does not decide.

use std::collections::BTreeMap;

use sectorgate_policy::cases::{self, Case};
use sectorgate_policy::profile::InvitePermissions;
use serde_json::Value;

use crate::catalog::Scenario;
use crate::report::Exchange;
use crate::server::cast::Cast;
use crate::server::users::Account;
use crate::server::{Answer, Bench, Client};

/// Whether `case` invites someone: its invitees' settings decide it.
pub(super) fn invites(case: &Case) -> bool {
    !case.context.invitees.is_empty()
        || case.request.path.ends_with("/invite")
        || case
            .request
            .body
            .as_ref()
            .and_then(|body| body.get("invite"))
            .is_some()
}

/// Before a case that invites: each account that plays one of the case's
/// invitees saves the settings the case gives it, and every other account
/// but the acting one allows all invites, in each format the profile
/// honours (a setting left from an earlier test must not decide).
pub(super) fn settle_invite_settings(
    bench: &Bench<'_>,
    cast: &Cast,
    case: &Case,
    trail: &mut Vec<Exchange>,
) -> Result<(), String> {
    let Some(permissions) = &bench.catalog.profile.invites.permissions else {
        return Ok(());
    };
    for account in others_than_the_actor(bench, cast) {
        let given = case.context.invitees.get(&account.user_id);
        for (kind, content) in settings_for(permissions, given) {
            let answer = save_setting(&bench.client, account, &kind, &content, trail)?;
            if !answer.is_success() {
                return Err(format!(
                    "{} could not save its invite settings ({kind}) for the case{}: {}",
                    account.user_id,
                    if given.is_some() {
                        ""
                    } else {
                        " (allowing all)"
                    },
                    answer.describe()
                ));
            }
        }
    }
    Ok(())
}

/// The settings an account saves: those the case `given` it, or allowing
/// all in each format the profile honours.
fn settings_for(
    permissions: &InvitePermissions,
    given: Option<&BTreeMap<String, Value>>,
) -> Vec<(String, Value)> {
    match given {
        Some(settings) => settings
            .iter()
            .map(|(kind, content)| (kind.clone(), content.clone()))
            .collect(),
        None => permissions
            .types
            .iter()
            .map(|(kind, format)| (kind.clone(), Scenario::allow_all(*format)))
            .collect(),
    }
}

/// The case's players and the run's accounts, each once, but the acting
/// user.
fn others_than_the_actor<'b>(bench: &'b Bench<'_>, cast: &'b Cast) -> Vec<&'b Account> {
    let actor = cast.actor().map(|actor| actor.user_id.as_str());
    let mut others: Vec<&Account> = Vec::new();
    for account in cast.players.iter().chain(&bench.accounts) {
        let known = others.iter().any(|other| other.user_id == account.user_id);
        if Some(account.user_id.as_str()) != actor && !known {
            others.push(account);
        }
    }
    others
}

/// `account` saves `content` as its account data `kind` through `client`;
/// the answer.
fn save_setting(
    client: &Client,
    account: &Account,
    kind: &str,
    content: &Value,
    trail: &mut Vec<Exchange>,
) -> Result<Answer, String> {
    let path = format!(
        "/_matrix/client/v3/user/{}/account_data/{kind}",
        cases::encode(&account.user_id)
    );
    client.raw(
        trail,
        "PUT",
        &path,
        Some(&account.token),
        &[],
        content.to_string().into_bytes(),
    )
}
