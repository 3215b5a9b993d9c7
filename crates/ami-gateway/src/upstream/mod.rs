//! One upstream Asterisk server: its `ami-client` connection (or the [`Remote`] that serves
//! it), status, metrics, the live state of its PBX (an [`ami_state::State`]), and the fan-out
//! of its events to stream clients.
//!
//! - [`remote`]: the seam a server served from elsewhere (a NATS bridge) plugs into, and the
//!   [`remote::Port`] every action goes through; a leaf but for `error`.
//! - [`link`]: supervision of the connection (connect, retry, the client's reconnects) and the
//!   status `GET /v1/servers` shows; or a remote's items.
//! - [`fanout`]: the one task per server that owns the event subscription and every stream
//!   client's registration, and delivers each event to the clients that want it.
//! - [`snapshot`]: the resync that rebuilds the live state from list actions, and learns the
//!   uptime and the action classes.

mod fanout;
mod link;
pub(crate) mod remote;
mod snapshot;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use ami_client::Client;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{Instrument, warn};

pub(crate) use fanout::{BACKLOG, ClientShared, Filter, Registration};
pub use link::LinkState;
pub(crate) use link::Status;
use remote::Port;
pub use remote::{Remote, RemoteActions, RemoteError, RemoteFuture, RemoteItem};

use crate::envelope::Envelope;
use crate::item::StreamItem;
use crate::metrics::ServerMetrics;
use crate::privilege::ActionClasses;

/// Where a server's events and actions come from.
pub(crate) enum Source {
    /// The gateway logs in itself.
    Ami(Box<ami_client::Config>),
    /// A remote serves it; actions wait at most this long.
    Remote(Remote, std::time::Duration),
}

/// One upstream server.
pub struct Upstream {
    name: String,
    /// Where actions go: the client while connected (or reconnecting after a drop), or the
    /// remote (always).
    port: RwLock<Option<Port>>,
    status: Mutex<Status>,
    metrics: ServerMetrics,
    /// The PBX's live state: fed by the fan-out task from the link's events (the one tracker
    /// of the server), rebuilt by the resync jobs' lists; the state API, the `state` stream
    /// messages and the PBX gauges all read it.
    state: Mutex<ami_state::State>,
    /// Each action's write classes, from the PBX's `ListCommands` at every login (empty until
    /// the first answer: then every action is sensitive to a `"*"`).
    action_classes: RwLock<Arc<ActionClasses>>,
    register: mpsc::UnboundedSender<Registration>,
}

impl Upstream {
    /// Starts the server's task: it connects (retrying with back-off until it succeeds), or
    /// reads the remote, keeps the status current and fans events out, until `shutdown`
    /// turns true.
    pub(crate) fn start(
        name: String,
        source: Source,
        limits: crate::config::StreamLimits,
        shutdown: watch::Receiver<bool>,
    ) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let (register, registrations) = mpsc::unbounded_channel();
        let (link, port) = match source {
            Source::Ami(config) => (link::Link::ami(*config, limits.upstream_buffer), None),
            Source::Remote(remote, timeout) => {
                let port = Port::Remote(remote.actions.clone(), timeout);
                (link::Link::remote(remote), Some(port))
            }
        };
        // A remote server's actions are judged by the catalog's classes until its
        // `ListCommands` answers (its bridge may never run that for the gateway), so that a
        // refusal says why rather than that nothing can be judged yet.
        let classes = match port {
            Some(Port::Remote(..)) => snapshot::catalog_action_classes(),
            _ => ActionClasses::default(),
        };
        let upstream = Arc::new(Self {
            name: name.clone(),
            port: RwLock::new(port),
            status: Mutex::new(Status::new()),
            metrics: ServerMetrics::default(),
            state: Mutex::new(ami_state::State::new()),
            action_classes: RwLock::new(Arc::new(classes)),
            register,
        });
        let pump = fanout::Pump::new(upstream.clone(), limits);
        let span = tracing::info_span!("upstream", server = %name);
        let run = pump.run(link, registrations, shutdown).instrument(span);
        // Every event of the server goes through this one task, and each event wakes stream
        // tasks: in the shared workers' queue the task then waited behind the hundreds of stream
        // tasks it had just woken, and under load events piled up upstream. On a thread and a
        // runtime of its own (which also runs the AMI connection it spawns), the OS schedules
        // it beside the workers instead. A plain thread, not the blocking pool: that pool is
        // bounded, and a large fleet would have used it up.
        let workers = tokio::runtime::Handle::current();
        let (done, finished) = oneshot::channel::<()>();
        // Shared with the thread so that the task is still at hand if the thread cannot start.
        let task = Arc::new(Mutex::new(Some(run)));
        let spawned = std::thread::Builder::new()
            .name("ami-gw-fanout".into())
            .spawn({
                let (task, workers) = (task.clone(), workers.clone());
                move || {
                    let Some(run) = task.lock().unwrap_or_else(|p| p.into_inner()).take() else {
                        return;
                    };
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime.block_on(run),
                        Err(error) => {
                            warn!(%error, "no runtime of its own for the upstream task; using the workers'");
                            workers.block_on(run);
                        }
                    }
                    let _ = done.send(());
                }
            });
        let handle = match spawned {
            // Ends when the thread does (also if it panicked: `done` is dropped then).
            Ok(_) => workers.spawn(async move {
                let _ = finished.await;
            }),
            Err(error) => {
                warn!(%error, "no thread of its own for the upstream task; sharing the workers'");
                let run = task.lock().unwrap_or_else(|p| p.into_inner()).take();
                workers.spawn(async move {
                    if let Some(run) = run {
                        run.await;
                    }
                })
            }
        };
        (upstream, handle)
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client, while connected (or reconnecting after a drop); `None` for a server
    /// served by a remote.
    pub fn client(&self) -> Option<Client> {
        self.port().as_ref().and_then(Port::client).cloned()
    }

    /// Whether a remote serves this server (the gateway does not log in to it).
    pub fn is_remote(&self) -> bool {
        matches!(self.port(), Some(Port::Remote(..)))
    }

    /// Where actions go, if anywhere now.
    pub(crate) fn port(&self) -> Option<Port> {
        self.port.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether the AMI session is logged in.
    pub fn is_connected(&self) -> bool {
        self.status().state == LinkState::Connected
    }

    /// Each action's write classes as the PBX last listed them.
    pub fn action_classes(&self) -> Arc<ActionClasses> {
        self.action_classes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn metrics(&self) -> &ServerMetrics {
        &self.metrics
    }

    /// Reconnect attempts: the client's own after drops plus failed first connects.
    pub(crate) fn reconnects(&self) -> u64 {
        let client = self.client().map(|c| c.metrics().reconnects).unwrap_or(0);
        client + self.metrics.connect_failures.load(Ordering::Relaxed)
    }

    /// Runs `f` on the live state, under its lock (keep `f` short: the fan-out waits on it).
    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&ami_state::State) -> T) -> T {
        f(&self.lock_state())
    }

    /// Hands a stream client's registration to the fan-out task.
    pub(crate) fn register(&self, registration: Registration) -> bool {
        self.register.send(registration).is_ok()
    }

    /// The live state's snapshot as a JSON object (`ami_state::Snapshot` as serde writes it,
    /// so what the model gains is served without a change here).
    pub(crate) fn state_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let snapshot = self.with_state(ami_state::State::snapshot);
        match serde_json::to_value(snapshot) {
            Ok(serde_json::Value::Object(map)) => map,
            // A snapshot is a struct of maps and lists with string keys: always an object.
            _ => serde_json::Map::new(),
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, ami_state::State> {
        // A handler that panicked leaves a state that is still a state; keep serving it (the
        // next resync rebuilds it).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the port; returns the one it had.
    fn set_port(&self, port: Option<Port>) -> Option<Port> {
        std::mem::replace(
            &mut *self.port.write().unwrap_or_else(|p| p.into_inner()),
            port,
        )
    }

    fn set_action_classes(&self, classes: ActionClasses) {
        *self
            .action_classes
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(classes);
    }

    fn set_status(&self, state: LinkState, ami_version: Option<String>, error: Option<String>) {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set(state, ami_version, error);
    }

    fn set_pbx_uptime(&self, uptime: Option<(u64, Instant)>) {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pbx_uptime = uptime;
    }

    /// A `connection` message: `state`, with `ami_version` (or the last one known).
    fn connection_item(&self, state: LinkState, ami_version: Option<&str>) -> StreamItem {
        let known = self.status().ami_version;
        let data = Envelope::Connection {
            server: &self.name,
            state: state.as_str(),
            ami_version: ami_version.or(known.as_deref()),
        }
        .render();
        StreamItem {
            kind: "connection",
            data: data.into(),
        }
    }
}
