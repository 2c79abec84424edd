//! How the suite gets its test users, as the operator declares: open
//! registration, the shared-secret registration Synapse offers, or a list
//! of accounts made beforehand.

use std::path::Path;

use hmac_sha1::{KeyInit, Mac};
use rand::distr::{Alphanumeric, SampleString};
use ruma::api::client::account::register;
use ruma::api::client::session::login;
use ruma::api::client::uiaa::{AuthData, Dummy, MatrixUserIdentifier, UserIdentifier};
use serde::Deserialize;
use serde_json::json;

use super::client::Client;
use crate::report::Exchange;

/// A logged-in test user.
#[derive(Clone, Debug)]
pub struct Account {
    /// The full user id.
    pub user_id: String,
    /// Its access token.
    pub token: String,
}

impl Account {
    /// The server part of the user id.
    pub fn server_name(&self) -> &str {
        self.user_id
            .split_once(':')
            .map_or("", |(_, server)| server)
    }
}

/// An account made beforehand.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The user id or localpart.
    pub user: String,
    /// The password.
    pub password: String,
}

/// Where test users come from.
#[derive(Clone, Debug)]
pub enum UserHook {
    /// `POST /register` with the dummy stage.
    Open,
    /// Synapse's shared-secret registration, with this secret.
    SharedSecret(String),
    /// Accounts made beforehand, logged in with their passwords.
    List(Vec<Credentials>),
}

impl UserHook {
    /// Reads `open`, `shared-secret:FILE` or `list:FILE` (a YAML or JSON list
    /// of `{user, password}`).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let read = |path: &str| {
            std::fs::read_to_string(Path::new(path)).map_err(|e| format!("cannot read {path}: {e}"))
        };
        match spec.split_once(':') {
            None if spec == "open" => Ok(Self::Open),
            Some(("shared-secret", path)) => Ok(Self::SharedSecret(read(path)?.trim().to_owned())),
            Some(("list", path)) => serde_yaml_ng::from_str(&read(path)?)
                .map(Self::List)
                .map_err(|e| format!("{path}: {e}")),
            _ => Err(format!(
                "unknown user hook {spec:?} (open, shared-secret:FILE or list:FILE)"
            )),
        }
    }

    /// `count` distinct logged-in accounts, or as many as a list holds
    /// when it holds at least `least`.
    pub fn accounts(
        &self,
        client: &Client,
        trail: &mut Vec<Exchange>,
        count: usize,
        least: usize,
    ) -> Result<Vec<Account>, String> {
        const PREFIX: &str = "conformance-";
        match self {
            Self::Open => (0..count).map(|_| open(client, trail, PREFIX)).collect(),
            Self::SharedSecret(secret) => (0..count)
                .map(|_| shared_secret(client, trail, secret, PREFIX))
                .collect(),
            Self::List(list) if list.len() < least => Err(format!(
                "the user list has {} accounts; at least {least} are needed",
                list.len()
            )),
            Self::List(list) => list
                .iter()
                .take(count)
                .map(|credentials| log_in(client, trail, credentials))
                .collect(),
        }
    }
}

/// The localpart prefix of the accounts the suite makes for a member of
/// the profile's user group `group`: the target's configuration puts
/// `@<prefix>*:<server>` in that group (see docs/conformance.md).
pub fn group_prefix(group: &str) -> String {
    format!("conformance-{group}-")
}

impl UserHook {
    /// A new account in the profile's user group `group`: its localpart
    /// starts with [`group_prefix`]. A list made beforehand cannot give one.
    pub fn group_account(
        &self,
        client: &Client,
        trail: &mut Vec<Exchange>,
        group: &str,
    ) -> Result<Account, String> {
        self.made(client, trail, &group_prefix(group))
            .map_err(|why| format!("the case needs a user in the group {group}: {why}"))
    }

    /// A new account, never used before.
    pub fn fresh_account(
        &self,
        client: &Client,
        trail: &mut Vec<Exchange>,
    ) -> Result<Account, String> {
        self.made(client, trail, "conformance-")
            .map_err(|why| format!("the case needs a user who has set nothing yet: {why}"))
    }

    fn made(
        &self,
        client: &Client,
        trail: &mut Vec<Exchange>,
        prefix: &str,
    ) -> Result<Account, String> {
        match self {
            Self::Open => open(client, trail, prefix),
            Self::SharedSecret(secret) => shared_secret(client, trail, secret, prefix),
            Self::List(_) => Err(
                "a user list cannot make one (use open or shared-secret registration)".to_owned(),
            ),
        }
    }
}

fn fresh_name(prefix: &str) -> (String, String) {
    let mut rng = rand::rng();
    let localpart = format!(
        "{prefix}{}",
        Alphanumeric.sample_string(&mut rng, 10).to_lowercase()
    );
    (localpart, Alphanumeric.sample_string(&mut rng, 24))
}

fn open(client: &Client, trail: &mut Vec<Exchange>, prefix: &str) -> Result<Account, String> {
    let (localpart, password) = fresh_name(prefix);
    let mut request = register::v3::Request::new();
    request.username = Some(localpart);
    request.password = Some(password);
    request.auth = Some(AuthData::Dummy(Dummy::new()));
    let response = client
        .send(trail, request, None)
        .map_err(|e| format!("open registration: {e}"))?;
    let token = response
        .access_token
        .ok_or("open registration gave no access token")?;
    Ok(Account {
        user_id: response.user_id.to_string(),
        token,
    })
}

fn log_in(
    client: &Client,
    trail: &mut Vec<Exchange>,
    credentials: &Credentials,
) -> Result<Account, String> {
    let identifier = UserIdentifier::Matrix(MatrixUserIdentifier::new(credentials.user.clone()));
    let request = login::v3::Request::new(login::v3::LoginInfo::Password(
        login::v3::Password::new(identifier, credentials.password.clone()),
    ));
    let response = client
        .send(trail, request, None)
        .map_err(|e| format!("log in as {}: {e}", credentials.user))?;
    Ok(Account {
        user_id: response.user_id.to_string(),
        token: response.access_token,
    })
}

/// Synapse's `/_synapse/admin/v1/register`: a nonce, then the user with an
/// HMAC-SHA1 over nonce, user, password and `notadmin`.
fn shared_secret(
    client: &Client,
    trail: &mut Vec<Exchange>,
    secret: &str,
    prefix: &str,
) -> Result<Account, String> {
    const PATH: &str = "/_synapse/admin/v1/register";
    let nonce = client.raw(trail, "GET", PATH, None, &[], Vec::new())?;
    let nonce = nonce
        .body
        .get("nonce")
        .and_then(|n| n.as_str())
        .ok_or_else(|| {
            format!(
                "shared-secret registration: no nonce ({})",
                nonce.describe()
            )
        })?
        .to_owned();
    let (localpart, password) = fresh_name(prefix);
    let mut mac = hmac_sha1::Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes())
        .map_err(|_| "the shared secret is not a usable key")?;
    for (index, part) in [nonce.as_str(), &localpart, &password, "notadmin"]
        .into_iter()
        .enumerate()
    {
        if index > 0 {
            mac.update(b"\0");
        }
        mac.update(part.as_bytes());
    }
    let body = json!({
        "nonce": nonce,
        "username": localpart,
        "password": password,
        "admin": false,
        "mac": hex::encode(mac.finalize().into_bytes()),
    });
    let answer = client.raw(
        trail,
        "POST",
        PATH,
        None,
        &[],
        body.to_string().into_bytes(),
    )?;
    let field = |name: &str| {
        answer
            .body
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    match (field("user_id"), field("access_token")) {
        (Some(user_id), Some(token)) if answer.is_success() => Ok(Account { user_id, token }),
        _ => Err(format!("shared-secret registration: {}", answer.describe())),
    }
}
