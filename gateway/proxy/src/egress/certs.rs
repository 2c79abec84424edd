//! Certificates for the hosts the homeserver connects to through the
//! egress, issued on the fly by the egress CA (which the homeserver trusts,
//! e.g. Synapse's `federation_custom_ca_list`), one per host, kept for the
//! life of the process.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use rcgen::{CertificateParams, DnType, Issuer, KeyPair, SanType};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Issues certificates with the egress CA.
pub(crate) struct Minter {
    issuer: Issuer<'static, KeyPair>,
    issued: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minter").finish_non_exhaustive()
    }
}

impl Minter {
    /// A minter over the CA certificate and key (PEM).
    pub(crate) fn new(ca_certificate: &str, ca_key: &str) -> Result<Self, String> {
        let key = KeyPair::from_pem(ca_key).map_err(|e| format!("the egress CA key: {e}"))?;
        let issuer = Issuer::from_ca_cert_pem(ca_certificate, key)
            .map_err(|e| format!("the egress CA certificate: {e}"))?;
        Ok(Self {
            issuer,
            issued: Mutex::new(HashMap::new()),
        })
    }

    /// The certificate for `host` (a DNS name or an IP address).
    pub(crate) fn for_host(&self, host: &str) -> Result<Arc<CertifiedKey>, String> {
        if let Some(issued) = self.issued.lock().ok().and_then(|m| m.get(host).cloned()) {
            return Ok(issued);
        }
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
        params.subject_alt_names.push(match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.try_into().map_err(|e| format!("{host}: {e}"))?),
        });
        params.distinguished_name.push(DnType::CommonName, host);
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| e.to_string())?;
        let der_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = rustls::crypto::ring::default_provider();
        let certified = Arc::new(
            CertifiedKey::from_der(
                vec![CertificateDer::from(cert.der().to_vec())],
                der_key,
                &provider,
            )
            .map_err(|e| e.to_string())?,
        );
        if let Ok(mut issued) = self.issued.lock() {
            issued.insert(host.to_owned(), Arc::clone(&certified));
        }
        Ok(certified)
    }
}
