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
mod homeserver;
mod judge;
mod product;
mod roles;
mod scenarios;
mod setup;
mod test_run;
mod users;
mod verbatim;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub use appservice::Appservice;
pub use client::{Answer, Client, Failure, http_client};
pub use judge::{Expectation, RULE_FIELD, judge};
pub use users::{Account, Credentials, UserHook, group_prefix};

use crate::catalog::{Catalog, Mode, Target, TestSpec};
use crate::report::{Exchange, Header, Report, Run, TestResult};
use crate::selection::Selection;
use crate::status::Status;
pub(crate) use fixtures::raw;
use fixtures::{Fixtures, Setting};
use product::Product;
use setup::Parts;

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

impl<'a> Bench<'a> {
    /// The bench for a run of `catalog` as `options` say, with what it
    /// reaches the product with; `now_ms` is when it started.
    fn new(catalog: &'a Catalog, options: &'a RunOptions, parts: Parts, now_ms: u64) -> Self {
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
        Bench {
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
            now_ms,
        }
    }

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
    let mut trail = Vec::new();
    let (product, mut results) = match setup::prepare(options, &mut trail) {
        Ok((parts, product)) => {
            let bench = Bench::new(catalog, options, parts, millis_since_epoch(started));
            let results = run_selected(&bench, &product);
            (product, results)
        }
        Err(why) => (
            Product::unreached(options),
            setup_failed(catalog, options, &why),
        ),
    };
    for result in &mut results {
        result.expected_failure = options.selection.expected_failure(&result.id);
    }
    let header = header(catalog, options, product, started);
    Report::new(header, results)
}

/// The results of the tests the run selected, run one after the other.
fn run_selected(bench: &Bench<'_>, product: &Product) -> Vec<TestResult> {
    bench
        .catalog
        .tests
        .iter()
        .filter(|test| selected(test, bench.options))
        .map(|test| test_run::run_test(bench, product, test))
        .collect()
}

/// Every selected test an ERROR, when the run could not be set up.
fn setup_failed(catalog: &Catalog, options: &RunOptions, why: &str) -> Vec<TestResult> {
    catalog
        .tests
        .iter()
        .filter(|test| selected(test, options))
        .map(|test| {
            TestResult::of(
                test,
                Status::Error,
                vec![format!("setup failed: {why}")],
                Vec::new(),
            )
        })
        .collect()
}

/// The report's header: the run, the product as named, and why the run
/// cannot certify (an unnamed product among the reasons).
fn header(
    catalog: &Catalog,
    options: &RunOptions,
    product: Product,
    started: SystemTime,
) -> Header {
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
    Header::new(catalog, run, reasons)
}

/// The product's name in a report when it neither said it nor was given it.
pub const UNNAMED: &str = "unnamed product";

fn millis_since_epoch(at: SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Whether a test is run: it looks at this target and is selected.
fn selected(test: &TestSpec, options: &RunOptions) -> bool {
    test.targets.contains(&options.target) && options.selection.admits(&test.id)
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
