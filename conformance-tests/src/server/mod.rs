//! Server mode: the suite drives a deployed homeserver, with or without
//! sectorgate in front, through every test of the catalog that applies, as
//! a black box over HTTP.

mod appservice;
mod case;
mod cast;
mod client;
mod compliant;
mod federation;
mod fixtures;
mod judge;
mod roles;
mod scenarios;
mod users;
mod verbatim;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use sectorgate_policy::profile::parse_version;
use serde_json::Value;

pub use appservice::Appservice;
pub use client::{Answer, Client, Failure, http_client};
pub use judge::{Expectation, RULE_FIELD, judge};
pub use users::{Account, Credentials, UserHook, group_prefix};

use crate::catalog::{Catalog, Mode, Need, Source, Target, TestSpec};
use crate::report::{Exchange, Header, Report, Run, TestResult};
use crate::selection::Selection;
use crate::status::Status;
pub(crate) use fixtures::raw;
use fixtures::{Fixtures, Setting};

/// How a server run is made.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// `server` or `gateway`.
    pub target: Target,
    /// The client-server API's base URL.
    pub url: String,
    /// The homeserver's own URL, to make rooms the profile does not let a
    /// client create.
    pub fixture_url: Option<String>,
    /// The federation API's base URL; without it, federation tests are
    /// skipped.
    pub federation_url: Option<String>,
    /// The target's server name (by default, the test users' server).
    pub server_name: Option<String>,
    /// The suite's peer's server name: a server outside the federation.
    pub peer_name: String,
    /// Publish the peer's key over HTTPS, so the target can verify it.
    pub peer_publish: Option<PeerPublish>,
    /// The federation the target is set up with for the run, whose servers
    /// the suite plays (federation cases need it).
    pub federated: Option<FederationSetup>,
    /// Where test users come from.
    pub users: UserHook,
    /// Application services registered on the homeserver for the run.
    pub appservices: Vec<Appservice>,
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

/// The federation the target is set up with for the run (see
/// docs/conformance.md): its allowlist names `member` and `other_member`
/// and admits `*.` the parent domain of `wildcard_member`; it does not
/// admit the suite's outsider peer (`--peer-name`).
#[derive(Clone, Debug)]
pub struct FederationSetup {
    /// The suite's member peer: it signs as this server name.
    pub member: String,
    /// Where the member peer publishes its key (with the certificate the
    /// outsider peer publishes with).
    pub member_listen: Option<std::net::SocketAddr>,
    /// Another server the allowlist names; never contacted.
    pub other_member: String,
    /// A server the allowlist admits through a wildcard; never contacted.
    pub wildcard_member: String,
    /// The client-server and federation URLs of an instance of the target
    /// whose signed federation list is stale.
    pub stale: Option<(String, String)>,
}

/// Test accounts the run makes: enough for the cases that name an inviter,
/// an invitee and a third user.
const ACCOUNTS: usize = 3;

/// What the suite learned of the product before the tests.
struct Product {
    /// Its name: given, or as it reported it; `None` when neither.
    name: Option<String>,
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
    /// The suite's federation peer (outside the federation), when
    /// federation is tested.
    peer: Option<federation::Peer>,
    /// The suite's member peer, when the run has a federation setup.
    member: Option<federation::Peer>,
    /// The stale instance's client-server and federation clients.
    stale: Option<(Client, Client)>,
    /// Accounts made for members of the profile's user groups, by group.
    group_accounts: RefCell<BTreeMap<String, Account>>,
    accounts: Vec<Account>,
    /// Rooms for cases, made as the first account.
    fixtures: RefCell<Fixtures>,
    /// The homeserver reached directly: `--fixture-url`, or the target
    /// when it is a server on its own.
    homeserver: Option<Client>,
    /// When the run started, for the profile's decisions.
    now_ms: u64,
}

impl Bench<'_> {
    /// A new account, never used before.
    fn fresh_account(&self, trail: &mut Vec<Exchange>) -> Result<Account, String> {
        self.options.users.fresh_account(&self.client, trail)
    }

    /// The run's account in the profile's user group `group`, made the
    /// first time it is needed.
    fn group_account(&self, group: &str, trail: &mut Vec<Exchange>) -> Result<Account, String> {
        if let Some(account) = self.group_accounts.borrow().get(group) {
            return Ok(account.clone());
        }
        let account = self
            .options
            .users
            .group_account(&self.client, trail, group)?;
        self.group_accounts
            .borrow_mut()
            .insert(group.to_owned(), account.clone());
        Ok(account)
    }

    /// What fixtures are planned with, for an event `event_age` old.
    fn setting<'p>(&'p self, product: &'p Product, event_age: Duration) -> Setting<'p> {
        Setting {
            profile: &self.catalog.profile,
            offered: &product.room_versions,
            now_ms: self.now_ms,
            event_age,
        }
    }
}

/// Runs the catalog's tests against a server; never fails: what goes wrong
/// in the harness is an ERROR in the report.
pub fn run(catalog: &Catalog, options: &RunOptions) -> Report {
    let started = SystemTime::now();
    let mut setup = Vec::new();
    let prepared = prepare(options, &mut setup);
    let (product, mut results) = match prepared {
        Ok((parts, product)) => {
            let Parts {
                client,
                federation,
                homeserver,
                accounts,
                peer,
                member,
                stale,
            } = parts;
            let token = accounts
                .first()
                .map(|a| a.token.clone())
                .unwrap_or_default();
            let homeserver =
                homeserver.or_else(|| (options.target == Target::Server).then(|| client.clone()));
            let bench = Bench {
                options,
                catalog,
                fixtures: RefCell::new(Fixtures::new(client.clone(), homeserver.clone(), &token)),
                homeserver,
                member,
                stale,
                group_accounts: RefCell::default(),
                client,
                federation,
                peer,
                accounts,
                now_ms: millis_since_epoch(started),
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
                name: options.product.clone(),
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
    let mut reasons = options.selection.not_for_certification();
    let name = product.name.unwrap_or_else(|| {
        reasons.push(
            "the product did not say its name (/_matrix/federation/v1/version) and none was \
             given (--product, --product-version)"
                .to_owned(),
        );
        UNNAMED.to_owned()
    });
    let run = Run {
        target: options.target,
        mode: Mode::Active,
        url: options.url.clone(),
        product: name,
        product_version: product.version,
        started,
    };
    let header = Header::new(catalog, run, reasons);
    Report::new(header, results)
}

/// The product's name in a report when it neither said it nor was given it.
pub const UNNAMED: &str = "unnamed product";

fn millis_since_epoch(at: SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// What the run reaches the product with.
struct Parts {
    /// The target's client-server API.
    client: Client,
    /// Its federation API.
    federation: Option<Client>,
    /// The homeserver's own API (`--fixture-url`).
    homeserver: Option<Client>,
    /// The test users.
    accounts: Vec<Account>,
    /// The suite's outsider peer.
    peer: Option<federation::Peer>,
    /// The suite's member peer.
    member: Option<federation::Peer>,
    /// The stale instance's client-server and federation APIs.
    stale: Option<(Client, Client)>,
}

fn prepare(options: &RunOptions, trail: &mut Vec<Exchange>) -> Result<(Parts, Product), String> {
    let http = http_client(options.timeout, options.ca.as_deref())?;
    let client = Client::new(http.clone(), &options.url).with_reach(verbatim::Reach {
        ca: options.ca.clone(),
        timeout: options.timeout,
    });
    let federation = options
        .federation_url
        .as_deref()
        .map(|url| Client::new(http.clone(), url));
    let homeserver = options
        .fixture_url
        .as_deref()
        .map(|url| Client::new(http.clone(), url));
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
    let accounts = options.users.accounts(&client, trail, ACCOUNTS, 2)?;
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
    let reported = federation
        .iter()
        .chain([&client])
        .find_map(|api| reported_product(api, trail));
    let product = Product {
        name: options
            .product
            .clone()
            .or_else(|| reported.as_ref().map(|(name, _)| name.clone())),
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
    let setup = options.federated.as_ref().filter(|_| federation.is_some());
    let member = match setup {
        None => None,
        Some(setup) => {
            let member = federation::Peer::new(&setup.member)?;
            if let (Some(listen), Some(publish)) = (setup.member_listen, &options.peer_publish) {
                member.publish(listen, &publish.cert, &publish.key)?;
            }
            Some(member)
        }
    };
    let stale = setup
        .and_then(|setup| setup.stale.as_ref())
        .map(|(url, federation)| {
            (
                Client::new(http.clone(), url),
                Client::new(http.clone(), federation),
            )
        });
    let parts = Parts {
        client,
        federation,
        homeserver,
        accounts,
        peer,
        member,
        stale,
    };
    Ok((parts, product))
}

/// The name and version the product reports on the federation API's
/// `/version`, asked through `api`.
fn reported_product(api: &Client, trail: &mut Vec<Exchange>) -> Option<(String, String)> {
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
    if let Some(why) = &test.not_exercised {
        return result(test, Status::NotExercised, vec![why.clone()], Vec::new());
    }
    for need in &test.needs {
        let missing = match need {
            Need::RoomVersion(version) => !product.room_versions.contains(version),
            Need::Federation => bench.federation.is_none(),
            Need::FederatedPeers => bench.member.is_none(),
            Need::Appservice => bench.options.appservices.is_empty(),
            Need::SpecVersion(version) => parse_version(version)
                .is_none_or(|wanted| !product.spec_versions.iter().any(|have| *have >= wanted)),
        };
        if missing {
            let why = match need {
                Need::Federation => {
                    "the run was given no federation URL (--federation-url)".to_owned()
                }
                Need::FederatedPeers => "the run was given no federation the target is set \
                    up with (--federation-url, --member-peer, --other-member, \
                    --wildcard-member; see docs/conformance.md)"
                    .to_owned(),
                Need::Appservice => "the run was given no application service registered \
                    on the homeserver (--appservice)"
                    .to_owned(),
                Need::RoomVersion(version) => {
                    format!("the product does not offer room version {version} (/capabilities)")
                }
                Need::SpecVersion(version) => {
                    format!("the product does not support Matrix {version} or later (/versions)")
                }
            };
            return result(
                test,
                Status::NotExercised,
                vec![format!("needs {need}: {why}")],
                Vec::new(),
            );
        }
    }
    let started = Instant::now();
    let mut trail = Vec::new();
    let (status, messages) = match &test.source {
        Source::Case { case, .. } => case::run(bench, product, case, &mut trail),
        Source::Scenario(scenario) => scenarios::run(bench, product, test, scenario, &mut trail),
        Source::Client(_) => (
            Status::NotApplicable,
            vec!["a client test: run certify-client".to_owned()],
        ),
    };
    let mut done = result(test, status, messages, trail);
    done.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    done
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
