//! Running one decision case black-box: its users cast as the run's
//! accounts ([`Cast`]), its servers as the run's ([`Federated`]), its room
//! made as a compliant client makes it, the settings, old events and
//! shared room it rests on put in place (`appservices`, `invite_settings`,
//! `shared_room`), then its request sent as written (`send`: signed by the
//! suite's peer when a server sends it; without a token when the case is
//! anonymous) and the answer judged.

mod appservices;
mod invite_settings;
mod send;
mod shared_room;

use std::time::Duration;

use sectorgate_policy::cases::{self, Case};
use sectorgate_policy::rules;

use super::cast::Cast;
use super::fixtures::Unmade;
use super::roles::{Federated, Signer};
use super::users::Account;
use super::{Answer, Appservice, Bench, Expectation, Product, judge};
use crate::catalog::Target;
use crate::report::Exchange;
use crate::status::Status;
use appservices::{Room, appservice_in_room, bridge_for, dated_event, dated_event_in};
use invite_settings::{invites, settle_invite_settings};
use send::send;
use shared_room::share_a_room;

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
    if let Some(why) = unplaceable(case) {
        return Err(not_exercised(why));
    }
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
    let shares_room = case.context.shares_room == Some(true);
    if invites(case) || shares_room {
        settle_invite_settings(bench, &cast, case, trail).map_err(error)?;
    }
    if shares_room {
        share_a_room(bench, product, case, &cast, trail)?;
    }
    let (room, event) = place(bench, product, case, &cast, appservice, dated, trail)?;
    let token = acting_token(case, &cast, appservice, account);
    let answer = send(bench, case, signer, (&room, &event), token, trail).map_err(error)?;
    Ok(judged(bench, case, signer, &answer))
}

/// Why the suite cannot put in place what `case` rests on, if it cannot:
/// a room's listing in the directory, its members or its creation event as
/// the case names them, or the acting user's membership in a room they are
/// not in.
fn unplaceable(case: &Case) -> Option<String> {
    let room = case.context.room.as_ref();
    let fact = if case.context.membership.is_some() {
        "the acting user's membership in the room joined"
    } else if room.is_some_and(|room| room.published == Some(true)) {
        "the room's listing in the room directory"
    } else if room.is_some_and(|room| room.members.is_some()) {
        "the room's members"
    } else if room.is_some_and(|room| room.state.contains_key("m.room.create")) {
        "the room's creation event (who created it, its version)"
    } else {
        return None;
    };
    Some(format!(
        "the case rests on {fact}, which the suite does not put in place; the gateway's \
         end-to-end tests prove it against a homeserver"
    ))
}

/// The token the case's request is sent with: none when the case is
/// anonymous, the application service's when it plays the case's bridge,
/// the acting user's, or else `account`'s.
fn acting_token<'t>(
    case: &Case,
    cast: &'t Cast,
    appservice: Option<&'t Appservice>,
    account: &'t Account,
) -> Option<&'t str> {
    if case.context.anonymous {
        return None;
    }
    Some(match (&cast.appservice, appservice, cast.actor()) {
        (Some(_), Some(appservice), _) => appservice.as_token.as_str(),
        (_, _, Some(actor)) => actor.token.as_str(),
        _ => account.token.as_str(),
    })
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
