//! Every rule id built into the gateway, in one place: those of the
//! request's head and body, of the profile's defaults, of federation, of the
//! connection layer and of faults. A profile's own rules carry the ids the
//! profile gives them.

use crate::RuleId;

/// A recognised endpoint passed by the profile's default.
pub const ENDPOINT_ALLOWED: RuleId = RuleId::builtin("endpoint.allowed");
/// A recognised endpoint refused by the profile's default.
pub const ENDPOINT_DENIED: RuleId = RuleId::builtin("endpoint.denied");
/// A path that is not a Matrix endpoint.
pub const ENDPOINT_UNRECOGNIZED: RuleId = RuleId::builtin("endpoint.unrecognized");
/// A homeserver-specific path the profile lets pass.
pub const HOMESERVER_PATH: RuleId = RuleId::builtin("endpoint.homeserver_path");
/// A known path called with the wrong method.
pub const METHOD_NOT_ALLOWED: RuleId = RuleId::builtin("request.method_not_allowed");
/// A request target another hop could resolve differently (dot segments,
/// encoded slashes outside a route parameter, NUL, raw non-ASCII, bad
/// escapes, a fragment, …).
pub const PATH_MALFORMED: RuleId = RuleId::builtin("request.path_malformed");
/// A query another hop could read differently (a NUL, raw non-ASCII).
pub const QUERY_MALFORMED: RuleId = RuleId::builtin("request.query_malformed");
/// A missing, repeated or malformed `Host`.
pub const HOST_INVALID: RuleId = RuleId::builtin("request.host_invalid");
/// A `Connection` header naming an end-to-end header.
pub const CONNECTION_INVALID: RuleId = RuleId::builtin("request.connection_invalid");
/// Request framing that is not unambiguous (`Transfer-Encoding` other than
/// `chunked`, both `Content-Length` and `Transfer-Encoding`, bare LF, …).
pub const FRAMING_INVALID: RuleId = RuleId::builtin("request.framing_invalid");
/// A client address over its request rate.
pub const LIMIT_CLIENT: RuleId = RuleId::builtin("limit.client_address");
/// A federation origin over its request rate.
pub const LIMIT_ORIGIN: RuleId = RuleId::builtin("limit.federation_origin");
/// A connection closed at once: its address has its limit's worth open.
pub const LIMIT_CONNECTIONS: RuleId = RuleId::builtin("limit.connections");
/// A body that is not JSON.
pub const NOT_JSON: RuleId = RuleId::builtin("request.not_json");
/// JSON of the wrong shape.
pub const BAD_JSON: RuleId = RuleId::builtin("request.bad_json");
/// JSON nested too deeply.
pub const TOO_DEEP: RuleId = RuleId::builtin("request.too_deep");
/// A bad path segment or query parameter.
pub const INVALID_PARAM: RuleId = RuleId::builtin("request.invalid_param");
/// A body over the size limit.
pub const TOO_LARGE: RuleId = RuleId::builtin("request.too_large");
/// A body that did not arrive in time.
pub const BODY_TIMEOUT: RuleId = RuleId::builtin("request.body_timeout");
/// A body whose stream broke.
pub const BODY_UNREADABLE: RuleId = RuleId::builtin("request.body_unreadable");
/// A request for an API the listener does not serve.
pub const API_NOT_SERVED: RuleId = RuleId::builtin("listener.api_not_served");
/// An `X-Matrix` authorization that is not exactly one well-formed header.
pub const BAD_AUTHORIZATION: RuleId = RuleId::builtin("federation.bad_authorization");
/// An event content that is not canonical JSON.
pub const EVENT_NOT_CANONICAL: RuleId = RuleId::builtin("event.not_canonical");
/// An event content that does not match its schema.
pub const EVENT_SCHEMA_INVALID: RuleId = RuleId::builtin("event.schema_invalid");
/// An event content over the profile's size limit.
pub const EVENT_TOO_LARGE: RuleId = RuleId::builtin("event.too_large");
/// A room whose state the gateway needed but could not learn.
pub const ROOM_STATE_UNAVAILABLE: RuleId = RuleId::builtin("room.state_unavailable");
/// A targeted event the gateway needed to see but could not.
pub const EVENT_UNAVAILABLE: RuleId = RuleId::builtin("event.unavailable");
/// Whether the acting user shares a room with the user looked up could
/// not be learned.
pub const SHARED_ROOMS_UNAVAILABLE: RuleId = RuleId::builtin("lookup.shared_rooms_unavailable");
/// The joiner's membership in the room could not be learned.
pub const MEMBERSHIP_UNAVAILABLE: RuleId = RuleId::builtin("room.membership_unavailable");
/// A room's members, which a rule on how many it may hold reads, could not
/// be learned.
pub const MEMBERS_UNAVAILABLE: RuleId = RuleId::builtin("room.members_unavailable");
/// An invitee's invite-permission settings could not be learned.
pub const INVITE_PERMISSIONS_UNAVAILABLE: RuleId =
    RuleId::builtin("invite.permissions_unavailable");
/// An application service the profile's default refuses.
pub const APPSERVICE_DENIED: RuleId = RuleId::builtin("appservice.denied");
/// A request bearing the gateway's own application service token.
pub const APPSERVICE_GATEWAY_TOKEN: RuleId = RuleId::builtin("appservice.gateway_token");
/// An invite-permission setting of the wrong shape.
pub const INVITE_PERMISSIONS_INVALID: RuleId = RuleId::builtin("invite.permissions_invalid");
/// A request head not whole within `limits.header_read_timeout`.
pub const HEAD_TIMEOUT: RuleId = RuleId::builtin("request.head_timeout");
/// A request head over `limits.max_header_bytes` or `limits.max_headers`.
pub const HEAD_TOO_LARGE: RuleId = RuleId::builtin("request.head_too_large");
/// A request head hyper could not parse.
pub const HEAD_MALFORMED: RuleId = RuleId::builtin("request.head_malformed");
/// The audit record could not be made durable.
pub const AUDIT_UNAVAILABLE: RuleId = RuleId::builtin("audit.unavailable");
/// The homeserver could not be reached or broke the connection.
pub const UPSTREAM_UNREACHABLE: RuleId = RuleId::builtin("upstream.unreachable");
/// The homeserver did not answer in time.
pub const UPSTREAM_TIMEOUT: RuleId = RuleId::builtin("upstream.timeout");

/// The federation rule ids.
pub mod federation {
    use crate::RuleId;

    /// Federation is not configured: signed requests are refused.
    pub const DISABLED: RuleId = RuleId::builtin("federation.disabled");
    /// A federation endpoint called without an `X-Matrix` signature.
    pub const UNSIGNED: RuleId = RuleId::builtin("federation.unsigned");
    /// The `X-Matrix` destination is another server.
    pub const WRONG_DESTINATION: RuleId = RuleId::builtin("federation.wrong_destination");
    /// The origin's keys could not be had from the origin.
    pub const KEYS_UNAVAILABLE: RuleId = RuleId::builtin("federation.keys_unavailable");
    /// The `X-Matrix` signature does not verify.
    pub const BAD_SIGNATURE: RuleId = RuleId::builtin("federation.bad_signature");
    /// The federation list is past its maximum age.
    pub const LIST_STALE: RuleId = RuleId::builtin("federation.list_stale");
    /// The requesting server is not on the allowlist.
    pub const ORIGIN_NOT_ALLOWED: RuleId = RuleId::builtin("federation.origin_not_allowed");
    /// A transaction's `origin` differs from its signer.
    pub const ORIGIN_MISMATCH: RuleId = RuleId::builtin("federation.origin_mismatch");
    /// A transaction carries PDUs or EDUs that are refused.
    pub const TRANSACTION_ITEMS: RuleId = RuleId::builtin("federation.transaction_items");
    /// A membership event or request made for another server's user.
    pub const NOT_ORIGINS_USER: RuleId = RuleId::builtin("federation.not_origins_user");
    /// A user id that should be local is not.
    pub const USER_NOT_LOCAL: RuleId = RuleId::builtin("federation.user_not_local");
    /// The room id in the path differs from the event's.
    pub const ROOM_MISMATCH: RuleId = RuleId::builtin("federation.room_mismatch");
    /// A membership event that names or is signed by a server outside the federation.
    pub const EVENT_NOT_ALLOWED: RuleId = RuleId::builtin("federation.event_not_allowed");
    /// The homeserver's own request to a server on the allowlist.
    pub const OUTBOUND_ALLOWED: RuleId = RuleId::builtin("federation.outbound_allowed");
    /// The homeserver's own request to a server outside the federation.
    pub const DESTINATION_NOT_ALLOWED: RuleId =
        RuleId::builtin("federation.destination_not_allowed");
    /// A client request that would reach a server outside the federation.
    pub const REMOTE_NOT_ALLOWED: RuleId = RuleId::builtin("federation.remote_not_allowed");
}
