//! Server mode: the suite drives a deployed homeserver, with or without
//! sectorgate in front, through every test of the catalog that applies, as
//! a black box over HTTP.

mod client;
mod federation;
mod fixtures;
mod judge;
mod scenarios;
mod users;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use sectorgate_policy::cases::Case;
use sectorgate_policy::profile::parse_version;
use serde_json::Value;

pub use client::{Answer, Client, Failure, http_client};
pub use judge::{Expectation, RULE_FIELD, judge};
pub use users::{Account, Credentials, UserHook};

use crate::catalog::{Catalog, Mode, Need, Source, Target, TestSpec};
use crate::report::{Exchange, Header, Report, Run, TestResult};
use crate::selection::Selection;
use crate::status::Status;
use fixtures::Fixtures;
pub(crate) use fixtures::raw;

/// How a server run is made.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// `server` or `gateway`.
    pub target: Target,
    /// The client-server API's base URL.
    pub url: String,
    /// The homeserver's own URL, to make fixtures the profile would refuse
    /// to make through the target.
    pub fixture_url: Option<String>,
    /// The federation API's base URL; without it, federation tests are
    /// skipped.
    pub federation_url: Option<String>,
    /// The target's server name (by default, the test users' server).
    pub server_name: Option<String>,
    /// The suite's peer's server name.
    pub peer_name: String,
    /// Publish the peer's key over HTTPS, so the target can verify it.
    pub peer_publish: Option<PeerPublish>,
    /// Where test users come from.
    pub users: UserHook,
    /// An extra CA to trust (PEM).
    pub ca: Option<PathBuf>,
    /// Which tests run.
    pub selection: Selection,
    /// The product's name, instead of what it reports.
    pub product: Option<String>,
    /// The product's version, instead of what it reports.
    pub product_version: Option<String>,
    /// Each request's timeout.
    pub timeout: Duration,
}

/// Where and how the peer publishes its key: the target must reach
/// `listen` under the peer's name and trust the certificate.
#[derive(Clone, Debug)]
pub struct PeerPublish {
    /// The address to listen on.
    pub listen: std::net::SocketAddr,
    /// The certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

/// What the suite learned of the product before the tests.
struct Product {
    name: String,
    version: String,
    room_versions: BTreeSet<String>,
    /// The specification versions `/versions` lists, parsed.
    spec_versions: BTreeSet<(u64, u64)>,
}

/// Everything a test needs to run.
struct Bench<'a> {
    options: &'a RunOptions,
    catalog: &'a Catalog,
    client: Client,
    federation: Option<Client>,
    /// The suite's federation peer, when federation is tested.
    peer: Option<federation::Peer>,
    accounts: Vec<Account>,
    /// Rooms for cases, made as the first account.
    fixtures: RefCell<Fixtures>,
    /// Whether fixtures are made through the target.
    fixtures_through_target: bool,
}

/// Runs the catalog's tests against a server; never fails: what goes wrong
/// in the harness is an ERROR in the report.
pub fn run(catalog: &Catalog, options: &RunOptions) -> Report {
    let started = SystemTime::now();
    let mut setup = Vec::new();
    let prepared = prepare(options, &mut setup);
    let (product, mut results) = match prepared {
        Ok(((client, federation, fixture_client, accounts, peer), product)) => {
            let token = accounts
                .first()
                .map(|a| a.token.clone())
                .unwrap_or_default();
            let bench = Bench {
                options,
                catalog,
                client,
                federation,
                peer,
                fixtures: RefCell::new(Fixtures::new(fixture_client, &token)),
                fixtures_through_target: options.fixture_url.is_none(),
                accounts,
            };
            let results = catalog
                .tests
                .iter()
                .filter(|test| selected(test, options))
                .map(|test| run_test(&bench, &product, test))
                .collect::<Vec<_>>();
            (product, results)
        }
        Err(why) => {
            let product = Product {
                name: options
                    .product
                    .clone()
                    .unwrap_or_else(|| "unknown".to_owned()),
                version: options.product_version.clone().unwrap_or_default(),
                room_versions: BTreeSet::new(),
                spec_versions: BTreeSet::new(),
            };
            let results = catalog
                .tests
                .iter()
                .filter(|test| selected(test, options))
                .map(|test| {
                    result(
                        test,
                        Status::Error,
                        vec![format!("setup failed: {why}")],
                        Vec::new(),
                    )
                })
                .collect();
            (product, results)
        }
    };
    for result in &mut results {
        result.expected_failure = options.selection.expected_failure(&result.id);
    }
    let run = Run {
        target: options.target,
        mode: Mode::Active,
        url: options.url.clone(),
        product: product.name,
        product_version: product.version,
        started,
    };
    let header = Header::new(catalog, run, options.selection.not_for_certification());
    Report::new(header, results)
}

/// The target's client, the federation client, the fixtures' client, the
/// test users and the federation peer.
type Parts = (
    Client,
    Option<Client>,
    Client,
    Vec<Account>,
    Option<federation::Peer>,
);

fn prepare(options: &RunOptions, trail: &mut Vec<Exchange>) -> Result<(Parts, Product), String> {
    let http = http_client(options.timeout, options.ca.as_deref())?;
    let client = Client::new(http.clone(), &options.url);
    let federation = options
        .federation_url
        .as_deref()
        .map(|url| Client::new(http.clone(), url));
    let fixtures = options
        .fixture_url
        .as_deref()
        .map_or_else(|| client.clone(), |url| Client::new(http.clone(), url));
    let versions = client.raw(
        trail,
        "GET",
        "/_matrix/client/versions",
        None,
        &[],
        Vec::new(),
    )?;
    let spec_versions = versions
        .body
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(parse_version)
        .collect();
    let accounts = options.users.accounts(&client, trail, 2)?;
    let capabilities = accounts
        .first()
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
    let room_versions = capabilities
        .as_ref()
        .and_then(|answer| {
            answer
                .body
                .pointer("/capabilities/m.room_versions/available")
        })
        .and_then(Value::as_object)
        .map(|available| available.keys().cloned().collect())
        .unwrap_or_default();
    let reported = federation.as_ref().and_then(|federation| {
        let answer = federation
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
    });
    let product = Product {
        name: options
            .product
            .clone()
            .or_else(|| reported.as_ref().map(|(name, _)| name.clone()))
            .unwrap_or_else(|| "unknown".to_owned()),
        version: options
            .product_version
            .clone()
            .or_else(|| reported.map(|(_, version)| version))
            .unwrap_or_default(),
        room_versions,
        spec_versions,
    };
    let peer = match &federation {
        None => None,
        Some(_) => {
            let peer = federation::Peer::new(&options.peer_name)?;
            if let Some(publish) = &options.peer_publish {
                peer.publish(publish.listen, &publish.cert, &publish.key)?;
            }
            Some(peer)
        }
    };
    Ok(((client, federation, fixtures, accounts, peer), product))
}

/// Whether a test is run: it looks at this target and is selected.
fn selected(test: &TestSpec, options: &RunOptions) -> bool {
    test.targets.contains(&options.target) && options.selection.admits(&test.id)
}

fn result(
    test: &TestSpec,
    status: Status,
    messages: Vec<String>,
    evidence: Vec<Exchange>,
) -> TestResult {
    TestResult {
        id: test.id.clone(),
        title: test.title.clone(),
        requirements: test.requirements.clone(),
        status,
        duration_ms: 0,
        messages,
        evidence,
        expected_failure: None,
    }
}

fn run_test(bench: &Bench<'_>, product: &Product, test: &TestSpec) -> TestResult {
    let target = bench.options.target;
    if !test.targets.contains(&target) || !test.modes.contains(&Mode::Active) {
        return result(
            test,
            Status::NotApplicable,
            vec![format!(
                "this test does not look at a {} in active mode",
                target.as_str()
            )],
            Vec::new(),
        );
    }
    if let Some(why) = &test.not_applicable {
        return result(test, Status::NotApplicable, vec![why.clone()], Vec::new());
    }
    for need in &test.needs {
        let missing = match need {
            Need::RoomVersion(version) => !product.room_versions.contains(version),
            Need::Federation => bench.federation.is_none(),
            Need::SpecVersion(version) => parse_version(version)
                .is_none_or(|wanted| !product.spec_versions.iter().any(|have| *have >= wanted)),
        };
        if missing {
            let why = match need {
                Need::Federation => "no federation URL was given (--federation-url)".to_owned(),
                Need::RoomVersion(version) => {
                    format!("the product does not offer room version {version} (/capabilities)")
                }
                Need::SpecVersion(version) => {
                    format!("the product does not support Matrix {version} or later (/versions)")
                }
            };
            return result(
                test,
                Status::Skip,
                vec![format!("needs {need}: {why}")],
                Vec::new(),
            );
        }
    }
    let started = Instant::now();
    let mut trail = Vec::new();
    let (status, messages) = match &test.source {
        Source::Case { case, .. } => run_case(bench, case, &mut trail),
        Source::Scenario(scenario) => scenarios::run(bench, test, scenario, &mut trail),
        Source::Client(_) => (
            Status::NotApplicable,
            vec!["a client test: run certify-client".to_owned()],
        ),
    };
    let mut done = result(test, status, messages, trail);
    done.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    done
}

/// The status of a fixture that could not be made.
fn setup_failed(failure: &Failure, through_target: bool) -> (Status, Vec<String>) {
    match failure {
        Failure::Refused(answer) if through_target => (
            Status::NotApplicable,
            vec![format!(
                "the target refused to make the room this test needs ({}); give --fixture-url \
                 to make it directly on the homeserver",
                answer.describe()
            )],
        ),
        other => (
            Status::Error,
            vec![format!("cannot make the test's room: {other}")],
        ),
    }
}

fn run_case(bench: &Bench<'_>, case: &Case, trail: &mut Vec<Exchange>) -> (Status, Vec<String>) {
    let Some(account) = bench.accounts.first() else {
        return (Status::Error, vec!["no test user".to_owned()]);
    };
    let made = bench
        .fixtures
        .borrow_mut()
        .room(trail, case.context.room.as_ref());
    let fixture = match made {
        Ok(fixture) => fixture,
        Err(failure) => return setup_failed(&failure, bench.fixtures_through_target),
    };
    let txn = txn_id().to_string();
    let path = case.path(&fixture.room, &fixture.event, &txn);
    let headers: Vec<(String, String)> = case
        .request
        .headers
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let body = case.body(&fixture.room, &fixture.event, &txn);
    let answer = match bench.client.raw(
        trail,
        &case.request.method,
        &path,
        Some(&account.token),
        &headers,
        body,
    ) {
        Ok(answer) => answer,
        Err(why) => return (Status::Error, vec![why]),
    };
    let expect = Expectation {
        refused: case.expect.verdict == "deny",
        rule: &case.expect.rule,
        status: case.expect.status,
        errcode: case.expect.errcode.as_deref(),
    };
    let (status, message) = judge(&expect, &answer, bench.options.target);
    (status, vec![message])
}

/// A fresh transaction id.
fn txn_id() -> ruma::OwnedTransactionId {
    use rand::distr::{Alphanumeric, SampleString};
    format!(
        "conformance{}",
        Alphanumeric.sample_string(&mut rand::rng(), 16)
    )
    .into()
}
