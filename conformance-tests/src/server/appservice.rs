//! An application service registered on the homeserver for the run (its
//! registration file, as the homeserver has it): it plays the bridge in
//! cases about bridges, and sends the events a case needs older than the
//! run (the specification's timestamp massaging, `ts`, which the
//! homeserver honours for application services only).

use std::path::Path;

use serde::Deserialize;
use serde_json::json;

use super::client::Client;
use super::txn_id;
use crate::report::Exchange;

/// The registration, as far as the suite needs it.
#[derive(Clone, Debug, Deserialize)]
pub struct Appservice {
    /// The registration's id.
    pub id: String,
    /// The token it acts with.
    pub as_token: String,
    /// The localpart of its own user.
    pub sender_localpart: String,
}

impl Appservice {
    /// Reads a registration file (YAML).
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Its own user on `server`.
    pub fn user(&self, server: &str) -> String {
        format!("@{}:{server}", self.sender_localpart)
    }

    /// Registers `user` (one of its namespace) through `client`, as a bridge
    /// does before it acts as one of its users; one registered already is
    /// fine.
    pub fn register(
        &self,
        client: &Client,
        trail: &mut Vec<Exchange>,
        user: &str,
    ) -> Result<(), String> {
        let localpart = user
            .strip_prefix('@')
            .and_then(|user| user.split_once(':'))
            .map_or(user, |(localpart, _)| localpart);
        let body = json!({"type": "m.login.application_service", "username": localpart});
        let answer = client.raw(
            trail,
            "POST",
            "/_matrix/client/v3/register",
            Some(&self.as_token),
            &[],
            body.to_string().into_bytes(),
        )?;
        if answer.is_success() || answer.errcode() == Some("M_USER_IN_USE") {
            Ok(())
        } else {
            Err(format!(
                "the application service could not register {user}: {}",
                answer.describe()
            ))
        }
    }

    /// Joins `user` (one of its namespace) to `room` through `client`; the
    /// room must have invited it (or be open).
    pub fn join(
        &self,
        client: &Client,
        trail: &mut Vec<Exchange>,
        room: &str,
        user: &str,
    ) -> Result<(), String> {
        let path = format!(
            "/_matrix/client/v3/join/{}?user_id={}",
            sectorgate_policy::cases::encode(room),
            sectorgate_policy::cases::encode(user)
        );
        let answer = client.raw(
            trail,
            "POST",
            &path,
            Some(&self.as_token),
            &[],
            b"{}".to_vec(),
        )?;
        if answer.is_success() {
            Ok(())
        } else {
            Err(format!(
                "the application service's user could not join the test's room: {}",
                answer.describe()
            ))
        }
    }

    /// Sends an event into `room` as `user` (one of its namespace), dated
    /// `ts` (ms since the Unix epoch); the event's id.
    pub fn send_dated(
        &self,
        client: &Client,
        trail: &mut Vec<Exchange>,
        room: &str,
        user: &str,
        ts: u64,
    ) -> Result<String, String> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.encrypted/{}?user_id={}&ts={ts}",
            sectorgate_policy::cases::encode(room),
            txn_id(),
            sectorgate_policy::cases::encode(user)
        );
        let content = json!({"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEn",
            "session_id": "conformance", "sender_key": "conformance", "device_id": "CONFORMANCE"});
        let answer = client.raw(
            trail,
            "PUT",
            &path,
            Some(&self.as_token),
            &[],
            content.to_string().into_bytes(),
        )?;
        answer
            .body
            .get("event_id")
            .and_then(serde_json::Value::as_str)
            .filter(|_| answer.is_success())
            .map(str::to_owned)
            .ok_or_else(|| {
                format!(
                    "the application service could not send a dated event: {}",
                    answer.describe()
                )
            })
    }
}
