//! TCP or TLS, as a pair of halves the connection task can read and write concurrently.

use std::io::BufReader;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::{Config, Tls, TlsTrust};
use crate::error::{Error, Kind, Result};

pub(crate) type Reader = Pin<Box<dyn AsyncRead + Send>>;
pub(crate) type Writer = Pin<Box<dyn AsyncWrite + Send>>;

/// Opens the TCP connection and, when configured, the TLS session over it.
pub(crate) async fn open(config: &Config) -> Result<(Reader, Writer)> {
    let tcp = TcpStream::connect((config.host.as_str(), config.port)).await?;
    // AMI is request/response with small packets: Nagle would add up to 40 ms per action.
    tcp.set_nodelay(true)?;
    match &config.tls {
        None => {
            let (read, write) = tcp.into_split();
            Ok((Box::pin(read), Box::pin(write)))
        }
        Some(tls) => {
            let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(tls)?));
            let name = tls
                .server_name
                .clone()
                .unwrap_or_else(|| config.host.clone());
            let server_name = rustls::pki_types::ServerName::try_from(name)
                .map_err(|e| Error::new(Kind::Tls(format!("invalid server name: {e}"))))?;
            let stream = connector.connect(server_name, tcp).await?;
            let (read, write) = tokio::io::split(stream);
            Ok((Box::pin(read), Box::pin(write)))
        }
    }
}

const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

fn client_config(tls: &Tls) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(Kind::Tls(e.to_string())))?;
    let config = match &tls.trust {
        TlsTrust::InsecureAcceptAny => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth(),
        TlsTrust::CaFile(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let added = add_pem_file(&mut roots, path)?;
            if added == 0 {
                return Err(Error::new(Kind::Config(format!(
                    "no certificate found in {}",
                    path.display()
                ))));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TlsTrust::SystemRoots => {
            let mut roots = rustls::RootCertStore::empty();
            for bundle in SYSTEM_BUNDLES {
                let path = std::path::Path::new(bundle);
                if path.exists() && add_pem_file(&mut roots, path).unwrap_or(0) > 0 {
                    break;
                }
            }
            if roots.is_empty() {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(config)
}

fn add_pem_file(roots: &mut rustls::RootCertStore, path: &std::path::Path) -> Result<usize> {
    let file = std::fs::File::open(path).map_err(|e| {
        Error::new(Kind::Config(format!(
            "cannot read CA file {}: {e}",
            path.display()
        )))
    })?;
    let mut added = 0;
    for cert in rustls_pemfile::certs(&mut BufReader::new(file)) {
        let cert = cert
            .map_err(|e| Error::new(Kind::Config(format!("bad PEM in {}: {e}", path.display()))))?;
        if roots.add(cert).is_ok() {
            added += 1;
        }
    }
    Ok(added)
}

/// The explicit insecure mode: every certificate is accepted, signatures are still checked so
/// the handshake itself is sound.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
