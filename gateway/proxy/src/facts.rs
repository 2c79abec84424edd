//! The facts `decide` needs about rooms, events and users, learned from the
//! homeserver through the requester's own access, and cached.
//!
//! - Room state (`GET …/rooms/{roomId}/state/{type}/`; `m.room.create`
//!   whole, its sender kept as its content's `creator`): a room that is
//!   encrypted stays encrypted, so that answer is kept until evicted; other
//!   state is kept for [`STATE_TTL`]. State that passes through the gateway
//!   (a `createRoom`, a state event set) is learned without asking
//!   (see `learn.rs`).
//! - Events (`GET …/rooms/{roomId}/event/{eventId}`): their timestamp
//!   never changes; kept until evicted.
//! - Users (`GET …/account/whoami`): which user an access token (and an
//!   application service's `user_id` parameter) acts for, kept for
//!   [`WHOAMI_TTL`]. Tokens are kept only as SHA-256 digests.
//! - Invitees' invite-permission settings (`GET …/user/{userId}/account_data/{type}`),
//!   read as the invitee through the gateway's application service, since
//!   only the user can read their account data; kept for [`SETTINGS_TTL`]
//!   and replaced as soon as a user's new setting passes through.
//! - Whether the requester shares a room with a user they look up: see
//!   `shared_rooms.rs`.
//!
//! - A room's listing in the room directory, its members, the requester's
//!   membership in it: asked each time (`room_facts.rs`).
//!
//! A fact the homeserver will not show the requester (403, 404 for an
//! event) is simply unknown: `decide` then refuses what needed it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::upstream::Upstream;
use axum::body::Body;
use http::header::AUTHORIZATION;
use http::request::Parts;
use http::{HeaderValue, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use quick_cache::sync::Cache;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use sectorgate_action::access_token;
use sectorgate_policy::profile::PermissionFacts;
use sectorgate_policy::{EventFacts, Needs, RoomFacts};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::respond::Fault;
use crate::room_facts;
use crate::shared_rooms::SharedRooms;
use crate::{Gateway, ProxyConfig};

/// How long learned room state (other than encryption) is believed.
pub const STATE_TTL: Duration = Duration::from_secs(30);
/// How long a token's user is believed.
pub const WHOAMI_TTL: Duration = Duration::from_secs(600);
/// How long a user's invite-permission setting is believed (a change
/// through the gateway is seen at once).
pub const SETTINGS_TTL: Duration = Duration::from_secs(60);
/// Largest answer read from the homeserver for a fact.
const MAX_FACT_BYTES: usize = 64 * 1024;
/// Entries per cache.
const CACHE_ENTRIES: usize = 100_000;

type Stamped<T> = (Instant, T);

/// The caches, shared by all requests.
pub(crate) struct FactCache {
    state: Cache<(OwnedRoomId, String), Stamped<Option<Value>>>,
    events: Cache<OwnedEventId, EventFacts>,
    users: Cache<[u8; 32], Stamped<OwnedUserId>>,
    settings: Cache<(OwnedUserId, String), Stamped<Option<Value>>>,
    shared_rooms: SharedRooms,
}

impl std::fmt::Debug for FactCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FactCache")
            .field("state", &self.state.len())
            .field("events", &self.events.len())
            .field("users", &self.users.len())
            .field("shared_rooms", &self.shared_rooms)
            .finish()
    }
}

/// The facts gathered for one request.
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    pub(crate) room: Option<RoomFacts>,
    pub(crate) event: Option<EventFacts>,
    pub(crate) user: Option<OwnedUserId>,
    pub(crate) invitees: Option<BTreeMap<OwnedUserId, PermissionFacts>>,
    pub(crate) shares_room: Option<bool>,
    pub(crate) membership: Option<String>,
}

impl FactCache {
    pub(crate) fn new() -> Self {
        Self {
            state: Cache::new(CACHE_ENTRIES),
            events: Cache::new(CACHE_ENTRIES),
            users: Cache::new(CACHE_ENTRIES),
            settings: Cache::new(CACHE_ENTRIES),
            shared_rooms: SharedRooms::new(),
        }
    }

    /// Who shares a room with whom.
    pub(crate) fn shared_rooms(&self) -> &SharedRooms {
        &self.shared_rooms
    }

    /// Learns a user's setting that just passed through the gateway.
    pub(crate) fn learn_setting(&self, user_id: &OwnedUserId, event_type: &str, content: Value) {
        self.settings.insert(
            (user_id.clone(), event_type.to_owned()),
            (Instant::now(), Some(content)),
        );
    }

    /// Learns a room's state event (empty state key) that passed through,
    /// or that it has none of this type.
    pub(crate) fn learn_room_state(
        &self,
        room_id: &OwnedRoomId,
        event_type: &str,
        content: Option<Value>,
    ) {
        self.state.insert(
            (room_id.clone(), event_type.to_owned()),
            (Instant::now(), content),
        );
    }

    /// Gathers what `needs` names, for the requester `user` (already
    /// known: see [`Self::whoami`]); a homeserver that cannot be reached is
    /// a fault.
    pub(crate) async fn gather(
        &self,
        asker: &Asker<'_>,
        needs: &Needs,
        user: Option<OwnedUserId>,
        setting_types: &[String],
    ) -> Result<Gathered, Fault> {
        let mut gathered = Gathered {
            user,
            ..Gathered::default()
        };
        if let Some(inviter) = &gathered.user
            && !needs.invitees.is_empty()
        {
            gathered.invitees = self
                .invitees(asker, inviter, &needs.invitees, setting_types)
                .await?;
        }
        if let Some((room_id, types)) = &needs.room {
            gathered.room = self.room(asker, room_id, types).await?;
        }
        gather_room_extras(asker, needs, &mut gathered).await?;
        if let Some((room_id, event_id)) = &needs.event {
            gathered.event = self.event(asker, room_id, event_id).await?;
        }
        // Looking oneself up needs no shared room; nobody shares none.
        if let (Some(other), Some(requester)) = (&needs.shared_room, &gathered.user)
            && other != requester
        {
            gathered.shares_room = self.shared_rooms.share(asker, requester, other).await?;
        }
        Ok(gathered)
    }

    /// The user the requester's access token acts for; `None` without a
    /// token, or for a token the homeserver does not know.
    pub(crate) async fn whoami(&self, asker: &Asker<'_>) -> Result<Option<OwnedUserId>, Fault> {
        let Some(key) = asker.token_digest() else {
            return Ok(None);
        };
        if let Some((at, user)) = self.users.get(&key)
            && at.elapsed() < WHOAMI_TTL
        {
            return Ok(Some(user));
        }
        let (status, body) = asker.get("/_matrix/client/v3/account/whoami").await?;
        let user = (status == StatusCode::OK)
            .then(|| {
                body.get("user_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .flatten()
            .and_then(|user| OwnedUserId::try_from(user).ok());
        if let Some(user) = &user {
            self.users.insert(key, (Instant::now(), user.clone()));
        }
        Ok(user)
    }

    /// The invitees' settings; `None` when one local invitee's could not
    /// be read (then `decide` refuses the invite).
    async fn invitees(
        &self,
        asker: &Asker<'_>,
        inviter: &OwnedUserId,
        invitees: &[OwnedUserId],
        setting_types: &[String],
    ) -> Result<Option<BTreeMap<OwnedUserId, PermissionFacts>>, Fault> {
        let mut facts = BTreeMap::new();
        for invitee in invitees {
            if invitee.server_name() != inviter.server_name() {
                facts.insert(invitee.clone(), PermissionFacts::Remote);
                continue;
            }
            let mut settings = BTreeMap::new();
            for event_type in setting_types {
                let key = (invitee.clone(), event_type.clone());
                let cached = self
                    .settings
                    .get(&key)
                    .filter(|(at, _)| at.elapsed() < SETTINGS_TTL);
                let content = match cached {
                    Some((_, content)) => content,
                    None => {
                        let path = format!(
                            "/_matrix/client/v3/user/{}/account_data/{}",
                            encode(invitee.as_str()),
                            encode(event_type)
                        );
                        let Some((status, body)) = asker.get_as(&path, invitee).await? else {
                            return Ok(None);
                        };
                        let content = match status {
                            StatusCode::OK => Some(body),
                            StatusCode::NOT_FOUND => None,
                            _ => {
                                tracing::warn!(%status, %invitee, "cannot read an invitee's invite permissions");
                                return Ok(None);
                            }
                        };
                        self.settings.insert(key, (Instant::now(), content.clone()));
                        content
                    }
                };
                settings.insert(event_type.clone(), content);
            }
            facts.insert(invitee.clone(), PermissionFacts::Local(settings));
        }
        Ok(Some(facts))
    }

    async fn room(
        &self,
        asker: &Asker<'_>,
        room_id: &OwnedRoomId,
        types: &std::collections::BTreeSet<String>,
    ) -> Result<Option<RoomFacts>, Fault> {
        let mut state = BTreeMap::new();
        for event_type in types {
            let key = (room_id.clone(), event_type.clone());
            let cached = self.state.get(&key).filter(|(at, content)| {
                // Encryption is never switched off: a yes is kept.
                (event_type == "m.room.encryption" && content.is_some()) || at.elapsed() < STATE_TTL
            });
            let content = match cached {
                Some((_, content)) => content,
                None => {
                    let mut path = format!(
                        "/_matrix/client/v3/rooms/{}/state/{}/",
                        encode(room_id.as_str()),
                        encode(event_type)
                    );
                    if event_type == CREATE {
                        path.push_str("?format=event");
                    }
                    let (status, body) = asker.get(&path).await?;
                    let content = match status {
                        StatusCode::OK if event_type == CREATE => Some(create_content(body)),
                        StatusCode::OK => Some(body),
                        StatusCode::NOT_FOUND => None,
                        // The requester cannot see the room: nothing is known.
                        _ => return Ok(None),
                    };
                    self.state.insert(key, (Instant::now(), content.clone()));
                    content
                }
            };
            if let Some(content) = content {
                state.insert(event_type.clone(), content);
            }
        }
        Ok(Some(RoomFacts {
            state,
            ..RoomFacts::default()
        }))
    }

    async fn event(
        &self,
        asker: &Asker<'_>,
        room_id: &OwnedRoomId,
        event_id: &OwnedEventId,
    ) -> Result<Option<EventFacts>, Fault> {
        if let Some(facts) = self.events.get(event_id) {
            return Ok(Some(facts));
        }
        let path = format!(
            "/_matrix/client/v3/rooms/{}/event/{}",
            encode(room_id.as_str()),
            encode(event_id.as_str())
        );
        let (status, body) = asker.get(&path).await?;
        let facts = (status == StatusCode::OK)
            .then(|| body.get("origin_server_ts").and_then(Value::as_u64))
            .flatten()
            .map(|origin_server_ts| EventFacts { origin_server_ts });
        if let Some(facts) = &facts {
            self.events.insert(event_id.clone(), facts.clone());
        }
        Ok(facts)
    }
}

/// What a request presents to act as its requester (its access token, an
/// application service's `user_id` parameter), kept to ask the homeserver
/// as the requester once the request itself has gone on.
pub(crate) struct Credentials(Parts);

impl Credentials {
    /// The credentials `parts` present.
    pub(crate) fn of(parts: &Parts) -> Self {
        let mut request = http::Request::new(());
        *request.uri_mut() = parts.uri.clone();
        if let Some(authorization) = parts.headers.get(AUTHORIZATION) {
            request
                .headers_mut()
                .insert(AUTHORIZATION, authorization.clone());
        }
        Self(request.into_parts().0)
    }

    /// Asks `gateway`'s homeserver with these credentials.
    pub(crate) fn asker<'a>(&'a self, gateway: &'a Gateway) -> Asker<'a> {
        Asker {
            client: &gateway.client,
            config: &gateway.config,
            parts: &self.0,
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

/// `m.room.create`, asked for whole: its content, with the room's creator
/// (the event's sender) as `creator`, as room versions before 11 wrote it.
const CREATE: &str = "m.room.create";

fn create_content(event: Value) -> Value {
    let sender = event.get("sender").cloned();
    let mut content = event.get("content").cloned().unwrap_or(Value::Null);
    if let (Some(object), Some(sender)) = (content.as_object_mut(), sender) {
        object.entry("creator").or_insert(sender);
    }
    content
}

/// Gathers what `needs` names of a room besides its state: its listing
/// in the room directory, its members (where its state, as gathered,
/// meets the rule that reads them), the requester's membership.
async fn gather_room_extras(
    asker: &Asker<'_>,
    needs: &Needs,
    gathered: &mut Gathered,
) -> Result<(), Fault> {
    // Only some joins need it, and a join the homeserver cannot serve is
    // refused or failed later: a lookup that fails leaves it unknown.
    if let Some(room) = &needs.membership {
        gathered.membership = room_facts::membership(asker, room).await.unwrap_or(None);
    }
    // A room whose state could not be learned stays unknown.
    if needs.room.is_some() && gathered.room.is_none() {
        return Ok(());
    }
    if let Some(room_id) = &needs.published {
        let published = room_facts::published(asker, room_id).await?;
        gathered
            .room
            .get_or_insert_with(RoomFacts::default)
            .published = published;
    }
    if let Some(need) = &needs.members {
        let state = gathered.room.as_ref().map(|room| &room.state);
        if need.wanted(state) {
            let members = room_facts::members(asker, &need.room_id).await?;
            gathered.room.get_or_insert_with(RoomFacts::default).members = members;
        }
    }
    Ok(())
}

/// Asks the homeserver as the requester: with its access token, and its
/// application service's `user_id` parameter.
pub(crate) struct Asker<'a> {
    pub(crate) client: &'a Upstream,
    pub(crate) config: &'a ProxyConfig,
    pub(crate) parts: &'a Parts,
}

impl Asker<'_> {
    fn token(&self) -> Option<&str> {
        access_token(&self.parts.headers, self.parts.uri.query())
    }

    /// The `user_id` an application service acts as, raw from the query.
    fn masquerade(&self) -> Option<&str> {
        self.parts
            .uri
            .query()
            .into_iter()
            .flat_map(|query| query.split('&'))
            .find_map(|pair| pair.strip_prefix("user_id="))
    }

    fn token_digest(&self) -> Option<[u8; 32]> {
        let token = self.token()?;
        let mut hasher = Sha256::new();
        hasher.update(token.as_bytes());
        hasher.update([0]);
        hasher.update(self.masquerade().unwrap_or_default().as_bytes());
        Some(hasher.finalize().into())
    }

    /// `GET path` as `user`, through the gateway's application service;
    /// `None` when no application service token is configured.
    async fn get_as(
        &self,
        path: &str,
        user: &OwnedUserId,
    ) -> Result<Option<(StatusCode, Value)>, Fault> {
        let Some(token) = &self.config.appservice_token else {
            tracing::warn!(
                "invite permissions cannot be read: no application service token is configured"
            );
            return Ok(None);
        };
        let path = format!("{path}?user_id={}", encode(user.as_str()));
        self.request(&path, Some(token)).await.map(Some)
    }

    /// `GET path` on the homeserver as the requester; the status and the
    /// JSON answer (`null` when it is not JSON).
    pub(crate) async fn get(&self, path: &str) -> Result<(StatusCode, Value), Fault> {
        let path = match self.masquerade() {
            Some(user) if path.contains('?') => format!("{path}&user_id={user}"),
            Some(user) => format!("{path}?user_id={user}"),
            None => path.to_owned(),
        };
        self.request(&path, self.token()).await
    }

    async fn request(&self, path: &str, token: Option<&str>) -> Result<(StatusCode, Value), Fault> {
        let mut parts = self.config.homeserver.clone().into_parts();
        parts.path_and_query = Some(path.parse().map_err(|_| Fault::UpstreamUnreachable)?);
        let uri = Uri::from_parts(parts).map_err(|_| Fault::UpstreamUnreachable)?;
        let mut request = http::Request::get(uri)
            .body(Body::empty())
            .map_err(|_| Fault::UpstreamUnreachable)?;
        if let Some(token) = token
            && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
        {
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        let response =
            match tokio::time::timeout(self.config.response_timeout, self.client.request(request))
                .await
            {
                Ok(Ok(response)) => response,
                Ok(Err(error)) => {
                    tracing::warn!(%error, "homeserver fact lookup failed");
                    return Err(Fault::UpstreamUnreachable);
                }
                Err(_) => return Err(Fault::UpstreamTimeout),
            };
        let status = response.status();
        if status.is_server_error() {
            return Err(Fault::UpstreamUnreachable);
        }
        let body = Limited::new(response.into_body(), MAX_FACT_BYTES)
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }
}

/// What is escaped in a path segment: all but RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(crate) fn encode(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}
