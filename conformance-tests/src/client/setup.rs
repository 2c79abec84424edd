//! The users a live certification needs besides the vendor's: a peer to
//! chat with, and a user who blocks all invites (set up by the suite, so
//! that the refused-invite step is refused).

use std::path::Path;
use std::time::Duration;

use ruma::OwnedUserId;
use ruma::api::client::config::set_global_account_data;
use sectorgate_policy::Profile;
use serde_json::json;

use crate::catalog::Scenario;
use crate::report::Exchange;
use crate::server::{Account, Client, UserHook, http_client, raw};

/// Makes the peer and the blocker through `url`, and sets the blocker's
/// invite permissions to block all (in the profile's first honoured type).
pub fn provision(
    profile: &Profile,
    url: &str,
    users: &UserHook,
    ca: Option<&Path>,
    timeout: Duration,
) -> Result<(Account, Account), String> {
    let client = Client::new(http_client(timeout, ca)?, url);
    let mut trail: Vec<Exchange> = Vec::new();
    let mut accounts = users.accounts(&client, &mut trail, 2, 2)?.into_iter();
    let (Some(peer), Some(blocker)) = (accounts.next(), accounts.next()) else {
        return Err("two helper users are needed".to_owned());
    };
    if let Some((event_type, format)) = profile
        .invites
        .permissions
        .as_ref()
        .and_then(|permissions| permissions.types.first())
    {
        let scenario = Scenario::InviteSettings {
            event_type: event_type.clone(),
            format: *format,
            excepted: false,
        };
        let (event_type, content) = scenario
            .invite_settings(&peer.user_id)
            .unwrap_or((event_type, json!({})));
        let user: OwnedUserId = blocker
            .user_id
            .as_str()
            .try_into()
            .map_err(|_| format!("{} is not a user id", blocker.user_id))?;
        let content = raw(&content).map_err(|failure| failure.to_string())?;
        let request =
            set_global_account_data::v3::Request::new_raw(user, event_type.into(), content);
        client
            .send(&mut trail, request, Some(&blocker.token))
            .map_err(|failure| format!("cannot set the blocker's invite permissions: {failure}"))?;
    }
    Ok((peer, blocker))
}
