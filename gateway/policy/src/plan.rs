//! The checks a request passes before its body is read, in their order, and
//! what the gateway must learn next to decide on it.
//!
//! [`plan`] is pure. The pipeline runs it on every request and the decision
//! cases run it on theirs, so the order of the early checks lives here only:
//!
//! 1. the head: a request every hop behind reads the same way;
//! 2. the API: one the listener serves;
//! 3. the authorization: no `X-Matrix` header, or exactly one well-formed;
//! 4. the origin, for a signed endpoint: federation on, a signature
//!    present, its origin on the allowlist (so that no key is ever fetched
//!    for a server outside it);
//! 5. the endpoint rule: a refused endpoint is refused whatever its
//!    parameters and body. Its refusal waits until the requester is known,
//!    so that the record names who asked.
//!
//! What follows is the [`Plan`]: how to read the body, which signature to
//! verify, then [`needs`](crate::needs) for the facts and
//! [`decide`](crate::decide).

use http::{HeaderMap, Method, Uri, Version};
use ruma::api::federation::authentication::XMatrix;
use sectorgate_action::{Api, BodyMode, Lookup, check_head, x_matrix};

use crate::federation::FederationFacts;
use crate::{
    Decision, Profile, Unauthenticated, Verdict, decide_api_not_served, decide_bad_authorization,
    decide_bad_head, decide_endpoint, decide_origin, decide_unauthenticated,
};

/// The APIs a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Serves {
    /// The client-server API.
    pub client: bool,
    /// The server-server API.
    pub federation: bool,
}

impl Serves {
    /// Both APIs.
    pub const BOTH: Self = Self {
        client: true,
        federation: true,
    };

    /// Whether `api` is served.
    pub fn allows(self, api: Api) -> bool {
        match api {
            Api::Client => self.client,
            Api::Federation => self.federation,
        }
    }
}

/// What is known of a request when its head has arrived.
#[derive(Clone, Copy, Debug)]
pub struct Arrival<'a> {
    /// The method.
    pub method: &'a Method,
    /// The request target.
    pub uri: &'a Uri,
    /// The HTTP version.
    pub version: Version,
    /// The headers, as received.
    pub headers: &'a HeaderMap,
    /// The catalog's answer for method and path.
    pub lookup: &'a Lookup<'a>,
    /// The APIs the listener serves.
    pub serves: Serves,
    /// The federation facts (no origin yet), when federation is on.
    pub federation: Option<&'a FederationFacts<'a>>,
}

/// Which early check refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// The head; whether the connection must be closed after the answer.
    Head {
        /// The client's framing cannot be trusted for another request.
        closes_connection: bool,
    },
    /// An API the listener does not serve.
    Api,
    /// A malformed `X-Matrix` authorization.
    Authorization,
    /// A signed endpoint without a signature, or with federation off.
    Unsigned,
    /// A signed endpoint whose claimed origin is not a member (or the list
    /// is stale): a newer list may know it.
    Origin,
}

/// A request refused before anything was learned of who sends it: recorded
/// anonymously.
#[derive(Clone, Debug)]
pub struct Refused {
    /// The check that refused.
    pub gate: Gate,
    /// The refusal.
    pub decision: Decision,
}

/// What the gateway must do next for a request that passed the early checks.
#[derive(Clone, Debug)]
pub struct Plan {
    /// How the body is read.
    pub body: BodyMode,
    /// The signature to verify once the body is read: the request is a
    /// server's. Without one, the user behind the access token is learned.
    pub signed: Option<XMatrix>,
    /// The endpoint rule's refusal, answered once the requester is known.
    pub refusal: Option<Decision>,
}

/// Runs the early checks in their order; the first refusal wins.
pub fn plan(arrival: &Arrival<'_>, profile: &Profile) -> Result<Plan, Refused> {
    let refused = |gate, decision| Refused { gate, decision };
    if let Err(error) = check_head(
        arrival.method,
        arrival.uri,
        arrival.version,
        arrival.headers,
        arrival.lookup,
    ) {
        let gate = Gate::Head {
            closes_connection: error.closes_connection(),
        };
        return Err(refused(gate, decide_bad_head(&error)));
    }
    let endpoint = arrival.lookup.endpoint();
    if let Some(endpoint) = &endpoint
        && !arrival.serves.allows(endpoint.api)
    {
        return Err(refused(Gate::Api, decide_api_not_served(endpoint.api)));
    }
    let claim = x_matrix(arrival.headers)
        .map_err(|why| refused(Gate::Authorization, decide_bad_authorization(why)))?;
    let signed = match arrival.lookup.server_signed() {
        // An `X-Matrix` header on an endpoint that takes none proves nothing.
        false => None,
        true => Some(admit(claim, arrival.federation).map_err(|(gate, d)| refused(gate, d))?),
    };
    let refusal = endpoint
        .map(|endpoint| decide_endpoint(&endpoint, profile))
        .filter(|early| matches!(early.verdict, Verdict::Deny(_)));
    Ok(Plan {
        body: arrival.lookup.body_mode(),
        signed,
        refusal,
    })
}

/// A signed endpoint's claim, admitted for verification: federation on, a
/// signature present, its origin a member.
fn admit(
    claim: Option<XMatrix>,
    federation: Option<&FederationFacts<'_>>,
) -> Result<XMatrix, (Gate, Decision)> {
    let unsigned = |why| (Gate::Unsigned, decide_unauthenticated(&why));
    let facts = federation.ok_or_else(|| unsigned(Unauthenticated::Disabled))?;
    let claim = claim.ok_or_else(|| unsigned(Unauthenticated::Unsigned))?;
    match decide_origin(&claim.origin, facts) {
        Some(refusal) => Err((Gate::Origin, refusal)),
        None => Ok(claim),
    }
}
