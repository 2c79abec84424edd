//! The users a case names, cast as the run's test accounts. A case is
//! written with users of its own (`@carol:klinik.example` invites
//! `@bob:klinik.example`); run black-box, its acting user becomes the first
//! test account and every other user of the acting user's server the next,
//! in the order they appear. Users of other servers stay as written. The
//! case is renamed throughout (path, body, the invitees' settings, the
//! room's state) and must still decide as it expects under the profile
//! before it is sent.

use ruma::UserId;
use sectorgate_policy::Profile;
use sectorgate_policy::cases::{Case, DEFAULT_USER};
use serde_json::{Map, Value};

use super::users::Account;

/// Case users and the accounts that play them.
#[derive(Clone, Debug)]
pub struct Cast {
    /// (the case's user id, the account's user id), the acting user first.
    pub roles: Vec<(String, String)>,
    /// The run's application service, when the case is about a bridge: its
    /// id, and its user, who plays the acting user.
    pub appservice: Option<(String, String)>,
}

impl Cast {
    /// Casts `case`'s users as `accounts`, and a bridge's acting user as
    /// the run's application service (`(id, user)`); `Err` says why it
    /// cannot be (an invitee of another server, more users than accounts).
    pub fn of(
        case: &Case,
        accounts: &[Account],
        appservice: Option<(String, String)>,
    ) -> Result<Self, String> {
        let named = users(case);
        let home = named
            .first()
            .map_or(String::new(), |actor| server_of(actor).to_owned());
        if let Some(remote) = case
            .context
            .invitees
            .keys()
            .find(|invitee| server_of(invitee) != home.as_str())
        {
            return Err(format!(
                "the case's acting user and its invitee {remote} are on different servers: \
                 a black-box run has users of the target's server only"
            ));
        }
        let mut local: Vec<String> = named
            .into_iter()
            .filter(|user| server_of(user) == home.as_str())
            .collect();
        let bridge = case.context.appservice.as_ref().and(appservice);
        let mut roles = Vec::new();
        if let Some((_, user)) = &bridge {
            roles.push((local.remove(0), user.clone()));
        }
        if local.len() > accounts.len() {
            return Err(format!(
                "the case names {} users and the run has {} test accounts",
                local.len(),
                accounts.len()
            ));
        }
        roles.extend(
            local
                .into_iter()
                .zip(accounts)
                .map(|(user, account)| (user, account.user_id.clone())),
        );
        Ok(Self {
            roles,
            appservice: bridge,
        })
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

    fn name(&self, user: &str) -> String {
        self.account_of(user).unwrap_or(user).to_owned()
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
