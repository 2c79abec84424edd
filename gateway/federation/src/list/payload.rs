//! The payload of gematik's federation list:
//! `{"version": N, "domainList": [{"domain", "telematikID", "isInsurance",
//! "ik" | "iks", "timAnbieter"?, …}]}`. Unknown fields are tolerated, as
//! the format has grown field by field.

use serde::{Deserialize, Serialize};

use crate::PayloadError;

/// One federation list.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Payload {
    /// The list's version; a list never replaces a newer one.
    pub version: u64,
    /// The servers of the federation.
    #[serde(rename = "domainList")]
    pub domains: Vec<DomainEntry>,
}

/// One server of the federation.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct DomainEntry {
    /// The server name.
    pub domain: String,
    /// The organisation's telematik id.
    #[serde(rename = "telematikID", default)]
    pub telematik_id: Option<String>,
    /// Whether the server belongs to a health insurer.
    #[serde(rename = "isInsurance", default)]
    pub is_insurance: bool,
    /// The insurer's institution codes (`ik`, earlier `iks`).
    #[serde(default, alias = "iks")]
    pub ik: Vec<String>,
    /// The provider's group (`timAnbieter`), when given.
    #[serde(rename = "timAnbieter", default)]
    pub provider: Option<String>,
}

impl Payload {
    /// Parses a payload.
    pub fn parse(bytes: &[u8]) -> Result<Self, PayloadError> {
        serde_json::from_slice(bytes).map_err(PayloadError)
    }
}
