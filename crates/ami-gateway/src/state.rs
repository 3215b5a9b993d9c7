//! What every handler shares: the servers, the tokens, limits, counters, the shutdown signal.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::TokenPolicy;
use crate::config::{Config, ConfigError, ConnectionLimits, StreamLimits};
use crate::peer::Connections;
use crate::upstream::{Remote, Source, Upstream};

/// The gateway's shared state; cheap to clone. Build it with [`AppState::start`], serve it
/// with [`crate::app`], end it with [`AppState::shutdown`].
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    servers: Vec<Arc<Upstream>>,
    tokens: Vec<Arc<TokenPolicy>>,
    streams: StreamLimits,
    connections: Arc<Connections>,
    cors_origins: Vec<String>,
    shutdown: watch::Sender<bool>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
    stream_clients: AtomicUsize,
    /// Stream clients gone, by [`Disconnect`] reason.
    stream_disconnects: [AtomicU64; Disconnect::ALL.len()],
    /// By [`Denial`].
    denied: [AtomicU64; Denial::ALL.len()],
    /// When each kind of denial was last logged, and how many went unlogged since.
    denied_log: [std::sync::Mutex<DenialLog>; Denial::ALL.len()],
    started: Instant,
}

/// At most one log line per kind of denial in this interval.
const DENIAL_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Default)]
struct DenialLog {
    last_line: Option<Instant>,
    unlogged: u64,
}

/// Why a request was refused, for the denied-requests counter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Denial {
    Unauthorized = 0,
    Forbidden = 1,
    RateLimited = 2,
    /// The token holds as many event streams as it may.
    TokenStreamLimit = 3,
    /// The token has as many requests waiting on a PBX as it may.
    TokenRequestLimit = 4,
}

impl Denial {
    const ALL: [Denial; 5] = [
        Denial::Unauthorized,
        Denial::Forbidden,
        Denial::RateLimited,
        Denial::TokenStreamLimit,
        Denial::TokenRequestLimit,
    ];

    fn label(self) -> &'static str {
        match self {
            Denial::Unauthorized => "unauthorized",
            Denial::Forbidden => "forbidden",
            Denial::RateLimited => "rate_limited",
            Denial::TokenStreamLimit => "token_stream_limit",
            Denial::TokenRequestLimit => "token_request_limit",
        }
    }
}

/// Why a stream client went away, for `ami_gateway_stream_disconnects_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disconnect {
    /// The client closed the stream or its connection (or the connection failed).
    ClientClosed = 0,
    /// The client's socket accepted nothing for `write_timeout_ms` (seen by the connection's
    /// stall guard or by the WebSocket send timeout, whichever came first).
    WriteTimeout = 1,
    /// The client missed `max_lagged` events and was evicted.
    Lagged = 2,
    /// The gateway is shutting down.
    Shutdown = 3,
    /// Every server's fan-out stopped feeding the client.
    UpstreamGone = 4,
}

impl Disconnect {
    pub(crate) const ALL: [Disconnect; 5] = [
        Disconnect::ClientClosed,
        Disconnect::WriteTimeout,
        Disconnect::Lagged,
        Disconnect::Shutdown,
        Disconnect::UpstreamGone,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Disconnect::ClientClosed => "client_closed",
            Disconnect::WriteTimeout => "write_timeout",
            Disconnect::Lagged => "lagged",
            Disconnect::Shutdown => "shutdown",
            Disconnect::UpstreamGone => "upstream_gone",
        }
    }
}

impl AppState {
    /// Starts one connection task per configured server (each retries until it connects) and
    /// returns at once. Must run inside a tokio runtime. Secrets are resolved here.
    pub fn start(config: &Config) -> Result<Self, ConfigError> {
        Self::start_with_remotes(config, Vec::new())
    }

    /// [`AppState::start`] for a configuration whose servers without `host` or `url` are
    /// served by `remotes` (by server name; the `ami` binary makes them from the `[nats]`
    /// table through `ami-bridge`). Every such server needs one; a remote for a server the
    /// gateway logs in to itself is refused.
    pub fn start_with_remotes(
        config: &Config,
        mut remotes: Vec<(String, Remote)>,
    ) -> Result<Self, ConfigError> {
        let (shutdown, _) = watch::channel(false);
        let mut servers = Vec::with_capacity(config.servers.len());
        let mut tasks = Vec::with_capacity(config.servers.len());
        let mut sources = Vec::with_capacity(config.servers.len());
        for server in &config.servers {
            let source = if server.is_remote() {
                let Some(at) = remotes.iter().position(|(name, _)| *name == server.name) else {
                    return Err(ConfigError::Invalid(format!(
                        "server {:?} has no `host` or `url` and nothing serves it through NATS",
                        server.name
                    )));
                };
                let (_, remote) = remotes.swap_remove(at);
                Source::Remote(
                    remote,
                    std::time::Duration::from_millis(server.action_timeout_ms),
                )
            } else {
                Source::Ami(Box::new(server.client_config()?))
            };
            sources.push((server.name.clone(), source));
        }
        if let Some((name, _)) = remotes.first() {
            return Err(ConfigError::Invalid(format!(
                "a remote was given for {name:?}, which is not a server served through NATS"
            )));
        }
        for (name, source) in sources {
            let (upstream, task) =
                Upstream::start(name, source, config.streams, shutdown.subscribe());
            servers.push(upstream);
            tasks.push(task);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                servers,
                tokens: config.tokens.iter().cloned().map(Arc::new).collect(),
                streams: config.streams,
                connections: Arc::new(Connections::new(config.connections)),
                cors_origins: config.cors_origins.clone(),
                shutdown,
                tasks: std::sync::Mutex::new(tasks),
                stream_clients: AtomicUsize::new(0),
                stream_disconnects: Default::default(),
                denied: Default::default(),
                denied_log: Default::default(),
                started: Instant::now(),
            }),
        })
    }

    /// The servers, in configuration order.
    pub fn servers(&self) -> impl Iterator<Item = &Upstream> + '_ {
        self.inner.servers.iter().map(|s| &**s)
    }

    /// A server by name.
    pub fn server(&self, name: &str) -> Option<&Upstream> {
        self.servers().find(|s| s.name() == name)
    }

    pub(crate) fn tokens(&self) -> &[Arc<TokenPolicy>] {
        &self.inner.tokens
    }

    pub(crate) fn stream_limits(&self) -> StreamLimits {
        self.inner.streams
    }

    pub(crate) fn connection_limits(&self) -> ConnectionLimits {
        self.inner.connections.limits()
    }

    pub(crate) fn connections(&self) -> &Arc<Connections> {
        &self.inner.connections
    }

    pub(crate) fn cors_origins(&self) -> &[String] {
        &self.inner.cors_origins
    }

    pub(crate) fn stream_clients(&self) -> &AtomicUsize {
        &self.inner.stream_clients
    }

    pub(crate) fn count_disconnect(&self, reason: Disconnect) {
        self.inner.stream_disconnects[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn disconnect_counts(&self) -> [(Disconnect, u64); Disconnect::ALL.len()] {
        Disconnect::ALL.map(|d| {
            (
                d,
                self.inner.stream_disconnects[d as usize].load(Ordering::Relaxed),
            )
        })
    }

    pub(crate) fn uptime_seconds(&self) -> u64 {
        self.inner.started.elapsed().as_secs()
    }

    /// Counts a denied request. Returns `Some(unlogged)` when it should be logged: the first
    /// of its kind in each [`DENIAL_LOG_INTERVAL`], with how many of that kind went unlogged
    /// before it. A flood of bad tokens is then a line every few seconds, not one per request.
    #[must_use = "log the denial when told to"]
    pub(crate) fn count_denied(&self, denial: Denial) -> Option<u64> {
        self.inner.denied[denial as usize].fetch_add(1, Ordering::Relaxed);
        let mut log = self.inner.denied_log[denial as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match log.last_line {
            Some(last) if now.duration_since(last) < DENIAL_LOG_INTERVAL => {
                log.unlogged += 1;
                None
            }
            _ => {
                log.last_line = Some(now);
                Some(std::mem::take(&mut log.unlogged))
            }
        }
    }

    pub(crate) fn denied_counts(&self) -> [(&'static str, u64); Denial::ALL.len()] {
        Denial::ALL.map(|d| {
            (
                d.label(),
                self.inner.denied[d as usize].load(Ordering::Relaxed),
            )
        })
    }

    /// Turns true when the gateway is shutting down (event streams end on it).
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Tells event streams and server tasks to end (without waiting).
    pub fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Ends event streams, logs off every AMI connection and waits for the server tasks.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        let tasks =
            std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field(
                "servers",
                &self.servers().map(Upstream::name).collect::<Vec<_>>(),
            )
            .field("tokens", &self.inner.tokens.len())
            .finish()
    }
}
