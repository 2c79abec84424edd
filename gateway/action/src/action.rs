//! [`Action`]: one request, in Matrix terms.
//!
//! The variants with fields are the requests that policy inspects; every
//! other recognised endpoint is [`Action::Other`], and anything that is not a
//! Matrix endpoint is [`Action::Unrecognized`]. Raw JSON is kept as
//! [`RawValue`]: parsed views for policy, the original bytes for forwarding.

use http::Method;
use ruma::{
    OwnedEventId, OwnedRoomAliasId, OwnedRoomId, OwnedRoomOrAliasId, OwnedServerName,
    OwnedTransactionId, OwnedUserId, RoomVersionId,
};
use serde_json::value::RawValue;

use crate::{Api, Endpoint};

/// A classified request: the endpoint it was recognised as, and its action.
#[derive(Clone, Debug)]
pub struct Classified {
    /// The endpoint, or `None` when the request is not a Matrix endpoint.
    pub endpoint: Option<Endpoint>,
    /// What the request does.
    pub action: Action,
}

/// A piece of media named by its `mxc://` parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaRef {
    /// The server that holds the media (the origin of the `mxc://` URI);
    /// `None` on the federation API, where it is the receiving server.
    pub server_name: Option<OwnedServerName>,
    /// The media id on that server.
    pub media_id: String,
    /// Whether the authenticated media endpoint (`/_matrix/client/v1/media`) was used.
    pub authenticated: bool,
}

/// A federation transaction, `PUT /_matrix/federation/v1/send/{txnId}`.
#[derive(Clone, Debug)]
pub struct Transaction {
    /// The server that sent the transaction, from its body.
    pub origin: OwnedServerName,
    /// The transaction id from the path.
    pub txn_id: OwnedTransactionId,
    /// The persistent data units, byte for byte as sent.
    pub pdus: Vec<Box<RawValue>>,
    /// The ephemeral data units, byte for byte as sent.
    pub edus: Vec<Box<RawValue>>,
}

/// One request, classified.
#[derive(Clone, Debug)]
pub enum Action {
    // ----- client-server API -----
    /// `PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}`
    SendMessageEvent {
        /// The room the event is sent to.
        room_id: OwnedRoomId,
        /// The event type, e.g. `m.room.message`.
        event_type: String,
        /// The client's transaction id.
        txn_id: OwnedTransactionId,
        /// The event content as sent.
        content: Box<RawValue>,
    },
    /// `PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`
    SendStateEvent {
        /// The room the state event is sent to.
        room_id: OwnedRoomId,
        /// The event type, e.g. `m.room.join_rules`.
        event_type: String,
        /// The state key (may be empty).
        state_key: String,
        /// The event content as sent.
        content: Box<RawValue>,
    },
    /// `POST /_matrix/client/v3/createRoom`
    CreateRoom {
        /// The room version asked for, if any.
        room_version: Option<RoomVersionId>,
        /// The preset asked for, if any (`private_chat`, `public_chat`, …).
        preset: Option<String>,
        /// Whether the room is published in the room directory.
        public: bool,
        /// Users invited at creation.
        invite: Vec<OwnedUserId>,
        /// Whether the room is flagged as a direct chat.
        is_direct: bool,
        /// The whole request body as sent (initial state, creation content,
        /// power levels: what room rules inspect).
        body: Box<RawValue>,
    },
    /// `POST /_matrix/client/v3/rooms/{roomId}/invite`
    Invite {
        /// The room the invite is for.
        room_id: OwnedRoomId,
        /// The invited user; `None` for a third-party (e-mail, phone) invite.
        invitee: Option<OwnedUserId>,
    },
    /// `POST /_matrix/client/v3/join/{roomIdOrAlias}` and `…/rooms/{roomId}/join`
    Join {
        /// The room id or alias joined.
        room: OwnedRoomOrAliasId,
        /// Servers to join through.
        via: Vec<OwnedServerName>,
    },
    /// `POST /_matrix/client/v3/knock/{roomIdOrAlias}`
    Knock {
        /// The room id or alias knocked on.
        room: OwnedRoomOrAliasId,
        /// Servers to knock through.
        via: Vec<OwnedServerName>,
    },
    /// `POST /_matrix/client/v3/rooms/{roomId}/leave`
    Leave {
        /// The room left.
        room_id: OwnedRoomId,
    },
    /// `PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}`
    Redact {
        /// The room of the redacted event.
        room_id: OwnedRoomId,
        /// The redacted event.
        event_id: OwnedEventId,
        /// The client's transaction id.
        txn_id: OwnedTransactionId,
        /// The reason given, if any.
        reason: Option<String>,
    },
    /// `POST /_matrix/client/v3/rooms/{roomId}/upgrade`
    UpgradeRoom {
        /// The room upgraded.
        room_id: OwnedRoomId,
        /// The version upgraded to.
        new_version: RoomVersionId,
    },
    /// `PUT /_matrix/client/v3/user/{userId}[/rooms/{roomId}]/account_data/{type}`
    SetAccountData {
        /// The user whose account data is set.
        user_id: OwnedUserId,
        /// The room, for room account data.
        room_id: Option<OwnedRoomId>,
        /// The account data type, e.g. `m.direct`.
        event_type: String,
        /// The content as sent.
        content: Box<RawValue>,
    },
    /// `POST /_matrix/media/v3/upload` (the body is streamed, not inspected)
    UploadMedia {
        /// The declared `Content-Type`.
        content_type: Option<String>,
        /// The declared `Content-Length`.
        content_length: Option<u64>,
    },
    /// Media download, legacy or authenticated, client or federation.
    DownloadMedia(MediaRef),
    /// Media thumbnail, legacy or authenticated, client or federation.
    GetThumbnail(MediaRef),
    /// `GET /_matrix/client/versions`
    GetVersions,
    /// `GET /_matrix/client/v1/media/preview_url` (and the legacy media path)
    PreviewUrl {
        /// The URL to preview.
        url: String,
    },

    // ----- server-server API -----
    /// `PUT /_matrix/federation/v1/send/{txnId}`
    SendTransaction(Box<Transaction>),
    /// `GET /_matrix/federation/v1/make_join/{roomId}/{userId}`
    MakeJoin {
        /// The room to join.
        room_id: OwnedRoomId,
        /// The remote user who joins.
        user_id: OwnedUserId,
    },
    /// `PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}`
    SendJoin {
        /// The room joined.
        room_id: OwnedRoomId,
        /// The join event's id.
        event_id: OwnedEventId,
        /// The join event as sent.
        pdu: Box<RawValue>,
    },
    /// `GET /_matrix/federation/v1/make_leave/{roomId}/{userId}`
    MakeLeave {
        /// The room to leave.
        room_id: OwnedRoomId,
        /// The remote user who leaves.
        user_id: OwnedUserId,
    },
    /// `PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId}`
    SendLeave {
        /// The room left.
        room_id: OwnedRoomId,
        /// The leave event's id.
        event_id: OwnedEventId,
        /// The leave event as sent.
        pdu: Box<RawValue>,
    },
    /// `GET /_matrix/federation/v1/make_knock/{roomId}/{userId}`
    MakeKnock {
        /// The room to knock on.
        room_id: OwnedRoomId,
        /// The remote user who knocks.
        user_id: OwnedUserId,
    },
    /// `PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId}`
    SendKnock {
        /// The room knocked on.
        room_id: OwnedRoomId,
        /// The knock event's id.
        event_id: OwnedEventId,
        /// The knock event as sent.
        pdu: Box<RawValue>,
    },
    /// `PUT /_matrix/federation/v{1,2}/invite/{roomId}/{eventId}`
    FederationInvite {
        /// The endpoint version, 1 or 2.
        version: u8,
        /// The room the invite is for.
        room_id: OwnedRoomId,
        /// The invite event's id.
        event_id: OwnedEventId,
        /// The room version (v2 only).
        room_version: Option<RoomVersionId>,
        /// The invite event as sent.
        event: Box<RawValue>,
    },
    /// `GET /_matrix/federation/v1/backfill/{roomId}`
    Backfill {
        /// The room backfilled.
        room_id: OwnedRoomId,
        /// How many events were asked for.
        limit: u64,
    },
    /// `POST /_matrix/federation/v1/get_missing_events/{roomId}`
    GetMissingEvents {
        /// The room the events are missing from.
        room_id: OwnedRoomId,
    },
    /// `GET /_matrix/federation/v1/state{,_ids}/{roomId}`
    GetRoomState {
        /// The room whose state is asked for.
        room_id: OwnedRoomId,
        /// The event at which the state is asked for.
        event_id: OwnedEventId,
        /// Whether only event ids were asked for (`/state_ids`).
        ids_only: bool,
    },
    /// `GET /_matrix/federation/v1/event/{eventId}`
    GetEvent {
        /// The event asked for.
        event_id: OwnedEventId,
    },
    /// `GET /_matrix/federation/v1/query/profile`
    QueryProfile {
        /// The user whose profile is asked for.
        user_id: OwnedUserId,
        /// The profile field asked for, if only one.
        field: Option<String>,
    },
    /// `GET /_matrix/client/v3/profile/{userId}` and its single-field forms
    GetProfile {
        /// The user whose profile is asked for.
        user_id: OwnedUserId,
    },
    /// `POST /_matrix/client/v3/user_directory/search`
    SearchUsers,
    /// `PUT /_matrix/client/v3/directory/list/room/{roomId}`
    SetRoomVisibility {
        /// The room listed, or taken out of the room directory.
        room_id: OwnedRoomId,
        /// Whether it is to be listed (`visibility: public`).
        public: bool,
    },
    /// `GET /_matrix/federation/v1/query/directory`
    QueryDirectory {
        /// The room alias resolved.
        room_alias: OwnedRoomAliasId,
    },
    /// Device keys: `POST …/keys/query`, `…/keys/claim` (client or federation)
    /// and `POST /_matrix/client/v3/keys/upload`.
    UserKeys {
        /// The API the request came on.
        api: Api,
        /// The users whose keys are queried or claimed (empty for an upload).
        users: Vec<OwnedUserId>,
    },
    /// `GET /_matrix/federation/v1/user/devices/{userId}`
    UserDevices {
        /// The user whose devices are asked for.
        user_id: OwnedUserId,
    },
    /// Server signing keys: `GET /_matrix/key/v2/server` and the notary endpoints.
    ServerKeys {
        /// The server whose keys are asked for, for notary queries.
        server_name: Option<OwnedServerName>,
    },
    /// The public room directory (client or federation).
    PublicRooms {
        /// The API the request came on.
        api: Api,
        /// The remote server whose directory is asked for (client API only).
        server: Option<OwnedServerName>,
    },
    /// A space hierarchy (client or federation).
    Hierarchy {
        /// The API the request came on.
        api: Api,
        /// The space room.
        room_id: OwnedRoomId,
    },

    // ----- everything else -----
    /// A CORS preflight (`OPTIONS`) on a recognised Matrix path.
    Preflight,
    /// Any other recognised endpoint; its request was checked against the spec.
    Other,
    /// Not a Matrix endpoint at all.
    Unrecognized {
        /// The request method.
        method: Method,
        /// The request path (no query).
        path: String,
    },
}

impl Action {
    /// The short, stable name of the action's kind, as recorded in the audit
    /// log and metrics (`other` for endpoints without a typed action).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SendMessageEvent { .. } => "send_message_event",
            Self::SendStateEvent { .. } => "send_state_event",
            Self::CreateRoom { .. } => "create_room",
            Self::Invite { .. } => "invite_user",
            Self::Join { .. } => "join_room",
            Self::Knock { .. } => "knock_room",
            Self::Leave { .. } => "leave_room",
            Self::Redact { .. } => "redact_event",
            Self::UpgradeRoom { .. } => "upgrade_room",
            Self::SetAccountData { .. } => "set_account_data",
            Self::UploadMedia { .. } => "create_content",
            Self::DownloadMedia(_) => "get_content",
            Self::GetThumbnail(_) => "get_content_thumbnail",
            Self::GetVersions => "get_supported_versions",
            Self::PreviewUrl { .. } => "get_media_preview",
            Self::SendTransaction(_) => "send_transaction_message",
            Self::MakeJoin { .. } => "prepare_join_event",
            Self::SendJoin { .. } => "create_join_event",
            Self::MakeLeave { .. } => "prepare_leave_event",
            Self::SendLeave { .. } => "create_leave_event",
            Self::MakeKnock { .. } => "prepare_knock_event",
            Self::SendKnock { .. } => "create_knock_event",
            Self::FederationInvite { .. } => "create_invite",
            Self::Backfill { .. } => "get_backfill",
            Self::GetMissingEvents { .. } => "get_missing_events",
            Self::GetRoomState { .. } => "get_room_state",
            Self::GetEvent { .. } => "get_event",
            Self::QueryProfile { .. } => "get_profile_information",
            Self::QueryDirectory { .. } => "get_room_information",
            Self::GetProfile { .. } => "get_profile",
            Self::SearchUsers => "search_users",
            Self::SetRoomVisibility { .. } => "set_room_visibility",
            Self::UserKeys { .. } => "user_keys",
            Self::UserDevices { .. } => "get_devices",
            Self::ServerKeys { .. } => "server_keys",
            Self::PublicRooms { .. } => "public_rooms",
            Self::Hierarchy { .. } => "get_hierarchy",
            Self::Preflight => "preflight",
            Self::Other => "other",
            Self::Unrecognized { .. } => "unrecognized",
        }
    }
}
