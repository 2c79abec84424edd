//! TLS for listeners: a certificate and key from PEM files, read again
//! when either file changes and on every reload ([`crate::watch`]), so
//! that a renewed certificate is served without a restart: connections
//! already open keep theirs, new handshakes get the new one. A bad new
//! pair is logged and counted, and the old one kept.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use sectorgate_proxy::Gateway;
use serde::Deserialize;
use tokio_rustls::TlsAcceptor;

use crate::watch::Asks;

/// How often the files are checked for changes.
const RELOAD_CHECK: Duration = Duration::from_secs(5);

/// A listener's certificate chain and key files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsFiles {
    /// The certificate chain (PEM), leaf first.
    pub(crate) certificate: PathBuf,
    /// The private key (PEM).
    pub(crate) key: PathBuf,
}

impl TlsFiles {
    fn load(&self) -> Result<CertifiedKey, String> {
        let chain = sectorgate_federation::tls::read_certificates(&self.certificate)
            .map_err(|e| e.to_string())?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| format!("cannot read the key {}: {e}", self.key.display()))?;
        let provider = rustls::crypto::ring::default_provider();
        CertifiedKey::from_der(chain, key, &provider)
            .map_err(|e| format!("{}: {e}", self.certificate.display()))
    }

    fn modified(&self) -> Option<(SystemTime, SystemTime)> {
        let at = |path: &PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        Some((at(&self.certificate)?, at(&self.key)?))
    }
}

/// Serves the current certificate.
#[derive(Debug)]
struct Reloading {
    current: ArcSwap<CertifiedKey>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// A TLS acceptor over `files`, and a task that reloads them when they
/// change or a reload is asked for.
pub(crate) fn acceptor(
    files: &TlsFiles,
    mut asks: Asks,
    gateway: Arc<Gateway>,
) -> Result<TlsAcceptor, String> {
    let resolver = Arc::new(Reloading {
        current: ArcSwap::from_pointee(files.load()?),
    });
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    // HTTP/2 where the client offers it; the homeserver is still spoken to
    // over HTTP/1.1.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let files = files.clone();
    tokio::spawn(async move {
        let mut seen = files.modified();
        loop {
            let asked = tokio::select! {
                () = tokio::time::sleep(RELOAD_CHECK) => false,
                changed = asks.changed() => changed.is_ok(),
            };
            let now = files.modified();
            if now == seen && !asked {
                continue;
            }
            seen = now;
            let loaded = files.load();
            gateway.metrics().certificate_reloaded(loaded.is_ok());
            match loaded {
                Ok(key) => {
                    resolver.current.store(Arc::new(key));
                    tracing::info!(certificate = %files.certificate.display(), "TLS certificate reloaded");
                }
                Err(error) => {
                    tracing::error!(%error, "the new TLS certificate cannot be used; keeping the old one");
                }
            }
        }
    });
    Ok(TlsAcceptor::from(Arc::new(config)))
}
