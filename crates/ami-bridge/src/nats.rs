//! The NATS side: connecting with the configured credentials, and the stream.

use std::time::Duration;

use async_nats::jetstream;

use crate::config::{FleetConfig, NatsConfig, StreamConfig};
use crate::error::Error;

/// Reads a secret from an environment variable or a file (trailing newline dropped).
fn secret(
    env: Option<&str>,
    file: Option<&std::path::Path>,
    what: &str,
) -> Result<Option<String>, Error> {
    match (env, file) {
        (Some(var), _) => std::env::var(var)
            .map(Some)
            .map_err(|_| Error::Nats(format!("environment variable {var} ({what}) is not set"))),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|text| Some(text.trim_end_matches(['\r', '\n']).to_owned()))
            .map_err(|error| {
                Error::Nats(format!("cannot read {} ({what}): {error}", path.display()))
            }),
        (None, None) => Ok(None),
    }
}

/// Connects to NATS at `url` (one or more comma-separated URLs) with `config`'s credentials
/// and TLS. A URL that carries credentials itself is refused: they would sit on a command
/// line; they belong in the configuration's files or environment variables.
pub async fn connect(url: &str, config: &NatsConfig) -> Result<async_nats::Client, Error> {
    for one in url.split(',') {
        let rest = one.split_once("://").map_or(one, |(_, rest)| rest);
        if rest
            .split('/')
            .next()
            .is_some_and(|authority| authority.contains('@'))
        {
            return Err(Error::Nats(
                "the NATS URL carries credentials; put them in the [nats] table (from a file or an environment variable) instead".into(),
            ));
        }
    }
    let mut options = async_nats::ConnectOptions::new()
        .name("ami-bridge")
        .connection_timeout(Duration::from_secs(5));
    if let Some(user) = &config.user {
        let password = secret(
            config.password_env.as_deref(),
            config.password_file.as_deref(),
            "NATS password",
        )?
        .unwrap_or_default();
        options = options.user_and_password(user.clone(), password);
    }
    if let Some(token) = secret(
        config.token_env.as_deref(),
        config.token_file.as_deref(),
        "NATS token",
    )? {
        options = options.token(token);
    }
    if let Some(path) = &config.nkey_file {
        let seed = secret(None, Some(path), "NKey seed")?.unwrap_or_default();
        options = options.nkey(seed.trim().to_owned());
    }
    if let Some(path) = &config.creds_file {
        options = options.credentials_file(path).await.map_err(|error| {
            Error::Nats(format!(
                "cannot read {} (creds file): {error}",
                path.display()
            ))
        })?;
    }
    if let Some(ca) = &config.tls_ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    if config.require_tls {
        options = options.require_tls(true);
    }
    let urls: Vec<async_nats::ServerAddr> = url
        .split(',')
        .map(|one| {
            one.trim()
                .parse()
                .map_err(|_| Error::Nats(format!("{:?} is not a NATS URL", one.trim())))
        })
        .collect::<Result<_, _>>()?;
    options
        .connect(urls)
        .await
        .map_err(|error| Error::Nats(format!("cannot connect to NATS: {error}")))
}

/// The stream's JetStream configuration.
pub fn stream_config(stream: &StreamConfig) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: stream.name.clone(),
        subjects: stream.subjects.clone(),
        retention: match stream.retention.as_str() {
            "interest" => jetstream::stream::RetentionPolicy::Interest,
            "workqueue" => jetstream::stream::RetentionPolicy::WorkQueue,
            _ => jetstream::stream::RetentionPolicy::Limits,
        },
        storage: match stream.storage.as_str() {
            "memory" => jetstream::stream::StorageType::Memory,
            _ => jetstream::stream::StorageType::File,
        },
        max_age: Duration::from_secs(stream.max_age_secs),
        max_bytes: stream.max_bytes,
        duplicate_window: Duration::from_secs(stream.duplicate_window_secs),
        num_replicas: stream.replicas,
        ..Default::default()
    }
}

/// Creates the stream when it is missing; an existing one is left as it is (its operator may
/// have tuned it), and said so when its subjects differ.
pub async fn ensure_stream(js: &jetstream::Context, stream: &StreamConfig) -> Result<(), Error> {
    let mut existing = js
        .get_or_create_stream(stream_config(stream))
        .await
        .map_err(|error| Error::Nats(format!("cannot create stream {}: {error}", stream.name)))?;
    let info = existing
        .info()
        .await
        .map_err(|error| Error::Nats(format!("cannot read stream {}: {error}", stream.name)))?;
    if info.config.subjects != stream.subjects {
        tracing::warn!(
            stream = %stream.name,
            subjects = ?info.config.subjects,
            configured = ?stream.subjects,
            "the stream exists with other subjects; left as it is"
        );
    }
    Ok(())
}

/// The lease bucket, created when missing (one value per key, entries removed
/// `lease_ttl_ms` after their last write), and the TTL the leases really have: the bucket's
/// `max_age`, which is what JetStream enforces, whatever this instance was configured with.
pub async fn ensure_leases(
    js: &jetstream::Context,
    fleet: &FleetConfig,
) -> Result<(jetstream::kv::Store, Duration), Error> {
    let store = match js.get_key_value(fleet.bucket.as_str()).await {
        Ok(store) => store,
        Err(_) => js
            .create_key_value(jetstream::kv::Config {
                bucket: fleet.bucket.clone(),
                description: "ami-bridge leases: server name -> owning bridge instance".into(),
                history: 1,
                max_age: fleet.lease_ttl(),
                ..Default::default()
            })
            .await
            .map_err(|error| {
                Error::Nats(format!(
                    "cannot create key-value bucket {}: {error}",
                    fleet.bucket
                ))
            })?,
    };
    let status = store.status().await.map_err(|error| {
        Error::Nats(format!(
            "cannot read key-value bucket {}: {error}",
            fleet.bucket
        ))
    })?;
    let ttl = status.max_age();
    if ttl.is_zero() {
        return Err(Error::Nats(format!(
            "key-value bucket {} keeps entries forever (max_age 0): a dead instance's leases would never expire",
            fleet.bucket
        )));
    }
    if ttl != fleet.lease_ttl() {
        tracing::warn!(
            bucket = %fleet.bucket,
            bucket_ttl = ?ttl,
            configured = ?fleet.lease_ttl(),
            "the lease bucket exists with another max_age; using the bucket's"
        );
    }
    Ok((store, ttl))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn credentials_in_the_url_are_refused_before_connecting() {
        for url in [
            "nats://user:secret@127.0.0.1:4222",
            "nats://127.0.0.1:4222,nats://token@127.0.0.1:4223",
            "tls://s3cr3t@nats.example:4222",
        ] {
            let error = connect(url, &NatsConfig::default()).await.expect_err(url);
            let text = error.to_string();
            assert!(text.contains("[nats] table"), "{text}");
            assert!(
                !text.contains("secret") && !text.contains("s3cr3t"),
                "{text}"
            );
        }
    }

    #[test]
    fn the_stream_config_follows_the_file() {
        let stream = StreamConfig {
            retention: "interest".into(),
            storage: "memory".into(),
            max_age_secs: 60,
            ..StreamConfig::default()
        };
        let config = stream_config(&stream);
        assert_eq!(config.name, "AMI");
        assert_eq!(
            config.retention,
            jetstream::stream::RetentionPolicy::Interest
        );
        assert_eq!(config.storage, jetstream::stream::StorageType::Memory);
        assert_eq!(config.max_age, Duration::from_secs(60));
        assert_eq!(config.duplicate_window, Duration::from_secs(120));
        assert_eq!(config.max_bytes, 1 << 30);
    }
}
