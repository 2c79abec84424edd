//! Reports: one folder per run, holding `results.json` (the record),
//! `junit.xml` (for CI systems), `index.html` (for people) and
//! `manifest.json` (the SHA-256 of each, optionally signed), so the folder
//! can be handed over as one bundle and checked with `verify-report`.

mod exchange;
mod html;
mod junit;
pub mod manifest;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

pub use exchange::{Exchange, REDACTED, redact};

use crate::catalog::{Catalog, Mode, Target};
use crate::status::Status;
use crate::verdict::{Outcome, Verdict, requirement_status};

/// The version of the `results.json` format.
pub const FORMAT: u32 = 2;

/// What a run was, against what.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    /// The `results.json` format version.
    pub format: u32,
    /// The suite's version.
    pub suite_version: String,
    /// The commit the suite was built from (`unknown` outside a checkout).
    pub suite_commit: String,
    /// The profile's id.
    pub profile: String,
    /// The profile's own version.
    pub profile_version: String,
    /// SHA-256 over the files of the profile and those it extends.
    pub profile_hash: String,
    /// The product under test.
    pub product: String,
    /// Its version, as it reported it or as given.
    pub product_version: String,
    /// `server`, `gateway` or `client`.
    pub target: String,
    /// `active` or `passive`.
    pub mode: String,
    /// Where the product was reached.
    pub url: String,
    /// When the run started (RFC 3339).
    pub started: String,
    /// When it ended (RFC 3339).
    pub finished: String,
    /// Whether the report certifies the product: the run was whole (no
    /// expected-failure list, no filter) and its verdict is PASS.
    pub certification: bool,
    /// Why it may not, when it may not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_for_certification: Vec<String>,
}

/// What a run was, for its header.
#[derive(Clone, Debug)]
pub struct Run {
    /// What was under test.
    pub target: Target,
    /// How it ran.
    pub mode: Mode,
    /// Where the product was reached (or the capture read).
    pub url: String,
    /// The product.
    pub product: String,
    /// Its version.
    pub product_version: String,
    /// When the run started.
    pub started: SystemTime,
}

impl Header {
    /// The header of a run of `catalog`'s tests, ending now; `reasons` say
    /// why it is not for certification (none: it is).
    pub fn new(catalog: &Catalog, run: Run, reasons: Vec<String>) -> Self {
        Self {
            format: FORMAT,
            suite_version: crate::SUITE_VERSION.to_owned(),
            suite_commit: crate::SUITE_COMMIT.to_owned(),
            profile: catalog.profile.id.clone(),
            profile_version: catalog.profile.version.clone(),
            profile_hash: catalog.profile_hash.clone(),
            product: run.product,
            product_version: run.product_version,
            target: run.target.as_str().to_owned(),
            mode: run.mode.as_str().to_owned(),
            url: run.url,
            started: humantime::format_rfc3339_seconds(run.started).to_string(),
            finished: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            certification: reasons.is_empty(),
            not_for_certification: reasons,
        }
    }
}

/// One test's outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TestResult {
    /// The test's stable id.
    pub id: String,
    /// What it shows.
    pub title: String,
    /// The requirements it covers.
    pub requirements: Vec<String>,
    /// Its outcome.
    pub status: Status,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// What the suite concluded and why.
    pub messages: Vec<String>,
    /// The exchanges it rests on, in order.
    pub evidence: Vec<Exchange>,
    /// The reason given in the expected-failure list, when the test is on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_failure: Option<String>,
    /// What to change on the homeserver, when a homeserver setting's probe
    /// failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Remedy>,
}

/// The change that makes a homeserver meet a setting the profile depends
/// on (`homeserver_settings` in `profile.yaml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remedy {
    /// The setting's id in the profile.
    pub setting: String,
    /// The homeserver software the change is written for (`Synapse`), as
    /// the target named itself; absent when the change is in words, for
    /// any homeserver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homeserver: Option<String>,
    /// The setting to change (`enable_authenticated_media: false`), or the
    /// change in words.
    pub change: String,
}

impl Remedy {
    /// `on Synapse: set …` or `on the homeserver: …`, for messages.
    pub fn describe(&self) -> String {
        match &self.homeserver {
            Some(homeserver) => format!("on {homeserver}, set `{}`", self.change),
            None => format!("on the homeserver, {}", self.change),
        }
    }
}

impl TestResult {
    /// `test`'s result, untimed and not on the expected-failure list.
    pub fn of(
        test: &crate::catalog::TestSpec,
        status: Status,
        messages: Vec<String>,
        evidence: Vec<Exchange>,
    ) -> Self {
        Self {
            id: test.id.clone(),
            title: test.title.clone(),
            requirements: test.requirements.clone(),
            status,
            duration_ms: 0,
            messages,
            evidence,
            expected_failure: None,
            remedy: None,
        }
    }
}

/// A run's whole record: `results.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// The run.
    pub header: Header,
    /// What the run concludes, requirement by requirement.
    pub verdict: Verdict,
    /// How many tests ended in each status.
    pub summary: BTreeMap<Status, usize>,
    /// Every test, in catalog order.
    pub results: Vec<TestResult>,
}

impl Report {
    /// A report of these results; it certifies only when its verdict is
    /// PASS.
    pub fn new(mut header: Header, results: Vec<TestResult>) -> Self {
        let mut summary: BTreeMap<Status, usize> =
            Status::ALL.iter().map(|status| (*status, 0)).collect();
        for result in &results {
            *summary.entry(result.status).or_default() += 1;
        }
        let verdict = Verdict::of(&results);
        if verdict.outcome != Outcome::Pass {
            header.certification = false;
            header.not_for_certification.insert(0, verdict.line());
        }
        Self {
            header,
            verdict,
            summary,
            results,
        }
    }

    /// One line per test: `STATUS id: messages`.
    pub fn outline(&self) -> String {
        self.results
            .iter()
            .map(|result| {
                format!(
                    "{} {}: {}\n",
                    result.status,
                    result.id,
                    result.messages.join("; ")
                )
            })
            .collect()
    }

    /// Whether the run's verdict is PASS.
    pub fn passed(&self) -> bool {
        self.verdict.outcome == Outcome::Pass
    }

    /// The result of the test `id`.
    pub fn result(&self, id: &str) -> Option<&TestResult> {
        self.results.iter().find(|result| result.id == id)
    }

    /// Each requirement, with the statuses of the tests that cover it.
    pub fn by_requirement(&self) -> BTreeMap<&str, Vec<&TestResult>> {
        let mut map: BTreeMap<&str, Vec<&TestResult>> = BTreeMap::new();
        for result in &self.results {
            for requirement in &result.requirements {
                map.entry(requirement.as_str()).or_default().push(result);
            }
        }
        map
    }

    /// Writes the report folder: `results.json`, `junit.xml`, `index.html`,
    /// then `manifest.json` over them, signed when a key is given.
    pub fn write(
        &self,
        dir: &Path,
        key: Option<&ed25519_dalek::SigningKey>,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("results.json"), json)?;
        std::fs::write(dir.join("junit.xml"), junit::render(self))?;
        std::fs::write(dir.join("index.html"), html::render(self))?;
        manifest::write(dir, &self.header.suite_version, key)
    }
}

/// The status of each requirement over the tests that cover it (see
/// [`requirement_status`]).
pub fn by_requirement_status(report: &Report) -> BTreeMap<&str, Status> {
    report
        .by_requirement()
        .into_iter()
        .map(|(requirement, results)| (requirement, requirement_status(&results)))
        .collect()
}
