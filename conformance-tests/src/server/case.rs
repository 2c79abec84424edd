//! Running one decision case black-box: its users cast as the run's
//! accounts ([`Cast`]), its servers as the run's ([`Federated`]), its room
//! made as a compliant client makes it, the settings and old events it
//! rests on put in place, then its request sent as written (signed by the
//! suite's peer when a server sends it) and the answer judged.

use std::time::Duration;

use sectorgate_policy::cases::{self, Case};
use sectorgate_policy::rules;
use serde_json::Value;

use super::cast::Cast;
use super::fixtures::Unmade;
use super::roles::{Federated, Signer};
use super::users::Account;
use super::{Answer, Appservice, Bench, Client, Expectation, Product, compliant, judge, txn_id};
use crate::catalog::{Scenario, Target};
use crate::report::Exchange;
use crate::status::Status;

/// The status of a fixture that could not be made.
pub(super) fn unmade(unmade: Unmade) -> (Status, Vec<String>) {
    match unmade {
        Unmade::NotHere(why) => (Status::NotExercised, vec![why]),
        Unmade::Failed(why) => (Status::Error, vec![why]),
    }
}

/// A test's status and what it rests on.
type Outcome = (Status, Vec<String>);

fn not_exercised(why: String) -> Outcome {
    (Status::NotExercised, vec![why])
}

fn error(why: String) -> Outcome {
    (Status::Error, vec![why])
}

/// Runs `case`: its status and what it rests on.
pub(super) fn run(
    bench: &Bench<'_>,
    product: &Product,
    case: &Case,
    trail: &mut Vec<Exchange>,
) -> Outcome {
    exercise(bench, product, case, trail).unwrap_or_else(|stopped| stopped)
}

/// Puts in place what `case` rests on, sends it and judges the answer; a
/// step that cannot be taken ends it early, with why.
fn exercise(
    bench: &Bench<'_>,
    product: &Product,
    case: &Case,
    trail: &mut Vec<Exchange>,
) -> Result<Outcome, Outcome> {
    let account = bench
        .accounts
        .first()
        .ok_or_else(|| error("no test user".to_owned()))?;
    let profile = &bench.catalog.profile;
    let (case, signer) = federated(bench, case, account.server_name())?;
    let bridge = bridge_for(bench, &case, account.server_name()).map_err(not_exercised)?;
    let appservice = bridge.as_ref().map(|(appservice, _)| *appservice);
    let bridge = bridge.map(|(appservice, actor)| (appservice.id.clone(), actor));
    let mut make = |group: Option<&str>| match group {
        Some(group) => bench.group_account(group, trail),
        None => bench.fresh_account(trail),
    };
    let cast = Cast::of(&case, &bench.accounts, bridge, &mut make).map_err(not_exercised)?;
    let case = &cast
        .holds(&case, profile, bench.now_ms)
        .map_err(not_exercised)?;
    let dated = dated_event(bench, case).map_err(not_exercised)?;
    if invites(case) {
        settle_invite_settings(bench, &cast, case, trail).map_err(error)?;
    }
    let (room, event) = place(bench, product, case, &cast, appservice, dated, trail)?;
    let token = match (&cast.appservice, appservice, cast.actor()) {
        (Some(_), Some(appservice), _) => appservice.as_token.as_str(),
        (_, _, Some(actor)) => actor.token.as_str(),
        _ => account.token.as_str(),
    };
    let answer = send(bench, case, signer, (&room, &event), token, trail).map_err(error)?;
    Ok(judged(bench, case, signer, &answer))
}

/// A federation case with its servers played by the run's (see
/// [`Federated`]), and who signs it; unchanged when it names none.
fn federated(
    bench: &Bench<'_>,
    case: &Case,
    server: &str,
) -> Result<(Case, Option<Signer>), Outcome> {
    let (Some(federation), Some(setup)) = (&case.context.federation, &bench.options.federated)
    else {
        return Ok((case.clone(), None));
    };
    if federation.stale {
        if !bench.catalog.profile.federation.signed_lists {
            return Err((
                Status::NotApplicable,
                vec![
                    "the profile allows no signed federation list, so none can go stale".to_owned(),
                ],
            ));
        }
        if bench.stale.is_none() {
            return Err(not_exercised(
                "the case needs an instance of the target whose signed federation list is \
                 stale (--stale-url, --stale-federation-url)"
                    .to_owned(),
            ));
        }
    }
    let roles = Federated {
        target: bench
            .options
            .server_name
            .clone()
            .unwrap_or_else(|| server.to_owned()),
        member: setup.member.clone(),
        other_member: setup.other_member.clone(),
        wildcard_member: setup.wildcard_member.clone(),
        outsider: bench.options.peer_name.clone(),
    };
    roles.cast(case).map_err(not_exercised)
}

/// The room and event `case` acts on (placeholders when it names none),
/// made as it needs them.
fn place(
    bench: &Bench<'_>,
    product: &Product,
    case: &Case,
    cast: &Cast,
    appservice: Option<&Appservice>,
    dated: Option<Duration>,
    trail: &mut Vec<Exchange>,
) -> Result<(String, String), Outcome> {
    if !case.needs_room() {
        return Ok((
            cases::PLACEHOLDER_ROOM.to_owned(),
            cases::PLACEHOLDER_EVENT.to_owned(),
        ));
    }
    let setting = bench.setting(product, dated.unwrap_or(Duration::ZERO));
    // The acting user makes the room; a bridge's room is the first account's.
    let maker = cast
        .actor()
        .or(bench.accounts.first())
        .ok_or_else(|| error("no test user".to_owned()))?;
    let fixture = bench
        .fixtures
        .borrow_mut()
        .for_case(trail, case, &setting, &maker.token)
        .map_err(unmade)?;
    let room = Room {
        id: &fixture.room,
        maker,
    };
    let mut event = fixture.event.clone();
    if let Some((_, actor)) = &cast.appservice
        && let Some(appservice) = appservice
    {
        appservice_in_room(bench, appservice, &room, actor, trail).map_err(error)?;
    }
    if let Some(age) = dated {
        let appservice = bench
            .options
            .appservices
            .first()
            .ok_or_else(|| error("no application service".to_owned()))?;
        event = dated_event_in(bench, appservice, &room, age, trail).map_err(error)?;
    }
    Ok((fixture.room, event))
}

/// A room the suite made, and the account that made it (and may invite).
struct Room<'r> {
    id: &'r str,
    maker: &'r Account,
}

/// Sends `case` as written: signed by the suite's peer when a server sends
/// it, with `token` otherwise; to the stale instance when the case is about
/// a stale federation list.
fn send(
    bench: &Bench<'_>,
    case: &Case,
    signer: Option<Signer>,
    (room, event): (&str, &str),
    token: &str,
    trail: &mut Vec<Exchange>,
) -> Result<Answer, String> {
    let txn = txn_id().to_string();
    let path = case.path(room, event, &txn);
    let mut body = case.body(room, event, &txn);
    // A body as long as the case declares it (an upload over a limit),
    // sent only if the server does not refuse it on its length first.
    let declared = declared_length(case).filter(|declared| *declared > body.len());
    if let Some(declared) = declared {
        body.resize(declared, b'\0');
    }
    let stale = case
        .context
        .federation
        .as_ref()
        .is_some_and(|federation| federation.stale);
    let (client, federation) = match (&bench.stale, stale) {
        (Some((client, federation)), true) => (client, Some(federation)),
        _ => (&bench.client, bench.federation.as_ref()),
    };
    let Some(signer) = signer else {
        let headers: Vec<(String, String)> = case
            .request
            .headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let send = if declared.is_some() {
            Client::upload
        } else {
            Client::raw
        };
        return send(
            client,
            trail,
            &case.request.method,
            &path,
            Some(token),
            &headers,
            body,
        );
    };
    let peer = match signer {
        Signer::Member => bench.member.as_ref(),
        Signer::Outsider => bench.peer.as_ref(),
    };
    let (Some(peer), Some(federation)) = (peer, federation) else {
        return Err("no federation peer or URL for a server-server case".to_owned());
    };
    let destination = case
        .context
        .federation
        .as_ref()
        .and_then(|federation| federation.local.clone())
        .unwrap_or_default();
    peer.send(
        federation,
        trail,
        &case.request.method,
        &path,
        body,
        &destination,
    )
}

/// The `content-length` a case declares, when it gives one.
fn declared_length(case: &Case) -> Option<usize> {
    case.request
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
}

/// Judges the answer to `case`.
fn judged(bench: &Bench<'_>, case: &Case, signer: Option<Signer>, answer: &Answer) -> Outcome {
    let refused = case.expect.verdict == "deny";
    let target = bench.options.target;
    // A refusal answered 200 (a transaction's items): only a gateway's
    // answer names what it refused.
    if refused && case.expect.status == Some(200) && target == Target::Server {
        return not_exercised(
            "a server answers a transaction 200 whatever it does with each item; only a \
             gateway's answer names the items it refused and why"
                .to_owned(),
        );
    }
    // A client's request that the homeserver takes on to another server:
    // what that server answers is not the target's doing.
    let onward = !refused && case.context.federation.is_some() && signer.is_none();
    if onward && target == Target::Server {
        return not_exercised(
            "the request goes on to a server the suite does not run, whose answer decides"
                .to_owned(),
        );
    }
    let expect = Expectation {
        refused,
        rule: &case.expect.rule,
        status: case.expect.status,
        errcode: case.expect.errcode.as_deref(),
        passed_on: onward || case.expect.rule == rules::HOMESERVER_PATH.as_str(),
    };
    let (status, message) = judge(&expect, answer, target);
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

/// The registration that plays the bridge `case` names, and the user it
/// acts as: the bridge itself, when the run registered it, acting as the
/// case's user on the target's server; otherwise any registration the
/// profile does not name, standing in for a bridge the profile refuses by
/// default, acting as its own user. `Err` when the profile names the bridge
/// and the run did not register it.
fn bridge_for<'b>(
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
fn appservice_in_room(
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

/// An event `age` old in `room`, sent dated by the run's application
/// service on the homeserver itself; its id.
fn dated_event_in(
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
    let actor = cast.actor().map(|actor| actor.user_id.as_str());
    let mut others: Vec<&Account> = Vec::new();
    for account in cast.players.iter().chain(&bench.accounts) {
        let known = others.iter().any(|other| other.user_id == account.user_id);
        if Some(account.user_id.as_str()) != actor && !known {
            others.push(account);
        }
    }
    for account in others {
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
                    if given.is_some() {
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
