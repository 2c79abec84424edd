//! Application services (bridges): whether the one acting may act here,
//! and as the user it names. A bridge to an outside messenger is typically
//! refused in healthcare; a school may allow one to its learning platform.
//! The `appservices:` section, its resolution and its check.

use std::collections::HashSet;

use serde::Deserialize;

use crate::decide::{Input, Judge, profile_denial};
use crate::profile::{Effect, Glob, Link, Resolver, RuleMeta, any_matches, nearest, rule_file};
use crate::{Decision, GATEWAY_APPSERVICE, rules};

/// `appservices:` traffic of application services (bridges), which act as
/// the users of their namespace.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppservicesFile {
    /// What happens to application services no rule names.
    #[serde(default)]
    pub(crate) default: Option<Effect>,
    #[serde(default)]
    pub(crate) rules: Vec<AppserviceRuleFile>,
}

rule_file! {
    /// One rule of `appservices.rules`.
    AppserviceRuleFile {
        /// The application service's id (as in its registration; a glob).
        appservice: String,
        verdict: Effect,
        /// With `allow`: the users it may act as (id globs); every user of its
        /// namespace when not given.
        #[serde(default)]
        users: Option<Vec<String>>,
    }
}

/// A rule on an application service's traffic.
#[derive(Clone, Debug)]
pub struct AppserviceRule {
    /// The rule.
    pub meta: RuleMeta,
    /// Which application services (by id).
    pub appservice: Glob,
    /// Allow or deny.
    pub effect: Effect,
    /// With allow: the users it may act as; `None`: all of its namespace.
    pub users: Option<Vec<Glob>>,
}

/// Rules on application services (bridges).
#[derive(Clone, Debug)]
pub struct AppserviceRules {
    /// For application services no rule names.
    pub default: Effect,
    /// The rules, in order; the first naming the application service decides.
    pub rules: Vec<AppserviceRule>,
}

/// Resolves `appservices`: the rules, child first (a rule with a parent's
/// id replaces it), and the default.
pub(crate) fn resolve(resolver: &Resolver<'_>, chain: &[Link]) -> AppserviceRules {
    let mut seen = HashSet::new();
    let mut rules = Vec::new();
    for link in chain {
        for rule in &link.file.appservices.rules {
            if !seen.insert(rule.id.clone()) {
                continue;
            }
            rules.push(AppserviceRule {
                meta: resolver.meta_of(rule, "this application service may not act here"),
                appservice: Glob::new(&rule.appservice),
                effect: rule.verdict,
                users: rule
                    .users
                    .as_ref()
                    .map(|users| users.iter().map(|u| Glob::new(u)).collect()),
            });
        }
    }
    AppserviceRules {
        // The gateway recognises only the application services its
        // configuration names; a profile that says nothing lets them act.
        default: nearest(chain, |f| f.appservices.default).map_or(Effect::Allow, |(d, _)| d),
        rules,
    }
}

/// Checks the acting application service, if any.
pub(crate) fn check(input: &Input<'_>, judge: &mut Judge) -> Result<(), Decision> {
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
