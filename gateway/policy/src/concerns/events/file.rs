//! `events:` as written in `profile.yaml`.

use serde::Deserialize;

use crate::concerns::content::SchemaFiles;
use crate::profile::{AllowListFile, FieldRuleFile, rule_file};

/// `events:` (its content settings, `max_content_bytes` and the schema
/// maps, are the content concern's).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsFile {
    /// Largest event content, in bytes of its JSON.
    #[serde(default)]
    pub(crate) max_content_bytes: Option<u64>,
    /// Which message (non-state) event types may be sent.
    #[serde(default)]
    pub(crate) message_types: Option<AllowListFile>,
    /// Which state event types may be sent (also in `createRoom`).
    #[serde(default)]
    pub(crate) state_types: Option<AllowListFile>,
    /// Which `msgtype`s an `m.room.message` may have.
    #[serde(default)]
    pub(crate) msgtypes: Option<AllowListFile>,
    /// Content schema per event type: a file under the profile folder, or
    /// `null` to drop the parent's.
    #[serde(default)]
    pub(crate) schemas: SchemaFiles,
    /// Content schema per `msgtype` of `m.room.message`.
    #[serde(default)]
    pub(crate) msgtype_schemas: SchemaFiles,
    /// Field rules on event contents.
    #[serde(default)]
    pub(crate) rules: Vec<FieldRuleFile>,
    /// Which rooms must be encrypted.
    #[serde(default)]
    pub(crate) encryption: Option<EncryptionFile>,
}

/// Which rooms must be encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncryptionScope {
    /// No room must be.
    None,
    /// Rooms whose join rule is not `public`.
    PrivateRooms,
    /// Every room.
    AllRooms,
}

rule_file! {
    /// `events.encryption`
    EncryptionFile {
        required_in: EncryptionScope,
        /// Message event types that may be sent unencrypted into such rooms
        /// (clients send redactions, and some reactions, in the clear).
        #[serde(default)]
        plaintext_allowed: Vec<String>,
    }
}
