//! The federation allowlist as [`decide`](crate::decide) sees it: a
//! snapshot of which servers are part of the federation, where that came
//! from, and whether it may still be believed.
//!
//! The snapshot is built outside the policy core (from the config's static
//! list and a signed federation list) and swapped in whole; `decide` only
//! reads it.

use std::collections::BTreeSet;
use std::fmt;

use ruma::{ServerName, UserId};

/// One allowlist entry: an exact server name (`hs.example.org`,
/// `localhost:8448`) or a wildcard over subdomains (`*.example.org`, which
/// matches `a.example.org` and `a.b.example.org` on any port, but not
/// `example.org` itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerPattern {
    /// This server name, exactly (host compared without regard to case).
    Exact(String),
    /// Any host ending in `.<suffix>`, on any port.
    Subdomains(String),
}

impl ServerPattern {
    /// Reads an entry; `None` when it is neither a server name nor `*.` and one.
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(suffix) = text.strip_prefix("*.") {
            let valid = !suffix.is_empty()
                && !suffix.contains(['*', ':'])
                && <&ServerName>::try_from(suffix).is_ok();
            return valid.then(|| Self::Subdomains(suffix.to_ascii_lowercase()));
        }
        <&ServerName>::try_from(text)
            .ok()
            .map(|_| Self::Exact(text.to_ascii_lowercase()))
    }

    /// Whether `server` matches this entry.
    pub fn matches(&self, server: &ServerName) -> bool {
        match self {
            Self::Exact(name) => server.as_str().eq_ignore_ascii_case(name),
            Self::Subdomains(suffix) => {
                let host = server.host();
                host.len() > suffix.len() + 1
                    && host
                        .get(host.len() - suffix.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            }
        }
    }
}

impl fmt::Display for ServerPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(name) => f.write_str(name),
            Self::Subdomains(suffix) => write!(f, "*.{suffix}"),
        }
    }
}

/// What the allowlist says of one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The server is part of the federation.
    Member,
    /// The server is not.
    NotMember,
    /// The list is too old to be believed: no server is admitted.
    Stale,
}

/// The servers this homeserver may federate with, as one snapshot.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    patterns: Vec<ServerPattern>,
    insurers: BTreeSet<String>,
    stale: bool,
    sources: Vec<String>,
}

impl Allowlist {
    /// An allowlist of these entries, naming where they came from.
    pub fn new(patterns: Vec<ServerPattern>, source: impl Into<String>) -> Self {
        Self {
            patterns,
            sources: vec![source.into()],
            ..Self::default()
        }
    }

    /// Adds entries from another source (a signed list), with the domains
    /// it flags as belonging to insurers (gematik's `isInsurance`).
    pub fn extend(
        &mut self,
        patterns: impl IntoIterator<Item = ServerPattern>,
        insurers: impl IntoIterator<Item = String>,
        source: impl Into<String>,
    ) {
        self.patterns.extend(patterns);
        self.insurers
            .extend(insurers.into_iter().map(|d| d.to_ascii_lowercase()));
        self.sources.push(source.into());
    }

    /// Marks the snapshot stale: from now on it admits no server.
    pub fn mark_stale(&mut self) {
        self.stale = true;
    }

    /// Whether the snapshot is stale.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// Where the entries came from, for messages and `federation list`.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// The entries.
    pub fn patterns(&self) -> &[ServerPattern] {
        &self.patterns
    }

    /// What the allowlist says of `server`.
    pub fn admits(&self, server: &ServerName) -> Admission {
        if self.stale {
            Admission::Stale
        } else if self.patterns.iter().any(|p| p.matches(server)) {
            Admission::Member
        } else {
            Admission::NotMember
        }
    }

    /// Whether `server` is flagged as an insurer's.
    pub fn is_insurer(&self, server: &ServerName) -> bool {
        self.insurers
            .contains(&server.as_str().to_ascii_lowercase())
    }
}

/// What `decide` knows of federation for one request.
#[derive(Clone, Copy, Debug)]
pub struct FederationFacts<'a> {
    /// The homeserver's own server name.
    pub local: &'a ServerName,
    /// The allowlist in force.
    pub allowlist: &'a Allowlist,
    /// The requesting server, once its `X-Matrix` signature was verified;
    /// `None` for client requests and unsigned ones.
    pub origin: Option<&'a ServerName>,
}

impl FederationFacts<'_> {
    /// What the allowlist says of `server`; the local server is always a member.
    pub fn admits(&self, server: &ServerName) -> Admission {
        if server == self.local {
            Admission::Member
        } else {
            self.allowlist.admits(server)
        }
    }

    /// Whether `user` is local.
    pub fn is_local(&self, user: &UserId) -> bool {
        user.server_name() == self.local
    }
}
