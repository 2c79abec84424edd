//! Typed actions for the client-server API
//! (<https://spec.matrix.org/latest/client-server-api/>).

#![allow(
    deprecated,
    reason = "the legacy media endpoints are deprecated in the spec but still served and used"
)]

use super::{raw_body, ruma};
use crate::{Action, Api, ClassifyError, MediaRef};
use ruma::api::client as api;

type Parsed = Result<Action, ClassifyError>;
type Http<'a> = http::Request<&'a [u8]>;

/// `PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}`
pub(crate) fn send_message_event(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::message::send_message_event::v3::Request = ruma(request, args)?;
    Ok(Action::SendMessageEvent {
        room_id: r.room_id,
        event_type: r.event_type.to_string(),
        txn_id: r.txn_id,
        content: r.body.into_json(),
    })
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`
pub(crate) fn send_state_event(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::state::send_state_event::v3::Request = ruma(request, args)?;
    Ok(Action::SendStateEvent {
        room_id: r.room_id,
        event_type: r.event_type.to_string(),
        state_key: r.state_key,
        content: r.body.into_json(),
    })
}

/// `PUT /_matrix/client/unstable/org.matrix.msc4140/rooms/{roomId}/delayed_event/{eventType}/{txnId}`
/// (MSC4140): an event sent later is checked now, as the event it will be.
pub(crate) fn send_delayed_event(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::delayed_events::send_delayed_event::unstable::Request = ruma(request, args)?;
    let content = r.content.into_json();
    Ok(match r.state_key {
        Some(state_key) => Action::SendStateEvent {
            room_id: r.room_id,
            event_type: r.event_type.to_string(),
            state_key,
            content,
        },
        None => Action::SendMessageEvent {
            room_id: r.room_id,
            event_type: r.event_type.to_string(),
            txn_id: r.txn_id,
            content,
        },
    })
}

/// `GET /_matrix/client/v3/events`: with `room_id`, peeking at a room; without,
/// the deprecated global event stream, which homeservers still serve.
pub(crate) fn events(request: Http<'_>, args: &[&str]) -> Parsed {
    let peeking = request
        .uri()
        .query()
        .is_some_and(|query| query.split('&').any(|pair| pair.starts_with("room_id=")));
    if peeking {
        let _: api::peeking::listen_to_new_events::v3::Request = ruma(request, args)?;
    }
    Ok(Action::Other)
}

/// A deprecated endpoint ruma does not describe (`GET /initialSync`): no
/// path parameters, no body; its query is the homeserver's to read.
pub(crate) fn legacy(request: Http<'_>, _args: &[&str]) -> Parsed {
    if request.body().is_empty() || request.body() == b"{}" {
        Ok(Action::Other)
    } else {
        Err(ClassifyError::BadJson(
            "this endpoint takes no body".to_owned(),
        ))
    }
}

/// `GET /_matrix/client/v3/rooms/{roomId}/messages`. `dir` has been
/// required since spec v1.4; clients written before omit it, and
/// homeservers still take that as forwards, as the older versions said.
/// Only the parse fills it in: the request is forwarded as it came.
pub(crate) fn messages(request: Http<'_>, args: &[&str]) -> Parsed {
    let query = request.uri().query().unwrap_or_default();
    let has_dir = query
        .split('&')
        .any(|pair| pair == "dir" || pair.starts_with("dir="));
    let request = if has_dir {
        request
    } else {
        let path = request.uri().path();
        let uri = match query {
            "" => format!("{path}?dir=f"),
            query => format!("{path}?{query}&dir=f"),
        };
        let (mut parts, body) = request.into_parts();
        parts.uri = uri.parse().map_err(|error: http::uri::InvalidUri| {
            ClassifyError::InvalidParam(error.to_string())
        })?;
        http::Request::from_parts(parts, body)
    };
    let _: api::message::get_message_events::v3::Request = ruma(request, args)?;
    Ok(Action::Other)
}

/// `POST /_matrix/client/v3/createRoom`
pub(crate) fn create_room(request: Http<'_>, args: &[&str]) -> Parsed {
    let body = raw_body(request.body())?;
    let r: api::room::create_room::v3::Request = ruma(request, args)?;
    Ok(Action::CreateRoom {
        room_version: r.room_version,
        preset: r.preset.map(|preset| preset.as_str().to_owned()),
        public: r.visibility == api::room::Visibility::Public,
        invite: r.invite,
        is_direct: r.is_direct,
        body,
    })
}

/// `POST /_matrix/client/v3/rooms/{roomId}/invite`
pub(crate) fn invite_user(request: Http<'_>, args: &[&str]) -> Parsed {
    use api::membership::invite_user::v3::{InvitationRecipient, Request};
    let r: Request = ruma(request, args)?;
    let invitee = match r.recipient {
        InvitationRecipient::UserId(invite) => Some(invite.user_id),
        _ => None,
    };
    Ok(Action::Invite {
        room_id: r.room_id,
        invitee,
    })
}

/// `POST /_matrix/client/v3/rooms/{roomId}/join`
pub(crate) fn join_room_by_id(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::membership::join_room_by_id::v3::Request = ruma(request, args)?;
    Ok(Action::Join {
        room: r.room_id.into(),
        via: Vec::new(),
    })
}

/// `POST /_matrix/client/v3/join/{roomIdOrAlias}`
pub(crate) fn join_room_by_id_or_alias(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::membership::join_room_by_id_or_alias::v3::Request = ruma(request, args)?;
    Ok(Action::Join {
        room: r.room_id_or_alias,
        via: r.via,
    })
}

/// `POST /_matrix/client/v3/knock/{roomIdOrAlias}`
pub(crate) fn knock_room(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::knock::knock_room::v3::Request = ruma(request, args)?;
    Ok(Action::Knock {
        room: r.room_id_or_alias,
        via: r.via,
    })
}

/// `GET /_matrix/client/v3/profile/{userId}`
pub(crate) fn get_profile(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::profile::get_profile::v3::Request = ruma(request, args)?;
    Ok(Action::GetProfile { user_id: r.user_id })
}

/// `GET /_matrix/client/v3/profile/{userId}/{field}`
pub(crate) fn get_profile_field(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::profile::get_profile_field::v3::Request = ruma(request, args)?;
    Ok(Action::GetProfile { user_id: r.user_id })
}

/// `GET /_matrix/client/v3/profile/{userId}/avatar_url`
pub(crate) fn get_avatar_url(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::profile::get_avatar_url::v3::Request = ruma(request, args)?;
    Ok(Action::GetProfile { user_id: r.user_id })
}

/// `GET /_matrix/client/v3/profile/{userId}/displayname`
pub(crate) fn get_display_name(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::profile::get_display_name::v3::Request = ruma(request, args)?;
    Ok(Action::GetProfile { user_id: r.user_id })
}

/// `POST /_matrix/client/v3/user_directory/search`
pub(crate) fn search_users(request: Http<'_>, args: &[&str]) -> Parsed {
    let _: api::user_directory::search_users::v3::Request = ruma(request, args)?;
    Ok(Action::SearchUsers)
}

/// `PUT /_matrix/client/v3/directory/list/room/{roomId}`
pub(crate) fn set_room_visibility(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::directory::set_room_visibility::v3::Request = ruma(request, args)?;
    Ok(Action::SetRoomVisibility {
        room_id: r.room_id,
        public: r.visibility == api::room::Visibility::Public,
    })
}

/// `POST /_matrix/client/v3/rooms/{roomId}/leave`
pub(crate) fn leave_room(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::membership::leave_room::v3::Request = ruma(request, args)?;
    Ok(Action::Leave { room_id: r.room_id })
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}`
pub(crate) fn redact_event(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::redact::redact_event::v3::Request = ruma(request, args)?;
    Ok(Action::Redact {
        room_id: r.room_id,
        event_id: r.event_id,
        txn_id: r.txn_id,
        reason: r.reason,
    })
}

/// `POST /_matrix/client/v3/rooms/{roomId}/upgrade`
pub(crate) fn upgrade_room(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::room::upgrade_room::v3::Request = ruma(request, args)?;
    Ok(Action::UpgradeRoom {
        room_id: r.room_id,
        new_version: r.new_version,
    })
}

/// `PUT /_matrix/client/v3/user/{userId}/account_data/{type}`
pub(crate) fn set_global_account_data(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::config::set_global_account_data::v3::Request = ruma(request, args)?;
    Ok(Action::SetAccountData {
        user_id: r.user_id,
        room_id: None,
        event_type: r.event_type.to_string(),
        content: r.data.into_json(),
    })
}

/// `PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}`
pub(crate) fn set_room_account_data(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::config::set_room_account_data::v3::Request = ruma(request, args)?;
    Ok(Action::SetAccountData {
        user_id: r.user_id,
        room_id: Some(r.room_id),
        event_type: r.event_type.to_string(),
        content: r.data.into_json(),
    })
}

/// `POST /_matrix/media/v3/upload` and `PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`.
///
/// The body is streamed and never read here: only the head is classified.
pub(crate) fn upload_media(request: Http<'_>, _args: &[&str]) -> Parsed {
    let header = |name: http::HeaderName| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let content_length = match header(http::header::CONTENT_LENGTH) {
        Some(value) => Some(value.parse::<u64>().map_err(|_| {
            ClassifyError::InvalidParam("Content-Length is not a number".to_owned())
        })?),
        None => None,
    };
    Ok(Action::UploadMedia {
        content_type: header(http::header::CONTENT_TYPE),
        content_length,
    })
}

fn media(server_name: ruma::OwnedServerName, media_id: String, authenticated: bool) -> MediaRef {
    MediaRef {
        server_name: Some(server_name),
        media_id,
        authenticated,
    }
}

/// `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}`
pub(crate) fn download(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::authenticated_media::get_content::v1::Request = ruma(request, args)?;
    Ok(Action::DownloadMedia(media(
        r.server_name,
        r.media_id,
        true,
    )))
}

/// `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}`
pub(crate) fn download_as_filename(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::authenticated_media::get_content_as_filename::v1::Request = ruma(request, args)?;
    Ok(Action::DownloadMedia(media(
        r.server_name,
        r.media_id,
        true,
    )))
}

/// `GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}`
pub(crate) fn thumbnail(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::authenticated_media::get_content_thumbnail::v1::Request = ruma(request, args)?;
    Ok(Action::GetThumbnail(media(r.server_name, r.media_id, true)))
}

/// `GET /_matrix/media/v3/download/{serverName}/{mediaId}` (legacy, unauthenticated)
pub(crate) fn download_legacy(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::media::get_content::v3::Request = ruma(request, args)?;
    Ok(Action::DownloadMedia(media(
        r.server_name,
        r.media_id,
        false,
    )))
}

/// `GET /_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}` (legacy)
pub(crate) fn download_as_filename_legacy(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::media::get_content_as_filename::v3::Request = ruma(request, args)?;
    Ok(Action::DownloadMedia(media(
        r.server_name,
        r.media_id,
        false,
    )))
}

/// `GET /_matrix/media/v3/thumbnail/{serverName}/{mediaId}` (legacy)
pub(crate) fn thumbnail_legacy(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::media::get_content_thumbnail::v3::Request = ruma(request, args)?;
    Ok(Action::GetThumbnail(media(
        r.server_name,
        r.media_id,
        false,
    )))
}

/// `GET /_matrix/client/versions`
pub(crate) fn versions(request: Http<'_>, args: &[&str]) -> Parsed {
    let _: api::discovery::get_supported_versions::Request = ruma(request, args)?;
    Ok(Action::GetVersions)
}

/// `GET /_matrix/client/v1/media/preview_url`
pub(crate) fn preview_url(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::authenticated_media::get_media_preview::v1::Request = ruma(request, args)?;
    Ok(Action::PreviewUrl { url: r.url })
}

/// `GET /_matrix/media/v3/preview_url` (legacy)
pub(crate) fn preview_url_legacy(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::media::get_media_preview::v3::Request = ruma(request, args)?;
    Ok(Action::PreviewUrl { url: r.url })
}

/// `POST /_matrix/client/v3/keys/query`
pub(crate) fn get_keys(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::keys::get_keys::v3::Request = ruma(request, args)?;
    Ok(Action::UserKeys {
        api: Api::Client,
        users: r.device_keys.into_keys().collect(),
    })
}

/// `POST /_matrix/client/v3/keys/claim`
pub(crate) fn claim_keys_v3(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::keys::claim_keys::v3::Request = ruma(request, args)?;
    Ok(Action::UserKeys {
        api: Api::Client,
        users: r.one_time_keys.into_keys().collect(),
    })
}

/// `POST /_matrix/client/v3/keys/upload`
pub(crate) fn upload_keys(request: Http<'_>, args: &[&str]) -> Parsed {
    let _: api::keys::upload_keys::v3::Request = ruma(request, args)?;
    Ok(Action::UserKeys {
        api: Api::Client,
        users: Vec::new(),
    })
}

/// `GET /_matrix/client/v3/publicRooms`
pub(crate) fn public_rooms(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::directory::get_public_rooms::v3::Request = ruma(request, args)?;
    Ok(Action::PublicRooms {
        api: Api::Client,
        server: r.server,
    })
}

/// `POST /_matrix/client/v3/publicRooms`
pub(crate) fn public_rooms_filtered(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::directory::get_public_rooms_filtered::v3::Request = ruma(request, args)?;
    Ok(Action::PublicRooms {
        api: Api::Client,
        server: r.server,
    })
}

/// `GET /_matrix/client/v1/rooms/{roomId}/hierarchy`
pub(crate) fn hierarchy(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::space::get_hierarchy::v1::Request = ruma(request, args)?;
    Ok(Action::Hierarchy {
        api: Api::Client,
        room_id: r.room_id,
    })
}
