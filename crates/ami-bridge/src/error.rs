//! The bridge's error type.

/// Why the bridge could not start or run. Never carries a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// NATS could not be reached, or refused something (the stream, a subscription).
    #[error("{0}")]
    Nats(String),
}
