//! Open connections per client address, bounded, so that one address cannot
//! hold every connection the gateway can keep. Trusted proxies are exempt:
//! many clients share their address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use ipnet::IpNet;

/// The count of open connections per address.
#[derive(Debug)]
pub(crate) struct PerAddress {
    limit: usize,
    exempt: Vec<IpNet>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; dropping it closes its count.
#[derive(Debug)]
pub(crate) struct Admitted {
    counts: Arc<PerAddress>,
    addr: Option<IpAddr>,
}

impl PerAddress {
    /// At most `limit` connections per address, none for `exempt` ones.
    pub(crate) fn new(limit: usize, exempt: Vec<IpNet>) -> Arc<Self> {
        Arc::new(Self {
            limit,
            exempt,
            open: Mutex::default(),
        })
    }

    /// Admits a connection from `addr`, or `None` if it has its limit's
    /// worth open already.
    pub(crate) fn admit(self: &Arc<Self>, addr: IpAddr) -> Option<Admitted> {
        if self.exempt.iter().any(|net| net.contains(&addr)) {
            return Some(Admitted {
                counts: Arc::clone(self),
                addr: None,
            });
        }
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(addr).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Admitted {
            counts: Arc::clone(self),
            addr: Some(addr),
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let Some(addr) = self.addr else { return };
        let mut open = self
            .counts
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&addr) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_limit_and_gets_them_back() {
        let counts = PerAddress::new(2, vec!["10.9.0.0/16".parse().expect("net")]);
        let a: IpAddr = "10.0.0.1".parse().expect("a");
        let first = counts.admit(a).expect("first");
        let _second = counts.admit(a).expect("second");
        assert!(counts.admit(a).is_none(), "a third connection");
        assert!(counts.admit("10.0.0.2".parse().expect("b")).is_some());
        drop(first);
        assert!(
            counts.admit(a).is_some(),
            "a closed connection frees its place"
        );
        let proxy: IpAddr = "10.9.0.1".parse().expect("proxy");
        let held: Vec<_> = (0..10).filter_map(|_| counts.admit(proxy)).collect();
        assert_eq!(held.len(), 10, "a trusted proxy is exempt");
    }
}
