//! Client requests that would make the homeserver reach another server:
//! that server must be part of the federation.

use ruma::{RoomOrAliasId, ServerName};
use sectorgate_action::{Action, Api};

use super::{forbidden, rules};
use crate::Decision;
use crate::federation::{Admission, FederationFacts};

pub(super) fn check(action: &Action, facts: &FederationFacts<'_>) -> Result<(), Decision> {
    match action {
        Action::Invite {
            invitee: Some(user),
            ..
        }
        | Action::GetProfile { user_id: user } => reachable(user.server_name(), facts),
        Action::CreateRoom { invite, .. } => invite
            .iter()
            .try_for_each(|user| reachable(user.server_name(), facts)),
        Action::UserKeys {
            api: Api::Client,
            users,
        } => users
            .iter()
            .try_for_each(|user| reachable(user.server_name(), facts)),
        Action::DownloadMedia(media) | Action::GetThumbnail(media) => media
            .server_name
            .as_deref()
            .map_or(Ok(()), |server| reachable(server, facts)),
        Action::PublicRooms {
            server: Some(server),
            ..
        } => reachable(server, facts),
        Action::Join { room, via } | Action::Knock { room, via } => joinable(room, via, facts),
        _ => Ok(()),
    }
}

fn reachable(server: &ServerName, facts: &FederationFacts<'_>) -> Result<(), Decision> {
    match facts.admits(server) {
        Admission::Member => Ok(()),
        Admission::NotMember => Err(forbidden(
            rules::REMOTE_NOT_ALLOWED,
            format!("{server} is not part of the federation"),
        )),
        Admission::Stale => Err(super::stale()),
    }
}

/// A room alias's server must be a member; the servers to join through
/// must include a member when any are named.
fn joinable(
    room: &RoomOrAliasId,
    via: &[ruma::OwnedServerName],
    facts: &FederationFacts<'_>,
) -> Result<(), Decision> {
    if let Ok(alias) = <&ruma::RoomAliasId>::try_from(room.as_str()) {
        reachable(alias.server_name(), facts)?;
    }
    if via.is_empty() || via.iter().any(|server| reachable(server, facts).is_ok()) {
        return Ok(());
    }
    Err(forbidden(
        rules::REMOTE_NOT_ALLOWED,
        "none of the servers to join through is part of the federation",
    ))
}
