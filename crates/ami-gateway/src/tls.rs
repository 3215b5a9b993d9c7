//! TLS for the gateway's own listener: rustls with a PEM certificate chain and key. Each
//! handshake runs in its connection's own task (with a timeout), so a slow or silent client
//! never holds up the others.

use std::io::{self, BufReader};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The longest a TLS handshake may take (shortened to `connections.header_timeout_ms` when
/// that is shorter).
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// The file held no certificate / no private key.
    #[error("{0}")]
    Missing(String),
    /// rustls refused the pair.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

fn open(path: &Path) -> Result<BufReader<std::fs::File>, TlsError> {
    std::fs::File::open(path)
        .map(BufReader::new)
        .map_err(|source| TlsError::Read {
            path: path.display().to_string(),
            source,
        })
}

/// A rustls server configuration from PEM files (HTTP/1.1 only).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let read = |path: &Path, source| TlsError::Read {
        path: path.display().to_string(),
        source,
    };
    let certs = rustls_pemfile::certs(&mut open(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read(cert, e))?;
    if certs.is_empty() {
        return Err(TlsError::Missing(format!(
            "{} holds no PEM certificate",
            cert.display()
        )));
    }
    let key_der = rustls_pemfile::private_key(&mut open(key)?)
        .map_err(|e| read(key, e))?
        .ok_or_else(|| TlsError::Missing(format!("{} holds no PEM private key", key.display())))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key_der)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
