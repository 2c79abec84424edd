//! Running the built-in scenarios.

use ruma::api::client::config::set_global_account_data;
use ruma::api::client::membership::invite_user::{self, v3::InvitationRecipient, v3::InviteUserId};
use ruma::{OwnedRoomId, OwnedUserId};
use sectorgate_policy::cases::CaseRoom;
use serde_json::json;

use super::case::unmade;
use super::fixtures::raw;
use super::{Answer, Bench, Expectation, Failure, Product, judge};
use crate::catalog::{Scenario, TestSpec};
use crate::report::Exchange;
use crate::status::Status;

/// Runs one scenario.
pub(super) fn run(
    bench: &Bench<'_>,
    product: &Product,
    test: &TestSpec,
    scenario: &Scenario,
    trail: &mut Vec<Exchange>,
) -> (Status, Vec<String>) {
    let outcome = match scenario {
        Scenario::InviteSettings { excepted, .. } => {
            invite_settings(bench, product, test, scenario, *excepted, trail)
        }
        Scenario::FederationNonMember => federation_non_member(bench, test, trail),
    };
    outcome.unwrap_or_else(|why| (Status::Error, vec![why]))
}

/// The invitee sets its invite permissions; the inviter, in a new room,
/// invites it.
fn invite_settings(
    bench: &Bench<'_>,
    product: &Product,
    test: &TestSpec,
    scenario: &Scenario,
    excepted: bool,
    trail: &mut Vec<Exchange>,
) -> Result<(Status, Vec<String>), String> {
    let Some([inviter, invitee]) = bench.accounts.get(..2) else {
        return Err("two test users are needed".to_owned());
    };
    let (event_type, content) = scenario
        .invite_settings(&inviter.user_id)
        .ok_or("not an invite scenario")?;
    let user: OwnedUserId = invitee
        .user_id
        .as_str()
        .try_into()
        .map_err(|_| format!("{} is not a user id", invitee.user_id))?;
    let request = set_global_account_data::v3::Request::new_raw(
        user.clone(),
        event_type.into(),
        raw(&content).map_err(|failure| failure.to_string())?,
    );
    if let Err(failure) = bench.client.send(trail, request, Some(&invitee.token)) {
        return Ok(match failure {
            Failure::Refused(answer) => (
                Status::Fail,
                vec![format!(
                    "the invitee could not save its invite permissions ({event_type}): {}",
                    answer.describe()
                )],
            ),
            Failure::Broken(why) => (Status::Error, vec![why]),
        });
    }
    let made = bench.fixtures.borrow().fresh(
        trail,
        &CaseRoom::default(),
        &bench.setting(product, std::time::Duration::ZERO),
    );
    let fixture = match made {
        Ok(fixture) => fixture,
        Err(why) => return Ok(unmade(why)),
    };
    let room: OwnedRoomId = fixture
        .room
        .as_str()
        .try_into()
        .map_err(|_| format!("{} is not a room id", fixture.room))?;
    let recipient = InvitationRecipient::UserId(InviteUserId::new(user));
    let request = invite_user::v3::Request::new(room, recipient);
    let answer = match bench.client.send(trail, request, Some(&inviter.token)) {
        Ok(_) => Answer {
            status: 200,
            body: json!({}),
        },
        Err(Failure::Refused(answer)) => answer,
        Err(Failure::Broken(why)) => return Err(why),
    };
    let answer_of_rule = bench
        .catalog
        .profile
        .invites
        .permissions
        .as_ref()
        .and_then(|permissions| permissions.meta.answer)
        .unwrap_or((403, "M_FORBIDDEN"));
    let expect = Expectation {
        refused: !excepted,
        rule: test.rule(),
        status: Some(answer_of_rule.0),
        errcode: Some(answer_of_rule.1),
        passed_on: false,
    };
    let (status, message) = judge(&expect, &answer, bench.options.target);
    Ok((status, vec![message]))
}

/// The suite's peer, which no federation list names, sends a signed
/// transaction.
fn federation_non_member(
    bench: &Bench<'_>,
    test: &TestSpec,
    trail: &mut Vec<Exchange>,
) -> Result<(Status, Vec<String>), String> {
    let federation = bench.federation.as_ref().ok_or("no federation URL")?;
    let destination = match &bench.options.server_name {
        Some(name) => name.clone(),
        None => bench
            .accounts
            .first()
            .map(|account| account.server_name().to_owned())
            .ok_or("no test user to learn the server name from")?,
    };
    let peer = bench.peer.as_ref().ok_or("no federation peer")?;
    let answer = peer.send_transaction(federation, trail, &destination)?;
    if answer.status == 401 && bench.options.peer_publish.is_none() {
        return Ok((
            Status::Warning,
            vec![format!(
                "refused as unauthenticated ({}): the server could not fetch the peer's key \
                 (publish it with --peer-listen), so this does not show that a verified \
                 server outside the federation is refused",
                answer.describe()
            )],
        ));
    }
    let expect = Expectation {
        refused: true,
        rule: test.rule(),
        status: Some(403),
        errcode: Some("M_FORBIDDEN"),
        passed_on: false,
    };
    let (status, message) = judge(&expect, &answer, bench.options.target);
    Ok((status, vec![message]))
}
