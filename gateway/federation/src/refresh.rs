//! The task that keeps the signed federation list fresh: it fetches the
//! list every `refresh` interval, and soon after an unknown server shows up
//! (at most once a minute), and recomputes the allowlist every few seconds
//! so that a list past its maximum age closes federation on time. While the
//! list is stale, an alarm is logged at every check.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::Federation;

/// How often staleness is checked.
const CHECK: Duration = Duration::from_secs(1);
/// The shortest time between two refreshes asked for by unknown servers.
const ON_DEMAND_SPACING: Duration = Duration::from_secs(60);

/// Starts the refresher, if a signed list is configured.
pub fn spawn_refresher(federation: Arc<Federation>) {
    let Some(signed) = federation.signed.as_ref() else {
        return;
    };
    let every = signed.config().refresh;
    tokio::spawn(async move {
        let mut last_fetch: Option<Instant> = None;
        let mut last_on_demand: Option<Instant> = None;
        loop {
            let due = last_fetch.is_none_or(|at| at.elapsed() >= every);
            let asked = tokio::select! {
                () = federation.wanted.notified() => true,
                () = tokio::time::sleep(CHECK) => false,
            };
            let on_demand =
                asked && last_on_demand.is_none_or(|at| at.elapsed() >= ON_DEMAND_SPACING);
            if due || on_demand {
                if on_demand {
                    last_on_demand = Some(Instant::now());
                }
                last_fetch = Some(Instant::now());
                if let Some(signed) = &federation.signed {
                    let _ = signed.refresh(&federation.client, SystemTime::now()).await;
                }
            }
            let now = SystemTime::now();
            federation.recompose(now);
            if let Some(signed) = &federation.signed
                && signed.is_stale(now)
            {
                let status = signed.status(now);
                tracing::error!(
                    alarm = "federation.list_stale",
                    version = ?status.version,
                    age_secs = ?status.age_secs,
                    max_age_secs = status.max_age_secs,
                    last_error = ?status.last_error,
                    "ALARM: the federation list is missing or too old; all federation is refused"
                );
            }
        }
    });
}
