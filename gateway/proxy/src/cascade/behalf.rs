//! One request the gateway makes on a user's behalf, under a profile's
//! rule, once the homeserver has taken the user's own: its own request id
//! and log span, a decision record (rule and `by_gateway` the rule, the
//! peer the user's, the trace id the user's request's) made durable before
//! it is sent, then its outcome (the homeserver's status, or the gateway's
//! fault). In shadow mode it is recorded (`shadow`, outcome 0) and not sent.

use sectorgate_audit::{Direction, Peer};
use sectorgate_policy::{Decision, RuleId};
use tracing::{Instrument, field};

use super::requester::AsRequester;
use crate::Gateway;
use crate::record::{self, About, Recorded};

/// Who a request on the user's behalf is for, and under which rule.
pub(crate) struct Behalf<'a> {
    pub(crate) gateway: &'a Gateway,
    pub(crate) homeserver: &'a AsRequester<'a>,
    pub(crate) peer: &'a Peer,
    /// What links its record to the user's request.
    pub(crate) trace_id: &'a str,
    pub(crate) rule: &'a RuleId,
    pub(crate) shadow: bool,
}

/// One request: its endpoint and action as recorded, its path and body.
pub(crate) struct Put {
    pub(crate) endpoint: &'static str,
    pub(crate) action: &'static str,
    pub(crate) path: String,
    pub(crate) body: Vec<u8>,
}

impl Behalf<'_> {
    /// Makes `put`: recorded first, then sent (unless the rule is in shadow
    /// mode), then its outcome recorded. `None` when its record could not
    /// be made durable (nothing was sent); else the status (0 in shadow
    /// mode).
    pub(crate) async fn put(&self, put: Put) -> Option<u16> {
        let request_id = self.gateway.request_ids.next();
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            method = "PUT",
            by_gateway = %self.rule,
            endpoint = field::Empty,
            action = field::Empty,
            rule = field::Empty,
            verdict = field::Empty,
            upstream_status = field::Empty,
        );
        async {
            let recorded = self.record(&put, &request_id).await?;
            let status = if self.shadow {
                recorded.close(0, None);
                0
            } else {
                self.send(put, &request_id, recorded).await
            };
            tracing::info!(status, "request done");
            Some(status)
        }
        .instrument(span)
        .await
    }

    /// The request's decision record, durable.
    async fn record(&self, put: &Put, request_id: &str) -> Option<Recorded> {
        let mut decision = Decision::allow(self.rule.clone());
        if self.shadow {
            // Recorded as `shadow`: the rule is in shadow mode, nothing is sent.
            decision = Decision::deny(
                self.rule.clone(),
                403,
                "M_FORBIDDEN",
                "shadow mode: the request is not made",
            );
            decision.into_shadow();
        }
        let in_force = self.gateway.in_force();
        let about = About {
            profile: &in_force.reference,
            request_id,
            trace_id: Some(self.trace_id),
            direction: Direction::Inbound,
            endpoint: Some(put.endpoint.to_owned()),
            action: put.action,
            destination: None,
            by_gateway: Some(self.rule.as_str()),
        };
        match record::settle(self.gateway, self.peer.clone(), &decision, about).await {
            Ok(recorded) => Some(recorded),
            Err(_) => {
                tracing::error!("a request on the user's behalf not recorded; not sent");
                None
            }
        }
    }

    /// Sends the request and records its outcome; its status.
    async fn send(&self, put: Put, request_id: &str, recorded: Recorded) -> u16 {
        recorded.add_in(put.body.len());
        match self.homeserver.put(&put.path, put.body, request_id).await {
            Ok((status, _)) => {
                let status = status.as_u16();
                tracing::Span::current().record("upstream_status", status);
                if !(200..300).contains(&status) {
                    tracing::warn!(
                        status,
                        "the homeserver refused a request on the user's behalf"
                    );
                }
                recorded.close(status, Some(status));
                status
            }
            Err(fault) => {
                let status = crate::respond::fault(&fault, request_id).status().as_u16();
                tracing::warn!(
                    ?fault,
                    "a request on the user's behalf did not reach the homeserver"
                );
                recorded.close(status, None);
                status
            }
        }
    }
}
