//! MLLP over TLS (`--hl7-tls-cert FILE --hl7-tls-key FILE`): rustls through
//! `tokio-rustls`, with the `ring` provider the rest of careflow's TLS (tonic, reqwest)
//! already uses. TLS 1.2 and 1.3, no client certificates. A sender that speaks plain
//! MLLP to a TLS listener fails the handshake and is disconnected unacknowledged.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// A certificate or key that cannot be used: which file and why.
#[derive(Debug, thiserror::Error)]
#[error("HL7 TLS: {0}")]
pub struct TlsError(String);

/// The acceptor for the certificate chain in `cert` and the private key in `key` (PEM).
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let read = |p: &Path, what: &str| {
        std::fs::read(p).map_err(|e| TlsError(format!("reading the {what} {}: {e}", p.display())))
    };
    let cert_pem = read(cert, "certificate (--hl7-tls-cert)")?;
    let key_pem = read(key, "private key (--hl7-tls-key)")?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            TlsError(format!(
                "{}: not a PEM certificate chain: {e}",
                cert.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(TlsError(format!(
            "{}: no CERTIFICATE in the file (--hl7-tls-cert)",
            cert.display()
        )));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        TlsError(format!(
            "{}: no PEM private key (--hl7-tls-key): {e}",
            key.display()
        ))
    })?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| TlsError(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, key_der)
    .map_err(|e| {
        TlsError(format!(
            "{} and {} do not make a server certificate: {e}",
            cert.display(),
            key.display()
        ))
    })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
