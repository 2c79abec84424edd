//! `manifest.json`: the SHA-256 of every file in a report folder, signed
//! with Ed25519 when a key is given, and the check of a folder against it.
//!
//! The signature covers the context string [`CONTEXT`] followed by the
//! manifest's JSON without its `signature` member (keys sorted, no spaces).
//! Keys are files holding a 32-byte Ed25519 seed in base64
//! (`sectorgate-conformance keygen`); public keys are written in base64.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// What the signature is prefixed with, so it cannot be taken for another.
pub const CONTEXT: &[u8] = b"sectorgate-conformance manifest v1\n";

/// The manifest's signed part.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Body {
    format: u32,
    suite_version: String,
    /// File name → SHA-256, hex.
    files: BTreeMap<String, String>,
}

/// A manifest's signature.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Signature {
    algorithm: String,
    public_key: String,
    value: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Manifest {
    #[serde(flatten)]
    body: Body,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<Signature>,
}

/// Writes `manifest.json` over every other file in `dir`.
pub(super) fn write(
    dir: &Path,
    suite_version: &str,
    key: Option<&SigningKey>,
) -> std::io::Result<()> {
    let body = Body {
        format: 1,
        suite_version: suite_version.to_owned(),
        files: hashes(dir)?,
    };
    let signature = key.map(|key| Signature {
        algorithm: "ed25519".to_owned(),
        public_key: public_key(&key.verifying_key()),
        value: STANDARD.encode(key.sign(&signed_bytes(&body)).to_bytes()),
    });
    let manifest = Manifest { body, signature };
    let json = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
    std::fs::write(dir.join(MANIFEST), json)
}

/// What a good bundle holds.
#[derive(Debug)]
pub struct Verified {
    /// How many files the manifest covers.
    pub files: usize,
    /// The public key that signed it, if it is signed.
    pub signed_by: Option<String>,
}

/// Checks a report folder against its manifest: every file listed and
/// unchanged, no file added, the signature valid, and made by `trusted`
/// when a key is given (an unsigned bundle then fails). Every problem is
/// returned.
pub fn verify(dir: &Path, trusted: Option<&VerifyingKey>) -> Result<Verified, Vec<String>> {
    let text = std::fs::read(dir.join(MANIFEST))
        .map_err(|error| vec![format!("cannot read {MANIFEST}: {error}")])?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|error| vec![format!("{MANIFEST} is not a manifest: {error}")])?;
    let found = hashes(dir).map_err(|error| vec![format!("cannot read the folder: {error}")])?;
    let mut problems = Vec::new();
    for (name, want) in &manifest.body.files {
        match found.get(name) {
            None => problems.push(format!("{name}: listed but missing")),
            Some(have) if have != want => {
                problems.push(format!("{name}: altered (SHA-256 differs)"))
            }
            Some(_) => {}
        }
    }
    for name in found.keys() {
        if !manifest.body.files.contains_key(name) {
            problems.push(format!("{name}: not in the manifest"));
        }
    }
    let signed_by = match &manifest.signature {
        None => {
            if trusted.is_some() {
                problems.push("the manifest is not signed".to_owned());
            }
            None
        }
        Some(signature) => match check_signature(&manifest.body, signature, trusted) {
            Ok(()) => Some(signature.public_key.clone()),
            Err(problem) => {
                problems.push(problem);
                None
            }
        },
    };
    if problems.is_empty() {
        Ok(Verified {
            files: manifest.body.files.len(),
            signed_by,
        })
    } else {
        Err(problems)
    }
}

fn check_signature(
    body: &Body,
    signature: &Signature,
    trusted: Option<&VerifyingKey>,
) -> Result<(), String> {
    if signature.algorithm != "ed25519" {
        return Err(format!(
            "unknown signature algorithm {:?}",
            signature.algorithm
        ));
    }
    let key = parse_public_key(&signature.public_key)?;
    if trusted.is_some_and(|trusted| *trusted != key) {
        return Err("signed by another key than the trusted one".to_owned());
    }
    let bytes: [u8; 64] = STANDARD
        .decode(&signature.value)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or("the signature is not 64 bytes of base64")?;
    key.verify(
        &signed_bytes(body),
        &ed25519_dalek::Signature::from_bytes(&bytes),
    )
    .map_err(|_| "the signature does not verify".to_owned())
}

fn signed_bytes(body: &Body) -> Vec<u8> {
    let mut bytes = CONTEXT.to_vec();
    // A struct of strings and a sorted map: serialising cannot fail.
    bytes.extend(serde_json::to_vec(body).unwrap_or_default());
    bytes
}

/// SHA-256 of every regular file in `dir` but the manifest.
fn hashes(dir: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == MANIFEST {
            continue;
        }
        if !entry.file_type()?.is_file() {
            files.insert(name, "not a regular file".to_owned());
            continue;
        }
        let digest = Sha256::digest(std::fs::read(entry.path())?);
        files.insert(name, hex::encode(digest));
    }
    Ok(files)
}

/// A new signing key, as the text of its key file.
pub fn generate_key() -> (SigningKey, String) {
    let key = SigningKey::generate(&mut rand_core_06::OsRng);
    let text = format!("{}\n", STANDARD.encode(key.to_bytes()));
    (key, text)
}

/// Reads a key file written by [`generate_key`].
pub fn read_signing_key(path: &Path) -> Result<SigningKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let seed: [u8; 32] = STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| format!("{} does not hold a base64 Ed25519 seed", path.display()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A public key as written in manifests.
pub fn public_key(key: &VerifyingKey) -> String {
    STANDARD.encode(key.to_bytes())
}

/// Reads a public key written by [`public_key`].
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or("a public key is 32 bytes of base64")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not an Ed25519 public key".to_owned())
}
