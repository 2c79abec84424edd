//! The shared room a lookup case rests on (`context.shares_room: true`):
//! the acting user's room, made through the target as a compliant client
//! makes it, joined by every other user of the case.

use std::time::Duration;

use sectorgate_policy::cases::{self, Case};

use super::{Outcome, error, not_exercised, unmade};
use crate::report::Exchange;
use crate::server::cast::Cast;
use crate::server::{Bench, Product};

/// Puts the case's users in one room with its acting user.
pub(super) fn share_a_room(
    bench: &Bench<'_>,
    product: &Product,
    case: &Case,
    cast: &Cast,
    trail: &mut Vec<Exchange>,
) -> Result<(), Outcome> {
    let actor = cast.actor().ok_or_else(|| {
        not_exercised("a bridge acts in the case: it has no room of its own to share".to_owned())
    })?;
    let setting = bench.setting(product, Duration::ZERO);
    let room = bench
        .fixtures
        .borrow_mut()
        .for_case(trail, case, &setting, &actor.token)
        .map_err(unmade)?
        .room;
    let path = |tail: &str| format!("/_matrix/client/v3/rooms/{}/{tail}", cases::encode(&room));
    for other in cast.players.iter().filter(|p| p.user_id != actor.user_id) {
        let invite = serde_json::json!({"user_id": other.user_id}).to_string();
        // An account already in the room (made for an earlier case) cannot
        // be invited again: its join below says whether it is in.
        let _ = bench.client.raw(
            trail,
            "POST",
            &path("invite"),
            Some(&actor.token),
            &[],
            invite.into_bytes(),
        );
        let joined = bench
            .client
            .raw(
                trail,
                "POST",
                &path("join"),
                Some(&other.token),
                &[],
                b"{}".to_vec(),
            )
            .map_err(error)?;
        if !joined.is_success() {
            return Err(error(format!(
                "{} could not join the room it shares with {} for the case: {}",
                other.user_id,
                actor.user_id,
                joined.describe()
            )));
        }
    }
    Ok(())
}
