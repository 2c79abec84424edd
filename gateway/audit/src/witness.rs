//! Witnesses: third parties that cosign the log's checkpoints once they
//! have checked that each is consistent with the last they cosigned
//! (C2SP tlog-witness), so that the log cannot show auditors one history
//! and rewrite it for others.
//!
//! A witness is named by its verifier key, `<name>+<key id>+<base64(0x04 ‖
//! Ed25519 public key)>`, the key id being the first four bytes of
//! SHA-256(`<name>` ‖ `\n` ‖ 0x04 ‖ key). A cosignature is a note signature
//! line whose bytes are the key id, an 8-byte big-endian POSIX time and an
//! Ed25519 signature of `cosignature/v1\ntime <time>\n` followed by the
//! checkpoint's text (C2SP tlog-cosignature). [`add_checkpoint_body`]
//! makes the request a witness takes, [`take_cosignatures`] checks its
//! answer; [`cosigned_by`] tells whether a checkpoint carries a valid
//! cosignature of a witness (`audit verify --witness`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};
use signed_note::{Note, NoteError, Verifier, VerifierList};

use crate::AuditError;
use crate::proof::prove_consistency;
use crate::store::Store;

/// The signature type byte of an Ed25519 cosignature key.
const COSIGNATURE_V1: u8 = 0x04;

/// A witness's cosigning key, as its verifier key names it.
#[derive(Clone, Debug)]
pub struct WitnessKey {
    name: String,
    id: u32,
    key: VerifyingKey,
    vkey: String,
}

impl WitnessKey {
    /// Reads a verifier key `<name>+<hex id>+<base64(0x04 ‖ key)>`.
    pub fn parse(vkey: &str) -> Result<Self, AuditError> {
        let bad = |why: &str| AuditError::Checkpoint(format!("witness key {vkey:?}: {why}"));
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not <name>+<key id>+<key>"));
        };
        if !signed_note::is_key_name_valid(name) {
            return Err(bad("the name is not a key name"));
        }
        let id = u32::from_str_radix(id, 16)
            .ok()
            .filter(|_| id.len() == 8)
            .ok_or_else(|| bad("the key id is not 8 hex digits"))?;
        let key = STANDARD
            .decode(key)
            .map_err(|_| bad("the key is not base64"))?;
        let Some((&COSIGNATURE_V1, raw)) = key.split_first() else {
            return Err(bad("not an Ed25519 cosignature key (type 0x04)"));
        };
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| bad("an Ed25519 key has 32 bytes"))?;
        if signed_note::key_id(name, &key) != id {
            return Err(bad("the key id is not the key's"));
        }
        Ok(Self {
            name: name.to_owned(),
            id,
            key: VerifyingKey::from_bytes(&raw).map_err(|_| bad("not an Ed25519 key"))?,
            vkey: vkey.to_owned(),
        })
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key it was read from.
    pub fn vkey(&self) -> &str {
        &self.vkey
    }
}

impl Verifier for WitnessKey {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Some((time, signature)) = sig.split_first_chunk::<8>() else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(signature) else {
            return false;
        };
        let mut signed =
            format!("cosignature/v1\ntime {}\n", u64::from_be_bytes(*time)).into_bytes();
        signed.extend_from_slice(msg);
        self.key.verify_strict(&signed, &signature).is_ok()
    }
}

/// The time (POSIX seconds) of `key`'s cosignature on the checkpoint
/// `note`: `Ok(None)` if the note carries none, an error if it carries
/// one that does not verify.
pub fn cosigned_by(note: &str, key: &WitnessKey) -> Result<Option<u64>, AuditError> {
    let parsed = Note::from_bytes(note.as_bytes())
        .map_err(|error| AuditError::Checkpoint(format!("not a signed note: {error}")))?;
    match parsed.verify(&VerifierList::new(vec![Box::new(key.clone())])) {
        Ok((verified, _)) => Ok(verified.first().and_then(|signature| {
            signature
                .signature()
                .first_chunk::<8>()
                .map(|time| u64::from_be_bytes(*time))
        })),
        Err(NoteError::UnverifiedNote) => Ok(None),
        Err(error) => Err(AuditError::Checkpoint(format!(
            "the cosignature of {} does not verify: {error}",
            key.name
        ))),
    }
}

/// The body of an `add-checkpoint` request: `old <size>`, the consistency
/// proof from the tree of `old` records to the checkpoint's (one base64
/// hash a line), an empty line, the checkpoint `note` of `size` records.
pub async fn add_checkpoint_body(
    store: &Store,
    origin: &str,
    old: u64,
    size: u64,
    note: &str,
) -> Result<String, AuditError> {
    let mut body = format!("old {old}\n");
    if old > 0 && old < size {
        for hash in prove_consistency(store, origin, old, size).await? {
            body.push_str(&STANDARD.encode(hash.0));
            body.push('\n');
        }
    }
    body.push('\n');
    body.push_str(note);
    Ok(body)
}

/// Checks a witness's answer to `add-checkpoint` (note signature lines)
/// and returns the checkpoint `note` with `key`'s cosignature added; an
/// error if the answer holds none that verifies.
pub fn take_cosignatures(note: &str, answer: &str, key: &WitnessKey) -> Result<String, AuditError> {
    let mine: Vec<&str> = answer
        .lines()
        .filter(|line| {
            line.strip_prefix("— ")
                .and_then(|rest| rest.split_once(' '))
                .is_some_and(|(name, _)| name == key.name)
        })
        .collect();
    let mut cosigned = note.to_owned();
    for line in &mine {
        cosigned.push_str(line);
        cosigned.push('\n');
    }
    match cosigned_by(&cosigned, key)? {
        Some(_) => Ok(cosigned),
        None => Err(AuditError::Checkpoint(format!(
            "the answer of {} holds no cosignature of its key",
            key.name
        ))),
    }
}
