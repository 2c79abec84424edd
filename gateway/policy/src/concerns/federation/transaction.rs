//! `PUT /_matrix/federation/v1/send/{txnId}`: every PDU and EDU is checked.
//!
//! The origin signs the whole body, so the gateway cannot forward part of
//! it: a transaction with any refused item is not forwarded at all. In the
//! default (lenient) mode the sender gets `200` with an error for each
//! refused PDU, as the specification's per-PDU results allow; the accepted
//! PDUs of that transaction reach the homeserver later, through its gap
//! filling (`get_missing_events`) when a following event references them.
//! In strict mode the whole transaction is answered `403`.

use ruma::ServerName;
use sectorgate_action::Transaction;
use serde_json::{Map, Value, json};

use super::items::{self, Problem};
use super::{FederationRules, TransactionMode, rules};
use crate::federation::FederationFacts;
use crate::{Decision, Denial, RULE_FIELD, Verdict};

pub(super) fn check(
    txn: &Transaction,
    origin: &ServerName,
    facts: &FederationFacts<'_>,
    profile: &FederationRules,
) -> Result<(), Decision> {
    if txn.origin != origin {
        return Err(Decision::deny(
            rules::ORIGIN_MISMATCH,
            401,
            "M_UNAUTHORIZED",
            format!(
                "the transaction says it comes from {}, but {origin} signed it",
                txn.origin
            ),
        ));
    }
    // Each refused PDU, by the ids it may have.
    let mut refused: Vec<(Vec<String>, Problem)> = Vec::new();
    for pdu in &txn.pdus {
        let value: Value = serde_json::from_str(pdu.get()).unwrap_or(Value::Null);
        if let Some(problem) = items::pdu_problem(&value, facts) {
            refused.push((items::event_ids(pdu), problem));
        }
    }
    let edu_problems: Vec<Problem> = txn
        .edus
        .iter()
        .filter_map(|edu| {
            let value: Value = serde_json::from_str(edu.get()).unwrap_or(Value::Null);
            items::edu_problem(&value, origin, facts)
        })
        .collect();
    let Some(first) = refused
        .first()
        .map(|(_, problem)| problem)
        .or(edu_problems.first())
    else {
        return Ok(());
    };
    let count = refused.len() + edu_problems.len();
    let message = if count == 1 {
        format!("transaction refused: {first}")
    } else {
        format!("transaction refused: {first} (and {} more)", count - 1)
    };
    let mut decision = Decision::deny(rules::TRANSACTION_ITEMS, 403, "M_FORBIDDEN", message);
    if profile.transactions == TransactionMode::Lenient
        && let Verdict::Deny(denial) = &mut decision.verdict
    {
        *denial = per_pdu_answer(denial, &refused);
    }
    Err(decision)
}

/// The lenient answer: `200 {"pdus": {id: {"error": …}}}`, each refused
/// PDU under every id it may have. The rule is named beside each error and
/// beside `pdus` (a transaction refused for an EDU alone has no PDU to name
/// it), where a sender that does not know it ignores it.
fn per_pdu_answer(denial: &Denial, refused: &[(Vec<String>, Problem)]) -> Denial {
    let rule = rules::TRANSACTION_ITEMS;
    let rule = rule.as_str();
    let pdus: Map<String, Value> = refused
        .iter()
        .flat_map(|(ids, problem)| {
            ids.iter()
                .map(move |id| (id.clone(), json!({"error": problem, RULE_FIELD: rule})))
        })
        .collect();
    Denial {
        status: 200,
        body: Some(Box::new(json!({"pdus": pdus, RULE_FIELD: rule}))),
        ..denial.clone()
    }
}
