//! A signed federation list as gematik delivers it: a JWS in compact form
//! whose protected header carries the signer's certificate chain (`x5c`)
//! and whose signature is ECDSA over brainpoolP256r1 (`BP256R1`) or P-256
//! (`ES256`), raw `r‖s`. The signer's certificate must chain, through any
//! further `x5c` certificates (which must be CA certificates), to a
//! configured trust anchor, and every certificate on the way must be valid
//! now. Revocation (OCSP) is not checked.

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bp256::BrainpoolP256r1;
use ecdsa::signature::Verifier;
use ecdsa::{Signature, VerifyingKey};
use p256::NistP256;
use serde::Deserialize;
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::BasicConstraints;

use crate::JwsError;

/// Verifies an ECDSA signature on `$curve` (SHA-256), `raw` (r‖s) or `der`.
macro_rules! ecdsa_verifies {
    ($curve:ty, $key:expr, $message:expr, raw $signature:expr) => {
        match (
            VerifyingKey::<$curve>::from_sec1_bytes($key),
            Signature::<$curve>::from_slice($signature),
        ) {
            (Ok(key), Ok(signature)) => key.verify($message, &signature).is_ok(),
            _ => false,
        }
    };
    ($curve:ty, $key:expr, $message:expr, der $signature:expr) => {
        match (
            VerifyingKey::<$curve>::from_sec1_bytes($key),
            ecdsa::der::Signature::<$curve>::from_bytes($signature),
        ) {
            (Ok(key), Ok(signature)) => key.verify($message, &signature).is_ok(),
            _ => false,
        }
    };
}

/// How deep a chain may go from the signer to an anchor.
const MAX_CHAIN: usize = 4;

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    x5c: Vec<String>,
}

/// A verified JWS: its payload and who signed it.
#[derive(Debug)]
pub struct Verified {
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// The signer certificate's subject.
    pub signer: String,
}

/// Verifies `jws` against `anchors` at `now`.
pub fn verify(jws: &str, anchors: &[Certificate], now: SystemTime) -> Result<Verified, JwsError> {
    let mut parts = jws.trim().split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::NotCompact);
    };
    let header: Header =
        serde_json::from_slice(&decode(header_b64, "header")?).map_err(JwsError::Header)?;
    let chain = header
        .x5c
        .iter()
        .map(|cert| certificate(cert))
        .collect::<Result<Vec<_>, _>>()?;
    let signer = chain.first().ok_or(JwsError::NoCertificate)?;
    let signing_input = format!("{header_b64}.{payload_b64}");
    let signature = decode(signature_b64, "signature")?;
    let key = public_key(signer);
    let verified = match header.alg.as_str() {
        "BP256R1" => {
            ecdsa_verifies!(
                BrainpoolP256r1,
                key,
                signing_input.as_bytes(),
                raw & signature
            )
        }
        "ES256" => ecdsa_verifies!(NistP256, key, signing_input.as_bytes(), raw & signature),
        other => return Err(JwsError::Algorithm(other.to_owned())),
    };
    if !verified {
        return Err(JwsError::Signature);
    }
    chains_to_anchor(signer, &chain[1..], anchors, now)?;
    Ok(Verified {
        payload: decode(payload_b64, "payload")?,
        signer: signer.tbs_certificate().subject().to_string(),
    })
}

/// The bytes of a JWS `part` (`header`, `payload`, `signature`).
fn decode(text: &str, part: &'static str) -> Result<Vec<u8>, JwsError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|source| JwsError::Base64 { part, source })
}

/// An `x5c` certificate (standard base64 of its DER).
fn certificate(text: &str) -> Result<Certificate, JwsError> {
    let der = STANDARD.decode(text).map_err(JwsError::CertificateBase64)?;
    Certificate::from_der(&der).map_err(JwsError::CertificateDer)
}

fn public_key(cert: &Certificate) -> &[u8] {
    cert.tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes()
}

/// Whether `cert` was signed by the holder of `issuer`'s key.
fn issued_by(cert: &Certificate, issuer: &Certificate) -> bool {
    if cert.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
        return false;
    }
    let Ok(tbs) = cert.tbs_certificate().to_der() else {
        return false;
    };
    let signature = cert.signature().raw_bytes();
    let key = public_key(issuer);
    ecdsa_verifies!(BrainpoolP256r1, key, &tbs, der signature)
        || ecdsa_verifies!(NistP256, key, &tbs, der signature)
}

/// Whether a certificate may issue others (basicConstraints cA).
fn is_ca(cert: &Certificate) -> bool {
    matches!(
        cert.tbs_certificate().get_extension::<BasicConstraints>(),
        Ok(Some((_, constraints))) if constraints.ca
    )
}

fn valid_at(cert: &Certificate, now: SystemTime) -> Result<(), JwsError> {
    let validity = cert.tbs_certificate().validity();
    if now < validity.not_before.to_system_time() || now > validity.not_after.to_system_time() {
        return Err(JwsError::NotValidNow {
            subject: cert.tbs_certificate().subject().to_string(),
        });
    }
    Ok(())
}

fn chains_to_anchor(
    signer: &Certificate,
    intermediates: &[Certificate],
    anchors: &[Certificate],
    now: SystemTime,
) -> Result<(), JwsError> {
    let mut current = signer;
    for _ in 0..MAX_CHAIN {
        valid_at(current, now)?;
        if let Some(anchor) = anchors.iter().find(|anchor| issued_by(current, anchor)) {
            return valid_at(anchor, now);
        }
        match intermediates
            .iter()
            .find(|cert| is_ca(cert) && issued_by(current, cert))
        {
            Some(next) => current = next,
            None => break,
        }
    }
    Err(JwsError::NoChain {
        subject: signer.tbs_certificate().subject().to_string(),
    })
}

/// Reads trust anchors from a PEM file.
pub fn read_anchors(pem: &[u8]) -> Result<Vec<Certificate>, JwsError> {
    let anchors = Certificate::load_pem_chain(pem).map_err(JwsError::Anchors)?;
    if anchors.is_empty() {
        return Err(JwsError::NoAnchor);
    }
    Ok(anchors)
}
