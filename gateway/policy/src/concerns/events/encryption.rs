//! Encryption: which rooms must be encrypted, and what may still be sent
//! into them in the clear. On send, the room's state says; at `createRoom`,
//! the state the request sets up ([`rooms`](crate::concerns::rooms)).

use sectorgate_action::Action;

use super::EncryptionScope;
use crate::decide::{Input, Judge};
use crate::profile::{Glob, Link, Resolver, RuleMeta, any_matches, nearest};
use crate::{Decision, Needs, Profile, RoomFacts, rules};

/// Which rooms must be encrypted, and what may still be sent in the clear.
#[derive(Clone, Debug)]
pub struct Encryption {
    /// The rule.
    pub meta: RuleMeta,
    /// Which rooms.
    pub scope: EncryptionScope,
    /// Message event types that may be sent unencrypted all the same.
    pub plaintext_allowed: Vec<Glob>,
}

/// Resolves `events.encryption`, the nearest profile's.
pub(super) fn resolve(resolver: &Resolver<'_>, chain: &[Link]) -> Option<Encryption> {
    nearest(chain, |f| f.events.encryption.as_ref()).map(|(rule, _)| Encryption {
        meta: resolver.meta_of(rule, "this room must be end-to-end encrypted"),
        scope: rule.required_in,
        plaintext_allowed: rule
            .plaintext_allowed
            .iter()
            .map(|t| Glob::new(t))
            .collect(),
    })
}

/// A message sent in the clear into a room that may have to be encrypted
/// needs the room's encryption and join rule.
pub(crate) fn needs(action: &Action, profile: &Profile, needs: &mut Needs) {
    if let Action::SendMessageEvent {
        room_id,
        event_type,
        ..
    } = action
        && let Some(encryption) = &profile.events.encryption
        && encryption.scope == EncryptionScope::PrivateRooms
        && event_type != "m.room.encrypted"
        && !any_matches(&encryption.plaintext_allowed, event_type)
    {
        let types = ["m.room.encryption", "m.room.join_rules"];
        needs.room_state(room_id, types.map(str::to_owned));
    }
}

/// Refuses a message sent in the clear into a room that must be encrypted.
pub(super) fn check(
    event_type: &str,
    input: &Input<'_>,
    judge: &mut Judge,
) -> Result<(), Decision> {
    let Some(encryption) = &input.profile.events.encryption else {
        return Ok(());
    };
    if encryption.scope == EncryptionScope::None
        || event_type == "m.room.encrypted"
        || any_matches(&encryption.plaintext_allowed, event_type)
    {
        return Ok(());
    }
    let must_encrypt = match (encryption.scope, input.context.room) {
        (EncryptionScope::AllRooms, _) => true,
        (_, Some(room)) => must_be_encrypted(encryption.scope, room),
        (_, None) => {
            return Err(Decision::deny(
                rules::ROOM_STATE_UNAVAILABLE,
                403,
                "M_FORBIDDEN",
                "The gateway could not learn whether this room is encrypted with your access; \
                 the message was not sent.",
            ));
        }
    };
    if must_encrypt {
        judge.deny(Decision::deny_by(
            &encryption.meta,
            403,
            "M_FORBIDDEN",
            format!(
                "{}: {event_type} may not be sent unencrypted into this room",
                encryption.meta.reason
            ),
        ))?;
    }
    Ok(())
}

/// Whether a room with these facts must only receive encrypted messages.
pub(crate) fn must_be_encrypted(scope: EncryptionScope, room: &RoomFacts) -> bool {
    room.encrypted()
        || match scope {
            EncryptionScope::None => false,
            EncryptionScope::AllRooms => true,
            EncryptionScope::PrivateRooms => room.join_rule() != Some("public"),
        }
}
