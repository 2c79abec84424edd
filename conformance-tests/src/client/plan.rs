//! The guided steps: what the vendor is asked to do, and which captured
//! exchange shows it was done. Steps are found in order: each is the first
//! matching exchange after the previous step's.

use serde_json::Value;

use super::capture::Line;
use crate::catalog::client::Step;

/// The users a certification run names.
#[derive(Clone, Debug)]
pub struct People {
    /// The captured test user (the gateway's `[record] user`).
    pub user: String,
    /// The user to open a direct chat with.
    pub peer: String,
    /// A user who accepts no invites.
    pub blocker: String,
}

/// What the vendor is asked to do for `step`.
pub fn instruction(step: Step, people: &People) -> String {
    let People {
        user,
        peer,
        blocker,
    } = people;
    match step {
        Step::Login => format!("Log in as {user}."),
        Step::CreateDirectChat => {
            format!("Create a direct chat with {peer} (an encrypted room that invites them).")
        }
        Step::SendMessage => "Send a text message in that chat.".to_owned(),
        Step::SendLink => {
            "Send a message holding the link https://example.org/conformance in that chat."
                .to_owned()
        }
        Step::SendImage => "Send an image in that chat.".to_owned(),
        Step::SetInvitePermissions => {
            format!("In your invite settings, block invites from everyone except {peer}.")
        }
        Step::InviteRefused => format!(
            "Invite {blocker} to a room. The server refuses: they accept no invites. Do not retry."
        ),
    }
}

/// Whether `line` shows `step` done.
pub fn matches(step: Step, line: &Line, people: &People, setting_types: &[String]) -> bool {
    let invites = |who: &str| {
        line.body
            .as_ref()
            .and_then(|body| body.get("invite"))
            .and_then(Value::as_array)
            .is_some_and(|invite| invite.iter().any(|user| user.as_str() == Some(who)))
    };
    match step {
        Step::Login => {
            line.endpoint.as_deref() == Some("client.login") && (200..300).contains(&line.status)
        }
        Step::CreateDirectChat => {
            line.is("create_room")
                && (invites(&people.peer)
                    || line.body.as_ref().and_then(|body| body.get("is_direct"))
                        == Some(&Value::Bool(true)))
        }
        Step::SendMessage | Step::SendLink => line.is("send_message_event"),
        Step::SendImage => line.is("create_content"),
        Step::SetInvitePermissions => {
            line.is("set_account_data")
                && setting_types
                    .iter()
                    .any(|event_type| line.path.ends_with(&format!("/account_data/{event_type}")))
        }
        Step::InviteRefused => {
            (line.is("invite_user")
                && line
                    .body
                    .as_ref()
                    .and_then(|body| body.get("user_id"))
                    .and_then(Value::as_str)
                    == Some(people.blocker.as_str()))
                || (line.is("create_room") && invites(&people.blocker))
        }
    }
}

/// Where each step was done: the index of its line, in step order.
pub fn locate(
    steps: &[Step],
    lines: &[Line],
    people: &People,
    setting_types: &[String],
) -> Vec<Option<usize>> {
    let mut from = 0;
    steps
        .iter()
        .map(|step| {
            let found = lines
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, line)| matches(*step, line, people, setting_types))
                .map(|(index, _)| index);
            if let Some(index) = found {
                from = index + 1;
            }
            found
        })
        .collect()
}
