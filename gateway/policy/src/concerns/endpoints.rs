//! Endpoint rules: may this endpoint be called at all?

use http::Method;
use sectorgate_action::{Action, Endpoint};

use super::{Input, Judge, profile_denial, rules};
use crate::profile::Effect;
use crate::{Decision, Profile};

/// The endpoint rule's decision alone. The pipeline asks this before it
/// reads or parses the request, so that a refused endpoint is refused
/// whatever its parameters (an enforced denial), before any shape error.
pub fn decide_endpoint(endpoint: &Endpoint, profile: &Profile) -> Decision {
    match profile.rule_for(endpoint) {
        Some(rule) => match rule.effect {
            Effect::Allow => Decision::allow(rule.id.clone()),
            Effect::Deny => {
                let (status, errcode) = rule.answer;
                let mut decision =
                    Decision::deny(rule.id.clone(), status, errcode, rule.reason.clone());
                if rule.shadow {
                    decision.into_shadow();
                }
                decision
            }
        },
        None => match profile.default {
            Effect::Allow => Decision::allow(rules::ENDPOINT_ALLOWED),
            Effect::Deny => profile_denial(
                profile,
                rules::ENDPOINT_DENIED,
                404,
                "M_UNRECOGNIZED",
                format!("{endpoint} is not enabled by profile {}", profile.id),
            ),
        },
    }
}

pub(super) fn check(input: &Input<'_>, judge: &mut Judge) -> Result<(), Decision> {
    let Some(endpoint) = input.classified.endpoint else {
        return unrecognized(&input.classified.action, input.profile);
    };
    let decision = decide_endpoint(&endpoint, input.profile);
    if decision.is_allowed() && !matches!(decision.verdict, crate::Verdict::Shadow(_)) {
        judge.allowed_by = decision.rule;
        return Ok(());
    }
    judge.deny(decision)
}

/// The methods a browser page under a homeserver path needs (SSO and
/// consent forms): nothing else is sent there.
const HOMESERVER_PATH_METHODS: [Method; 3] = [Method::GET, Method::HEAD, Method::POST];

/// A path outside the Matrix API: refused unless it is a homeserver path
/// the profile lets pass, called with a method a browser page uses. Never
/// shadowed: nothing the gateway cannot name is forwarded.
fn unrecognized(action: &Action, profile: &Profile) -> Result<(), Decision> {
    if let Action::Unrecognized { path, method } = action
        && profile
            .homeserver_paths
            .iter()
            .any(|prefix| path.starts_with(prefix.as_str()))
    {
        if !HOMESERVER_PATH_METHODS.contains(method) {
            return Err(Decision::deny(
                rules::METHOD_NOT_ALLOWED,
                405,
                "M_UNRECOGNIZED",
                format!("method {method} is not allowed under homeserver paths"),
            ));
        }
        return Err(Decision::allow(rules::HOMESERVER_PATH));
    }
    Err(Decision::deny(
        rules::ENDPOINT_UNRECOGNIZED,
        404,
        "M_UNRECOGNIZED",
        "Unrecognized request",
    ))
}
