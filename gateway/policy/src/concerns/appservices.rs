//! Application services (bridges): whether the one acting may act here,
//! and as the user it names. A bridge to an outside messenger is typically
//! refused in healthcare; a school may allow one to its learning platform.

use super::{Input, Judge, profile_denial, rules};
use crate::profile::{Effect, any_matches};
use crate::{Decision, GATEWAY_APPSERVICE};

pub(super) fn check(input: &Input<'_>, judge: &mut Judge) -> Result<(), Decision> {
    let Some(appservice) = input.context.appservice else {
        return Ok(());
    };
    if appservice == GATEWAY_APPSERVICE {
        return Err(Decision::deny(
            rules::APPSERVICE_GATEWAY_TOKEN,
            403,
            "M_FORBIDDEN",
            "This token is the gateway's own; it is not accepted from clients.",
        ));
    }
    let profile = input.profile;
    let Some(rule) = profile
        .appservices
        .rules
        .iter()
        .find(|rule| rule.appservice.matches(appservice))
    else {
        return match profile.appservices.default {
            Effect::Allow => Ok(()),
            Effect::Deny => judge.deny(profile_denial(
                profile,
                rules::APPSERVICE_DENIED,
                403,
                "M_FORBIDDEN",
                format!(
                    "application service {appservice} may not act under profile {}",
                    profile.id
                ),
            )),
        };
    };
    if rule.effect == Effect::Deny {
        return judge.deny(Decision::deny_by(
            &rule.meta,
            403,
            "M_FORBIDDEN",
            format!("{}: {appservice}", rule.meta.reason),
        ));
    }
    let Some(users) = &rule.users else {
        return Ok(());
    };
    match input.context.user {
        Some(user) if any_matches(users, user.as_str()) => Ok(()),
        user => judge.deny(Decision::deny_by(
            &rule.meta,
            403,
            "M_FORBIDDEN",
            format!(
                "{}: {appservice} may not act as {}",
                rule.meta.reason,
                user.map_or("an unknown user", |user| user.as_str())
            ),
        )),
    }
}
