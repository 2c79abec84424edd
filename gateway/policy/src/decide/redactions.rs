//! Redaction rules: how old an event may be and still be redacted.

use sectorgate_action::Action;

use super::{Input, Judge, rules};
use crate::Decision;

pub(super) fn check(input: &Input<'_>, judge: &mut Judge) -> Result<(), Decision> {
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
