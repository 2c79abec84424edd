//! The users a case names, cast as the run's test accounts. A case is
//! written with users of its own (`@carol:klinik.example` invites
//! `@bob:klinik.example`); run black-box, its acting user becomes the first
//! test account and every other user the next, in the order they appear.
//! A user the case puts in one of the profile's user groups is played by an
//! account made for that group (its localpart says so, and the target's
//! configuration puts such accounts in the group). In a federation case,
//! only the target's own users are cast; the other servers' users are
//! played by the run's servers ([`super::roles`]). The case is renamed
//! throughout (path, body, the invitees' settings, the groups, the room's
//! state) and must still decide as it expects under the profile before it
//! is sent.

use std::collections::BTreeMap;

use ruma::UserId;
use sectorgate_policy::Profile;
use sectorgate_policy::cases::{Case, DEFAULT_USER};
use sectorgate_policy::profile::Glob;
use serde_json::{Map, Value};

use super::users::{Account, group_prefix};

/// Case users and the accounts that play them.
#[derive(Clone, Debug)]
pub struct Cast {
    /// (the case's user id, the account's user id), the acting user first.
    pub roles: Vec<(String, String)>,
    /// The accounts that play the case's users (not the bridge's), the
    /// acting user's first when an account plays it.
    pub players: Vec<Account>,
    /// The profile's user groups the case names, with the accounts' glob.
    pub groups: BTreeMap<String, String>,
    /// The run's application service, when the case is about a bridge: its
    /// id, and its user, who plays the acting user.
    pub appservice: Option<(String, String)>,
}

impl Cast {
    /// Casts `case`'s users as `accounts`, a bridge's acting user as the
    /// run's application service (`(id, user)`), a member of a user group
    /// as the account `make(Some(group))` gives, and an invitee whose
    /// settings the case gives as a new account, `make(None)` (an account
    /// cannot take back a setting an earlier test made, and the case's
    /// invitee has set only what it says); `Err` says why it cannot be.
    pub fn of(
        case: &Case,
        accounts: &[Account],
        appservice: Option<(String, String)>,
        make: &mut dyn FnMut(Option<&str>) -> Result<Account, String>,
    ) -> Result<Self, String> {
        let named = users(case);
        let home = named
            .first()
            .map_or(String::new(), |actor| server_of(actor).to_owned());
        let federated = case.context.federation.is_some();
        let mut local: Vec<String> = named
            .into_iter()
            .filter(|user| !federated || server_of(user) == home.as_str())
            .collect();
        let bridge = case.context.appservice.as_ref().and(appservice);
        let mut cast = Self {
            roles: Vec::new(),
            players: Vec::new(),
            groups: BTreeMap::new(),
            appservice: bridge.clone(),
        };
        if let Some((_, user)) = &bridge {
            cast.roles.push((local.remove(0), user.clone()));
        }
        let mut regular = accounts.iter();
        // Users the case says share no room with the acting user are new
        // accounts: the run's may share rooms from earlier tests.
        let strangers = case.context.shares_room == Some(false);
        let acting = case.context.user.as_deref().unwrap_or(DEFAULT_USER);
        for user in local {
            let invitee = case.context.invitees.contains_key(&user);
            let stranger = strangers && user != acting;
            let account = match group_of(case, &user) {
                None if invitee || stranger => make(None)?,
                Some(group) => {
                    let account = make(Some(group))?;
                    let server = server_of(&account.user_id).to_owned();
                    cast.groups.insert(
                        group.to_owned(),
                        format!("@{}*:{server}", group_prefix(group)),
                    );
                    account
                }
                None => regular.next().cloned().ok_or_else(|| {
                    format!(
                        "the case names more users than the run has test accounts ({})",
                        accounts.len()
                    )
                })?,
            };
            cast.roles.push((user, account.user_id.clone()));
            cast.players.push(account);
        }
        Ok(cast)
    }

    /// The account of the acting user, unless a bridge acts.
    pub fn actor(&self) -> Option<&Account> {
        self.appservice
            .is_none()
            .then(|| self.players.first())
            .flatten()
    }

    /// The account that plays `user`, if the case names it.
    pub fn account_of(&self, user: &str) -> Option<&str> {
        self.roles
            .iter()
            .find(|(named, _)| named == user)
            .map(|(_, account)| account.as_str())
    }

    /// `case` with its users renamed as cast.
    pub fn rename(&self, case: &Case) -> Case {
        let mut renamed = case.clone();
        let acting = case.context.user.as_deref().unwrap_or(DEFAULT_USER);
        renamed.context.user = self.account_of(acting).map(str::to_owned);
        if let Some((id, _)) = &self.appservice {
            renamed.context.appservice = Some(id.clone());
        }
        let mut path = case.request.path.clone();
        for (named, account) in &self.roles {
            path = path
                .replace(named, account)
                .replace(&percent(named), &percent(account));
        }
        renamed.request.path = path;
        if let Some(body) = &mut renamed.request.body {
            *body = self.value(body);
        }
        renamed.context.invitees = case
            .context
            .invitees
            .iter()
            .map(|(user, settings)| {
                let settings = settings
                    .iter()
                    .map(|(kind, content)| (kind.clone(), self.value(content)))
                    .collect();
                (self.name(user), settings)
            })
            .collect();
        renamed.context.groups = case
            .context
            .groups
            .keys()
            .map(|group| {
                let globs = self.groups.get(group).cloned().into_iter().collect();
                (group.clone(), globs)
            })
            .collect();
        if let Some(room) = &mut renamed.context.room {
            for content in room.state.values_mut() {
                *content = self.value(content);
            }
        }
        renamed
    }

    /// The case renamed, if it still decides as the case expects.
    pub fn holds(&self, case: &Case, profile: &Profile, now_ms: u64) -> Result<Case, String> {
        let renamed = self.rename(case);
        renamed
            .decide(profile, now_ms)
            .and_then(|decision| renamed.check(&decision))
            .map(|()| renamed.clone())
            .map_err(|why| format!("with the test accounts in it, the case does not hold: {why}"))
    }

    /// A user's or a server's name as cast: a user the case names becomes
    /// its account, and the server of a user the case names becomes that
    /// account's server (a setting that names servers names the same ones).
    fn name(&self, text: &str) -> String {
        if let Some(account) = self.account_of(text) {
            return account.to_owned();
        }
        self.roles
            .iter()
            .find(|(named, _)| server_of(named) == text)
            .map_or_else(
                || text.to_owned(),
                |(_, account)| server_of(account).to_owned(),
            )
    }

    fn value(&self, value: &Value) -> Value {
        match value {
            Value::String(text) => Value::String(self.name(text)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|item| self.value(item)).collect())
            }
            Value::Object(object) => Value::Object(
                object
                    .iter()
                    .map(|(key, item)| (self.name(key), self.value(item)))
                    .collect::<Map<_, _>>(),
            ),
            other => other.clone(),
        }
    }
}

/// The user ids a case names, the acting user first, then in order of
/// appearance: the invitees, the path, the body, the invitees' settings.
fn users(case: &Case) -> Vec<String> {
    let mut found = vec![
        case.context
            .user
            .clone()
            .unwrap_or_else(|| DEFAULT_USER.to_owned()),
    ];
    let mut add = |candidate: &str| {
        if UserId::parse(candidate).is_ok() && !found.iter().any(|user| user == candidate) {
            found.push(candidate.to_owned());
        }
    };
    for user in case.context.invitees.keys() {
        add(user);
    }
    for segment in case.request.path.split(['/', '?', '&', '=']) {
        add(&decode(segment));
    }
    let mut strings = Vec::new();
    if let Some(body) = &case.request.body {
        collect(body, &mut strings);
    }
    for settings in case.context.invitees.values() {
        for content in settings.values() {
            collect(content, &mut strings);
        }
    }
    for text in &strings {
        add(text);
    }
    found
}

/// Every string and key in `value`, in order.
fn collect(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::String(text) => into.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| collect(item, into)),
        Value::Object(object) => {
            for (key, item) in object {
                into.push(key.clone());
                collect(item, into);
            }
        }
        _ => {}
    }
}

/// The user group `case` puts `user` in, if any.
fn group_of<'c>(case: &'c Case, user: &str) -> Option<&'c str> {
    case.context
        .groups
        .iter()
        .find(|(_, globs)| globs.iter().any(|glob| Glob::new(glob).matches(user)))
        .map(|(group, _)| group.as_str())
}

fn server_of(user: &str) -> &str {
    user.split_once(':').map_or("", |(_, server)| server)
}

/// `@` and `:` percent-encoded, as a path segment writes a user id.
fn percent(user: &str) -> String {
    user.replace('@', "%40").replace(':', "%3A")
}

fn decode(segment: &str) -> String {
    segment
        .replace("%40", "@")
        .replace("%3A", ":")
        .replace("%3a", ":")
}
