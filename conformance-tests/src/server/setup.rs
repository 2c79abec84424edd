//! Setting a run up: the clients it reaches the product with, its test
//! accounts, the suite's federation peers, and what the product says of
//! itself ([`Product`]).

use super::federation::Peer;
use super::product::{self, Product};
use super::users::Account;
use super::{ACCOUNTS, Client, FederationSetup, RunOptions, http_client, verbatim};
use crate::report::Exchange;

/// What the run reaches the product with.
pub(super) struct Parts {
    /// The target's client-server API.
    pub(super) client: Client,
    /// Its federation API.
    pub(super) federation: Option<Client>,
    /// The homeserver's own API (`--fixture-url`).
    pub(super) homeserver: Option<Client>,
    /// The test users.
    pub(super) accounts: Vec<Account>,
    /// The suite's outsider peer.
    pub(super) peer: Option<Peer>,
    /// The suite's member peer.
    pub(super) member: Option<Peer>,
    /// The stale instance's client-server and federation APIs.
    pub(super) stale: Option<(Client, Client)>,
}

/// Reaches the product as `options` say, makes the test accounts and the
/// suite's peers, and learns what the product says of itself; `Err` says
/// what could not be done.
pub(super) fn prepare(
    options: &RunOptions,
    trail: &mut Vec<Exchange>,
) -> Result<(Parts, Product), String> {
    let http = http_client(options.timeout, options.ca.as_deref())?;
    let client = Client::new(http.clone(), &options.url).with_reach(verbatim::Reach {
        ca: options.ca.clone(),
        timeout: options.timeout,
    });
    let federation = client_at(&http, options.federation_url.as_deref());
    let homeserver = client_at(&http, options.fixture_url.as_deref());
    let spec_versions = product::spec_versions(&client, trail)?;
    let accounts = options.users.accounts(&client, trail, ACCOUNTS, 2)?;
    let room_versions = product::room_versions(&client, accounts.first(), trail)?;
    let reported = federation
        .iter()
        .chain([&client])
        .find_map(|api| product::reported_product(api, trail));
    let mut product = Product::new(options, reported, room_versions, spec_versions);
    if product.homeserver.is_none() {
        product.homeserver = product::server_software(&client, trail);
    }
    let setup = options.federated.as_ref().filter(|_| federation.is_some());
    let peer = federation
        .as_ref()
        .map(|_| outsider_peer(options))
        .transpose()?;
    let member = setup.map(|setup| member_peer(options, setup)).transpose()?;
    let stale = setup.and_then(|setup| stale_instance(&http, setup));
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

/// A client for the API at `url`, when there is one.
fn client_at(http: &reqwest::blocking::Client, url: Option<&str>) -> Option<Client> {
    url.map(|url| Client::new(http.clone(), url))
}

/// The suite's outsider peer (`--peer-name`), publishing its key when the
/// run says where.
fn outsider_peer(options: &RunOptions) -> Result<Peer, String> {
    let peer = Peer::new(&options.peer_name)?;
    if let Some(publish) = &options.peer_publish {
        peer.publish(publish.listen, &publish.cert, &publish.key)?;
    }
    Ok(peer)
}

/// The suite's member peer, publishing its key with the outsider's
/// certificate when the run says where.
fn member_peer(options: &RunOptions, setup: &FederationSetup) -> Result<Peer, String> {
    let member = Peer::new(&setup.member)?;
    if let (Some(listen), Some(publish)) = (setup.member_listen, &options.peer_publish) {
        member.publish(listen, &publish.cert, &publish.key)?;
    }
    Ok(member)
}

/// The stale instance's client-server and federation clients, when the
/// run has one.
fn stale_instance(
    http: &reqwest::blocking::Client,
    setup: &FederationSetup,
) -> Option<(Client, Client)> {
    setup.stale.as_ref().map(|(url, federation)| {
        (
            Client::new(http.clone(), url),
            Client::new(http.clone(), federation),
        )
    })
}
