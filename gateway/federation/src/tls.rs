//! The TLS client the gateway uses to reach other servers (key fetching,
//! federation lists): the public web PKI, plus CA certificates the operator
//! adds (a sector's own CA, a test CA).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::TlsError;

/// Reads every certificate in a PEM file.
pub fn read_certificates(path: &PathBuf) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|source| TlsError::Read {
            path: path.clone(),
            source,
        })?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            path: path.clone(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: path.clone() });
    }
    Ok(certs)
}

/// A rustls client config trusting the web PKI and `extra_cas`.
pub fn client_config(extra_cas: &[PathBuf]) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for path in extra_cas {
        for cert in read_certificates(path)? {
            roots.add(cert).map_err(|source| TlsError::Certificate {
                path: path.clone(),
                source,
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
}

/// An HTTPS client over [`client_config`], with a timeout and no redirects.
pub fn http_client(
    extra_cas: &[PathBuf],
    timeout: std::time::Duration,
) -> Result<reqwest::Client, TlsError> {
    reqwest::Client::builder()
        .use_preconfigured_tls(client_config(extra_cas)?)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(TlsError::Client)
}
