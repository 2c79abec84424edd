//! Runs a case as the gateway would: the request's head through [`plan`],
//! then `classify`, the facts [`needs`] names, and `decide`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version, header};
use ruma::{OwnedServerName, OwnedUserId};
use sectorgate_action::{Catalog, access_token, classify_lookup};

use super::{Case, CaseFederation, CaseRoom, DEFAULT_USER, PLACEHOLDER_EVENT, PLACEHOLDER_ROOM};
use crate::federation::{Allowlist, FederationFacts};
use crate::plan::{Arrival, Serves, plan};
use crate::profile::PermissionFacts;
use crate::{Context, Decision, EventFacts, Peer, Profile, decide, decide_input_error, needs};

/// A case's request as the gateway receives it.
struct Received {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Case {
    /// Runs the case through the early checks, `classify` and `decide`,
    /// with its context.
    pub fn decide(&self, profile: &Profile, now_ms: u64) -> Result<Decision, String> {
        let received = self.received()?;
        let profile = self.grouped(profile);
        let federation = self
            .context
            .federation
            .as_ref()
            .map(CaseFederation::parts)
            .transpose()?;
        let unverified = federation
            .as_ref()
            .map(|(local, allowlist, _)| federation_facts(local, allowlist, None));
        let lookup = Catalog::global().lookup(&received.method, received.uri.path());
        let arrival = Arrival {
            method: &received.method,
            uri: &received.uri,
            version: Version::HTTP_11,
            headers: &received.headers,
            lookup: &lookup,
            serves: Serves::BOTH,
            federation: unverified.as_ref(),
        };
        let plan = match plan(&arrival, &profile) {
            Ok(plan) => plan,
            Err(refused) => return Ok(refused.decision),
        };
        if let Some(refusal) = plan.refusal {
            return Ok(refusal);
        }
        let view = sectorgate_action::Request {
            method: &received.method,
            uri: &received.uri,
            headers: &received.headers,
            body: &received.body,
        };
        let classified = match classify_lookup(lookup, &view, 64) {
            Ok(classified) => classified,
            Err(error) => return Ok(decide_input_error(&error)),
        };
        let user = self.user()?;
        let token = access_token(&received.headers, received.uri.query()).is_some();
        let room = self.context.room.as_ref().map(CaseRoom::facts);
        let event = self.event_facts(now_ms);
        let invitees = self.invitee_facts(&needs(&classified, &profile).invitees)?;
        let context = Context {
            peer: Peer {
                addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            },
            now_ms,
            user: user.as_ref(),
            token: user.is_some() || token,
            room: room.as_ref(),
            event: event.as_ref(),
            invitees: Some(&invitees),
            shares_room: self.context.shares_room,
            membership: self.context.membership.as_deref(),
            appservice: self.context.appservice.as_deref(),
            federation: federation.as_ref().map(|(local, allowlist, origin)| {
                federation_facts(local, allowlist, origin.as_ref())
            }),
        };
        Ok(decide(&classified, &profile, &context))
    }

    /// The request with its placeholders filled, a `Host` where the case
    /// names none, and, for a server's request, the `X-Matrix`
    /// authorization its origin would send (its signature taken as
    /// verified, as the case's context says).
    fn received(&self) -> Result<Received, String> {
        let method: Method = self
            .request
            .method
            .parse()
            .map_err(|_| format!("bad method {:?}", self.request.method))?;
        let path = self.path(PLACEHOLDER_ROOM, PLACEHOLDER_EVENT, "txn1");
        let uri: Uri = path.parse().map_err(|_| format!("bad path {path:?}"))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &self.request.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| format!("bad header name {name:?}"))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| format!("bad header value {value:?}"))?;
            headers.insert(name, value);
        }
        if !headers.contains_key(header::HOST) {
            headers.insert(header::HOST, HeaderValue::from_static("localhost"));
        }
        let origin = self
            .context
            .federation
            .as_ref()
            .and_then(|f| f.origin.as_deref());
        if let Some(origin) = origin
            && !headers.contains_key(header::AUTHORIZATION)
        {
            let value = format!("X-Matrix origin=\"{origin}\",key=\"ed25519:case\",sig=\"Y2FzZQ\"");
            let value =
                HeaderValue::try_from(value).map_err(|_| format!("bad origin {origin:?}"))?;
            headers.insert(header::AUTHORIZATION, value);
        }
        Ok(Received {
            method,
            uri,
            headers,
            body: self.body(PLACEHOLDER_ROOM, PLACEHOLDER_EVENT, "txn1"),
        })
    }

    /// The profile with the case's members added to its user groups.
    fn grouped<'p>(&self, profile: &'p Profile) -> Cow<'p, Profile> {
        if self.context.groups.is_empty() {
            return Cow::Borrowed(profile);
        }
        let mut grouped = profile.clone();
        for (group, users) in &self.context.groups {
            grouped.add_to_group(group, users);
        }
        Cow::Owned(grouped)
    }

    /// The acting user; none for an anonymous case.
    fn user(&self) -> Result<Option<OwnedUserId>, String> {
        if self.context.anonymous {
            return Ok(None);
        }
        let user = self.context.user.as_deref().unwrap_or(DEFAULT_USER);
        OwnedUserId::try_from(user)
            .map(Some)
            .map_err(|_| format!("bad user id {user:?}"))
    }

    /// The targeted event, `event_age` old.
    fn event_facts(&self, now_ms: u64) -> Option<EventFacts> {
        self.context.event_age.map(|age| EventFacts {
            origin_server_ts: now_ms
                .saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
        })
    }

    /// The settings of the invitees the decision needs: those the case
    /// names, and none set for the others.
    fn invitee_facts(
        &self,
        needed: &[OwnedUserId],
    ) -> Result<BTreeMap<OwnedUserId, PermissionFacts>, String> {
        for user in self.context.invitees.keys() {
            OwnedUserId::try_from(user.as_str()).map_err(|_| format!("bad user id {user:?}"))?;
        }
        Ok(needed
            .iter()
            .map(|user| {
                let settings = self
                    .context
                    .invitees
                    .get(user.as_str())
                    .into_iter()
                    .flatten()
                    .map(|(event_type, content)| (event_type.clone(), Some(content.clone())))
                    .collect();
                (user.clone(), PermissionFacts::Local(settings))
            })
            .collect())
    }
}

fn federation_facts<'a>(
    local: &'a OwnedServerName,
    allowlist: &'a Allowlist,
    origin: Option<&'a OwnedServerName>,
) -> FederationFacts<'a> {
    FederationFacts {
        local,
        allowlist,
        origin: origin.map(|origin| &**origin),
    }
}
