//! Server mode: the suite drives a deployed homeserver, with or without
//! sectorgate in front, through every test of the catalog that applies, as
//! a black box over HTTP.

mod appservice;
mod cast;
mod client;
mod compliant;
mod federation;
mod fixtures;
mod judge;
mod scenarios;
mod users;
mod verbatim;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use sectorgate_policy::cases::{self, Case};
use sectorgate_policy::profile::parse_version;
use sectorgate_policy::rules;
use serde_json::Value;

pub use appservice::Appservice;
pub use client::{Answer, Client, Failure, http_client};
pub use judge::{Expectation, RULE_FIELD, judge};
pub use users::{Account, Credentials, UserHook};

use crate::catalog::{Catalog, Mode, Need, Scenario, Source, Target, TestSpec};
use crate::report::{Exchange, Header, Report, Run, TestResult};
use crate::selection::Selection;
use crate::status::Status;
use cast::Cast;
pub(crate) use fixtures::raw;
use fixtures::{Fixtures, Setting, Unmade};

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
    /// The suite's peer's server name.
    pub peer_name: String,
    /// Publish the peer's key over HTTPS, so the target can verify it.
    pub peer_publish: Option<PeerPublish>,
    /// Where test users come from.
    pub users: UserHook,
    /// An application service registered on the homeserver for the run.
    pub appservice: Option<Appservice>,
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
    /// The suite's federation peer, when federation is tested.
    peer: Option<federation::Peer>,
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
        Ok(((client, federation, homeserver, accounts, peer), product)) => {
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

/// The target's client, the federation client, the homeserver's own client
/// (for rooms the profile does not let a client create), the test users and
/// the federation peer.
type Parts = (
    Client,
    Option<Client>,
    Option<Client>,
    Vec<Account>,
    Option<federation::Peer>,
);

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
    Ok(((client, federation, homeserver, accounts, peer), product))
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
            Need::FederatedPeers => true,
            Need::Appservice => bench.options.appservice.is_none(),
            Need::SpecVersion(version) => parse_version(version)
                .is_none_or(|wanted| !product.spec_versions.iter().any(|have| *have >= wanted)),
        };
        if missing {
            let why = match need {
                Need::Federation => {
                    "the run was given no federation URL (--federation-url)".to_owned()
                }
                Need::FederatedPeers => "the suite does not yet act as the servers of a \
                    federation the target is set up with"
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
        Source::Case { case, .. } => run_case(bench, product, case, &mut trail),
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

/// The status of a fixture that could not be made.
fn unmade(unmade: Unmade) -> (Status, Vec<String>) {
    match unmade {
        Unmade::NotHere(why) => (Status::NotExercised, vec![why]),
        Unmade::Failed(why) => (Status::Error, vec![why]),
    }
}

fn run_case(
    bench: &Bench<'_>,
    product: &Product,
    case: &Case,
    trail: &mut Vec<Exchange>,
) -> (Status, Vec<String>) {
    let Some(account) = bench.accounts.first() else {
        return (Status::Error, vec!["no test user".to_owned()]);
    };
    let server = account.server_name();
    let profile = &bench.catalog.profile;
    let appservice = bench.options.appservice.as_ref();
    let bridge = appservice.map(|appservice| (appservice.id.clone(), appservice.user(server)));
    let cast = match Cast::of(case, &bench.accounts, bridge) {
        Ok(cast) => cast,
        Err(why) => return (Status::NotExercised, vec![why]),
    };
    let case = &match cast.holds(case, profile, bench.now_ms) {
        Ok(renamed) => renamed,
        Err(why) => return (Status::NotExercised, vec![why]),
    };
    let dated = match dated_event(bench, case) {
        Ok(dated) => dated,
        Err(why) => return (Status::NotExercised, vec![why]),
    };
    if invites(case)
        && let Err(why) = settle_invite_settings(bench, &cast, case, trail)
    {
        return (Status::Error, vec![why]);
    }
    let fixture = if case.needs_room() {
        let setting = bench.setting(product, dated.unwrap_or(Duration::ZERO));
        let made = bench.fixtures.borrow_mut().for_case(trail, case, &setting);
        match made {
            Ok(fixture) => Some(fixture),
            Err(why) => return unmade(why),
        }
    } else {
        None
    };
    let (room, mut event) = fixture.as_ref().map_or(
        (cases::PLACEHOLDER_ROOM, cases::PLACEHOLDER_EVENT.to_owned()),
        |fixture| (fixture.room.as_str(), fixture.event.clone()),
    );
    if let Some(appservice) = appservice.filter(|_| cast.appservice.is_some() || dated.is_some()) {
        match appservice_in_room(bench, appservice, room, dated, trail) {
            Ok(Some(dated_event)) => event = dated_event,
            Ok(None) => {}
            Err(why) => return (Status::Error, vec![why]),
        }
    }
    let event = event.as_str();
    let token = match (&cast.appservice, appservice) {
        (Some(_), Some(appservice)) => appservice.as_token.as_str(),
        _ => account.token.as_str(),
    };
    let txn = txn_id().to_string();
    let path = case.path(room, event, &txn);
    let headers: Vec<(String, String)> = case
        .request
        .headers
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let body = case.body(room, event, &txn);
    let answer = match bench.client.raw(
        trail,
        &case.request.method,
        &path,
        Some(token),
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
        passed_on: case.expect.rule == rules::HOMESERVER_PATH.as_str(),
    };
    let (status, message) = judge(&expect, &answer, bench.options.target);
    (status, vec![message])
}

/// How old the event `case` acts on must be, when a new one would not do:
/// the run's application service sends it dated, on the homeserver.
fn dated_event(bench: &Bench<'_>, case: &Case) -> Result<Option<Duration>, String> {
    let Some(age) = case.context.event_age else {
        return Ok(None);
    };
    let room = case.context.room.clone().unwrap_or_default();
    let profile = &bench.catalog.profile;
    if compliant::holds_in(case, &room, Duration::ZERO, profile, bench.now_ms) {
        return Ok(None);
    }
    if bench.options.appservice.is_none() || bench.homeserver.is_none() {
        return Err(format!(
            "the case needs an event {} old: the suite sends one dated through an application \
             service registered on the homeserver (--appservice), on the homeserver itself \
             (--fixture-url)",
            humantime::format_duration(age)
        ));
    }
    Ok(Some(age))
}

/// The application service's user joins `room`, on the homeserver itself
/// (invited by the first account, which made the room): what a bridge does
/// to take part, which is not what the case looks at. With `dated`, it then
/// sends an event that old, whose id is returned.
fn appservice_in_room(
    bench: &Bench<'_>,
    appservice: &Appservice,
    room: &str,
    dated: Option<Duration>,
    trail: &mut Vec<Exchange>,
) -> Result<Option<String>, String> {
    let (Some(inviter), Some(homeserver)) = (bench.accounts.first(), &bench.homeserver) else {
        return Err(
            "the application service's user joins the test's room on the homeserver itself \
             (--fixture-url)"
                .to_owned(),
        );
    };
    let server = inviter.server_name();
    let invite = serde_json::json!({"user_id": appservice.user(server)});
    let answer = homeserver.raw(
        trail,
        "POST",
        &format!("/_matrix/client/v3/rooms/{}/invite", cases::encode(room)),
        Some(&inviter.token),
        &[],
        invite.to_string().into_bytes(),
    )?;
    // Invited by an earlier case: already a member.
    if !answer.is_success() && answer.status != 403 {
        return Err(format!(
            "the test's room could not invite the application service's user: {}",
            answer.describe()
        ));
    }
    appservice.join(homeserver, trail, room, server)?;
    let Some(age) = dated else {
        return Ok(None);
    };
    // A minute older than asked, so that the request's own time cannot
    // bring it back under the profile's limit.
    let age = u64::try_from(age.as_millis()).unwrap_or(u64::MAX) + 60_000;
    let ts = bench.now_ms.saturating_sub(age);
    appservice
        .send_dated(homeserver, trail, room, server, ts)
        .map(Some)
}

/// Whether `case` invites someone: its invitees' settings decide it.
fn invites(case: &Case) -> bool {
    !case.context.invitees.is_empty()
        || case.request.path.ends_with("/invite")
        || case
            .request
            .body
            .as_ref()
            .and_then(|body| body.get("invite"))
            .is_some()
}

/// Before a case that invites: each account that plays one of the case's
/// invitees saves the settings the case gives it, and every other account
/// but the acting one allows all invites, in each format the profile
/// honours (a setting left from an earlier test must not decide).
fn settle_invite_settings(
    bench: &Bench<'_>,
    cast: &Cast,
    case: &Case,
    trail: &mut Vec<Exchange>,
) -> Result<(), String> {
    let Some(permissions) = &bench.catalog.profile.invites.permissions else {
        return Ok(());
    };
    for account in bench.accounts.iter().skip(1) {
        let given = case.context.invitees.get(&account.user_id);
        let settings: Vec<(String, Value)> = match given {
            Some(settings) => settings
                .iter()
                .map(|(kind, content)| (kind.clone(), content.clone()))
                .collect(),
            None => permissions
                .types
                .iter()
                .map(|(kind, format)| (kind.clone(), Scenario::allow_all(*format)))
                .collect(),
        };
        for (kind, content) in settings {
            let path = format!(
                "/_matrix/client/v3/user/{}/account_data/{kind}",
                cases::encode(&account.user_id)
            );
            let answer = bench.client.raw(
                trail,
                "PUT",
                &path,
                Some(&account.token),
                &[],
                content.to_string().into_bytes(),
            )?;
            if !answer.is_success() {
                return Err(format!(
                    "{} could not save its invite settings ({kind}) for the case{}: {}",
                    account.user_id,
                    if cast
                        .roles
                        .iter()
                        .any(|(_, played)| *played == account.user_id)
                    {
                        ""
                    } else {
                        " (allowing all)"
                    },
                    answer.describe()
                ));
            }
        }
    }
    Ok(())
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
