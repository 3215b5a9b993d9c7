//! The bridge's configuration file (TOML): the gateway's `[[servers]]` entries, and the
//! bridge's own `[nats]`, `[stream]`, `[publish]` and `[actions]` tables.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ami_gateway::ServerConfig;
use ami_gateway::auth::ActionRules;
use serde::Deserialize;

use crate::subject;

/// Why a configuration was refused. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML did not parse, or had unknown or mistyped keys.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// A value was out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl From<ami_gateway::ConfigError> for ConfigError {
    fn from(error: ami_gateway::ConfigError) -> Self {
        match error {
            ami_gateway::ConfigError::Read { path, source } => Self::Read { path, source },
            ami_gateway::ConfigError::Parse(text) => Self::Parse(text),
            ami_gateway::ConfigError::Invalid(text) => Self::Invalid(text),
        }
    }
}

/// How the bridge reaches NATS. Secrets come from files or environment variables only (never
/// the command line, never a log).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// The server URL(s), comma-separated (`--nats` wins over it).
    pub url: Option<String>,
    /// User name, with `password_env` or `password_file`.
    pub user: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password (trailing newline ignored).
    pub password_file: Option<PathBuf>,
    /// Environment variable holding an authentication token.
    pub token_env: Option<String>,
    /// File holding an authentication token.
    pub token_file: Option<PathBuf>,
    /// A `.creds` file (JWT and NKey seed), as `nsc` writes it.
    pub creds_file: Option<PathBuf>,
    /// A file holding an NKey seed (`SU...`).
    pub nkey_file: Option<PathBuf>,
    /// PEM file of the CA to trust for TLS (also turns TLS on).
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Refuse a server that does not offer TLS.
    pub require_tls: bool,
}

impl NatsConfig {
    /// Refuses credentials given twice or by halves (the gateway's `[nats]` table is checked
    /// by the same rules).
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.password_env.is_some() && self.password_file.is_some()
            || self.token_env.is_some() && self.token_file.is_some()
        {
            return Err(ConfigError::Invalid(
                "nats: give a password (or a token) from an environment variable or a file, not both"
                    .into(),
            ));
        }
        if self.user.is_some() != (self.password_env.is_some() || self.password_file.is_some()) {
            return Err(ConfigError::Invalid(
                "nats: `user` needs `password_env` or `password_file`, and they need `user`".into(),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "nats: give both `tls_cert` and `tls_key`, or neither".into(),
            ));
        }
        Ok(())
    }
}

/// Where messages are kept: the JetStream stream the bridge creates when it is missing.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Stream name (default `AMI`).
    pub name: String,
    /// Subjects it holds (default: every server's events and markers, never the action
    /// requests).
    pub subjects: Vec<String>,
    /// `limits` (default), `interest` or `workqueue`.
    pub retention: String,
    /// `file` (default) or `memory`.
    pub storage: String,
    /// Messages older than this are removed (seconds; 0: kept by age forever). Default 1 day.
    pub max_age_secs: u64,
    /// The stream removes its oldest messages past this size (bytes; -1: no limit). Default
    /// 1 GiB.
    pub max_bytes: i64,
    /// Messages with a `Nats-Msg-Id` seen within this window are stored once (seconds;
    /// default 120, JetStream's own default).
    pub duplicate_window_secs: u64,
    /// Replicas in a cluster (default 1).
    pub replicas: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            name: "AMI".into(),
            subjects: subject::stream_subjects(),
            retention: "limits".into(),
            storage: "file".into(),
            max_age_secs: 86_400,
            max_bytes: 1 << 30,
            duplicate_window_secs: 120,
            replicas: 1,
        }
    }
}

/// How events flow from each PBX to JetStream.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// Events held per PBX between the AMI reader and the publisher; past it the newest are
    /// dropped and a `lagged` marker says how many (default 65,536).
    pub queue: usize,
    /// Publishes awaiting JetStream's acknowledgement at once, per PBX (default 1,024).
    pub in_flight: usize,
    /// How long to wait for one acknowledgement (milliseconds; default 5,000).
    pub ack_timeout_ms: u64,
    /// Republishes of an unacknowledged message (same `Nats-Msg-Id`) before it is counted
    /// lost in a `lagged` marker (default 3).
    pub retries: u32,
}

impl Default for PublishConfig {
    fn default() -> Self {
        Self {
            queue: 65_536,
            in_flight: 1_024,
            ack_timeout_ms: 5_000,
            retries: 3,
        }
    }
}

impl PublishConfig {
    /// `ack_timeout_ms` as a duration.
    pub fn ack_timeout(&self) -> Duration {
        Duration::from_millis(self.ack_timeout_ms)
    }
}

/// How several bridge instances share the PBXes: each PBX is owned by one instance at a
/// time through a lease in a JetStream key-value bucket (see [`crate::lease`]).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    /// The key-value bucket holding the leases (default `ami-bridge-leases`), created when
    /// missing with `lease_ttl_ms` as its `max_age`.
    pub bucket: String,
    /// How long a lease lives without renewal (milliseconds; default 5,000). Every instance
    /// of a fleet must use the same; the bucket's own `max_age` is what counts, and an
    /// instance configured otherwise uses the bucket's and says so.
    pub lease_ttl_ms: u64,
    /// This instance's id, the leases' value (default: host name, process id and start
    /// time). Two running instances must never share one.
    pub instance: Option<String>,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            bucket: "ami-bridge-leases".into(),
            lease_ttl_ms: 5_000,
            instance: None,
        }
    }
}

impl FleetConfig {
    /// `lease_ttl_ms` as a duration.
    pub fn lease_ttl(&self) -> Duration {
        Duration::from_millis(self.lease_ttl_ms)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    nats: NatsConfig,
    #[serde(default)]
    stream: StreamConfig,
    #[serde(default)]
    publish: PublishConfig,
    #[serde(default)]
    actions: ActionRules,
    #[serde(default)]
    fleet: FleetConfig,
    #[serde(default)]
    servers: Vec<ServerConfig>,
}

/// A validated bridge configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// NATS connection settings.
    pub nats: NatsConfig,
    /// The stream.
    pub stream: StreamConfig,
    /// Publishing bounds.
    pub publish: PublishConfig,
    /// Which actions requests may run (nothing by default), with the gateway's token rules.
    pub actions: ActionRules,
    /// The fleet's leases.
    pub fleet: FleetConfig,
    /// The PBXes, in file order: every instance of a fleet is given all of them, and serves
    /// those whose lease it holds.
    pub servers: Vec<ServerConfig>,
}

impl Config {
    /// Reads and validates a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|error| ConfigError::Parse(error.message().to_owned()))?;
        let servers = ami_gateway::check_servers(raw.servers)?;
        // Names may hold '.', which a subject token cannot: two names must not end up as one.
        for (i, server) in servers.iter().enumerate() {
            if let Some(other) = servers[..i]
                .iter()
                .find(|s| subject::token(&s.name) == subject::token(&server.name))
            {
                return Err(ConfigError::Invalid(format!(
                    "servers {:?} and {:?} would share the NATS subject token {:?}",
                    other.name,
                    server.name,
                    subject::token(&server.name)
                )));
            }
        }
        let stream = raw.stream;
        if stream.name.is_empty()
            || !stream
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        {
            return Err(ConfigError::Invalid(
                "stream.name: use letters, digits, '-' or '_'".into(),
            ));
        }
        if stream.subjects.is_empty() {
            return Err(ConfigError::Invalid(
                "stream.subjects must not be empty".into(),
            ));
        }
        if !matches!(
            stream.retention.as_str(),
            "limits" | "interest" | "workqueue"
        ) {
            return Err(ConfigError::Invalid(
                "stream.retention: limits, interest or workqueue".into(),
            ));
        }
        if !matches!(stream.storage.as_str(), "file" | "memory") {
            return Err(ConfigError::Invalid(
                "stream.storage: file or memory".into(),
            ));
        }
        if stream.max_bytes == 0 || stream.max_bytes < -1 || stream.replicas == 0 {
            return Err(ConfigError::Invalid(
                "stream.max_bytes must be -1 or positive, stream.replicas at least 1".into(),
            ));
        }
        let publish = raw.publish;
        if publish.queue == 0 || publish.in_flight == 0 || publish.ack_timeout_ms == 0 {
            return Err(ConfigError::Invalid(
                "publish.queue, publish.in_flight and publish.ack_timeout_ms must be at least 1"
                    .into(),
            ));
        }
        let nats = raw.nats;
        nats.check()?;
        let fleet = raw.fleet;
        // The bucket name and the lease keys must be valid for JetStream's key-value store.
        if fleet.bucket.is_empty()
            || !fleet
                .bucket
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        {
            return Err(ConfigError::Invalid(
                "fleet.bucket: use letters, digits, '-' or '_'".into(),
            ));
        }
        // Below a second, a renewal every TTL/3 leaves too little room for a slow answer.
        if !(1_000..=3_600_000).contains(&fleet.lease_ttl_ms) {
            return Err(ConfigError::Invalid(
                "fleet.lease_ttl_ms: between 1,000 and 3,600,000".into(),
            ));
        }
        if fleet.instance.as_ref().is_some_and(|id| id.is_empty()) {
            return Err(ConfigError::Invalid(
                "fleet.instance must not be empty".into(),
            ));
        }
        Ok(Self {
            nats,
            stream,
            publish,
            actions: raw.actions,
            fleet,
            servers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal(extra: &str) -> String {
        format!(
            "{extra}\n[[servers]]\nname = \"pbx1\"\nhost = \"127.0.0.1\"\nusername = \"admin\"\nsecret = \"amp111\"\n"
        )
    }

    #[test]
    fn a_minimal_file_gets_safe_defaults() {
        let config = Config::parse(&minimal("")).expect("valid");
        assert_eq!(config.stream, StreamConfig::default());
        assert_eq!(config.stream.name, "AMI");
        assert!(!config.stream.subjects.iter().any(|s| s == "ami.>"));
        assert_eq!(config.publish, PublishConfig::default());
        // Deny by default: no action is allowed unless named.
        assert!(config.actions.allow.is_empty());
        assert_eq!(config.servers[0].name, "pbx1");
        assert_eq!(config.fleet.bucket, "ami-bridge-leases");
        assert_eq!(config.fleet.lease_ttl(), Duration::from_secs(5));
        assert_eq!(config.fleet.instance, None);
    }

    #[test]
    fn the_gateway_server_rules_apply() {
        assert!(Config::parse("").is_err());
        assert!(Config::parse(&minimal("").replace("pbx1", "pbx 1")).is_err());
        let twice = format!("{}{}", minimal(""), minimal(""));
        assert!(Config::parse(&twice).is_err());
        let collide = format!("{}{}", minimal(""), minimal("").replace("pbx1", "a.b"))
            .replacen("pbx1", "a_b", 1);
        let error = Config::parse(&collide).expect_err("same token");
        assert!(error.to_string().contains("subject token"), "{error}");
        assert!(Config::parse(&minimal("colour = 1")).is_err());
    }

    #[test]
    fn tables_are_checked() {
        let ok = Config::parse(&minimal(
            "[stream]\nname = \"PBX\"\nmax_age_secs = 60\nretention = \"interest\"\n[publish]\nqueue = 10\n[actions]\nallow = [\"*\"]\n[nats]\nuser = \"u\"\npassword_env = \"P\"\n",
        ))
        .expect("valid");
        assert_eq!(ok.stream.name, "PBX");
        assert_eq!(ok.stream.max_age_secs, 60);
        assert_eq!(ok.publish.queue, 10);
        assert_eq!(ok.actions.allow, ["*"]);
        let fleet = Config::parse(&minimal(
            "[fleet]\nbucket = \"leases\"\nlease_ttl_ms = 2000\ninstance = \"b1\"\n",
        ))
        .expect("valid");
        assert_eq!(fleet.fleet.lease_ttl(), Duration::from_secs(2));
        assert_eq!(fleet.fleet.instance.as_deref(), Some("b1"));
        for bad in [
            "[stream]\nname = \"a.b\"\n",
            "[stream]\nretention = \"forever\"\n",
            "[stream]\nsubjects = []\n",
            "[publish]\nin_flight = 0\n",
            "[nats]\nuser = \"u\"\n",
            "[nats]\npassword_env = \"P\"\n",
            "[nats]\ntoken_env = \"T\"\ntoken_file = \"/t\"\n",
            "[nats]\ntls_cert = \"/c\"\n",
            "[nats]\npassword = \"inline\"\n",
            "[fleet]\nbucket = \"a.b\"\n",
            "[fleet]\nlease_ttl_ms = 10\n",
            "[fleet]\ninstance = \"\"\n",
        ] {
            assert!(Config::parse(&minimal(bad)).is_err(), "{bad}");
        }
    }
}
