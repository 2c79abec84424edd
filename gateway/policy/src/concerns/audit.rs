//! What the audit log may name: the `audit:` section and its resolution
//! (the audit record reads it; there is no check in `decide`).

use serde::Deserialize;

use crate::profile::{Link, nearest};

/// `audit:` what the audit log may name.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditFile {
    /// Record remote server names as pseudonyms, not in clear (for sectors
    /// where a server name identifies a person, e.g. a single practice).
    #[serde(default)]
    pub(crate) pseudonymise_servers: Option<bool>,
}

/// What the audit log may name.
#[derive(Clone, Debug, Default)]
pub struct AuditRules {
    /// Remote server names are recorded as pseudonyms.
    pub pseudonymise_servers: bool,
}

/// Resolves `audit`.
pub(crate) fn resolve(chain: &[Link]) -> AuditRules {
    AuditRules {
        pseudonymise_servers: nearest(chain, |f| f.audit.pseudonymise_servers)
            .is_some_and(|(yes, _)| yes),
    }
}
