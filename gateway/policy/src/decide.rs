//! [`decide`]: the pure policy function, and the decisions for bad input.

use std::net::IpAddr;

use sectorgate_action::{Action, Classified, ClassifyError};

use crate::profile::Effect;
use crate::{Decision, Profile, RuleId};

/// Who sent the request, as far as the gateway knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The client's address (after trusted `X-Forwarded-For`).
    pub addr: IpAddr,
}

/// The rule ids built into the gateway.
pub mod rules {
    use crate::RuleId;

    /// A recognised endpoint passed by the profile's default.
    pub const ENDPOINT_ALLOWED: RuleId = RuleId::builtin("endpoint.allowed");
    /// A recognised endpoint refused by the profile's default.
    pub const ENDPOINT_DENIED: RuleId = RuleId::builtin("endpoint.denied");
    /// A path that is not a Matrix endpoint.
    pub const ENDPOINT_UNRECOGNIZED: RuleId = RuleId::builtin("endpoint.unrecognized");
    /// A homeserver-specific path the profile lets pass.
    pub const HOMESERVER_PATH: RuleId = RuleId::builtin("endpoint.homeserver_path");
    /// A known path called with the wrong method.
    pub const METHOD_NOT_ALLOWED: RuleId = RuleId::builtin("request.method_not_allowed");
    /// A body that is not JSON.
    pub const NOT_JSON: RuleId = RuleId::builtin("request.not_json");
    /// JSON of the wrong shape.
    pub const BAD_JSON: RuleId = RuleId::builtin("request.bad_json");
    /// JSON nested too deeply.
    pub const TOO_DEEP: RuleId = RuleId::builtin("request.too_deep");
    /// A bad path segment or query parameter.
    pub const INVALID_PARAM: RuleId = RuleId::builtin("request.invalid_param");
    /// A body over the size limit.
    pub const TOO_LARGE: RuleId = RuleId::builtin("request.too_large");
    /// A body that did not arrive in time.
    pub const BODY_TIMEOUT: RuleId = RuleId::builtin("request.body_timeout");
    /// A body whose stream broke.
    pub const BODY_UNREADABLE: RuleId = RuleId::builtin("request.body_unreadable");
}

/// Decides one classified request under a profile.
pub fn decide(classified: &Classified, profile: &Profile, _peer: &Peer) -> Decision {
    let Some(endpoint) = classified.endpoint else {
        return decide_unrecognized(&classified.action, profile);
    };
    match profile.rule_for(&endpoint) {
        Some(rule) => match rule.effect {
            Effect::Allow => Decision::allow(rule.id.clone()),
            Effect::Deny => {
                Decision::deny(rule.id.clone(), 404, "M_UNRECOGNIZED", rule.reason.clone())
            }
        },
        None => match profile.default {
            Effect::Allow => Decision::allow(rules::ENDPOINT_ALLOWED),
            Effect::Deny => Decision::deny(
                rules::ENDPOINT_DENIED,
                404,
                "M_UNRECOGNIZED",
                format!("{endpoint} is not enabled by profile {}", profile.id),
            ),
        },
    }
}

fn decide_unrecognized(action: &Action, profile: &Profile) -> Decision {
    if let Action::Unrecognized { path, .. } = action
        && profile
            .homeserver_paths
            .iter()
            .any(|prefix| path.starts_with(prefix.as_str()))
    {
        return Decision::allow(rules::HOMESERVER_PATH);
    }
    Decision::deny(
        rules::ENDPOINT_UNRECOGNIZED,
        404,
        "M_UNRECOGNIZED",
        "Unrecognized request",
    )
}

/// The decision for a request that could not be classified.
pub fn decide_input_error(error: &ClassifyError) -> Decision {
    let (rule, status, errcode): (RuleId, u16, &'static str) = match error {
        ClassifyError::NotJson(_) => (rules::NOT_JSON, 400, "M_NOT_JSON"),
        ClassifyError::TooDeep { .. } => (rules::TOO_DEEP, 400, "M_BAD_JSON"),
        ClassifyError::BadJson(_) => (rules::BAD_JSON, 400, "M_BAD_JSON"),
        ClassifyError::InvalidParam(_) => (rules::INVALID_PARAM, 400, "M_INVALID_PARAM"),
        ClassifyError::MethodNotAllowed { .. } => {
            (rules::METHOD_NOT_ALLOWED, 405, "M_UNRECOGNIZED")
        }
    };
    Decision::deny(rule, status, errcode, error.to_string())
}

/// The decision for a body over `limit` bytes.
pub fn decide_too_large(limit: u64) -> Decision {
    Decision::deny(
        rules::TOO_LARGE,
        413,
        "M_TOO_LARGE",
        format!("request body is larger than {limit} bytes"),
    )
}

/// The decision for a body that did not arrive within the read timeout.
pub fn decide_body_timeout() -> Decision {
    Decision::deny(
        rules::BODY_TIMEOUT,
        408,
        "M_UNKNOWN",
        "The request body did not arrive in time.",
    )
}

/// The decision for a body whose stream broke while it was read.
pub fn decide_body_unreadable(reason: String) -> Decision {
    Decision::deny(rules::BODY_UNREADABLE, 400, "M_UNKNOWN", reason)
}
