//! Signed checkpoints: the tree head in the C2SP tlog-checkpoint form
//! (origin, size, base64 root hash), as a C2SP signed note with an Ed25519
//! signature.
//!
//! The signing key lives in a file of its own (Go's `note` private key
//! format, `PRIVATE+KEY+<name>+<id>+<key>`), outside the database; its
//! verifier key (`<name>+<id>+<key>`) is written beside it as `<file>.pub`
//! for auditors. The key's name is the log's origin.

use std::path::Path;

use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use tlog_tiles::{Checkpoint, Hash};

use crate::pseudonym::write_private;
use crate::{AuditError, CheckpointError};

/// Signs checkpoints of one log.
pub struct CheckpointSigner {
    origin: String,
    signer: StandardSigner,
    verifier_key: String,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("origin", &self.origin)
            .field("verifier_key", &self.verifier_key)
            .finish_non_exhaustive()
    }
}

impl CheckpointSigner {
    /// Loads the key for `origin` from `path`, creating it (mode 0600, and
    /// `<path>.pub`) if the file does not exist. A key made for another
    /// origin is refused.
    pub fn load_or_create(path: &Path, origin: &str) -> Result<Self, AuditError> {
        let error =
            |detail: String| AuditError::Checkpoint(format!("{}: {detail}", path.display()));
        if !signed_note::is_key_name_valid(origin) {
            return Err(error(format!(
                "the origin {origin:?} cannot name a key (no spaces or '+')"
            )));
        }
        let skey = match std::fs::read_to_string(path) {
            Ok(text) => text.trim().to_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (skey, vkey) = signed_note::generate_key(&mut rand_core_06::OsRng, origin);
                write_private(path, &format!("{skey}\n")).map_err(|e| error(e.to_string()))?;
                std::fs::write(public_path(path), format!("{vkey}\n"))
                    .map_err(|e| error(e.to_string()))?;
                skey
            }
            Err(e) => return Err(error(e.to_string())),
        };
        let signer = StandardSigner::new(&skey).map_err(|e| error(e.to_string()))?;
        let name = skey.split('+').nth(2).unwrap_or_default();
        if name != origin {
            return Err(error(format!(
                "the key is for the log {name:?}, not {origin:?}"
            )));
        }
        let verifier_key = verifier_key_of(&skey).ok_or_else(|| error("bad key".to_owned()))?;
        Ok(Self {
            origin: origin.to_owned(),
            signer,
            verifier_key,
        })
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier key auditors check checkpoints with.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// The signed checkpoint note for a tree of `size` records with `root`.
    pub fn sign(&self, size: u64, root: Hash) -> Result<String, AuditError> {
        let checkpoint = Checkpoint::new(&self.origin, size, root, "")
            .map_err(|e| AuditError::Checkpoint(e.to_string()))?;
        let mut note = Note::new(&checkpoint.to_bytes(), &[])
            .map_err(|e| AuditError::Checkpoint(e.to_string()))?;
        note.add_sigs(&[&self.signer])
            .map_err(|e| AuditError::Checkpoint(e.to_string()))?;
        String::from_utf8(note.to_bytes()).map_err(|e| AuditError::Checkpoint(e.to_string()))
    }
}

/// `<path>.pub`.
pub fn public_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    name.into()
}

/// The verifier key of a private key in Go's note format.
fn verifier_key_of(skey: &str) -> Option<String> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    // PRIVATE+KEY+<name>+<id>+<base64>: the base64 may hold '+' itself.
    let mut fields = skey.splitn(5, '+').skip(2);
    let name = fields.next()?;
    let key = STANDARD.decode(fields.nth(1)?).ok()?;
    let seed: [u8; 32] = key.get(1..)?.try_into().ok()?;
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    Some(signed_note::new_ed25519_verifier_key(
        name,
        &signing.verifying_key(),
    ))
}

/// A checkpoint that was read and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedCheckpoint {
    /// The log it is of.
    pub origin: String,
    /// Records in the tree.
    pub size: u64,
    /// The root hash.
    pub root: Hash,
}

/// Checks a signed checkpoint note against the verifier key (`vkey`).
pub fn check(note: &str, vkey: &str) -> Result<CheckedCheckpoint, CheckpointError> {
    let verifier = StandardVerifier::new(vkey).map_err(CheckpointError::VerifierKey)?;
    let note = Note::from_bytes(note.as_bytes()).map_err(CheckpointError::MalformedNote)?;
    note.verify(&VerifierList::new(vec![Box::new(verifier)]))
        .map_err(CheckpointError::Signature)?;
    let checkpoint =
        Checkpoint::from_bytes(note.text()).map_err(CheckpointError::MalformedCheckpoint)?;
    Ok(CheckedCheckpoint {
        origin: checkpoint.origin().to_owned(),
        size: checkpoint.size(),
        root: *checkpoint.hash(),
    })
}
