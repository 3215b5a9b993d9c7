//! What a simulator run is configured with.

use std::time::Duration;

use crate::faults::Faults;
use crate::profile::Profile;
use crate::user::User;

/// Where the TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsConfig {
    /// PEM files: certificate chain and private key.
    Files {
        /// Certificate chain (PEM).
        cert: std::path::PathBuf,
        /// Private key (PEM).
        key: std::path::PathBuf,
    },
    /// A fresh self-signed certificate for `localhost` and `127.0.0.1` (tests).
    SelfSigned,
}

/// A simulator run's settings. `SimConfig::default()` is Asterisk 22 with the corpus users.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The Asterisk version to imitate.
    pub profile: Profile,
    /// The accounts (default: admin/amp111 and events/events as in the recordings).
    pub users: Vec<User>,
    /// Faults to inject into every connection.
    pub faults: Faults,
    /// Start this many simulated calls per second, forever (load generation): a steady mix
    /// of plain calls, Local chains that optimise themselves away, queue calls, calls that
    /// park themselves and retrievals, and bridged calls transferred blind (13+) or attended.
    pub calls_per_second: Option<f64>,
    /// Serve AMI over TLS (as Asterisk's port 5039).
    pub tls: Option<TlsConfig>,
    /// Start with the calls the recordings had up (see `Pbx::preload_demo_calls`).
    pub demo_calls: bool,
    /// The pause before `Authentication failed` (Asterisk: 1 s).
    pub auth_fail_delay: Duration,
    /// A session whose socket stays full this long is dropped, as Asterisk's
    /// `writetimeout` (default 100 ms in Asterisk; 1 s here).
    pub write_timeout: Duration,
    /// Answer every `Action: Challenge` with this challenge instead of a random one, so a
    /// recorded MD5 login (whose Key was computed from the recorded challenge) replays unchanged.
    pub fixed_challenge: Option<String>,
    /// How fast simulated calls run: 1.0 is real time, 10.0 makes a 20 s call last 2 s
    /// (timestamps and uptimes follow the same clock).
    pub time_scale: f64,
    /// A connection that has not logged in after this long is closed, as Asterisk's
    /// `authtimeout` (default 30 s) does.
    pub auth_timeout: Duration,
    /// Stream this many pre-encoded events to each session as soon as it logs in (load for
    /// external clients; `SimHandle::emit_events` does the same on demand).
    pub events_on_login: Option<u64>,
    /// Serve this recorded transcript (a `.recv` file) to every connection instead of
    /// simulating.
    pub replay: Option<bytes::Bytes>,
    /// Also serve AMI over HTTP (`/rawman`, `/mxml`, `/manager`) here; port 0 picks a free one
    /// (see `SimHandle::http_addr`).
    pub http_listen: Option<std::net::SocketAddr>,
    /// An HTTP manager session ends this long after its last request, as Asterisk's
    /// `httptimeout` (default 60 s); it is also the cookie's `Max-Age`.
    pub http_timeout: Duration,
    /// Serve the HTTP side over TLS too (HTTPS), with the certificate of `tls`.
    pub http_tls: bool,
    /// The agents of agents.conf (default 1001 "Agent One", 1002 "Agent Two", 1003 "Agent
    /// Three"): they log in with `AgentLogin()`, are the members of the `sales` queue, and the
    /// `Agents` action lists them.
    pub agents: Vec<AgentSpec>,
}

/// One agent of the simulated agents.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSpec {
    /// The agent's number (`1001`), as in `Agent/1001`.
    pub number: String,
    /// The agent's full name (`Agent One`).
    pub name: String,
}

impl AgentSpec {
    /// An agent with this number and full name.
    pub fn new(number: &str, name: &str) -> Self {
        Self {
            number: number.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The default agents: 1001 is the recorded servers' agent; two more make a queue of agents.
    pub fn defaults() -> Vec<Self> {
        vec![
            Self::new("1001", "Agent One"),
            Self::new("1002", "Agent Two"),
            Self::new("1003", "Agent Three"),
        ]
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            profile: Profile::default(),
            users: User::defaults(),
            faults: Faults::default(),
            calls_per_second: None,
            tls: None,
            demo_calls: false,
            auth_fail_delay: Duration::from_secs(1),
            write_timeout: Duration::from_secs(1),
            fixed_challenge: None,
            time_scale: 1.0,
            events_on_login: None,
            auth_timeout: Duration::from_secs(30),
            replay: None,
            http_listen: None,
            http_timeout: Duration::from_secs(60),
            http_tls: false,
            agents: AgentSpec::defaults(),
        }
    }
}
