//! AMI over TLS, as Asterisk serves it on port 5039: certificate files or a self-signed
//! certificate generated at start (for tests).

use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types};

use crate::config::TlsConfig;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file holds no private key.
    #[error("no private key found in {0}")]
    NoKey(String),
    /// Certificate generation failed.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A ready acceptor.
pub(crate) struct Tls {
    pub(crate) acceptor: TlsAcceptor,
}

pub(crate) fn build(config: &TlsConfig) -> Result<Tls, TlsError> {
    let (chain, key) = match config {
        TlsConfig::SelfSigned => {
            let generated = rcgen::generate_simple_self_signed(vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
            ])?;
            let key = pki_types::PrivateKeyDer::Pkcs8(pki_types::PrivatePkcs8KeyDer::from(
                generated.key_pair.serialize_der(),
            ));
            (vec![generated.cert.der().clone()], key)
        }
        TlsConfig::Files { cert, key } => {
            let read = |path: &std::path::Path| {
                std::fs::read(path).map_err(|source| TlsError::Io {
                    path: path.display().to_string(),
                    source,
                })
            };
            let cert_bytes = read(cert)?;
            let chain = rustls_pemfile::certs(&mut cert_bytes.as_slice())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| TlsError::Io {
                    path: cert.display().to_string(),
                    source,
                })?;
            let key_bytes = read(key)?;
            let private = rustls_pemfile::private_key(&mut key_bytes.as_slice())
                .map_err(|source| TlsError::Io {
                    path: key.display().to_string(),
                    source,
                })?
                .ok_or_else(|| TlsError::NoKey(key.display().to_string()))?;
            (chain, private)
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(server)),
    })
}
