//! Endpoint rules: may this endpoint be called at all, and by whom? The
//! `endpoints:` section (the default for recognised endpoints, rules naming
//! endpoints, homeserver paths outside the Matrix API), resolved against the
//! catalog, and its check.

use std::collections::HashMap;

use http::Method;
use sectorgate_action::{Action, Api, Catalog, Endpoint};
use serde::Deserialize;

use crate::decide::{Input, Judge, profile_denial};
use crate::profile::{Effect, Link, Resolver, nearest, rule_file};
use crate::{Decision, Problem, Profile, RuleId, rules};

/// `endpoints:`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EndpointsFile {
    #[serde(default)]
    pub(crate) default: Option<Effect>,
    #[serde(default)]
    pub(crate) rules: Vec<EndpointRuleFile>,
    #[serde(default)]
    pub(crate) homeserver_paths: Option<Vec<String>>,
}

rule_file! {
    /// One rule of `endpoints.rules`.
    EndpointRuleFile {
        verdict: Effect,
        endpoints: Vec<String>,
        /// Who may call the endpoints an allowing rule names.
        #[serde(default)]
        requester: Option<Requester>,
        /// The answer instead of 404 `M_UNRECOGNIZED`.
        #[serde(default)]
        status: Option<u16>,
        #[serde(default)]
        errcode: Option<String>,
    }
}

/// Who may call an endpoint an allowing rule names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Requester {
    /// Anyone, with or without credentials (the homeserver decides).
    #[default]
    Anyone,
    /// A user the homeserver knows by the request's access token, or a
    /// server whose signature verified; anyone else is answered 401
    /// (`M_MISSING_TOKEN`, `M_UNKNOWN_TOKEN`), as a homeserver would.
    Authenticated,
}

/// An endpoint rule, resolved.
#[derive(Clone, Debug)]
pub struct EndpointRule {
    /// The rule's stable id.
    pub id: RuleId,
    /// Allow or deny.
    pub effect: Effect,
    /// Why, as told to the client on a denial.
    pub reason: String,
    /// Decided and recorded, but forwarded anyway.
    pub shadow: bool,
    /// The status and errcode of a denial (404 `M_UNRECOGNIZED` by default).
    pub answer: (u16, &'static str),
    /// Who may call the endpoints it allows.
    pub requester: Requester,
}

/// The `endpoints:` section, resolved: the parts of [`Profile`] it fills.
pub(crate) struct Endpoints {
    /// What happens to recognised endpoints no rule names.
    pub(crate) default: Effect,
    /// The rules, most specific profile first.
    pub(crate) rules: Vec<EndpointRule>,
    /// Each endpoint's rule, by its index in `rules`.
    pub(crate) by_endpoint: HashMap<Endpoint, usize>,
    /// Path prefixes outside the Matrix API that may pass.
    pub(crate) homeserver_paths: Vec<String>,
}

/// Resolves `endpoints`: every pattern must name an endpoint of the catalog;
/// the first rule naming an endpoint is its rule.
pub(crate) fn resolve(resolver: &mut Resolver<'_>, chain: &[Link]) -> Endpoints {
    let catalog = Catalog::global();
    let mut rules = Vec::new();
    let mut by_endpoint = HashMap::new();
    for link in chain {
        for (index, rule) in link.file.endpoints.rules.iter().enumerate() {
            let position = rules.len();
            for (at, pattern) in rule.endpoints.iter().enumerate() {
                let matched = matching_endpoints(catalog, pattern);
                if matched.is_empty() {
                    resolver.problems.push(Problem::new(
                        link.source.label("profile.yaml"),
                        format!("endpoints.rules[{index}].endpoints[{at}]"),
                        format!("rule {} names unknown endpoint {pattern:?}", rule.id),
                    ));
                }
                for endpoint in matched {
                    by_endpoint.entry(endpoint).or_insert(position);
                }
            }
            if rule.requester.is_some() && rule.verdict == Effect::Deny {
                resolver.problems.push(Problem::new(
                    link.source.label("profile.yaml"),
                    format!("endpoints.rules[{index}].requester"),
                    format!(
                        "rule {} denies everyone: `requester` narrows an allowing rule",
                        rule.id
                    ),
                ));
            }
            rules.push(EndpointRule {
                id: RuleId::profile(&rule.id),
                effect: rule.verdict,
                reason: rule
                    .reason
                    .clone()
                    .unwrap_or_else(|| format!("refused by rule {}", rule.id)),
                shadow: rule.shadow || resolver.shadow,
                answer: resolver
                    .answer(
                        link,
                        &format!("endpoints.rules[{index}]"),
                        rule.status,
                        rule.errcode.as_deref(),
                    )
                    .unwrap_or((404, "M_UNRECOGNIZED")),
                requester: rule.requester.unwrap_or_default(),
            });
        }
    }
    Endpoints {
        default: nearest(chain, |f| f.endpoints.default).map_or(Effect::Deny, |(d, _)| d),
        rules,
        by_endpoint,
        homeserver_paths: nearest(chain, |f| f.endpoints.homeserver_paths.clone())
            .map_or_else(Vec::new, |(paths, _)| paths),
    }
}

/// The endpoints a pattern names: `client.<name>`, `federation.<name>`,
/// `client.*`, `federation.*` or `*`.
pub(crate) fn matching_endpoints(catalog: &Catalog, pattern: &str) -> Vec<Endpoint> {
    let (api, name) = match pattern.split_once('.') {
        Some(("client", name)) => (Some(Api::Client), name),
        Some(("federation", name)) => (Some(Api::Federation), name),
        None if pattern == "*" => (None, "*"),
        _ => return Vec::new(),
    };
    catalog
        .endpoints()
        .filter(|endpoint| api.is_none_or(|api| endpoint.api == api))
        .filter(|endpoint| name == "*" || endpoint.name == name)
        .collect()
}

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

/// Checks the request's endpoint; an allowing rule becomes the decision's.
pub(crate) fn check(input: &Input<'_>, judge: &mut Judge) -> Result<(), Decision> {
    let Some(endpoint) = input.classified.endpoint else {
        return unrecognized(&input.classified.action, input.profile);
    };
    let decision = decide_endpoint(&endpoint, input.profile);
    if decision.is_allowed() && !matches!(decision.verdict, crate::Verdict::Shadow(_)) {
        judge.allowed_by = decision.rule;
        return match input.profile.rule_for(&endpoint) {
            Some(rule) => check_requester(rule, input, judge),
            None => Ok(()),
        };
    }
    judge.deny(decision)
}

/// An endpoint its rule allows to authenticated requesters only: refused
/// 401 when the homeserver knows no user behind the request and no
/// server's signature verified, with the errcode a homeserver gives (no
/// token, or one it does not know).
fn check_requester(
    rule: &EndpointRule,
    input: &Input<'_>,
    judge: &mut Judge,
) -> Result<(), Decision> {
    let context = input.context;
    let server = context
        .federation
        .is_some_and(|facts| facts.origin.is_some());
    if rule.requester == Requester::Anyone || context.user.is_some() || server {
        return Ok(());
    }
    let (errcode, why) = match context.token {
        true => ("M_UNKNOWN_TOKEN", "the access token is not known"),
        false => ("M_MISSING_TOKEN", "the request bears no access token"),
    };
    let mut decision = Decision::deny(
        rule.id.clone(),
        401,
        errcode,
        format!("{}: {why}", rule.reason),
    );
    if rule.shadow {
        decision.into_shadow();
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
