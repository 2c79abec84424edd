//! `[limits]` and `[rate_limits]`: the bounds on each request and
//! connection, and the request rates per client address and federation
//! origin. The limits are the pipeline's own type ([`Limits`]).

use std::num::NonZeroU32;

use sectorgate_proxy::Limits;
use serde::Deserialize;

use super::ConfigError;

/// The limits are in range.
pub(super) fn check(limits: &Limits) -> Result<(), ConfigError> {
    if !(1..=100).contains(&limits.max_json_depth) {
        return Err(ConfigError::Invalid(
            "limits.max_json_depth must be 1 to 100".to_owned(),
        ));
    }
    if limits.max_header_bytes < 8192 {
        return Err(ConfigError::Invalid(
            "limits.max_header_bytes must be at least 8192".to_owned(),
        ));
    }
    Ok(())
}

/// `[rate_limits]`: none unless configured.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RateLimits {
    /// Per client address.
    pub(crate) client: Option<RateConfig>,
    /// Per verified federation origin.
    pub(crate) federation: Option<RateConfig>,
}

/// One rate: `{ per_second = N, burst = M }` (burst defaults to N).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateConfig {
    per_second: NonZeroU32,
    burst: Option<NonZeroU32>,
}

impl RateLimits {
    /// The limits as the pipeline takes them.
    pub(crate) fn to_proxy(&self) -> sectorgate_proxy::RateLimits {
        let rate = |config: &RateConfig| sectorgate_proxy::Rate {
            per_second: config.per_second,
            burst: config.burst.unwrap_or(config.per_second),
        };
        sectorgate_proxy::RateLimits {
            client: self.client.as_ref().map(rate),
            federation: self.federation.as_ref().map(rate),
        }
    }
}
