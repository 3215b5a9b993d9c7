//! TCP or TLS, as a pair of halves the connection task can read and write concurrently.

use std::io::BufReader;
use std::pin::Pin;
use std::sync::Arc;

use sha2::Digest;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::{Config, Tls, TlsTrust};
use crate::error::{Error, Result};

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
            let connector = tokio_rustls::TlsConnector::from(tls_settings(config, tls).await?);
            let name = tls
                .server_name
                .clone()
                .unwrap_or_else(|| config.host.clone());
            let server_name = rustls::pki_types::ServerName::try_from(name)
                .map_err(|e| Error::tls("invalid server name", Some(Box::new(e))))?;
            let stream = connector.connect(server_name, tcp).await?;
            let (read, write) = tokio::io::split(stream);
            Ok((Box::pin(read), Box::pin(write)))
        }
    }
}

/// The rustls settings of `config`: built at its first connect, on a blocking thread (it reads
/// PEM files), then taken from its cache by every later connect and reconnect.
pub(crate) async fn tls_settings(config: &Config, tls: &Tls) -> Result<Arc<rustls::ClientConfig>> {
    if let Some(built) = config.tls_built.get() {
        return Ok(built.clone());
    }
    let tls = tls.clone();
    let built = tokio::task::spawn_blocking(move || client_config(&tls))
        .await
        .map_err(|e| Error::tls("building the TLS settings failed", Some(Box::new(e))))??;
    // A failed build is not cached: the next connect tries again (a CA file being written).
    Ok(config.tls_built.get_or_init(|| Arc::new(built)).clone())
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
        .map_err(|e| Error::tls("unusable TLS settings", Some(Box::new(e))))?;
    let custom = |check: Check| {
        Arc::new(Verifier {
            check,
            provider: provider.clone(),
        })
    };
    let config = match &tls.trust {
        TlsTrust::InsecureAcceptAny => builder
            .dangerous()
            .with_custom_certificate_verifier(custom(Check::AcceptAny))
            .with_no_client_auth(),
        TlsTrust::CaFile(path) => {
            let given = read_pem_certs(path)?;
            if given.is_empty() {
                return Err(Error::config(
                    format!("no certificate found in {}", path.display()),
                    None,
                ));
            }
            let mut roots = rustls::RootCertStore::empty();
            for cert in &given {
                // A certificate that cannot be a trust anchor may still be pinned exactly.
                let _ = roots.add(cert.clone());
            }
            let chain = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .ok();
            builder
                .dangerous()
                .with_custom_certificate_verifier(custom(Check::ChainOrExact { chain, given }))
                .with_no_client_auth()
        }
        TlsTrust::Sha256Pins(pins) => builder
            .dangerous()
            .with_custom_certificate_verifier(custom(Check::Sha256(pins.clone())))
            .with_no_client_auth(),
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

/// The certificates of a PEM file.
fn read_pem_certs(
    path: &std::path::Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    let file = std::fs::File::open(path).map_err(|e| {
        Error::config(
            format!("cannot read CA file {}", path.display()),
            Some(Box::new(e)),
        )
    })?;
    rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::config(format!("bad PEM in {}", path.display()), Some(Box::new(e))))
}

fn add_pem_file(roots: &mut rustls::RootCertStore, path: &std::path::Path) -> Result<usize> {
    Ok(read_pem_certs(path)?
        .into_iter()
        .filter(|cert| roots.add(cert.clone()).is_ok())
        .count())
}

/// How a server certificate is checked when the standard verifier alone will not do.
#[derive(Debug)]
enum Check {
    /// The explicit insecure mode: every certificate is accepted.
    AcceptAny,
    /// A chain to one of the given certificates (when they can be trust anchors), or a server
    /// certificate that is exactly one of them and names the server.
    ChainOrExact {
        chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
        given: Vec<rustls::pki_types::CertificateDer<'static>>,
    },
    /// A server certificate with one of these SHA-256 fingerprints.
    Sha256(Vec<[u8; 32]>),
}

/// Checks the server certificate as [`Check`] says; handshake signatures are always checked,
/// so the session itself is sound in every mode.
#[derive(Debug)]
struct Verifier {
    check: Check,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let accepted = rustls::client::danger::ServerCertVerified::assertion;
        match &self.check {
            Check::AcceptAny => Ok(accepted()),
            Check::ChainOrExact { chain, given } => {
                if given
                    .iter()
                    .any(|cert| cert.as_ref() == end_entity.as_ref())
                {
                    // Its chain is itself; its name must still be the server's.
                    let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
                    rustls::client::verify_server_name(&parsed, server_name)?;
                    return Ok(accepted());
                }
                match chain {
                    Some(chain) => chain.verify_server_cert(
                        end_entity,
                        intermediates,
                        server_name,
                        ocsp_response,
                        now,
                    ),
                    None => Err(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::UnknownIssuer,
                    )),
                }
            }
            Check::Sha256(pins) => {
                let fingerprint: [u8; 32] = sha2::Sha256::digest(end_entity.as_ref()).into();
                if pins.contains(&fingerprint) {
                    Ok(accepted())
                } else {
                    Err(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::ApplicationVerificationFailure,
                    ))
                }
            }
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
