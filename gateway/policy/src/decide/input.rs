//! The decisions for requests that cannot be classified: bad input.

use sectorgate_action::{Api, ClassifyError, HeadError};

use super::rules;
use std::time::Duration;

use crate::{Decision, RuleId, Verdict};

/// The decision for a request head refused before routing.
pub fn decide_bad_head(error: &HeadError) -> Decision {
    let (rule, status, errcode): (RuleId, u16, &'static str) = match error {
        HeadError::Method(_) => (rules::METHOD_NOT_ALLOWED, 405, "M_UNRECOGNIZED"),
        HeadError::Path(_) => (rules::PATH_MALFORMED, 400, "M_UNRECOGNIZED"),
        HeadError::Query(_) => (rules::QUERY_MALFORMED, 400, "M_INVALID_PARAM"),
        HeadError::Host(_) => (rules::HOST_INVALID, 400, "M_UNKNOWN"),
        HeadError::Connection(_) => (rules::CONNECTION_INVALID, 400, "M_UNKNOWN"),
        HeadError::TransferEncoding => (rules::FRAMING_INVALID, 400, "M_UNKNOWN"),
    };
    Decision::deny(rule, status, errcode, error.to_string())
}

/// The decision for a request over its rate limit (`rule`): 429, to be
/// tried again after `wait`.
pub fn decide_rate_limited(rule: RuleId, wait: Duration) -> Decision {
    let retry_after_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
    let message = "Too many requests; try again later.";
    let mut decision = Decision::deny(rule.clone(), 429, "M_LIMIT_EXCEEDED", message);
    if let Verdict::Deny(denial) = &mut decision.verdict {
        denial.body = Some(Box::new(serde_json::json!({
            "errcode": "M_LIMIT_EXCEEDED",
            "error": message,
            "retry_after_ms": retry_after_ms,
            crate::RULE_FIELD: rule.as_str(),
        })));
    }
    decision
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

/// The decision for an `X-Matrix` authorization that is not exactly one
/// well-formed header: 401, before any origin is believed.
pub fn decide_bad_authorization(reason: String) -> Decision {
    Decision::deny(rules::BAD_AUTHORIZATION, 401, "M_UNAUTHORIZED", reason)
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

/// The decision for a request to an API the listener does not serve.
pub fn decide_api_not_served(api: Api) -> Decision {
    Decision::deny(
        rules::API_NOT_SERVED,
        404,
        "M_UNRECOGNIZED",
        format!("this listener does not serve the {} API", api.as_str()),
    )
}
