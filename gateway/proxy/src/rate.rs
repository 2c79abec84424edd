//! Rate limits per client address and per verified federation origin
//! (GCRA, from `governor`). A request over its limit is refused with 429
//! `M_LIMIT_EXCEEDED` and the wait in `retry_after_ms`.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

/// A limiter with one bucket per key, in a locked map.
type Keyed<K> = RateLimiter<K, HashMapStateStore<K>, DefaultClock>;

/// A sustained rate with a burst allowance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_second: NonZeroU32,
    /// Requests allowed at once before the sustained rate applies.
    pub burst: NonZeroU32,
}

/// The configured limits; `None` is no limit.
#[derive(Clone, Copy, Debug, Default)]
pub struct RateLimits {
    /// Per client address (the one `X-Forwarded-For` names when the peer is
    /// a trusted proxy).
    pub client: Option<Rate>,
    /// Per origin server, once its signature verified.
    pub federation: Option<Rate>,
}

/// The limiters, one bucket per key.
#[derive(Debug)]
pub(crate) struct Limiters {
    clients: Option<Keyed<IpAddr>>,
    origins: Option<Keyed<String>>,
}

fn limiter<K: Hash + Eq + Clone>(rate: Option<Rate>) -> Option<Keyed<K>> {
    rate.map(|rate| {
        RateLimiter::hashmap(Quota::per_second(rate.per_second).allow_burst(rate.burst))
    })
}

fn check<K: Hash + Eq + Clone>(limiter: Option<&Keyed<K>>, key: &K) -> Result<(), Duration> {
    match limiter.map(|limiter| limiter.check_key(key)) {
        Some(Err(not_until)) => Err(not_until.wait_time_from(DefaultClock::default().now())),
        _ => Ok(()),
    }
}

impl Limiters {
    pub(crate) fn new(limits: RateLimits) -> Self {
        Self {
            clients: limiter(limits.client),
            origins: limiter(limits.federation),
        }
    }

    /// Counts a request from client address `addr`; `Err` is the wait.
    pub(crate) fn client(&self, addr: IpAddr) -> Result<(), Duration> {
        check(self.clients.as_ref(), &addr)
    }

    /// Counts a request from origin server `origin`; `Err` is the wait.
    pub(crate) fn origin(&self, origin: &str) -> Result<(), Duration> {
        check(self.origins.as_ref(), &origin.to_owned())
    }

    /// Forgets the keys whose buckets are full again, so that memory
    /// follows the keys seen lately, not all keys ever seen.
    pub(crate) fn forget_idle(&self) {
        if let Some(clients) = &self.clients {
            clients.retain_recent();
            clients.shrink_to_fit();
        }
        if let Some(origins) = &self.origins {
            origins.retain_recent();
            origins.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: u32, burst: u32) -> Option<Rate> {
        Some(Rate {
            per_second: NonZeroU32::new(per_second).expect("non-zero"),
            burst: NonZeroU32::new(burst).expect("non-zero"),
        })
    }

    #[test]
    fn each_key_has_its_own_bucket() {
        let limiters = Limiters::new(RateLimits {
            client: rate(1, 3),
            federation: rate(1, 1),
        });
        let (a, b): (IpAddr, IpAddr) = (
            "10.0.0.1".parse().expect("a"),
            "10.0.0.2".parse().expect("b"),
        );
        for _ in 0..3 {
            assert_eq!(limiters.client(a), Ok(()));
        }
        let wait = limiters.client(a).expect_err("over the burst");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(limiters.client(b), Ok(()), "another address is not limited");
        assert_eq!(limiters.origin("hs2.test"), Ok(()));
        assert!(limiters.origin("hs2.test").is_err());
        assert_eq!(limiters.origin("hs3.test"), Ok(()));
        limiters.forget_idle();
    }

    #[test]
    fn no_limit_configured_is_no_limit() {
        let limiters = Limiters::new(RateLimits::default());
        for _ in 0..10_000 {
            assert_eq!(limiters.client("10.0.0.1".parse().expect("ip")), Ok(()));
        }
    }
}
