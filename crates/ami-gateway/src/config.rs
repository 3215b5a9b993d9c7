//! The gateway's configuration file (TOML), validated into [`Config`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::auth::{ActionRules, TokenPolicy};

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
    /// The TOML did not parse or had unknown / mistyped keys.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// A value was out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// How one upstream Asterisk server is reached.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The name used in URLs (`/v1/servers/{name}/...`): letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// Host name or address (give this or `url`).
    #[serde(default)]
    pub host: String,
    /// The server as a URL, in place of `host` and `port`: `http://pbx:8088` or
    /// `https://pbx:8089` reach it through AMI over HTTP (Asterisk's /rawman), `tcp://` and
    /// `tls://` through a manager session. The `tls_*` settings apply to `https://` as well.
    #[serde(default)]
    pub url: Option<String>,
    /// AMI port (5038, or 5039 for TLS); unused with `url`.
    #[serde(default = "default_ami_port")]
    pub port: u16,
    /// AMI username (none for a server served through NATS).
    #[serde(default)]
    pub username: String,
    /// AMI secret, written in the file. Prefer `secret_env`.
    #[serde(default)]
    pub secret: Option<String>,
    /// Name of an environment variable holding the AMI secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Log in with the MD5 challenge so the secret never crosses the wire.
    #[serde(default)]
    pub md5: bool,
    /// AMI over TLS.
    #[serde(default)]
    pub tls: bool,
    /// PEM file of the CA (or self-signed certificate) to trust for AMI over TLS.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// SHA-256 fingerprint of the one certificate to trust for AMI over TLS (64 hex digits,
    /// `:` allowed, as openssl prints it); wins over `tls_ca`.
    #[serde(default)]
    pub tls_pin: Option<String>,
    /// Timeout for each action, in milliseconds (default 10,000).
    #[serde(default = "default_action_timeout_ms")]
    pub action_timeout_ms: u64,
}

impl std::fmt::Debug for ServerConfig {
    // Hand-written so the secret never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("url", &self.url)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_env", &self.secret_env)
            .field("md5", &self.md5)
            .field("tls", &self.tls)
            .finish()
    }
}

fn default_ami_port() -> u16 {
    5038
}

fn default_action_timeout_ms() -> u64 {
    10_000
}

impl ServerConfig {
    /// Whether the entry names no AMI address (neither `host` nor `url`): with a `[nats]`
    /// table, the gateway reads the server's events from NATS and sends its actions there,
    /// and never logs in to it.
    pub fn is_remote(&self) -> bool {
        self.host.is_empty() && self.url.is_none()
    }

    /// The ami-client settings for this server; the secret is resolved here (from the file
    /// or the environment).
    pub fn client_config(&self) -> Result<ami_client::Config, ConfigError> {
        let secret = match (&self.secret, &self.secret_env) {
            (Some(secret), None) => secret.clone(),
            (None, Some(var)) => std::env::var(var).map_err(|_| {
                ConfigError::Invalid(format!(
                    "server {:?}: environment variable {var} (secret_env) is not set",
                    self.name
                ))
            })?,
            _ => {
                return Err(ConfigError::Invalid(format!(
                    "server {:?}: give exactly one of `secret` and `secret_env`",
                    self.name
                )));
            }
        };
        let config = match &self.url {
            Some(url) => {
                ami_client::Config::from_url(url, &self.username, secret).map_err(|error| {
                    ConfigError::Invalid(format!("server {:?}: {error}", self.name))
                })?
            }
            None => ami_client::Config::new(&self.host, &self.username, secret).port(self.port),
        };
        let url_tls = self.url.as_deref().is_some_and(|url| {
            let scheme = url.split("://").next().unwrap_or_default();
            scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("tls")
        });
        let mut config = config
            .action_timeout(Duration::from_millis(self.action_timeout_ms))
            .connect_timeout(Duration::from_secs(5))
            .login_timeout(Duration::from_secs(5))
            .action_id_prefix(format!("gw-{}-", self.name));
        if self.md5 {
            config = config.auth(ami_client::Auth::Md5);
        }
        if url_tls || self.tls || self.tls_ca.is_some() || self.tls_pin.is_some() {
            let pin = match &self.tls_pin {
                Some(text) => Some(ami_client::parse_sha256_pin(text).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "server {:?}: tls_pin is not a SHA-256 fingerprint (64 hex digits)",
                        self.name
                    ))
                })?),
                None => None,
            };
            let trust = match (pin, &self.tls_ca) {
                (Some(pin), _) => ami_client::TlsTrust::Sha256Pins(vec![pin]),
                (None, Some(path)) => ami_client::TlsTrust::CaFile(path.clone()),
                (None, None) => ami_client::TlsTrust::SystemRoots,
            };
            config = config.tls(ami_client::Tls {
                trust,
                server_name: None,
            });
        }
        Ok(config)
    }
}

/// TLS for the gateway's own listener.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Bounds of the event streams (SSE and WebSocket).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct StreamLimits {
    /// Messages queued per client before events are dropped for it (and a lag message sent).
    pub queue: usize,
    /// A client that has missed this many events in total is disconnected.
    pub max_lagged: u64,
    /// A client whose socket accepts nothing for this long is disconnected (milliseconds).
    pub write_timeout_ms: u64,
    /// At most this many stream clients at once (further ones get 503 `too_many_streams`).
    pub max_clients: usize,
    /// At most this many stream clients per token (further ones get 429
    /// `token_stream_limit`), so one token cannot take every place; a token's own
    /// `max_streams` overrides it.
    pub max_clients_per_token: usize,
    /// Events the gateway's own subscription to each server may hold before the client drops
    /// some (about a second at 50,000 events/s by default). A loss is told to stream clients
    /// as an `upstream` lag and makes the gateway resync its live state of the PBX.
    pub upstream_buffer: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            queue: 1024,
            max_lagged: 10_000,
            write_timeout_ms: 10_000,
            max_clients: 10_000,
            max_clients_per_token: 1_000,
            upstream_buffer: 65_536,
        }
    }
}

/// Bounds of the gateway's own connections and requests.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionLimits {
    /// A connection must send a complete request head within this long (milliseconds) after
    /// it is accepted, and after each response on a keep-alive connection; otherwise it is
    /// closed (without a response). Open event streams are not affected.
    pub header_timeout_ms: u64,
    /// At most this many open connections from one client address (TLS handshakes and
    /// event streams included); further ones are closed as soon as they are accepted.
    pub max_per_ip: usize,
    /// At most this many requests per token waiting on a PBX at once (further ones get 429
    /// `token_request_limit`); a token's own `max_in_flight` overrides it.
    pub max_in_flight_per_token: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout_ms: 10_000,
            max_per_ip: 256,
            max_in_flight_per_token: 64,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: String,
    sha256: String,
    servers: Vec<String>,
    #[serde(default)]
    actions: ActionRules,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default = "default_rate")]
    rate_per_second: f64,
    #[serde(default)]
    burst: Option<f64>,
    #[serde(default)]
    max_streams: Option<usize>,
    #[serde(default)]
    max_in_flight: Option<usize>,
}

fn default_rate() -> f64 {
    20.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    listen: Option<SocketAddr>,
    #[serde(default)]
    cors_origins: Vec<String>,
    #[serde(default)]
    tls: Option<TlsFiles>,
    #[serde(default)]
    streams: StreamLimits,
    #[serde(default)]
    connections: ConnectionLimits,
    #[serde(default)]
    servers: Vec<ServerConfig>,
    #[serde(default)]
    tokens: Vec<RawToken>,
    #[serde(default)]
    nats: Option<toml::Table>,
}

/// A validated gateway configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Origins allowed by CORS (`https://ops.example.com`); empty: same origin only.
    pub cors_origins: Vec<String>,
    /// TLS for the listener.
    pub tls: Option<TlsFiles>,
    /// Event stream bounds.
    pub streams: StreamLimits,
    /// Connection and request bounds.
    pub connections: ConnectionLimits,
    /// The upstream servers, in file order.
    pub servers: Vec<ServerConfig>,
    /// The bearer tokens.
    pub tokens: Vec<TokenPolicy>,
    /// The `[nats]` table, as written: how to reach the NATS server through which the
    /// servers without `host` or `url` are served. Read by whoever connects to NATS (the
    /// `ami` binary, through `ami-bridge`), which checks it; the gateway only carries it.
    pub nats: Option<toml::Table>,
}

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Config {
    /// Reads and validates a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Reads and validates a TOML file, with `extra` servers added after the file's own (as
    /// `ami gateway --sim` adds its simulator), so that the file's tokens may name them.
    pub fn load_with_servers(path: &Path, extra: Vec<ServerConfig>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse_with_servers(&text, extra)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        Self::parse_with_servers(text, Vec::new())
    }

    /// Parses and validates TOML text with `extra` servers added after the file's own.
    pub fn parse_with_servers(text: &str, extra: Vec<ServerConfig>) -> Result<Self, ConfigError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|error| ConfigError::Parse(error.message().to_owned()))?;
        let servers = check_servers_with(raw.servers.into_iter().chain(extra), raw.nats.is_some())?;
        let mut tokens: Vec<TokenPolicy> = Vec::with_capacity(raw.tokens.len());
        for token in raw.tokens {
            let policy = TokenPolicy::new(
                token.name,
                &token.sha256,
                token.servers,
                token.actions,
                token.events,
                token.rate_per_second,
                token.burst,
            )
            .map_err(ConfigError::Invalid)?
            .with_limits(token.max_streams, token.max_in_flight)
            .map_err(ConfigError::Invalid)?;
            if tokens.iter().any(|t| t.name == policy.name) {
                return Err(ConfigError::Invalid(format!(
                    "token {:?} is listed twice",
                    policy.name
                )));
            }
            for server in &policy.servers {
                if server != "*" && !servers.iter().any(|s| &s.name == server) {
                    return Err(ConfigError::Invalid(format!(
                        "token {:?} names unknown server {server:?}",
                        policy.name
                    )));
                }
            }
            tokens.push(policy);
        }
        if raw.streams.queue == 0
            || raw.streams.max_clients == 0
            || raw.streams.max_clients_per_token == 0
            || raw.streams.upstream_buffer == 0
        {
            return Err(ConfigError::Invalid(
                "streams.queue, streams.max_clients, streams.max_clients_per_token and streams.upstream_buffer must be at least 1"
                    .into(),
            ));
        }
        let connections = raw.connections;
        if connections.header_timeout_ms == 0
            || connections.max_per_ip == 0
            || connections.max_in_flight_per_token == 0
        {
            return Err(ConfigError::Invalid(
                "connections.header_timeout_ms, connections.max_per_ip and connections.max_in_flight_per_token must be at least 1"
                    .into(),
            ));
        }
        Ok(Self {
            listen: raw
                .listen
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("constant address")),
            cors_origins: raw.cors_origins,
            tls: raw.tls,
            streams: raw.streams,
            connections,
            servers,
            tokens,
            nats: raw.nats,
        })
    }
}

/// Validates `[[servers]]` entries as the gateway does: plain names (they appear in URLs,
/// metric labels and NATS subjects), none listed twice, exactly one of `secret` and
/// `secret_env` each, at least one server. Public so that `ami bridge`, which reads the same
/// entries, refuses exactly what the gateway refuses.
pub fn check_servers(
    entries: impl IntoIterator<Item = ServerConfig>,
) -> Result<Vec<ServerConfig>, ConfigError> {
    check_servers_with(entries, false)
}

/// [`check_servers`], with servers served through NATS allowed when `nats` (the gateway's
/// file has a `[nats]` table): those name no `host` or `url` and carry no AMI credentials.
fn check_servers_with(
    entries: impl IntoIterator<Item = ServerConfig>,
    nats: bool,
) -> Result<Vec<ServerConfig>, ConfigError> {
    let mut servers: Vec<ServerConfig> = Vec::new();
    for server in entries {
        if !valid_name(&server.name) {
            return Err(ConfigError::Invalid(format!(
                "server name {:?}: use 1-64 letters, digits, '-', '_' or '.'",
                server.name
            )));
        }
        if servers.iter().any(|s| s.name == server.name) {
            return Err(ConfigError::Invalid(format!(
                "server {:?} is listed twice",
                server.name
            )));
        }
        if server.is_remote() {
            if !nats {
                return Err(ConfigError::Invalid(format!(
                    "server {:?}: give exactly one of `host` and `url` (or a [nats] table to serve it through NATS)",
                    server.name
                )));
            }
            if !server.username.is_empty() || server.secret.is_some() || server.secret_env.is_some()
            {
                return Err(ConfigError::Invalid(format!(
                    "server {:?} is served through NATS (no `host` or `url`): it takes no `username` or secret",
                    server.name
                )));
            }
            servers.push(server);
            continue;
        }
        if server.username.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "server {:?}: `username` is missing",
                server.name
            )));
        }
        if !server.host.is_empty() && server.url.is_some() {
            return Err(ConfigError::Invalid(format!(
                "server {:?}: give exactly one of `host` and `url`",
                server.name
            )));
        }
        if let Some(url) = &server.url
            && let Err(error) = ami_client::Config::from_url(url, "", "")
        {
            return Err(ConfigError::Invalid(format!(
                "server {:?}: {error}",
                server.name
            )));
        }
        if server.secret.is_some() == server.secret_env.is_some() {
            return Err(ConfigError::Invalid(format!(
                "server {:?}: give exactly one of `secret` and `secret_env`",
                server.name
            )));
        }
        servers.push(server);
    }
    if servers.is_empty() {
        return Err(ConfigError::Invalid(
            "at least one [[servers]] entry is needed".into(),
        ));
    }
    Ok(servers)
}

/// Server names appear in URLs and metric labels: keep them plain.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn minimal(extra: &str) -> String {
        format!(
            "[[servers]]\nname = \"pbx1\"\nhost = \"127.0.0.1\"\nusername = \"admin\"\nsecret = \"amp111\"\n{extra}"
        )
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let config = Config::parse(&minimal("")).expect("valid");
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.servers[0].port, 5038);
        assert!(config.tokens.is_empty());
        assert_eq!(config.streams, StreamLimits::default());
        assert_eq!(config.connections, ConnectionLimits::default());
    }

    #[test]
    fn limits_refuse_zero_and_tokens_take_their_own() {
        for zero in [
            "[streams]\nmax_clients_per_token = 0\n",
            "[connections]\nheader_timeout_ms = 0\n",
            "[connections]\nmax_per_ip = 0\n",
            "[connections]\nmax_in_flight_per_token = 0\n",
        ] {
            assert!(
                Config::parse(&format!("{zero}{}", minimal(""))).is_err(),
                "{zero}"
            );
        }
        let token = |extra: &str| {
            minimal(&format!(
                "[[tokens]]\nname = \"ops\"\nsha256 = \"{HASH}\"\nservers = [\"*\"]\n{extra}"
            ))
        };
        let config = Config::parse(&token("max_streams = 3\nmax_in_flight = 4\n")).expect("valid");
        assert_eq!(config.tokens[0].max_streams, Some(3));
        assert_eq!(config.tokens[0].max_in_flight, Some(4));
        assert_eq!(
            Config::parse(&token("")).expect("valid").tokens[0].max_streams,
            None
        );
        assert!(Config::parse(&token("max_streams = 0\n")).is_err());
    }

    #[test]
    fn tokens_are_validated_against_servers() {
        let ok = minimal(&format!(
            "[[tokens]]\nname = \"ops\"\nsha256 = \"{HASH}\"\nservers = [\"pbx1\"]\nevents = [\"call\"]\n"
        ));
        let config = Config::parse(&ok).expect("valid");
        assert_eq!(config.tokens[0].name, "ops");
        let unknown = minimal(&format!(
            "[[tokens]]\nname = \"ops\"\nsha256 = \"{HASH}\"\nservers = [\"nope\"]\n"
        ));
        let error = Config::parse(&unknown).expect_err("unknown server");
        assert!(error.to_string().contains("nope"), "{error}");
        let bad_hash = minimal("[[tokens]]\nname = \"ops\"\nsha256 = \"xyz\"\nservers = [\"*\"]\n");
        assert!(Config::parse(&bad_hash).is_err());
    }

    #[test]
    fn refuses_bad_names_duplicates_unknown_keys_and_two_secrets() {
        assert!(Config::parse(&minimal("").replace("pbx1", "pbx 1")).is_err());
        let twice = format!("{}{}", minimal(""), minimal(""));
        assert!(Config::parse(&twice).is_err());
        assert!(Config::parse(&minimal("colour = \"red\"\n")).is_err());
        assert!(Config::parse(&minimal("secret_env = \"X\"\n")).is_err());
        assert!(Config::parse("servers = []").is_err());
        assert!(Config::parse("").is_err());
    }

    #[test]
    fn a_tls_pin_is_checked_when_the_client_settings_are_made() {
        let pin = "AB:".repeat(31) + "AB";
        let good = Config::parse(&minimal(&format!("tls_pin = \"{pin}\"\n"))).expect("valid");
        let client = good.servers[0].client_config().expect("a valid pin");
        assert!(format!("{client:?}").contains("Sha256Pins"), "{client:?}");
        let bad = Config::parse(&minimal("tls_pin = \"abc\"\n")).expect("parses");
        let error = bad.servers[0]
            .client_config()
            .expect_err("not a fingerprint");
        assert!(error.to_string().contains("tls_pin"), "{error}");
    }

    #[test]
    fn extra_servers_count_and_may_be_named_by_tokens() {
        let sim = Config::parse(&minimal(""))
            .expect("valid")
            .servers
            .remove(0);
        let sim = ServerConfig {
            name: "sim".into(),
            ..sim
        };
        let text =
            format!("[[tokens]]\nname = \"ops\"\nsha256 = \"{HASH}\"\nservers = [\"sim\"]\n");
        let config = Config::parse_with_servers(&text, vec![sim.clone()]).expect("valid");
        assert_eq!(config.servers.last().map(|s| s.name.as_str()), Some("sim"));
        assert_eq!(config.tokens[0].servers, ["sim"]);
        let twice = Config::parse_with_servers(&minimal("").replace("pbx1", "sim"), vec![sim]);
        assert!(twice.expect_err("duplicate").to_string().contains("twice"));
    }

    #[test]
    fn a_server_is_named_by_host_or_by_url_not_both() {
        let by_url = minimal("").replace("host = \"127.0.0.1\"", "url = \"http://127.0.0.1:8088\"");
        let config = Config::parse(&by_url).expect("valid");
        let client = config.servers[0].client_config().expect("client config");
        assert!(client.is_http());
        assert_eq!(client.address(), "127.0.0.1:8088");
        let both = minimal("url = \"http://127.0.0.1:8088\"\n");
        assert!(
            Config::parse(&both)
                .expect_err("both")
                .to_string()
                .contains("url")
        );
        let neither = minimal("").replace("host = \"127.0.0.1\"\n", "");
        assert!(Config::parse(&neither).is_err());
        let bad = minimal("").replace("host = \"127.0.0.1\"", "url = \"ftp://pbx\"");
        assert!(
            Config::parse(&bad)
                .expect_err("bad scheme")
                .to_string()
                .contains("scheme")
        );
    }

    #[test]
    fn servers_without_an_address_need_a_nats_table_and_no_credentials() {
        let remote = "[[servers]]\nname = \"pbx2\"\n";
        let without = Config::parse(&minimal(remote)).expect_err("no [nats]");
        assert!(without.to_string().contains("[nats]"), "{without}");
        let with = format!(
            "[nats]\nurl = \"nats://127.0.0.1:4222\"\n{}{remote}",
            minimal("")
        );
        let config = Config::parse(&with).expect("valid");
        assert!(!config.servers[0].is_remote());
        assert!(config.servers[1].is_remote());
        let nats = config.nats.expect("kept");
        assert_eq!(
            nats.get("url").and_then(|v| v.as_str()),
            Some("nats://127.0.0.1:4222")
        );
        for credential in ["username = \"admin\"\n", "secret_env = \"S\"\n"] {
            let text = format!("[nats]\n{}{remote}{credential}", minimal(""));
            let error = Config::parse(&text).expect_err(credential);
            assert!(error.to_string().contains("NATS"), "{error}");
        }
        // An AMI server still needs its user.
        let no_user = minimal("").replace("username = \"admin\"\n", "");
        assert!(Config::parse(&no_user).is_err());
    }

    #[test]
    fn parse_errors_never_echo_the_secret() {
        let text = minimal("port = \"not a number\"\n").replace("amp111", "s3cr3t-value");
        let error = Config::parse(&text).expect_err("bad port").to_string();
        assert!(!error.contains("s3cr3t"), "{error}");
        let debug = format!("{:?}", Config::parse(&minimal("")).expect("valid"));
        assert!(!debug.contains("amp111"), "{debug}");
    }
}
