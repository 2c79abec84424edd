//! Redaction rules: how old an event may be and still be redacted, and
//! whether redacting an event also redacts its replacements (edits). The
//! `redactions:` section, its resolution, what it needs (the targeted
//! event) and its check.

use std::time::Duration;

use ruma::{OwnedEventId, OwnedRoomId, OwnedTransactionId};
use sectorgate_action::Action;
use serde::Deserialize;

use crate::decide::{Input, Judge};
use crate::profile::{Link, Resolver, RuleMeta, nearest, rule_file};
use crate::{Decision, FollowUp, Needs, Profile, RuleId, rules};

/// `redactions:`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedactionsFile {
    #[serde(default)]
    pub(crate) max_age: Option<AgeLimitFile>,
    #[serde(default)]
    pub(crate) cascade_replacements: Option<CascadeFile>,
}

rule_file! {
    /// A time limit with its rule id.
    AgeLimitFile {
        #[serde(with = "humantime_serde")]
        limit: Duration,
    }
}

rule_file! {
    /// Redacting an event also redacts its replacements: the rule id the
    /// gateway's own redactions are recorded under.
    CascadeFile {}
}

/// A time limit.
#[derive(Clone, Debug)]
pub struct AgeLimit {
    /// The rule.
    pub meta: RuleMeta,
    /// The limit.
    pub limit: Duration,
}

/// Rules on redactions.
#[derive(Clone, Debug, Default)]
pub struct RedactionRules {
    /// Oldest event that may be redacted.
    pub max_age: Option<AgeLimit>,
    /// Redacting an event also redacts its replacements (`m.replace`
    /// edits) by the event's sender; the rule that makes those redactions.
    pub cascade_replacements: Option<RuleMeta>,
}

/// What follows an allowed redaction under `redactions.cascade_replacements`:
/// once the homeserver has taken it, the gateway redacts the replacements
/// of the redacted event that its sender made, as the requester.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedactionCascade {
    /// The rule that makes the cascaded redactions.
    pub rule: RuleId,
    /// The rule is in shadow mode: the redactions are recorded, not made.
    pub shadow: bool,
    /// The room of the redacted event.
    pub room_id: OwnedRoomId,
    /// The redacted event, whose replacements are redacted.
    pub event_id: OwnedEventId,
    /// The client's transaction id, from which the cascaded redactions'
    /// are derived (a retry of the client's redaction repeats them).
    pub txn_id: OwnedTransactionId,
    /// The client's reason, given to each cascaded redaction.
    pub reason: Option<String>,
}

/// Resolves `redactions`: how old an event may be and still be redacted,
/// and whether its replacements follow it.
pub(crate) fn resolve(resolver: &Resolver<'_>, chain: &[Link]) -> RedactionRules {
    RedactionRules {
        max_age: nearest(chain, |f| f.redactions.max_age.as_ref()).map(|(limit, _)| AgeLimit {
            meta: resolver.meta_of(limit, "this event is too old to be redacted"),
            limit: limit.limit,
        }),
        cascade_replacements: nearest(chain, |f| f.redactions.cascade_replacements.as_ref()).map(
            |(rule, _)| resolver.meta_of(rule, "redacting an event also redacts its replacements"),
        ),
    }
}

/// A redaction under an age limit needs the targeted event.
pub(crate) fn needs(action: &Action, profile: &Profile, needs: &mut Needs) {
    if let Action::Redact {
        room_id, event_id, ..
    } = action
        && profile.redactions.max_age.is_some()
    {
        needs.event = Some((room_id.clone(), event_id.clone()));
    }
}

/// Checks a redaction against the age limit; one that may pass is
/// followed by the cascade to its replacements, when the profile says so.
pub(crate) fn check(input: &Input<'_>, judge: &mut Judge) -> Result<(), Decision> {
    let Action::Redact {
        room_id,
        event_id,
        txn_id,
        reason,
    } = &input.classified.action
    else {
        return Ok(());
    };
    if let Some(max_age) = &input.profile.redactions.max_age {
        check_age(input, max_age, judge)?;
    }
    judge.follow_up = input
        .profile
        .redactions
        .cascade_replacements
        .as_ref()
        .map(|meta| {
            Box::new(FollowUp::Redactions(RedactionCascade {
                rule: meta.id.clone(),
                shadow: meta.shadow,
                room_id: room_id.clone(),
                event_id: event_id.clone(),
                txn_id: txn_id.clone(),
                reason: reason.clone(),
            }))
        });
    Ok(())
}

/// Checks the targeted event's age against the limit.
fn check_age(input: &Input<'_>, max_age: &AgeLimit, judge: &mut Judge) -> Result<(), Decision> {
    let Some(event) = input.context.event else {
        return Err(Decision::deny(
            rules::EVENT_UNAVAILABLE,
            404,
            "M_NOT_FOUND",
            "The gateway could not see the event to be redacted with your access.",
        ));
    };
    let age_ms = input.context.now_ms.saturating_sub(event.origin_server_ts);
    let limit_ms = u64::try_from(max_age.limit.as_millis()).unwrap_or(u64::MAX);
    if age_ms > limit_ms {
        judge.deny(Decision::deny_by(
            &max_age.meta,
            403,
            "M_FORBIDDEN",
            format!(
                "{}: the event is {} minutes old; the limit is {} minutes",
                max_age.meta.reason,
                age_ms / 60_000,
                limit_ms / 60_000
            ),
        ))?;
    }
    Ok(())
}
