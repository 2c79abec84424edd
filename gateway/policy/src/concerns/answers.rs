//! Answers the gateway gives itself: for the endpoints a rule names, asked
//! by the requesters it selects, a fixed answer instead of the homeserver's
//! (an empty user directory for external users, say). The `answers:`
//! section, its resolution, what it needs (the requester) and its check.
//! The request is not forwarded: it is recorded as refused by the rule,
//! whose id the answer's body also names (`org.sectorgate.rule`).

use sectorgate_action::{Catalog, Endpoint};
use serde_json::{Map, Value};

use super::endpoints::matching_endpoints;
use crate::decide::{Input, Judge};
use crate::profile::{Link, Resolver, RuleMeta, UserSelector, UserSelectorFile, rule_file};
use crate::{Decision, Denial, Needs, Problem, Profile, RULE_FIELD, Verdict};

rule_file! {
    /// One `answers` rule.
    AnswerRuleFile {
        endpoints: Vec<String>,
        /// Whose requests it answers (everyone's when not given).
        #[serde(default)]
        requester: Option<UserSelectorFile>,
        /// The answer's status (2xx to 4xx).
        status: u16,
        /// The answer's JSON body.
        body: Map<String, Value>,
    }
}

/// An answer the gateway gives instead of the homeserver.
#[derive(Clone, Debug)]
pub struct AnswerRule {
    /// The rule.
    pub meta: RuleMeta,
    /// The endpoints it answers.
    pub endpoints: Vec<Endpoint>,
    /// Whose requests (`None`: everyone's).
    pub requester: Option<UserSelector>,
    /// The status answered.
    pub status: u16,
    /// The body answered (with the rule's id added).
    pub body: Value,
}

/// Resolves `answers`, the child's rules first (a rule with a parent's id
/// replaces it).
pub(crate) fn resolve(resolver: &mut Resolver<'_>, chain: &[Link]) -> Vec<AnswerRule> {
    let catalog = Catalog::global();
    let mut seen = std::collections::HashSet::new();
    let mut resolved = Vec::new();
    for link in chain {
        for (index, rule) in link.file.answers.iter().enumerate() {
            if !seen.insert(rule.id.clone()) {
                continue;
            }
            let at = format!("answers[{index}]");
            let mut endpoints = Vec::new();
            for (position, pattern) in rule.endpoints.iter().enumerate() {
                let matched = matching_endpoints(catalog, pattern);
                if matched.is_empty() {
                    resolver.problems.push(Problem::new(
                        link.source.label("profile.yaml"),
                        format!("{at}.endpoints[{position}]"),
                        format!("rule {} names unknown endpoint {pattern:?}", rule.id),
                    ));
                }
                endpoints.extend(matched);
            }
            if !(200..=499).contains(&rule.status) {
                resolver.problems.push(Problem::new(
                    link.source.label("profile.yaml"),
                    format!("{at}.status"),
                    "an answer's status is a 2xx, 3xx or 4xx",
                ));
            }
            let requester = rule
                .requester
                .as_ref()
                .map(|who| resolver.selector(who, link, &format!("{at}.requester")));
            let mut body = rule.body.clone();
            body.insert(RULE_FIELD.to_owned(), Value::String(rule.id.clone()));
            resolved.push(AnswerRule {
                meta: resolver.meta_of(rule, "answered by the gateway"),
                endpoints,
                requester,
                status: rule.status,
                body: Value::Object(body),
            });
        }
    }
    resolved
}

/// The rules that answer `endpoint`.
fn answering<'p>(
    endpoint: Option<&Endpoint>,
    profile: &'p Profile,
) -> impl Iterator<Item = &'p AnswerRule> {
    profile
        .answers
        .iter()
        .filter(move |rule| endpoint.is_some_and(|endpoint| rule.endpoints.contains(endpoint)))
}

/// An answer for some requesters needs the requester.
pub(crate) fn needs(endpoint: Option<&Endpoint>, profile: &Profile, needs: &mut Needs) {
    if answering(endpoint, profile).any(|rule| rule.requester.is_some()) {
        needs.user = true;
    }
}

/// Answers the request if a rule selects its requester. A rule for some
/// requesters leaves a request of no known user to the homeserver (which
/// refuses it, as it would anyway).
pub(crate) fn check(input: &Input<'_>, judge: &mut Judge) -> Result<(), Decision> {
    let user = input.context.user.map(|user| user.as_str());
    for rule in answering(input.classified.endpoint.as_ref(), input.profile) {
        let selected = match (&rule.requester, user) {
            (None, _) => true,
            (Some(requester), Some(user)) => requester.matches(user, input.groups()),
            (Some(_), None) => false,
        };
        if selected {
            judge.deny(answer(rule))?;
        }
    }
    Ok(())
}

fn answer(rule: &AnswerRule) -> Decision {
    let denial = Denial {
        status: rule.status,
        errcode: "M_FORBIDDEN",
        message: rule.meta.reason.clone().into(),
        body: Some(Box::new(rule.body.clone())),
    };
    Decision {
        verdict: match rule.meta.shadow {
            true => Verdict::Shadow(denial),
            false => Verdict::Deny(denial),
        },
        rule: rule.meta.id.clone(),
        amended_body: None,
        follow_up: None,
    }
}
