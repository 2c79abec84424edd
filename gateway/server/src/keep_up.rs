//! Keeping a view of the audit log (its tiles, its query index) up to the
//! log, every second, off the hot path. Requests never wait for a view; a
//! failure is logged once until it changes, and tried again.

use std::future::Future;
use std::time::Duration;

use sectorgate_audit::AuditError;

/// How often a view is brought up to the log.
const EVERY: Duration = Duration::from_secs(1);

/// Runs `step` every second until the process ends; `view` names it in
/// the log's messages.
pub(crate) fn every_second<F, Fut>(view: &'static str, mut step: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), AuditError>> + Send,
{
    tokio::spawn(async move {
        let mut every = tokio::time::interval(EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing: Option<String> = None;
        loop {
            every.tick().await;
            match step().await {
                Ok(()) if failing.take().is_some() => {
                    tracing::info!(view, "audit view up to the log again");
                }
                Ok(()) => {}
                Err(error) => {
                    let error = error.to_string();
                    if failing.as_ref() != Some(&error) {
                        tracing::warn!(view, %error, "audit view not brought up to the log; trying again every second");
                    }
                    failing = Some(error);
                }
            }
        }
    });
}
