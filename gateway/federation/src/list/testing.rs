//! Test material for signed lists, made at test time with the `openssl`
//! command (which, unlike rcgen, makes Brainpool keys): a CA, a signer
//! certificate it issues, and lists signed as gematik signs them.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a failed step fails the test"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// The curve (and JWS `alg`) a test signer uses.
#[derive(Clone, Copy, Debug)]
pub enum Curve {
    /// brainpoolP256r1, `BP256R1` (what gematik uses).
    Brainpool,
    /// P-256, `ES256`.
    P256,
}

/// A CA and a signer certificate it issued.
pub struct ListSigner {
    /// The folder holding the keys and certificates.
    pub dir: PathBuf,
    /// The CA certificate (PEM): the trust anchor to configure.
    pub ca: PathBuf,
    curve: Curve,
    signer_key: PathBuf,
    signer_der: Vec<u8>,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A new, empty folder under the temp dir.
fn fresh_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sectorgate-list-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("list dir");
    dir
}

/// The CA's and the signer's keys on `curve`: `ca.key`, `signer.key`.
fn make_keys(dir: &Path, curve: Curve) {
    let name = match curve {
        Curve::Brainpool => "brainpoolP256r1",
        Curve::P256 => "prime256v1",
    };
    for key in ["ca.key", "signer.key"] {
        openssl(
            dir,
            &["ecparam", "-name", name, "-genkey", "-noout", "-out", key],
        );
    }
}

/// The self-signed CA certificate: `ca.pem`.
fn make_ca(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=Test List CA",
            "-days",
            "30",
            "-sha256",
            "-out",
            "ca.pem",
        ],
    );
}

/// The signer's certificate, issued by the CA: `signer.pem`, and its DER
/// form `signer.der`.
fn issue_signer(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "signer.key",
            "-subj",
            "/CN=VZD-FHIR-FList-Signer TEST",
            "-out",
            "signer.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "signer.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-sha256",
            "-out",
            "signer.pem",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-in",
            "signer.pem",
            "-outform",
            "DER",
            "-out",
            "signer.der",
        ],
    );
}

impl ListSigner {
    /// A fresh CA and signer on `curve`, in a new folder under the temp dir.
    pub fn new(curve: Curve) -> Self {
        let dir = fresh_dir();
        make_keys(&dir, curve);
        make_ca(&dir);
        issue_signer(&dir);
        Self {
            ca: dir.join("ca.pem"),
            signer_key: dir.join("signer.key"),
            signer_der: std::fs::read(dir.join("signer.der")).expect("signer.der"),
            curve,
            dir,
        }
    }

    /// A list of `domains` (the last one flagged as an insurer), as the
    /// directory's payload has it (with `iks`, as the service sends).
    pub fn payload(version: u64, domains: &[&str]) -> Value {
        let entries: Vec<Value> = domains
            .iter()
            .enumerate()
            .map(|(i, domain)| {
                json!({
                    "domain": domain,
                    "telematikID": format!("1-{i}"),
                    "isInsurance": i + 1 == domains.len(),
                    "iks": [],
                })
            })
            .collect();
        json!({"version": version, "domainList": entries})
    }

    /// `payload` signed as a compact JWS with the signer's certificate in `x5c`.
    pub fn sign(&self, payload: &Value) -> String {
        let alg = match self.curve {
            Curve::Brainpool => "BP256R1",
            Curve::P256 => "ES256",
        };
        let header = json!({"alg": alg, "typ": "JWT", "x5c": [STANDARD.encode(&self.signer_der)]});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        std::fs::write(self.dir.join("input"), &input).expect("input");
        openssl(
            &self.dir,
            &[
                "dgst",
                "-sha256",
                "-sign",
                "signer.key",
                "-out",
                "sig.der",
                "input",
            ],
        );
        let der = std::fs::read(self.dir.join("sig.der")).expect("sig.der");
        let raw = match self.curve {
            Curve::Brainpool => ecdsa::Signature::<bp256::BrainpoolP256r1>::from_der(&der)
                .expect("signature")
                .to_bytes()
                .to_vec(),
            Curve::P256 => ecdsa::Signature::<p256::NistP256>::from_der(&der)
                .expect("signature")
                .to_bytes()
                .to_vec(),
        };
        let _ = &self.signer_key;
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(raw))
    }
}
