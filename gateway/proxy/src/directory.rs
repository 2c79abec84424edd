//! The user directory's answer (`POST /_matrix/client/v3/user_directory/search`)
//! under the profile's shared-rooms rule (`lookups.shared_rooms`): only
//! the users the requester may look up stay in `results` (themselves, and
//! those they share a room with, as the homeserver tells the requester:
//! see `shared_rooms.rs`).
//!
//! Bounded and closed: at most [`MAX_RESULTS_CHECKED`] results are checked,
//! [`CONCURRENT_RESULTS`] at a time; those beyond, and those whose answer
//! cannot be learned, are left out and the answer says `limited: true`. An
//! answer that cannot be read is a fault, never passed on unfiltered.

use axum::body::Body;
use axum::response::Response;
use futures_util::{StreamExt, stream};
use http::HeaderValue;
use http::header::CONTENT_LENGTH;
use http_body_util::{BodyExt, Limited};
use ruma::{OwnedUserId, UserId};
use sectorgate_policy::may_look_up;
use serde_json::Value;

use crate::Gateway;
use crate::facts::{Asker, Credentials};
use crate::respond::Fault;

/// The most results of one search checked; the rest are left out.
pub const MAX_RESULTS_CHECKED: usize = 50;
/// How many results are checked at once.
pub const CONCURRENT_RESULTS: usize = 4;
/// Largest directory answer read; a larger one is a fault.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// What filtering one search's answer needs: who asked, and how to ask the
/// homeserver as them.
#[derive(Debug)]
pub(crate) struct DirectoryFilter {
    requester: Option<OwnedUserId>,
    credentials: Credentials,
}

/// One result's fate.
enum Kept {
    Yes,
    /// The requester may not look this user up.
    No,
    /// Not known: left out, and the answer is `limited`.
    Unknown,
}

impl DirectoryFilter {
    pub(crate) fn new(requester: Option<OwnedUserId>, credentials: Credentials) -> Self {
        Self {
            requester,
            credentials,
        }
    }

    /// Filters a successful answer; any other answer passes as is. `None`:
    /// the answer cannot be read, or the homeserver could not be asked.
    pub(crate) async fn apply(self, response: Response, gateway: &Gateway) -> Option<Response> {
        if !response.status().is_success() {
            return Some(response);
        }
        let (mut parts, body) = response.into_parts();
        let bytes = Limited::new(body, MAX_ANSWER_BYTES)
            .collect()
            .await
            .ok()?
            .to_bytes();
        let mut answer: Value = serde_json::from_slice(&bytes).ok()?;
        let results = answer.get_mut("results")?.as_array_mut()?;
        let asker = self.credentials.asker(gateway);
        let (kept, unknown) = self
            .keep(&asker, gateway, std::mem::take(results))
            .await
            .ok()?;
        *results = kept;
        if unknown {
            answer["limited"] = Value::Bool(true);
        }
        let filtered = serde_json::to_vec(&answer).ok()?;
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(filtered.len()));
        Some(Response::from_parts(parts, Body::from(filtered)))
    }

    /// The results the requester may see, in the homeserver's order, and
    /// whether any were left out unjudged.
    async fn keep(
        &self,
        asker: &Asker<'_>,
        gateway: &Gateway,
        results: Vec<Value>,
    ) -> Result<(Vec<Value>, bool), Fault> {
        let beyond = results.len() > MAX_RESULTS_CHECKED;
        let judged: Vec<(Value, Kept)> =
            stream::iter(results.into_iter().take(MAX_RESULTS_CHECKED))
                .map(|result| async {
                    let kept = self.judge(asker, gateway, &result).await?;
                    Ok::<_, Fault>((result, kept))
                })
                .buffered(CONCURRENT_RESULTS)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<_, _>>()?;
        let unknown = beyond || judged.iter().any(|(_, kept)| matches!(kept, Kept::Unknown));
        let kept = judged
            .into_iter()
            .filter_map(|(result, kept)| matches!(kept, Kept::Yes).then_some(result))
            .collect();
        Ok((kept, unknown))
    }

    /// Whether one result stays.
    async fn judge(
        &self,
        asker: &Asker<'_>,
        gateway: &Gateway,
        result: &Value,
    ) -> Result<Kept, Fault> {
        let listed = result.get("user_id").and_then(Value::as_str);
        let Some(user) = listed.and_then(|user| <&UserId>::try_from(user).ok()) else {
            return Ok(Kept::Unknown);
        };
        let shares = match &self.requester {
            Some(requester) if requester != user => {
                gateway
                    .facts
                    .shared_rooms()
                    .share(asker, requester, user)
                    .await?
            }
            _ => None,
        };
        Ok(match may_look_up(self.requester.as_deref(), user, shares) {
            Some(true) => Kept::Yes,
            Some(false) => Kept::No,
            None => Kept::Unknown,
        })
    }
}
