//! Judging an answer against what the profile expects. A server is judged
//! on what a client sees: refused or not, and with which status and error
//! code. Behind sectorgate (target `gateway`) the answer must also name the
//! expected rule.

use crate::catalog::Target;
use crate::status::Status;

use super::client::Answer;

/// The JSON member in which sectorgate names the deciding rule.
pub use sectorgate_policy::RULE_FIELD;

/// What the profile expects of one request.
#[derive(Clone, Debug)]
pub struct Expectation<'a> {
    /// Refused, or passed.
    pub refused: bool,
    /// The deciding rule.
    pub rule: &'a str,
    /// The refusal's status, when the profile fixes it.
    pub status: Option<u16>,
    /// The refusal's errcode, when the profile fixes it.
    pub errcode: Option<&'a str>,
    /// Passing the request on is all that is asked (a homeserver's own
    /// page, or a request the homeserver takes on to another server, whose
    /// answers are not the gateway's doing): any answer the gateway did not
    /// make passes.
    pub passed_on: bool,
}

/// The status of one answer, and what it rests on.
pub fn judge(expect: &Expectation<'_>, answer: &Answer, target: Target) -> (Status, String) {
    let rule = answer.body.get(RULE_FIELD).and_then(|rule| rule.as_str());
    if expect.passed_on && rule.is_none() {
        return (
            Status::Pass,
            format!(
                "passed on to the homeserver, which answered {}",
                answer.status
            ),
        );
    }
    if expect.refused && expect.status == Some(200) {
        return judge_item_refusal(expect, answer, rule);
    }
    if !expect.refused {
        return judge_pass(answer, rule);
    }
    judge_refusal(expect, answer, rule, target)
}

/// A refusal the API answers 200 (a transaction's items): only the rule
/// named in the answer shows it.
fn judge_item_refusal(
    expect: &Expectation<'_>,
    answer: &Answer,
    rule: Option<&str>,
) -> (Status, String) {
    if answer.status == 200 && rule == Some(expect.rule) {
        (
            Status::Pass,
            format!("refused as required, item by item: rule {}", expect.rule),
        )
    } else {
        (
            Status::Fail,
            format!("not refused by rule {}: {}", expect.rule, answer.describe()),
        )
    }
}

/// A request the profile lets pass: it must succeed, with no rule named.
fn judge_pass(answer: &Answer, rule: Option<&str>) -> (Status, String) {
    if answer.is_success() && rule.is_none() {
        (
            Status::Pass,
            format!("passed as required: {}", answer.status),
        )
    } else {
        (
            Status::Fail,
            format!(
                "refused, though the profile lets it pass: {}{}",
                answer.describe(),
                rule.map(|rule| format!(" (rule {rule})"))
                    .unwrap_or_default()
            ),
        )
    }
}

/// A request the profile refuses: it must be refused, not fail, and behind
/// sectorgate name the expected rule; then its status and errcode are
/// judged.
fn judge_refusal(
    expect: &Expectation<'_>,
    answer: &Answer,
    rule: Option<&str>,
    target: Target,
) -> (Status, String) {
    if answer.is_success() {
        return (
            Status::Fail,
            format!(
                "accepted with {}: rule {} requires a refusal",
                answer.status, expect.rule
            ),
        );
    }
    if answer.status >= 500 {
        return (
            Status::Fail,
            format!("a server error instead of a refusal: {}", answer.describe()),
        );
    }
    if target == Target::Gateway && rule != Some(expect.rule) {
        return (
            Status::Fail,
            format!(
                "refused by rule {}, expected {}: {}",
                rule.unwrap_or("(none named)"),
                expect.rule,
                answer.describe()
            ),
        );
    }
    judge_refusal_answer(expect, answer)
}

/// A refusal's status and errcode against the profile's: a refusal with
/// others is a WARNING.
fn judge_refusal_answer(expect: &Expectation<'_>, answer: &Answer) -> (Status, String) {
    let status_ok = expect.status.is_none_or(|want| want == answer.status);
    let errcode_ok = expect
        .errcode
        .is_none_or(|want| Some(want) == answer.errcode());
    if status_ok && errcode_ok {
        (
            Status::Pass,
            format!("refused as required: {}", answer.describe()),
        )
    } else {
        (
            Status::Warning,
            format!(
                "refused, but with {} where the profile answers {} {}",
                answer.describe(),
                expect
                    .status
                    .map_or("any status".to_owned(), |s| s.to_string()),
                expect.errcode.unwrap_or("any errcode")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn answer(status: u16, body: serde_json::Value) -> Answer {
        Answer { status, body }
    }

    const DENY: Expectation<'static> = Expectation {
        refused: true,
        rule: "tim.url_preview_disabled",
        status: Some(404),
        errcode: Some("M_UNRECOGNIZED"),
        passed_on: false,
    };

    #[test]
    fn a_refusal_is_judged_by_status_errcode_and_behind_sectorgate_rule() {
        let exact = answer(
            404,
            json!({"errcode": "M_UNRECOGNIZED", RULE_FIELD: "tim.url_preview_disabled"}),
        );
        assert_eq!(judge(&DENY, &exact, Target::Gateway).0, Status::Pass);
        let plain = answer(404, json!({"errcode": "M_UNRECOGNIZED"}));
        assert_eq!(judge(&DENY, &plain, Target::Server).0, Status::Pass);
        assert_eq!(judge(&DENY, &plain, Target::Gateway).0, Status::Fail);
        let other = answer(403, json!({"errcode": "M_FORBIDDEN"}));
        assert_eq!(judge(&DENY, &other, Target::Server).0, Status::Warning);
        assert_eq!(
            judge(&DENY, &answer(200, json!({})), Target::Server).0,
            Status::Fail
        );
        assert_eq!(
            judge(&DENY, &answer(502, json!({})), Target::Server).0,
            Status::Fail
        );
    }

    #[test]
    fn a_pass_must_succeed_and_name_no_rule() {
        let allow = Expectation {
            refused: false,
            rule: "endpoint.allowed",
            status: None,
            errcode: None,
            passed_on: false,
        };
        assert_eq!(
            judge(&allow, &answer(200, json!({})), Target::Gateway).0,
            Status::Pass
        );
        let page = Expectation {
            passed_on: true,
            ..allow.clone()
        };
        let not_found = answer(404, json!({"errcode": "M_UNRECOGNIZED"}));
        assert_eq!(judge(&page, &not_found, Target::Gateway).0, Status::Pass);
        assert_eq!(judge(&allow, &not_found, Target::Gateway).0, Status::Fail);
        let by_gateway = answer(
            404,
            json!({"errcode": "M_UNRECOGNIZED", RULE_FIELD: "endpoint.unrecognized"}),
        );
        assert_eq!(judge(&page, &by_gateway, Target::Gateway).0, Status::Fail);
        assert_eq!(
            judge(
                &allow,
                &answer(403, json!({"errcode": "M_FORBIDDEN"})),
                Target::Server
            )
            .0,
            Status::Fail
        );
    }

    #[test]
    fn a_refusal_answered_200_passes_only_when_it_names_the_rule() {
        let items = Expectation {
            refused: true,
            rule: "federation.transaction_items",
            status: Some(200),
            errcode: None,
            passed_on: false,
        };
        let named = answer(
            200,
            json!({"pdus": {}, RULE_FIELD: "federation.transaction_items"}),
        );
        assert_eq!(judge(&items, &named, Target::Gateway).0, Status::Pass);
        let accepted = answer(200, json!({"pdus": {}}));
        assert_eq!(judge(&items, &accepted, Target::Gateway).0, Status::Fail);
    }
}
