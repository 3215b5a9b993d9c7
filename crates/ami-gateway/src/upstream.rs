//! One upstream Asterisk server: its ami-client connection (kept up by a task of its own),
//! status, metrics, PBX gauges, and the fan-out of its events to stream clients.
//!
//! A single task per server owns the connection's one event subscription and every stream
//! client's registration: it filters each event once per distinct filter among the interested
//! clients (clients are indexed by event name, then grouped by their header and class
//! conditions) and hands it over with `try_send`, so a slow client only ever loses its own
//! events and never slows the AMI socket or anyone else.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ami_client::{
    Action, Backoff, Buffer, Client, ConnectionState, EventItem, Reply, Subscriber, Subscription,
};
use ami_proto::Message;
use axum::extract::ws::Utf8Bytes;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tracing::{Instrument, debug, info, warn};

use crate::metrics::ServerMetrics;
use crate::pbx::PbxGauges;
use crate::privilege::ActionClasses;
use ami_client::queue::{TrySendError, Weighed};

/// How many events the gateway's own subscription may hold before the client drops some
/// (about a second at 50,000 events/s).
const UPSTREAM_BUFFER: usize = 65_536;

/// Connection state as shown by `GET /v1/servers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// First connect (or a fresh connect after the client closed) in progress.
    Connecting,
    /// Logged in.
    Connected,
    /// Down; the client is reconnecting.
    Disconnected,
}

impl LinkState {
    /// The word used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Status {
    pub(crate) state: LinkState,
    pub(crate) ami_version: Option<String>,
    /// When the state last changed.
    pub(crate) since: Instant,
    pub(crate) since_unix: u64,
    pub(crate) last_error: Option<String>,
    /// The PBX's uptime in seconds when measured, and when that was.
    pub(crate) pbx_uptime: Option<(u64, Instant)>,
}

/// One message for a stream client, already rendered as JSON text. Shared by every client
/// that gets it: `Utf8Bytes` so a WebSocket frame can carry it without a copy, or a UTF-8
/// check, per client.
#[derive(Debug, Clone)]
pub(crate) struct StreamItem {
    /// `event`, `lagged`, `connection`.
    pub(crate) kind: &'static str,
    /// JSON text.
    pub(crate) data: Utf8Bytes,
}

impl Weighed for StreamItem {
    fn weight(&self) -> Option<usize> {
        // Events count against a client's queue bound; `connection` and `lagged` always fit.
        (self.kind == "event").then_some(self.data.len())
    }
}

/// The fan-out's end of a stream client's queue (the one lossy queue of `ami_client`).
pub(crate) type QueueSender = ami_client::queue::Sender<StreamItem>;

/// What a stream client shares with the fan-out tasks.
#[derive(Debug, Default)]
pub(crate) struct ClientShared {
    /// Set once the client fell too far behind; its task then says so and disconnects.
    pub(crate) evicted: AtomicBool,
    pub(crate) notify: Notify,
    /// Events this client missed, over all servers.
    pub(crate) missed_total: AtomicU64,
}

/// What a stream client wants from one server's events.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    /// Lowercase event names; empty: all.
    pub(crate) names: Vec<Box<[u8]>>,
    /// `(header, value)` pairs that must all match (case-insensitive).
    pub(crate) headers: Vec<(String, String)>,
    /// Event classes the token may receive (`*`: all).
    pub(crate) classes: Vec<String>,
}

impl Filter {
    fn matches(&self, message: &Message) -> bool {
        self.matches_with(message, message.get_bytes("Privilege"))
    }

    /// [`Filter::matches`] with the event's `Privilege:` value already looked up (once per
    /// event, not once per filter).
    fn matches_with(&self, message: &Message, privilege: Option<&[u8]>) -> bool {
        self.headers
            .iter()
            .all(|(name, value)| message.value_is(name, value))
            && crate::auth::class_allowed(&self.classes, privilege)
    }

    /// Whether an event passing one of these filters' conditions always passes the other's
    /// (the event names aside): such clients share a [`Group`].
    fn same_conditions(&self, other: &Filter) -> bool {
        self.headers == other.headers && self.classes == other.classes
    }
}

/// Registrations, under one event name (or none), whose filters have the same header and class
/// conditions: the conditions are checked once per event for the whole group, so a thousand
/// clients watching a few extensions cost a few checks per event, not a thousand.
struct Group {
    /// The first member's filter (the others' conditions are the same).
    filter: Filter,
    /// Indexes into `Pump::regs`, in registration order.
    members: Vec<usize>,
}

/// Adds `index` to the group of `filter`'s conditions in `groups`, or to a new one.
fn join_group(groups: &mut Vec<Group>, filter: &Filter, index: usize) {
    match groups.iter_mut().find(|g| g.filter.same_conditions(filter)) {
        Some(group) => group.members.push(index),
        None => groups.push(Group {
            filter: filter.clone(),
            members: vec![index],
        }),
    }
}

/// Takes `index` out of whichever group of `groups` holds it; empty groups go.
fn leave_group(groups: &mut Vec<Group>, index: usize) {
    for group in groups.iter_mut() {
        group.members.retain(|&i| i != index);
    }
    groups.retain(|g| !g.members.is_empty());
}

/// A stream client's registration with one server's fan-out.
pub(crate) struct Registration {
    pub(crate) filter: Filter,
    pub(crate) tx: QueueSender,
    pub(crate) client: Arc<ClientShared>,
    /// Told once the fan-out has it (so the client's `hello` means "subscribed").
    pub(crate) ack: oneshot::Sender<()>,
    /// Send this many of the most recent matching events first.
    pub(crate) backlog: usize,
}

struct Reg {
    filter: Filter,
    tx: QueueSender,
    client: Arc<ClientShared>,
}

/// One upstream server.
pub struct Upstream {
    name: String,
    name_json: String,
    client: RwLock<Option<Client>>,
    status: Mutex<Status>,
    metrics: ServerMetrics,
    gauges: Mutex<PbxGauges>,
    /// Each action's write classes, from the PBX's `ListCommands` at every login (empty until
    /// the first answer: then every action is sensitive to a `"*"`).
    action_classes: RwLock<Arc<ActionClasses>>,
    register: mpsc::UnboundedSender<Registration>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Upstream {
    /// Starts the server's task: it connects (retrying with back-off until it succeeds), keeps
    /// the status current and fans events out, until `shutdown` turns true.
    pub(crate) fn start(
        name: String,
        config: ami_client::Config,
        limits: crate::config::StreamLimits,
        shutdown: watch::Receiver<bool>,
    ) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let (register, registrations) = mpsc::unbounded_channel();
        let upstream = Arc::new(Self {
            name_json: serde_json::Value::String(name.clone()).to_string(),
            name: name.clone(),
            client: RwLock::new(None),
            status: Mutex::new(Status {
                state: LinkState::Connecting,
                ami_version: None,
                since: Instant::now(),
                since_unix: unix_now(),
                last_error: None,
                pbx_uptime: None,
            }),
            metrics: ServerMetrics::default(),
            gauges: Mutex::new(PbxGauges::default()),
            action_classes: RwLock::new(Arc::default()),
            register,
        });
        let task = Pump {
            upstream: upstream.clone(),
            config,
            limits,
            regs: Vec::new(),
            by_name: HashMap::new(),
            any_name: Vec::new(),
            targets: Vec::new(),
            recent: std::collections::VecDeque::with_capacity(BACKLOG),
        };
        let span = tracing::info_span!("upstream", server = %name);
        let run = task.run(registrations, shutdown).instrument(span);
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

    /// The client, while connected (or reconnecting after a drop).
    pub fn client(&self) -> Option<Client> {
        self.client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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

    pub(crate) fn with_gauges<T>(&self, f: impl FnOnce(&PbxGauges) -> T) -> T {
        f(&self.gauges.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Hands a stream client's registration to the fan-out task.
    pub(crate) fn register(&self, registration: Registration) -> bool {
        self.register.send(registration).is_ok()
    }

    fn set_status(&self, state: LinkState, ami_version: Option<String>, error: Option<String>) {
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        if status.state != state {
            status.since = Instant::now();
            status.since_unix = unix_now();
        }
        status.state = state;
        if ami_version.is_some() {
            status.ami_version = ami_version;
        }
        if error.is_some() {
            status.last_error = error;
        }
    }

    fn connection_item(&self, state: LinkState) -> StreamItem {
        let status = self.status();
        let version = status
            .ami_version
            .map(serde_json::Value::String)
            .unwrap_or(serde_json::Value::Null);
        StreamItem {
            kind: "connection",
            data: format!(
                "{{\"type\":\"connection\",\"server\":{},\"state\":\"{}\",\"ami_version\":{}}}",
                self.name_json,
                state.as_str(),
                version
            )
            .into(),
        }
    }
}

type ConnectFuture = Pin<Box<dyn Future<Output = ami_client::Result<Client>> + Send>>;

/// Events kept per server for `backlog=N` (a console opening shows recent activity at once).
pub(crate) const BACKLOG: usize = 256;

struct Pump {
    upstream: Arc<Upstream>,
    config: ami_client::Config,
    limits: crate::config::StreamLimits,
    regs: Vec<Option<Reg>>,
    /// Registrations that name the event, grouped by conditions.
    by_name: HashMap<Box<[u8]>, Vec<Group>>,
    /// Registrations of every event name, grouped by conditions.
    any_name: Vec<Group>,
    /// The registrations one event goes to (kept to reuse its allocation).
    targets: Vec<usize>,
    /// The last [`BACKLOG`] events with their lowercase names (shared, not copied).
    recent: std::collections::VecDeque<(Box<[u8]>, ami_client::Event)>,
}

impl Pump {
    async fn run(
        mut self,
        mut registrations: mpsc::UnboundedReceiver<Registration>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let backoff = Backoff::default();
        let mut attempt = 0u32;
        let mut connect: Option<ConnectFuture> =
            Some(Box::pin(Client::connect(self.config.clone())));
        let retry = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(retry);
        let mut waiting_retry = false;
        let mut subscriber: Option<Subscriber> = None;
        let mut items = Vec::with_capacity(512);
        // Prunes departed clients and tells lag to clients whose queues have room again.
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                result = async { connect.as_mut().expect("guarded").await }, if connect.is_some() => {
                    connect = None;
                    match result {
                        Ok(client) => {
                            attempt = 0;
                            subscriber = Some(client.subscribe(
                                Subscription::all().buffer(Buffer::Events(UPSTREAM_BUFFER)),
                            ));
                            *self.upstream.client.write().unwrap_or_else(|p| p.into_inner()) =
                                Some(client.clone());
                            self.connected(&client, client.ami_version()).await;
                        }
                        Err(error) => {
                            self.upstream.metrics.connect_failures.fetch_add(1, Ordering::Relaxed);
                            warn!(%error, attempt, "connect failed");
                            self.upstream.set_status(LinkState::Disconnected, None, Some(error.to_string()));
                            retry.as_mut().reset(tokio::time::Instant::now() + backoff.delay(attempt, rand::random()));
                            attempt = attempt.saturating_add(1);
                            waiting_retry = true;
                        }
                    }
                }
                _ = &mut retry, if waiting_retry => {
                    waiting_retry = false;
                    self.upstream.set_status(LinkState::Connecting, None, None);
                    connect = Some(Box::pin(Client::connect(self.config.clone())));
                }
                n = async { subscriber.as_mut().expect("guarded").recv_many(&mut items, 512).await }, if subscriber.is_some() => {
                    if n == 0 {
                        // The client closed for good: start over with a fresh one.
                        subscriber = None;
                        *self.upstream.client.write().unwrap_or_else(|p| p.into_inner()) = None;
                        self.upstream.set_status(LinkState::Disconnected, None, Some("client closed".into()));
                        self.broadcast(self.upstream.connection_item(LinkState::Disconnected));
                        retry.as_mut().reset(tokio::time::Instant::now() + backoff.delay(attempt, rand::random()));
                        waiting_retry = true;
                    } else {
                        self.handle_items(&mut items).await;
                        // The subscription is always ready during a burst, so this task would
                        // never yield, and the stream tasks it just woke would wait in this
                        // worker's LIFO slot until the burst ends. Yield after each batch.
                        tokio::task::yield_now().await;
                    }
                }
                registration = registrations.recv() => {
                    match registration {
                        Some(registration) => self.add(registration),
                        None => break,
                    }
                }
                _ = tick.tick() => self.prune(),
                _ = shutdown.changed() => break,
            }
        }
        let client = self
            .upstream
            .client
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(client) = client {
            client.close().await;
        }
        info!("upstream task ended");
    }

    /// A (re)connect: the actions' classes, status, PBX snapshot, uptime, then tell stream
    /// clients. The classes come first so that no request is judged before they are known.
    async fn connected(&mut self, client: &Client, ami_version: String) {
        info!(%ami_version, "connected");
        self.learn_action_classes(client).await;
        self.upstream
            .set_status(LinkState::Connected, Some(ami_version), None);
        self.resync(client).await;
        self.broadcast(self.upstream.connection_item(LinkState::Connected));
    }

    /// Asks the PBX for each action's write classes (`ListCommands`, on every version). On
    /// failure the classes already known are kept: a reconnect to the same PBX does not
    /// change them, and with none known every action stays sensitive to a `"*"`.
    async fn learn_action_classes(&mut self, client: &Client) {
        match client
            .send_with_timeout(Action::new("ListCommands"), Duration::from_secs(10))
            .await
        {
            Ok(Reply::Response(response)) => {
                let classes = ActionClasses::from_list_commands(&response);
                debug!(actions = classes.len(), "action classes learnt");
                *self
                    .upstream
                    .action_classes
                    .write()
                    .unwrap_or_else(|p| p.into_inner()) = Arc::new(classes);
            }
            Ok(_) => warn!("ListCommands answered in an unexpected form; action classes unchanged"),
            Err(error) => {
                warn!(%error, "ListCommands failed; action classes unchanged")
            }
        }
    }

    /// Seeds the PBX gauges and the uptime. The pump waits for this on purpose: events that
    /// arrive meanwhile queue in the subscription and are applied after the snapshot.
    async fn resync(&mut self, client: &Client) {
        let timeout = Duration::from_secs(10);
        let list = |reply: ami_client::Result<Reply>| match reply {
            Ok(Reply::List(list)) => Some(list.items),
            Ok(_) => Some(Vec::new()),
            Err(error) => {
                debug!(%error, "snapshot action failed");
                None
            }
        };
        let channels = list(
            client
                .send_with_timeout(Action::new("CoreShowChannels"), timeout)
                .await,
        );
        let queues = list(
            client
                .send_with_timeout(Action::new("QueueStatus"), timeout)
                .await,
        );
        if let Some(channels) = &channels {
            let mut gauges = self
                .upstream
                .gauges
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            gauges.reset(channels, queues.as_deref().unwrap_or_default());
        }
        let uptime = match client
            .send_with_timeout(
                Action::new("Command").header("Command", "core show uptime seconds"),
                timeout,
            )
            .await
        {
            Ok(Reply::Command(output)) => parse_uptime(&output.output),
            _ => None,
        };
        self.upstream
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pbx_uptime = uptime.map(|secs| (secs, Instant::now()));
    }

    async fn handle_items(&mut self, items: &mut Vec<EventItem>) {
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut name_buf = Vec::with_capacity(64);
        let mut pending_connected = None;
        {
            let upstream = self.upstream.clone();
            let mut gauges = upstream.gauges.lock().unwrap_or_else(|p| p.into_inner());
            for item in items.drain(..) {
                match item {
                    EventItem::Event(event) => {
                        let Some(name) = event.get_bytes("Event").filter(|_| event.is_event())
                        else {
                            continue;
                        };
                        match std::str::from_utf8(name) {
                            Ok(text) => match counts.get_mut(text) {
                                Some(n) => *n += 1,
                                None => {
                                    counts.insert(text.to_owned(), 1);
                                }
                            },
                            Err(_) => *counts.entry("_invalid".into()).or_insert(0) += 1,
                        }
                        gauges.handle_event(&event);
                        name_buf.clear();
                        name_buf.extend(name.iter().map(u8::to_ascii_lowercase));
                        self.fan_out(&name_buf, &event);
                        if self.recent.len() == BACKLOG {
                            self.recent.pop_front();
                        }
                        self.recent.push_back((name_buf.as_slice().into(), event));
                    }
                    EventItem::Lagged(missed) => {
                        self.upstream
                            .metrics
                            .upstream_lagged
                            .fetch_add(missed, Ordering::Relaxed);
                        let data = format!(
                            "{{\"type\":\"lagged\",\"server\":{},\"missed\":{missed},\"upstream\":true}}",
                            self.upstream.name_json
                        );
                        self.broadcast(StreamItem {
                            kind: "lagged",
                            data: data.into(),
                        });
                    }
                    EventItem::Connection(ConnectionState::Connected { ami_version }) => {
                        pending_connected = Some(ami_version);
                    }
                    EventItem::Connection(ConnectionState::Disconnected { reason }) => {
                        warn!(%reason, "connection lost");
                        self.upstream
                            .set_status(LinkState::Disconnected, None, Some(reason));
                        self.broadcast(self.upstream.connection_item(LinkState::Disconnected));
                    }
                    // Nothing else concerns stream clients (the fan-out's subscription has
                    // no filter to panic; skipped packets are in the client's metrics).
                    _ => {}
                }
            }
        }
        self.upstream.metrics.events(&mut counts);
        if let Some(version) = pending_connected
            && let Some(client) = self.upstream.client()
        {
            self.connected(&client, version).await;
        }
    }

    /// An event as a stream message.
    fn render(&self, event: &ami_client::Event) -> Utf8Bytes {
        render_event(&self.upstream.name_json, event).into()
    }

    fn fan_out(&mut self, lower_name: &[u8], event: &ami_client::Event) {
        let named = self
            .by_name
            .get(lower_name)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let privilege = event.get_bytes("Privilege");
        // Indexes are copied out so delivery may remove registrations.
        let mut targets = std::mem::take(&mut self.targets);
        targets.clear();
        for group in named.iter().chain(self.any_name.iter()) {
            if group.filter.matches_with(event, privilege) {
                targets.extend_from_slice(&group.members);
            }
        }
        if !targets.is_empty() {
            // Rendered once, shared by every client that gets it.
            let data = self.render(event);
            for &index in &targets {
                self.deliver(
                    index,
                    StreamItem {
                        kind: "event",
                        data: data.clone(),
                    },
                );
            }
        }
        self.targets = targets;
    }

    fn broadcast(&mut self, item: StreamItem) {
        for index in 0..self.regs.len() {
            if self.regs[index].is_some() {
                self.deliver(index, item.clone());
            }
        }
    }

    /// Offers one item to one client without waiting (see [`offer`]).
    fn deliver(&mut self, index: usize, item: StreamItem) {
        let Some(reg) = self.regs.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        if offer(reg, item, &self.upstream, self.limits.max_lagged) {
            self.remove(index);
        }
    }

    fn add(&mut self, registration: Registration) {
        let Registration {
            filter,
            tx,
            client,
            ack,
            backlog,
        } = registration;
        // Its gaps are told by the queue, in place, naming this server.
        let name_json = self.upstream.name_json.clone();
        let tx = tx.with_lagged(move |missed| lag_item(&name_json, missed));
        if backlog > 0 {
            // The most recent matching events, oldest first, before anything live.
            let matching: Vec<&ami_client::Event> = self
                .recent
                .iter()
                .rev()
                .filter(|(name, event)| {
                    (filter.names.is_empty() || filter.names.iter().any(|n| n == name))
                        && filter.matches(event)
                })
                .map(|(_, event)| event)
                .take(backlog)
                .collect();
            for event in matching.into_iter().rev() {
                let item = StreamItem {
                    kind: "event",
                    data: self.render(event),
                };
                // What does not fit is told as a gap, like any drop.
                if let Err(TrySendError::Closed) = tx.try_send(item) {
                    break;
                }
            }
        }
        let index = match self.regs.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                self.regs.push(None);
                self.regs.len() - 1
            }
        };
        if filter.names.is_empty() {
            join_group(&mut self.any_name, &filter, index);
        } else {
            for name in &filter.names {
                join_group(
                    self.by_name.entry(name.clone()).or_default(),
                    &filter,
                    index,
                );
            }
        }
        self.regs[index] = Some(Reg { filter, tx, client });
        self.upstream
            .metrics
            .stream_clients
            .fetch_add(1, Ordering::Relaxed);
        let _ = ack.send(());
    }

    fn remove(&mut self, index: usize) {
        let Some(reg) = self.regs.get_mut(index).and_then(Option::take) else {
            return;
        };
        if reg.filter.names.is_empty() {
            leave_group(&mut self.any_name, index);
        } else {
            for name in &reg.filter.names {
                if let Some(groups) = self.by_name.get_mut(name) {
                    leave_group(groups, index);
                    if groups.is_empty() {
                        self.by_name.remove(name);
                    }
                }
            }
        }
        self.upstream
            .metrics
            .stream_clients
            .fetch_sub(1, Ordering::Relaxed);
    }

    /// Drops registrations of clients that went away (they may match no event for a long
    /// time). Gaps need no help here: a client's queue tells them once it is drained.
    fn prune(&mut self) {
        for index in 0..self.regs.len() {
            let Some(reg) = self.regs[index].as_ref() else {
                continue;
            };
            let gone = reg.tx.is_closed() || reg.client.evicted.load(Ordering::Acquire);
            if gone {
                self.remove(index);
            }
        }
    }
}

/// `{"type":"event","server":<server_json>,"event":{...}}`, the event as
/// `ami_proto::json::message_to_json` maps it. The common event (every header named once, no
/// text lines or body, all UTF-8) is written straight out, byte for byte what the general
/// mapping gives but without building a JSON map first (that was most of the cost of
/// rendering); any other goes through the general mapping.
fn render_event(server_json: &str, event: &Message) -> String {
    let mut out = Vec::with_capacity(event.raw().len() + event.raw().len() / 4 + 64);
    out.extend_from_slice(b"{\"type\":\"event\",\"server\":");
    out.extend_from_slice(server_json.as_bytes());
    out.extend_from_slice(b",\"event\":");
    let start = out.len();
    if !write_plain_event(&mut out, event) {
        out.truncate(start);
        let body = serde_json::Value::Object(ami_proto::json::message_to_json(event));
        // Writing a Value into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &body);
    }
    out.push(b'}');
    // Only JSON text was written; a failure here would be a bug, so say so rather than panic.
    String::from_utf8(out).unwrap_or_else(|error| {
        warn!(%error, "an event rendered as invalid UTF-8");
        String::from_utf8_lossy(error.as_bytes()).into_owned()
    })
}

/// Writes `{"Name":"value",...}` for an event that needs nothing of the general mapping but
/// names and values; false (with `out` partly written) for any other.
fn write_plain_event(out: &mut Vec<u8>, event: &Message) -> bool {
    if event.body().is_some() || event.is_truncated() {
        return false;
    }
    let mut names: Vec<&[u8]> = Vec::with_capacity(event.len());
    out.push(b'{');
    for field in event.fields() {
        if field.is_text_line() || names.contains(&field.name()) {
            return false;
        }
        let (Ok(name), Ok(value)) = (
            std::str::from_utf8(field.name()),
            std::str::from_utf8(field.value()),
        ) else {
            return false;
        };
        if !names.is_empty() {
            out.push(b',');
        }
        names.push(field.name());
        // The same escaping as serde_json's own for a string value.
        let _ = serde_json::to_writer(&mut *out, name);
        out.push(b':');
        let _ = serde_json::to_writer(&mut *out, value);
    }
    out.push(b'}');
    true
}

fn lag_item(server_json: &str, missed: u64) -> StreamItem {
    StreamItem {
        kind: "lagged",
        data: format!("{{\"type\":\"lagged\",\"server\":{server_json},\"missed\":{missed}}}")
            .into(),
    }
}

/// Offers one item to one client without waiting. A full queue drops the item and counts it
/// (the queue tells the gap with a lag message in place), and a client that has missed more
/// than `max_lagged` events is told to disconnect. Returns true when the registration should
/// go (the client left or was evicted).
fn offer(reg: &mut Reg, item: StreamItem, upstream: &Upstream, max_lagged: u64) -> bool {
    let metrics = &upstream.metrics;
    match reg.tx.try_send(item) {
        Ok(()) => return false,
        Err(TrySendError::Full { missed }) => {
            if missed == 1 {
                metrics.stream_lagged.fetch_add(1, Ordering::Relaxed);
            }
        }
        Err(_) => return true,
    }
    metrics.stream_dropped.fetch_add(1, Ordering::Relaxed);
    let total = reg.client.missed_total.fetch_add(1, Ordering::Relaxed) + 1;
    if total > max_lagged {
        if !reg.client.evicted.swap(true, Ordering::AcqRel) {
            metrics.stream_disconnected.fetch_add(1, Ordering::Relaxed);
            info!(
                missed = total,
                "disconnecting a stream client that fell behind"
            );
        }
        reg.client.notify.notify_one();
        reg.tx.alert();
        return true;
    }
    false
}

/// The PBX uptime from `core show uptime seconds`: `System uptime: 3600`, or the worded form
/// (`2 weeks, 1 day, 3 hours, 5 minutes, 10 seconds`) some versions print regardless.
fn parse_uptime(text: &str) -> Option<u64> {
    let rest = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("System uptime:"))?
        .trim();
    if let Ok(seconds) = rest.parse() {
        return Some(seconds);
    }
    let mut total = 0u64;
    let mut any = false;
    for part in rest.split(',') {
        let mut words = part.split_whitespace();
        let (Some(n), Some(unit)) = (words.next(), words.next()) else {
            return None;
        };
        let n: u64 = n.trim_start_matches('<').parse().ok()?;
        let size = match unit.trim_end_matches('s') {
            "year" => 365 * 86_400,
            "week" => 7 * 86_400,
            "day" => 86_400,
            "hour" => 3_600,
            "minute" => 60,
            "second" => 1,
            _ => return None,
        };
        total = total.saturating_add(n.saturating_mul(size));
        any = true;
    }
    any.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What rendering was before the direct path: the general mapping, then its text.
    fn general(server_json: &str, event: &Message) -> String {
        let body = serde_json::Value::Object(ami_proto::json::message_to_json(event));
        format!("{{\"type\":\"event\",\"server\":{server_json},\"event\":{body}}}")
    }

    #[test]
    fn events_render_exactly_as_the_general_mapping_does() {
        let plain = Message::builder()
            .header("Event", "Hangup")
            .header("Privilege", "call,all")
            .header("Channel", "Local/400@demo-00000001;1")
            .header("AccountCode", "")
            .header("Quoted", "a \"b\" \\ c\t\u{1}é ☎ </script>")
            .build()
            .expect("valid");
        let repeated = Message::builder()
            .header("Event", "VarSet")
            .header("Variable", "A")
            .header("Variable", "B")
            .header("variable", "c")
            .build()
            .expect("valid");
        let latin1 = Message::builder()
            .header("Event", "Odd")
            .header("Value", b"caf\xe9")
            .build()
            .expect("valid");
        let mut with_text = Message::builder().header("Event", "Text");
        with_text.push_text_line(b"a line without a name");
        let with_text = with_text.build().expect("valid");
        let with_body = Message::builder()
            .header("Response", "Follows")
            .legacy_body("output\n")
            .build()
            .expect("valid");
        for server in ["\"sim\"", "\"p\\\"bx\""] {
            for message in [&plain, &repeated, &latin1, &with_text, &with_body] {
                let fast = render_event(server, message);
                assert_eq!(fast, general(server, message));
                assert!(
                    serde_json::from_str::<serde_json::Value>(&fast).is_ok(),
                    "{fast}"
                );
            }
        }
    }

    #[test]
    fn uptime_is_read_from_the_seconds_form() {
        assert_eq!(
            parse_uptime("System uptime: 3600\nLast reload: 60\n"),
            Some(3600)
        );
        assert_eq!(parse_uptime("System uptime: 1 hour\n"), Some(3600));
        assert_eq!(
            parse_uptime("System uptime: 2 weeks, 1 day, 7 minutes, 16 seconds\n"),
            Some(15 * 86_400 + 436)
        );
        assert_eq!(parse_uptime("System uptime: a while\n"), None);
        assert_eq!(parse_uptime(""), None);
    }
}
