//! `[shutdown]`: how the gateway stops on SIGTERM or SIGINT. `/ready` turns
//! 503 at once, so that load balancers stop sending; the listeners keep
//! accepting for `grace` while they notice, then stop accepting; requests
//! in flight get `drain` to finish; then the audit log writes what waits
//! and a final checkpoint, and releases its origin.

use std::time::Duration;

use serde::Deserialize;

/// `[shutdown]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Shutdown {
    /// How long the listeners keep accepting after the signal, with
    /// `/ready` answering 503.
    #[serde(with = "humantime_serde")]
    pub(crate) grace: Duration,
    /// How long requests in flight get to finish once accepting stopped.
    #[serde(with = "humantime_serde")]
    pub(crate) drain: Duration,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(5),
            drain: Duration::from_secs(30),
        }
    }
}
