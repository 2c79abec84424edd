//! Why federation material could not be had: a server's signing keys
//! ([`KeyError`], [`KeyFetchError`], [`KeyAnswerError`]), a signed list
//! ([`ListError`], [`JwsError`], [`PayloadError`]) or the TLS client
//! ([`TlsError`]). Their messages reach logs, the admin status and the CLI.

use std::path::PathBuf;
use std::sync::Arc;

use ruma::OwnedServerName;

/// Why a server's signing key cannot be had.
#[derive(Clone, Debug, thiserror::Error)]
pub enum KeyError {
    /// The server's keys are pinned in the config, but not this one.
    #[error("{key_id} is not among {server}'s pinned keys")]
    NotPinned {
        /// The server.
        server: OwnedServerName,
        /// The key asked for.
        key_id: String,
    },
    /// The server does not publish this key.
    #[error("{server} does not publish the key {key_id}")]
    NotPublished {
        /// The server.
        server: OwnedServerName,
        /// The key asked for.
        key_id: String,
    },
    /// The server's keys could not be fetched (now, or moments ago: the
    /// failure is kept for a while).
    #[error(transparent)]
    Fetch(Arc<KeyFetchError>),
}

/// Why fetching a server's keys (`/_matrix/key/v2/server`) failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyFetchError {
    /// The request could not be made.
    #[error("cannot fetch {url}: {source}")]
    Request {
        /// The URL asked.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("{url} answered {status}")]
    Status {
        /// The URL asked.
        url: String,
        /// The status.
        status: reqwest::StatusCode,
    },
    /// The answer's body could not be read.
    #[error("cannot read {url}: {source}")]
    Body {
        /// The URL asked.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The answer is not the server's own, self-signed keys.
    #[error(transparent)]
    Answer(#[from] KeyAnswerError),
}

/// Why a `/_matrix/key/v2/server` answer is not the server's own,
/// self-signed keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyAnswerError {
    /// The answer is not a JSON object.
    #[error("the key answer is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The answer has no `server_name`.
    #[error("the key answer names no server")]
    NoServerName,
    /// The answer is another server's.
    #[error("the key answer is for {named}, not {server}")]
    OtherServer {
        /// The server the answer names.
        named: String,
        /// The server asked.
        server: OwnedServerName,
    },
    /// The answer has no `valid_until_ts`.
    #[error("the key answer has no valid_until_ts")]
    NoValidUntil,
    /// A verify key has no `key`.
    #[error("the key {id} has no key")]
    KeyMissing {
        /// The key's id.
        id: String,
    },
    /// A verify key is not base64.
    #[error("the key {id}: {source}")]
    BadKey {
        /// The key's id.
        id: String,
        /// Why it does not decode.
        source: ruma::serde::Base64DecodeError,
    },
    /// The answer has no verify keys.
    #[error("the key answer has no verify_keys")]
    NoVerifyKeys,
    /// The answer carries no signature of the server's.
    #[error("the key answer is not signed by {server}")]
    Unsigned {
        /// The server asked.
        server: OwnedServerName,
    },
    /// The server's signature does not verify with the keys it publishes.
    #[error("the key answer is not signed by its keys: {0}")]
    BadSignature(#[source] ruma::signatures::VerificationError),
}

/// Why a signed list was not put in force (the one in force stays).
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The source answered that it has nothing newer, and no list is in force.
    #[error("the source has no list")]
    NoList,
    /// A file (the list, or the directory's token) could not be read.
    #[error("cannot read {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The directory could not be asked.
    #[error("cannot fetch {url}: {source}")]
    Request {
        /// The URL asked.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The directory's answer could not be read.
    #[error("cannot read {url}: {source}")]
    Body {
        /// The URL asked.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The directory answered with a status other than 200 or 204.
    #[error("{url} answered {status}")]
    Status {
        /// The URL asked.
        url: String,
        /// The status.
        status: u16,
    },
    /// The list's signature or certificates do not verify.
    #[error(transparent)]
    Jws(#[from] JwsError),
    /// The signed payload is not a federation list.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The list is older than the one in force.
    #[error("the list's version {version} is older than the version {current} in force")]
    Older {
        /// The list's version.
        version: u64,
        /// The version in force.
        current: u64,
    },
}

/// Why a signed list's JWS, or the certificates it is checked with, do not
/// verify.
#[derive(Debug, thiserror::Error)]
pub enum JwsError {
    /// Not three dot-separated parts.
    #[error("not a JWS in compact form (three parts)")]
    NotCompact,
    /// A part is not base64url.
    #[error("the {part} is not base64url: {source}")]
    Base64 {
        /// `header`, `payload` or `signature`.
        part: &'static str,
        /// Why.
        source: base64::DecodeError,
    },
    /// The protected header is not a JWS header.
    #[error("the header is not a JWS header: {0}")]
    Header(#[source] serde_json::Error),
    /// An `x5c` certificate is not base64.
    #[error("an x5c certificate is not base64: {0}")]
    CertificateBase64(#[source] base64::DecodeError),
    /// An `x5c` certificate is not a DER certificate.
    #[error("an x5c certificate is not DER: {0}")]
    CertificateDer(#[source] x509_cert::der::Error),
    /// The header carries no signer certificate.
    #[error("the header carries no x5c certificate")]
    NoCertificate,
    /// The signature algorithm is not one accepted.
    #[error("the algorithm {0:?} is not accepted (BP256R1, ES256)")]
    Algorithm(String),
    /// The signature does not verify with the signer's certificate.
    #[error("the signature does not verify with the x5c certificate")]
    Signature,
    /// A certificate on the way to the anchor is not valid now.
    #[error("the certificate {subject} is not valid now")]
    NotValidNow {
        /// The certificate's subject.
        subject: String,
    },
    /// The signer's certificate does not chain to a trust anchor.
    #[error("the signer {subject} does not chain to a trust anchor")]
    NoChain {
        /// The signer certificate's subject.
        subject: String,
    },
    /// Trust anchors are not PEM certificates.
    #[error(transparent)]
    Anchors(x509_cert::der::Error),
    /// A trust anchor file holds no certificate.
    #[error("no certificate")]
    NoAnchor,
}

/// Why a signed payload is not a federation list.
#[derive(Debug, thiserror::Error)]
#[error("the list is not a federation list: {0}")]
pub struct PayloadError(#[source] pub(crate) serde_json::Error);

/// Why the TLS client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be opened.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls_pki_types::pem::Error,
    },
    /// A PEM file holds something that is not a certificate.
    #[error("{}: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls_pki_types::pem::Error,
    },
    /// A PEM file holds no certificate.
    #[error("{} holds no certificate", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A CA certificate cannot be trusted.
    #[error("{}: {source}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::Error,
    },
    /// The TLS configuration could not be made.
    #[error(transparent)]
    Config(rustls::Error),
    /// The HTTPS client could not be made.
    #[error(transparent)]
    Client(reqwest::Error),
}
