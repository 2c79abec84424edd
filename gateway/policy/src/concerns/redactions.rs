//! Redaction rules: how old an event may be and still be redacted. The
//! `redactions:` section, its resolution, what it needs (the targeted
//! event) and its check.

use std::time::Duration;

use sectorgate_action::Action;
use serde::Deserialize;

use crate::decide::{Input, Judge};
use crate::profile::{Link, Resolver, RuleMeta, nearest, rule_file};
use crate::{Decision, Needs, Profile, rules};

/// `redactions:`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedactionsFile {
    #[serde(default)]
    pub(crate) max_age: Option<AgeLimitFile>,
}

rule_file! {
    /// A time limit with its rule id.
    AgeLimitFile {
        #[serde(with = "humantime_serde")]
        limit: Duration,
    }
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
}

/// Resolves `redactions`: how old an event may be and still be redacted.
pub(crate) fn resolve(resolver: &Resolver<'_>, chain: &[Link]) -> RedactionRules {
    RedactionRules {
        max_age: nearest(chain, |f| f.redactions.max_age.as_ref()).map(|(limit, _)| AgeLimit {
            meta: resolver.meta_of(limit, "this event is too old to be redacted"),
            limit: limit.limit,
        }),
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

/// Checks a redaction against the age limit.
pub(crate) fn check(input: &Input<'_>, judge: &mut Judge) -> Result<(), Decision> {
    let Action::Redact { .. } = &input.classified.action else {
        return Ok(());
    };
    let Some(max_age) = &input.profile.redactions.max_age else {
        return Ok(());
    };
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
