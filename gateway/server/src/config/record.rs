//! `[record]`: the capture of one test user's exchanges, for client
//! certification.

use std::path::PathBuf;

use serde::Deserialize;

/// `[record]`: one test user's client-server exchanges, written to a JSONL
/// capture (credentials redacted) for `sectorgate-conformance
/// certify-client`. For certification runs only: the capture holds what the
/// user sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordConfig {
    /// The test user, e.g. `@vendor-test:hs.example`.
    pub(crate) user: ruma::OwnedUserId,
    /// The capture file (appended to; created readable by its owner only).
    pub(crate) file: PathBuf,
}
