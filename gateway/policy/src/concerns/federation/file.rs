//! `federation:` as written in `profile.yaml`.

use serde::Deserialize;

/// `federation:` how strictly server-server traffic is taken.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FederationFile {
    /// `strict`: a transaction with any refused item is refused whole (403);
    /// `lenient` (the default): answered 200 with an error per refused PDU.
    #[serde(default)]
    pub(crate) transactions: Option<TransactionMode>,
    /// Whether the allowlist may come from a signed federation list, or only
    /// from the config's static list.
    #[serde(default)]
    pub(crate) signed_lists: Option<bool>,
}

/// How a transaction with refused items is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransactionMode {
    /// 200, with an error for each refused PDU; nothing is forwarded.
    #[default]
    Lenient,
    /// 403 for the whole transaction.
    Strict,
}
