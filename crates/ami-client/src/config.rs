//! Connection settings.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use ami_proto::connection::Auth;

/// Which events the server should send, set at login (and restored after a reconnect).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Events {
    /// Every event the user may read (the server default).
    #[default]
    On,
    /// None: an action-only connection.
    Off,
    /// An event mask such as `system,call,agent`.
    Mask(String),
}

impl Events {
    pub(crate) fn header_value(&self) -> &str {
        match self {
            Self::On => "on",
            Self::Off => "off",
            Self::Mask(mask) => mask,
        }
    }
}

/// Which certificates a TLS connection trusts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsTrust {
    /// The system's CA bundle (Debian's `/etc/ssl/certs/ca-certificates.crt` and the like),
    /// with Mozilla's roots as a fallback when none is found.
    #[default]
    SystemRoots,
    /// Only the CA certificate(s) in this PEM file (a private PBX CA), or a server certificate
    /// that is exactly one of them (and names the server): a self-signed PBX certificate made
    /// with `openssl req -x509` is marked as a CA, which strict verification refuses as a
    /// server's own.
    CaFile(PathBuf),
    /// Only a server certificate whose SHA-256 fingerprint (of its DER bytes, as `openssl
    /// x509 -fingerprint -sha256` prints it) is one of these, whatever names it carries.
    /// Parse the text form with [`parse_sha256_pin`].
    Sha256Pins(Vec<[u8; 32]>),
    /// Accept any certificate. Explicit, off by default: for self-signed lab PBXs only, as it
    /// offers no protection against an impostor.
    InsecureAcceptAny,
}

/// A SHA-256 certificate fingerprint from its text form: 64 hex digits, in either case, with
/// or without `:` between bytes (`AB:CD:...` as openssl prints it). `None` if it is not one.
pub fn parse_sha256_pin(text: &str) -> Option<[u8; 32]> {
    let digits: Vec<u8> = text.trim().bytes().filter(|b| *b != b':').collect();
    if digits.len() != 64 {
        return None;
    }
    let mut pin = [0u8; 32];
    for (byte, pair) in pin.iter_mut().zip(digits.chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(pin)
}

/// AMI over TLS (Asterisk's port 5039).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tls {
    /// What to trust.
    pub trust: TlsTrust,
    /// Name to verify the certificate against; defaults to the host.
    pub server_name: Option<String>,
}

/// Exponential back-off with jitter for reconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Ceiling.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// Delay before attempt `attempt` (0-based): `initial * 2^attempt`, capped, then a random
    /// 50-100% of that, so a fleet of clients does not reconnect in lockstep.
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.max);
        let fraction = 0.5 + (random % 1000) as f64 / 2000.0;
        base.mul_f64(fraction)
    }
}

/// Everything needed to connect. Build with [`Config::new`] and the chained setters.
#[derive(Clone)]
pub struct Config {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) username: String,
    pub(crate) secret: String,
    pub(crate) auth: Auth,
    pub(crate) events: Events,
    pub(crate) tls: Option<Tls>,
    /// AMI over HTTP (`/rawman`) instead of a TCP session: the path prefix (`""` or
    /// `/asterisk`, as http.conf's `prefix`), set by [`Config::from_url`].
    pub(crate) http: Option<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) login_timeout: Duration,
    pub(crate) action_timeout: Duration,
    pub(crate) keepalive: Option<Duration>,
    pub(crate) reconnect: Option<Backoff>,
    pub(crate) action_id_prefix: Option<String>,
    pub(crate) split: bool,
    pub(crate) max_output: usize,
    pub(crate) decode_limits: ami_proto::Limits,
    pub(crate) session_limits: ami_proto::session::SessionLimits,
    /// The rustls settings built from `tls`, once (the PEM files read on a blocking thread at
    /// the first connect), then shared by every connection and reconnect of this `Config` and
    /// its clones. A new `tls(...)` starts a new cache.
    pub(crate) tls_built: Arc<OnceLock<Arc<rustls::ClientConfig>>>,
}

impl fmt::Debug for Config {
    // Hand-written so the secret never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .field("auth", &self.auth)
            .field("events", &self.events)
            .field("tls", &self.tls)
            .field("http", &self.http)
            .field("connect_timeout", &self.connect_timeout)
            .field("login_timeout", &self.login_timeout)
            .field("action_timeout", &self.action_timeout)
            .field("keepalive", &self.keepalive)
            .field("reconnect", &self.reconnect)
            .field("split", &self.split)
            .field("max_output", &self.max_output)
            .field("decode_limits", &self.decode_limits)
            .field("session_limits", &self.session_limits)
            .finish()
    }
}

impl Config {
    /// Plain TCP to `host:5038`, plaintext login, all events, keepalive every 30 s, reconnect
    /// on, timeouts 10 s (connect, login) and 30 s (actions), a 1 MiB output cap.
    pub fn new(
        host: impl Into<String>,
        username: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        Self {
            host: host.into(),
            port: 5038,
            username: username.into(),
            secret: secret.into(),
            auth: Auth::Plain,
            events: Events::On,
            tls: None,
            http: None,
            connect_timeout: Duration::from_secs(10),
            login_timeout: Duration::from_secs(10),
            action_timeout: Duration::from_secs(30),
            keepalive: Some(Duration::from_secs(30)),
            reconnect: Some(Backoff::default()),
            action_id_prefix: None,
            split: false,
            max_output: ami_proto::connection::DEFAULT_MAX_OUTPUT,
            decode_limits: ami_proto::Limits::default(),
            session_limits: ami_proto::session::SessionLimits::default(),
            tls_built: Arc::default(),
        }
    }

    /// A configuration from a URL: `http://host[:port][/prefix]` or `https://...` for AMI over
    /// Asterisk's HTTP server (`/rawman` under the prefix; ports 8088 and 8089 by default),
    /// `tcp://host[:port]` or `tls://host[:port]` for a manager session (5038 and 5039). TLS
    /// trusts the system's roots until [`Config::tls`] says otherwise. A trailing `/rawman` in
    /// the path is accepted and dropped; credentials in the URL are refused (they would end
    /// up in logs).
    ///
    /// ```
    /// use ami_client::Config;
    ///
    /// let config = Config::from_url("http://pbx.example:8088", "admin", "amp111")?;
    /// assert!(config.is_http());
    /// assert_eq!(config.address(), "pbx.example:8088");
    /// # Ok::<(), ami_client::Error>(())
    /// ```
    pub fn from_url(
        url: &str,
        username: impl Into<String>,
        secret: impl Into<String>,
    ) -> Result<Self, crate::Error> {
        let target = parse_url(url)?;
        let mut config = Self::new(target.host, username, secret).port(target.port);
        if target.tls {
            config = config.tls(Tls::default());
        }
        config.http = target.http_prefix;
        Ok(config)
    }

    /// Whether this configuration speaks AMI over HTTP (an `http://` or `https://` URL).
    pub fn is_http(&self) -> bool {
        self.http.is_some()
    }

    /// The TCP port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Login method.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Events wanted at login.
    pub fn events(mut self, events: Events) -> Self {
        self.events = events;
        self
    }

    /// Use TLS.
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self.tls_built = Arc::default();
        self
    }

    /// TCP connect + TLS handshake + banner must finish within this.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The login exchange must finish within this.
    pub fn login_timeout(mut self, timeout: Duration) -> Self {
        self.login_timeout = timeout;
        self
    }

    /// Default per-action timeout (each call can override it).
    pub fn action_timeout(mut self, timeout: Duration) -> Self {
        self.action_timeout = timeout;
        self
    }

    /// Ping at this interval; a Ping unanswered by the next tick counts as a dead connection.
    /// `None` turns keepalive off.
    pub fn keepalive(mut self, interval: Option<Duration>) -> Self {
        self.keepalive = interval;
        self
    }

    /// Reconnect policy; `None` means a drop closes the client.
    pub fn reconnect(mut self, backoff: Option<Backoff>) -> Self {
        self.reconnect = backoff;
        self
    }

    /// Prefix of generated ActionIDs (default: `amikit-<random>-`).
    pub fn action_id_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.action_id_prefix = Some(prefix.into());
        self
    }

    /// Two connections behind one client: one for actions (logged in with `Events: off`) and
    /// one for events, so a flood of events never delays a response.
    pub fn split_connections(mut self, split: bool) -> Self {
        self.split = split;
        self
    }

    /// Caps the actions waiting to be written to the server at `bytes` (default 1 MiB, some
    /// ten thousand ordinary actions). When a server stops reading, actions beyond the cap
    /// wait in line for room, up to as many bytes again, each failing with
    /// [`crate::Error::is_timeout`] if its timeout passes first; past that, or for an action
    /// larger than the cap, they fail at once with [`crate::Error::is_overloaded`]. Memory for
    /// a stalled server is so bounded by twice the cap, whatever callers keep sending.
    pub fn max_output_bytes(mut self, bytes: usize) -> Self {
        self.max_output = bytes;
        self
    }

    /// Caps the items of one list reply (`CoreShowChannels`, `QueueStatus` ...) at `items`
    /// (default 1,000,000). A list past it fails with [`crate::Error::is_too_large`] at once,
    /// and the rest of its items are discarded as they arrive: a server that streams items
    /// without ever completing costs bounded memory, not all of it.
    pub fn max_list_items(mut self, items: usize) -> Self {
        self.session_limits.max_list_items = items;
        self
    }

    /// Caps the text of a legacy `Queues` reply (Asterisk 13 and older) at `bytes` (default
    /// 16 MiB); past it the action fails with [`crate::Error::is_too_large`].
    pub fn max_text_bytes(mut self, bytes: usize) -> Self {
        self.session_limits.max_text_bytes = bytes;
        self
    }

    /// The decoder's bounds on one packet (default: 16 MiB and 1,048,576 lines). A packet
    /// past them is skipped, counted in [`crate::Metrics::decode_errors`], and told to every
    /// subscriber as [`crate::EventItem::Skipped`]; the stream carries on at the next packet.
    pub fn decode_limits(mut self, limits: ami_proto::Limits) -> Self {
        self.decode_limits = limits;
        self
    }

    /// The AMI user.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn get_port(&self) -> u16 {
        self.port
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The parts of a connection URL.
#[derive(Debug, PartialEq, Eq)]
struct UrlTarget {
    host: String,
    port: u16,
    tls: bool,
    http_prefix: Option<String>,
}

fn parse_url(url: &str) -> Result<UrlTarget, crate::Error> {
    let bad = |why: &str| crate::Error::config(format!("URL {url:?}: {why}"), None);
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected scheme://host[:port]"))?;
    let (tls, http, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "http" => (false, true, 8088),
        "https" => (true, true, 8089),
        "tcp" => (false, false, 5038),
        "tls" => (true, false, 5039),
        _ => return Err(bad("the scheme must be http, https, tcp or tls")),
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(bad(
            "credentials belong in the username and secret, not the URL",
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        None | Some("") => default_port,
        Some(port) => port
            .parse()
            .map_err(|_| bad("the port must be a number up to 65535"))?,
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let http_prefix = http.then(|| {
        let path = path.trim_end_matches('/');
        path.strip_suffix("/rawman").unwrap_or(path).to_owned()
    });
    if !http && !path.trim_matches('/').is_empty() {
        return Err(bad("a tcp or tls URL has no path"));
    }
    Ok(UrlTarget {
        host: host.to_owned(),
        port,
        tls,
        http_prefix,
    })
}

/// A random 64-bit value from the standard library's per-process hash keys (enough for
/// back-off jitter and ActionID prefixes; not for secrets).
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default(),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters_between_half_and_full() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert_eq!(backoff.delay(0, 999), Duration::from_micros(99_950));
        assert_eq!(backoff.delay(0, 0), Duration::from_millis(50));
        assert_eq!(backoff.delay(3, 0), Duration::from_millis(400));
        assert_eq!(backoff.delay(30, 0), Duration::from_millis(500));
    }

    #[test]
    fn urls_give_host_port_tls_and_http_prefix() {
        let target = |url| parse_url(url).map_err(|e| e.to_string());
        assert_eq!(
            target("http://pbx:8080/asterisk/rawman"),
            Ok(UrlTarget {
                host: "pbx".into(),
                port: 8080,
                tls: false,
                http_prefix: Some("/asterisk".into()),
            })
        );
        assert_eq!(
            target("HTTPS://[::1]/"),
            Ok(UrlTarget {
                host: "::1".into(),
                port: 8089,
                tls: true,
                http_prefix: Some(String::new()),
            })
        );
        assert_eq!(
            target("tcp://10.0.0.1"),
            Ok(UrlTarget {
                host: "10.0.0.1".into(),
                port: 5038,
                tls: false,
                http_prefix: None,
            })
        );
        assert_eq!(
            target("tls://pbx:6000").map(|t| (t.port, t.tls)),
            Ok((6000, true))
        );
        for wrong in [
            "pbx:8088",
            "ftp://pbx",
            "http://admin:pw@pbx",
            "http://:8088",
            "http://pbx:99999",
            "tcp://pbx/rawman",
        ] {
            assert!(target(wrong).is_err(), "{wrong} was accepted");
        }
    }

    #[test]
    fn from_url_sets_tls_for_https_only() {
        let https =
            Config::from_url("https://pbx", "u", "s").map(|c| (c.tls.is_some(), c.is_http()));
        assert_eq!(https.ok(), Some((true, true)));
        let http = Config::from_url("http://pbx", "u", "s").map(|c| (c.tls.is_some(), c.is_http()));
        assert_eq!(http.ok(), Some((false, true)));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let text = format!("{:?}", Config::new("pbx", "admin", "s3cr3t-value"));
        assert!(!text.contains("s3cr3t"));
        assert!(text.contains("<redacted>"));
    }
}
