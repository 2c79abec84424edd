//! [`decide`]: the pure policy function.
//!
//! A request is checked by concern, always in this order; the first
//! enforced denial wins and names its rule:
//!
//! 0. [`federation`]: may this server be heard, and does it speak only for
//!    its own users? May this client reach that server?
//! 1. [`endpoints`]: may this endpoint be called at all?
//!    [`appservices`]: may this application service (bridge) act, and as
//!    this user?
//! 2. [`content`]: is the event content canonical JSON, small enough, and
//!    valid against its schema?
//! 3. [`events`]: may this event type, msgtype and content be sent into
//!    this room (field rules, encryption)?
//! 4. [`rooms`]: room creation and upgrade (versions, fields, invites,
//!    initial state, encryption at creation).
//! 5. [`invites`]: may this inviter invite this invitee into this room
//!    (at `/invite` and at `createRoom`)?
//! 6. [`redactions`]: may this event still be redacted?
//! 7. [`media`]: may this upload be this large?
//!
//! A denial by a rule in shadow mode does not stop the checks: it is kept,
//! and if nothing enforced denies, the request is forwarded and recorded as
//! `shadow` with that rule.

mod appservices;
mod content;
mod endpoints;
mod events;
mod federation;
mod input;
mod invites;
mod media;
mod redactions;
mod rooms;

use sectorgate_action::Classified;
use serde_json::Value;

pub use endpoints::decide_endpoint;
pub use federation::{
    Unauthenticated, decide_destination, decide_origin, decide_unauthenticated,
    rules as federation_rules,
};
pub use input::{
    decide_api_not_served, decide_bad_authorization, decide_bad_head, decide_body_timeout,
    decide_body_unreadable, decide_input_error, decide_rate_limited, decide_too_large,
};
pub use rooms::initial_state_map as created_room_state;

use crate::{Context, Decision, Profile, RuleId, Verdict};

/// The rule ids built into the gateway.
pub mod rules {
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
    /// A request path another hop could resolve differently (dot segments,
    /// encoded slashes, NUL, bad escapes, …).
    pub const PATH_MALFORMED: RuleId = RuleId::builtin("request.path_malformed");
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
    /// An invitee's invite-permission settings could not be learned.
    pub const INVITE_PERMISSIONS_UNAVAILABLE: RuleId =
        RuleId::builtin("invite.permissions_unavailable");
    /// An application service the profile's default refuses.
    pub const APPSERVICE_DENIED: RuleId = RuleId::builtin("appservice.denied");
    /// A request bearing the gateway's own application service token.
    pub const APPSERVICE_GATEWAY_TOKEN: RuleId = RuleId::builtin("appservice.gateway_token");
    /// An invite-permission setting of the wrong shape.
    pub const INVITE_PERMISSIONS_INVALID: RuleId = RuleId::builtin("invite.permissions_invalid");
}

/// One request under one profile, with what is known around it.
pub(crate) struct Input<'a> {
    pub(crate) classified: &'a Classified,
    pub(crate) profile: &'a Profile,
    pub(crate) context: &'a Context<'a>,
}

impl Input<'_> {
    /// What selecting users needs: the profile's groups and the allowlist.
    pub(crate) fn groups(&self) -> crate::profile::Groups<'_> {
        crate::profile::Groups {
            named: &self.profile.user_groups,
            allowlist: self.context.federation.map(|facts| facts.allowlist),
        }
    }
}

/// Collects the outcome while the checks run: the rule that allowed, the
/// first shadow denial, and an amended body.
pub(crate) struct Judge {
    allowed_by: RuleId,
    shadowed: Option<Decision>,
    amended_body: Option<Vec<u8>>,
}

impl Judge {
    /// Records a denial: an enforced one ends the checks (`Err`), a shadow
    /// one is kept and the checks go on.
    pub(crate) fn deny(&mut self, decision: Decision) -> Result<(), Decision> {
        match decision.verdict {
            Verdict::Shadow(_) => {
                self.shadowed.get_or_insert(decision);
                Ok(())
            }
            _ => Err(decision),
        }
    }

    fn finish(self) -> Decision {
        let mut decision = self
            .shadowed
            .unwrap_or_else(|| Decision::allow(self.allowed_by));
        decision.amended_body = self.amended_body;
        decision
    }
}

/// A denial by a built-in rule applied on the profile's behalf (a default,
/// a size limit, a schema): in shadow mode when the whole profile is.
pub(crate) fn profile_denial(
    profile: &Profile,
    rule: RuleId,
    status: u16,
    errcode: &'static str,
    message: impl Into<std::borrow::Cow<'static, str>>,
) -> Decision {
    let mut decision = Decision::deny(rule, status, errcode, message);
    if profile.shadow {
        decision.into_shadow();
    }
    decision
}

/// Decides one classified request under a profile, with what is known
/// around it.
pub fn decide(classified: &Classified, profile: &Profile, context: &Context<'_>) -> Decision {
    let input = Input {
        classified,
        profile,
        context,
    };
    let mut judge = Judge {
        allowed_by: rules::ENDPOINT_ALLOWED,
        shadowed: None,
        amended_body: None,
    };
    match run(&input, &mut judge) {
        Ok(()) => judge.finish(),
        Err(decision) => decision,
    }
}

fn run(input: &Input<'_>, judge: &mut Judge) -> Result<(), Decision> {
    federation::check(input, judge)?;
    endpoints::check(input, judge)?;
    appservices::check(input, judge)?;
    let mut content: Option<Value> = content::check(input, judge)?;
    events::check(input, content.as_ref(), judge)?;
    rooms::check(input, content.as_mut(), judge)?;
    invites::check(input, content.as_ref(), judge)?;
    redactions::check(input, judge)?;
    media::check(input, judge)?;
    Ok(())
}
