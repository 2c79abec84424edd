//! The run's application services in a case: the one that plays the
//! case's bridge and the user it acts as, and the one that sends an event
//! older than the run, dated; each takes part in the case's room on the
//! homeserver itself, invited by the account that made the room.

use std::time::Duration;

use sectorgate_policy::cases::{self, Case};

use crate::report::Exchange;
use crate::server::users::Account;
use crate::server::{Appservice, Bench, Client, compliant};

/// A room the suite made, and the account that made it (and may invite).
pub(super) struct Room<'r> {
    /// Its id.
    pub(super) id: &'r str,
    /// The account that made it.
    pub(super) maker: &'r Account,
}

/// The registration that plays the bridge `case` names, and the user it
/// acts as: the bridge itself, when the run registered it, acting as the
/// case's user on the target's server; otherwise any registration the
/// profile does not name, standing in for a bridge the profile refuses by
/// default, acting as its own user. `Err` when the profile names the bridge
/// and the run did not register it.
pub(super) fn bridge_for<'b>(
    bench: &'b Bench<'_>,
    case: &Case,
    server: &str,
) -> Result<Option<(&'b Appservice, String)>, String> {
    let Some(id) = &case.context.appservice else {
        return Ok(None);
    };
    let registered = &bench.options.appservices;
    if let Some(appservice) = registered.iter().find(|appservice| appservice.id == *id) {
        let actor = case.context.user.as_deref().unwrap_or(cases::DEFAULT_USER);
        let localpart = actor
            .strip_prefix('@')
            .and_then(|user| user.split_once(':'))
            .map_or(actor, |(localpart, _)| localpart);
        return Ok(Some((appservice, format!("@{localpart}:{server}"))));
    }
    let rules = &bench.catalog.profile.appservices.rules;
    let named = |id: &str| rules.iter().any(|rule| rule.appservice.matches(id));
    if named(id) {
        return Err(format!(
            "the case is about the bridge {id}, which the profile names: register it on the \
             homeserver for the run and give its registration (--appservice)"
        ));
    }
    registered
        .iter()
        .find(|appservice| !named(&appservice.id))
        .map(|appservice| Some((appservice, appservice.user(server))))
        .ok_or_else(|| {
            "every application service the run has is one the profile names; give one it \
             does not (--appservice)"
                .to_owned()
        })
}

/// The bridge's acting user `actor` joins `room`, on the homeserver itself
/// (invited by the account that made the room): what a bridge does
/// to take part, which is not what the case looks at. A user outside the
/// bridge's namespace cannot be registered by it, and does not join: the
/// case then shows how the bridge's acting as that user is refused.
pub(super) fn appservice_in_room(
    bench: &Bench<'_>,
    appservice: &Appservice,
    room: &Room<'_>,
    actor: &str,
    trail: &mut Vec<Exchange>,
) -> Result<(), String> {
    let homeserver = homeserver_of(bench)?;
    if appservice.register(homeserver, trail, actor).is_err() {
        return Ok(());
    }
    invite_on_homeserver(homeserver, room, actor, trail)?;
    appservice.join(homeserver, trail, room.id, actor)
}

/// How old the event `case` acts on must be, when a new one would not do:
/// the run's application service sends it dated, on the homeserver.
pub(super) fn dated_event(bench: &Bench<'_>, case: &Case) -> Result<Option<Duration>, String> {
    let Some(age) = case.context.event_age else {
        return Ok(None);
    };
    let room = case.context.room.clone().unwrap_or_default();
    let profile = &bench.catalog.profile;
    if compliant::holds_in(case, &room, Duration::ZERO, profile, bench.now_ms) {
        return Ok(None);
    }
    if bench.options.appservices.is_empty() || bench.homeserver.is_none() {
        return Err(format!(
            "the case needs an event {} old: the suite sends one dated through an application \
             service registered on the homeserver (--appservice), on the homeserver itself \
             (--fixture-url)",
            humantime::format_duration(age)
        ));
    }
    Ok(Some(age))
}

/// An event `age` old in `room`, sent dated by the run's application
/// service on the homeserver itself; its id.
pub(super) fn dated_event_in(
    bench: &Bench<'_>,
    appservice: &Appservice,
    room: &Room<'_>,
    age: Duration,
    trail: &mut Vec<Exchange>,
) -> Result<String, String> {
    let homeserver = homeserver_of(bench)?;
    let sender = appservice.user(room.maker.server_name());
    invite_on_homeserver(homeserver, room, &sender, trail)?;
    appservice.join(homeserver, trail, room.id, &sender)?;
    // A minute older than asked, so that the request's own time cannot
    // bring it back under the profile's limit.
    let age = u64::try_from(age.as_millis()).unwrap_or(u64::MAX) + 60_000;
    let ts = bench.now_ms.saturating_sub(age);
    appservice.send_dated(homeserver, trail, room.id, &sender, ts)
}

/// The homeserver itself, reached directly (`--fixture-url`).
fn homeserver_of<'b>(bench: &'b Bench<'_>) -> Result<&'b Client, String> {
    bench.homeserver.as_ref().ok_or_else(|| {
        "the bridge's user joins the test's room on the homeserver itself (--fixture-url)"
            .to_owned()
    })
}

/// The account that made `room` invites `user` on the homeserver itself;
/// already invited or joined is fine.
fn invite_on_homeserver(
    homeserver: &Client,
    room: &Room<'_>,
    user: &str,
    trail: &mut Vec<Exchange>,
) -> Result<(), String> {
    let invite = serde_json::json!({"user_id": user});
    let answer = homeserver.raw(
        trail,
        "POST",
        &format!("/_matrix/client/v3/rooms/{}/invite", cases::encode(room.id)),
        Some(&room.maker.token),
        &[],
        invite.to_string().into_bytes(),
    )?;
    if answer.is_success() || answer.status == 403 {
        Ok(())
    } else {
        Err(format!(
            "the test's room could not invite {user}: {}",
            answer.describe()
        ))
    }
}
