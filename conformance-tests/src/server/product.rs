//! What the suite learns of the product before the tests: the
//! specification versions it supports (`/versions`), the room versions it
//! offers (`/capabilities`), and the name and version it reports
//! (`/_matrix/federation/v1/version`), unless the run was given them; and
//! which homeserver it runs, as it says itself (that name, else its
//! `Server` header), to name the settings to change on it.

use std::collections::BTreeSet;

use sectorgate_policy::profile::parse_version;
use serde_json::Value;

use super::users::Account;
use super::{Client, RunOptions};
use crate::report::Exchange;

/// What the suite learned of the product before the tests.
pub(super) struct Product {
    /// Its name: given, or as it reported it; `None` when neither.
    pub(super) name: Option<String>,
    pub(super) version: String,
    pub(super) room_versions: BTreeSet<String>,
    /// The specification versions `/versions` lists, parsed.
    pub(super) spec_versions: BTreeSet<(u64, u64)>,
    /// The homeserver software, as the target names it
    /// (`/_matrix/federation/v1/version`, else its `Server` header),
    /// whatever the run calls the product.
    pub(super) homeserver: Option<String>,
}

impl Product {
    /// The product as the run names it, with what it said of itself
    /// (`reported`, its name and version) where the run names nothing.
    pub(super) fn new(
        options: &RunOptions,
        reported: Option<(String, String)>,
        room_versions: BTreeSet<String>,
        spec_versions: BTreeSet<(u64, u64)>,
    ) -> Self {
        let (reported_name, reported_version) = reported.unzip();
        Self {
            homeserver: reported_name.clone(),
            name: options.product.clone().or(reported_name),
            version: options
                .product_version
                .clone()
                .or(reported_version)
                .unwrap_or_default(),
            room_versions,
            spec_versions,
        }
    }

    /// The product as the run names it, when it could not be reached.
    pub(super) fn unreached(options: &RunOptions) -> Self {
        Self {
            name: options.product.clone(),
            version: options.product_version.clone().unwrap_or_default(),
            room_versions: BTreeSet::new(),
            spec_versions: BTreeSet::new(),
            homeserver: None,
        }
    }
}

/// The software the target's `Server` header names on `/versions` (its
/// first product token, `Synapse` of `Synapse/1.163.2`).
pub(super) fn server_software(client: &Client, trail: &mut Vec<Exchange>) -> Option<String> {
    let url = format!("{}/_matrix/client/versions", client.base);
    let (_, headers, _) = client
        .exchange_headed(trail, "GET", &url, &http::HeaderMap::new(), Vec::new())
        .ok()?;
    let server = headers.get(http::header::SERVER)?.to_str().ok()?;
    server
        .split(['/', ' '])
        .next()
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
}

/// The specification versions the product lists on `/versions`, parsed;
/// `Err` when it does not answer.
pub(super) fn spec_versions(
    client: &Client,
    trail: &mut Vec<Exchange>,
) -> Result<BTreeSet<(u64, u64)>, String> {
    let versions = client.raw(
        trail,
        "GET",
        "/_matrix/client/versions",
        None,
        &[],
        Vec::new(),
    )?;
    Ok(versions
        .body
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(parse_version)
        .collect())
}

/// The room versions the product offers `account` on `/capabilities`
/// (none without an account); `Err` when it does not answer.
pub(super) fn room_versions(
    client: &Client,
    account: Option<&Account>,
    trail: &mut Vec<Exchange>,
) -> Result<BTreeSet<String>, String> {
    let capabilities = account
        .map(|account| {
            client.raw(
                trail,
                "GET",
                "/_matrix/client/v3/capabilities",
                Some(&account.token),
                &[],
                Vec::new(),
            )
        })
        .transpose()?;
    Ok(capabilities
        .as_ref()
        .and_then(|answer| {
            answer
                .body
                .pointer("/capabilities/m.room_versions/available")
        })
        .and_then(Value::as_object)
        .map(|available| available.keys().cloned().collect())
        .unwrap_or_default())
}

/// The name and version the product reports on the federation API's
/// `/version`, asked through `api`.
pub(super) fn reported_product(
    api: &Client,
    trail: &mut Vec<Exchange>,
) -> Option<(String, String)> {
    let answer = api
        .raw(
            trail,
            "GET",
            "/_matrix/federation/v1/version",
            None,
            &[],
            Vec::new(),
        )
        .ok()?;
    let name = answer.body.pointer("/server/name")?.as_str()?.to_owned();
    let version = answer
        .body
        .pointer("/server/version")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some((name, version))
}
