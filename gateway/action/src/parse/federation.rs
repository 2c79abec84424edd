//! Typed actions for the server-server API
//! (<https://spec.matrix.org/latest/server-server-api/>).

use ruma::api::federation as api;

use super::{raw_body, ruma};
use crate::{Action, Api, ClassifyError, MediaRef, Transaction};

type Parsed = Result<Action, ClassifyError>;
type Http<'a> = http::Request<&'a [u8]>;

/// `PUT /_matrix/federation/v1/send/{txnId}`
pub(crate) fn send_transaction(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::transactions::send_transaction_message::v1::Request = ruma(request, args)?;
    Ok(Action::SendTransaction(Box::new(Transaction {
        origin: r.origin,
        txn_id: r.transaction_id,
        pdus: r.pdus,
        edus: r.edus.into_iter().map(|edu| edu.into_json()).collect(),
    })))
}

/// `GET /_matrix/federation/v1/make_join/{roomId}/{userId}`
pub(crate) fn make_join(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::membership::prepare_join_event::v1::Request = ruma(request, args)?;
    Ok(Action::MakeJoin {
        room_id: r.room_id,
        user_id: r.user_id,
    })
}

/// `PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}`
pub(crate) fn send_join(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::membership::create_join_event::v2::Request = ruma(request, args)?;
    Ok(Action::SendJoin {
        room_id: r.room_id,
        event_id: r.event_id,
        pdu: r.pdu,
    })
}

/// `GET /_matrix/federation/v1/make_leave/{roomId}/{userId}`
pub(crate) fn make_leave(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::membership::prepare_leave_event::v1::Request = ruma(request, args)?;
    Ok(Action::MakeLeave {
        room_id: r.room_id,
        user_id: r.user_id,
    })
}

/// `PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId}`
pub(crate) fn send_leave(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::membership::create_leave_event::v2::Request = ruma(request, args)?;
    Ok(Action::SendLeave {
        room_id: r.room_id,
        event_id: r.event_id,
        pdu: r.pdu,
    })
}

/// `GET /_matrix/federation/v1/make_knock/{roomId}/{userId}`
pub(crate) fn make_knock(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::membership::prepare_knock_event::v1::Request = ruma(request, args)?;
    Ok(Action::MakeKnock {
        room_id: r.room_id,
        user_id: r.user_id,
    })
}

/// `PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId}`
pub(crate) fn send_knock(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::membership::create_knock_event::v1::Request = ruma(request, args)?;
    Ok(Action::SendKnock {
        room_id: r.room_id,
        event_id: r.event_id,
        pdu: r.pdu,
    })
}

/// `PUT /_matrix/federation/v1/invite/{roomId}/{eventId}` (the body is the event)
pub(crate) fn invite_v1(request: Http<'_>, args: &[&str]) -> Parsed {
    let event = raw_body(request.body())?;
    let r: api::membership::create_invite::v1::Request = ruma(request, args)?;
    Ok(Action::FederationInvite {
        version: 1,
        room_id: r.room_id,
        event_id: r.event_id,
        room_version: None,
        event,
    })
}

/// `PUT /_matrix/federation/v2/invite/{roomId}/{eventId}`
pub(crate) fn invite_v2(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::membership::create_invite::v2::Request = ruma(request, args)?;
    Ok(Action::FederationInvite {
        version: 2,
        room_id: r.room_id,
        event_id: r.event_id,
        room_version: Some(r.room_version),
        event: r.event,
    })
}

/// `GET /_matrix/federation/v1/backfill/{roomId}`
pub(crate) fn backfill(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::backfill::get_backfill::v1::Request = ruma(request, args)?;
    Ok(Action::Backfill {
        room_id: r.room_id,
        limit: r.limit.into(),
    })
}

/// `POST /_matrix/federation/v1/get_missing_events/{roomId}`
pub(crate) fn get_missing_events(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::event::get_missing_events::v1::Request = ruma(request, args)?;
    Ok(Action::GetMissingEvents { room_id: r.room_id })
}

/// `GET /_matrix/federation/v1/state/{roomId}`
pub(crate) fn room_state(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::event::get_room_state::v1::Request = ruma(request, args)?;
    Ok(Action::GetRoomState {
        room_id: r.room_id,
        event_id: r.event_id,
        ids_only: false,
    })
}

/// `GET /_matrix/federation/v1/state_ids/{roomId}`
pub(crate) fn room_state_ids(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::event::get_room_state_ids::v1::Request = ruma(request, args)?;
    Ok(Action::GetRoomState {
        room_id: r.room_id,
        event_id: r.event_id,
        ids_only: true,
    })
}

/// `GET /_matrix/federation/v1/event/{eventId}`
pub(crate) fn get_event(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::event::get_event::v1::Request = ruma(request, args)?;
    Ok(Action::GetEvent {
        event_id: r.event_id,
    })
}

/// `GET /_matrix/federation/v1/query/profile`
pub(crate) fn query_profile(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::query::get_profile_information::v1::Request = ruma(request, args)?;
    Ok(Action::QueryProfile {
        user_id: r.user_id,
        field: r.field.map(|field| field.as_str().to_owned()),
    })
}

/// `GET /_matrix/federation/v1/query/directory`
pub(crate) fn query_directory(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::query::get_room_information::v1::Request = ruma(request, args)?;
    Ok(Action::QueryDirectory {
        room_alias: r.room_alias,
    })
}

/// `POST /_matrix/federation/v1/user/keys/query`
pub(crate) fn get_keys(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::keys::get_keys::v1::Request = ruma(request, args)?;
    Ok(Action::UserKeys {
        api: Api::Federation,
        users: r.device_keys.into_keys().collect(),
    })
}

/// `POST /_matrix/federation/v1/user/keys/claim`
pub(crate) fn claim_keys(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::keys::claim_keys::v1::Request = ruma(request, args)?;
    Ok(Action::UserKeys {
        api: Api::Federation,
        users: r.one_time_keys.into_keys().collect(),
    })
}

/// `GET /_matrix/federation/v1/user/devices/{userId}`
pub(crate) fn get_devices(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::device::get_devices::v1::Request = ruma(request, args)?;
    Ok(Action::UserDevices { user_id: r.user_id })
}

/// `GET /_matrix/key/v2/server`
pub(crate) fn server_keys(request: Http<'_>, args: &[&str]) -> Parsed {
    let _: api::discovery::get_server_keys::v2::Request = ruma(request, args)?;
    Ok(Action::ServerKeys { server_name: None })
}

/// `GET /_matrix/key/v2/query/{serverName}`
pub(crate) fn remote_server_keys(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::discovery::get_remote_server_keys::v2::Request = ruma(request, args)?;
    Ok(Action::ServerKeys {
        server_name: Some(r.server_name),
    })
}

/// `POST /_matrix/key/v2/query`
pub(crate) fn remote_server_keys_batch(request: Http<'_>, args: &[&str]) -> Parsed {
    let _: api::discovery::get_remote_server_keys_batch::v2::Request = ruma(request, args)?;
    Ok(Action::ServerKeys { server_name: None })
}

/// `GET /_matrix/federation/v1/publicRooms`
pub(crate) fn public_rooms(request: Http<'_>, args: &[&str]) -> Parsed {
    let _: api::directory::get_public_rooms::v1::Request = ruma(request, args)?;
    Ok(Action::PublicRooms {
        api: Api::Federation,
        server: None,
    })
}

/// `POST /_matrix/federation/v1/publicRooms`
pub(crate) fn public_rooms_filtered(request: Http<'_>, args: &[&str]) -> Parsed {
    let _: api::directory::get_public_rooms_filtered::v1::Request = ruma(request, args)?;
    Ok(Action::PublicRooms {
        api: Api::Federation,
        server: None,
    })
}

/// `GET /_matrix/federation/v1/hierarchy/{roomId}`
pub(crate) fn hierarchy(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::space::get_hierarchy::v1::Request = ruma(request, args)?;
    Ok(Action::Hierarchy {
        api: Api::Federation,
        room_id: r.room_id,
    })
}

/// `GET /_matrix/federation/v1/media/download/{mediaId}`
pub(crate) fn download(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::authenticated_media::get_content::v1::Request = ruma(request, args)?;
    Ok(Action::DownloadMedia(MediaRef {
        server_name: None,
        media_id: r.media_id,
        authenticated: true,
    }))
}

/// `GET /_matrix/federation/v1/media/thumbnail/{mediaId}`
pub(crate) fn thumbnail(request: Http<'_>, args: &[&str]) -> Parsed {
    let r: api::authenticated_media::get_content_thumbnail::v1::Request = ruma(request, args)?;
    Ok(Action::GetThumbnail(MediaRef {
        server_name: None,
        media_id: r.media_id,
        authenticated: true,
    }))
}
