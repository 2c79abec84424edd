//! [`Refusal`]: a request that is not forwarded, recorded and answered in
//! one place.

use axum::response::Response;
use http::HeaderValue;
use sectorgate_audit::{AuditError, Peer};
use sectorgate_policy::Decision;

use super::Inbound;
use crate::record;
use crate::respond::{self, Fault};

/// Why a request is not forwarded, and whom the record names.
pub(super) enum Refusal {
    /// A denial: recorded under `peer`, then answered.
    Denied {
        peer: Peer,
        decision: Box<Decision>,
        /// The client's framing cannot be trusted for another request.
        closes_connection: bool,
    },
    /// A fault met before the decision (the homeserver could not say who
    /// asks, or what the profile needs to know): recorded as a refusal by
    /// the fault's rule, then answered.
    Fault { peer: Peer, fault: Fault },
    /// No pseudonym could be made for the record (its key cannot be read
    /// or created): nothing can be recorded, so nothing is forwarded.
    NoPseudonym(Box<AuditError>),
    /// Already recorded and answered.
    Answered(Box<Response>),
}

impl Refusal {
    /// A denial under `peer`.
    pub(super) fn denied(peer: Peer, decision: Decision) -> Self {
        Self::Denied {
            peer,
            decision: Box::new(decision),
            closes_connection: false,
        }
    }

    /// A request whose decision could not be made durable, already
    /// answered.
    pub(super) fn answered(response: Response) -> Self {
        Self::Answered(Box::new(response))
    }

    /// No pseudonym could be made.
    pub(super) fn no_pseudonym(error: AuditError) -> Self {
        Self::NoPseudonym(Box::new(error))
    }

    /// Records the refusal and answers it.
    pub(super) async fn answer(self, inbound: &mut Inbound<'_>) -> Response {
        let gateway = inbound.gateway;
        match self {
            Self::Denied {
                peer,
                decision,
                closes_connection,
            } => {
                let mut response =
                    match record::settle(gateway, peer, &decision, inbound.about()).await {
                        Err(answer) => answer,
                        // Not reached: a refusal denies. Fail closed all the same.
                        Ok(recorded) => recorded.answer(
                            respond::fault(&Fault::UpstreamUnreachable, inbound.request_id),
                            None,
                        ),
                    };
                if closes_connection {
                    response
                        .headers_mut()
                        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
                }
                response
            }
            Self::Fault { peer, fault } => {
                record::fault(gateway, peer, &fault, inbound.about()).await
            }
            Self::NoPseudonym(error) => {
                tracing::error!(%error, "no pseudonym for the audit record; refusing the request");
                respond::fault(&Fault::AuditUnavailable, inbound.request_id)
            }
            Self::Answered(response) => *response,
        }
    }
}
