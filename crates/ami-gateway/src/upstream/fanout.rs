//! The fan-out of one server's events to its stream clients, and the loop that runs it.
//!
//! A single task per server owns the connection's one event subscription and every stream
//! client's registration: it filters each event once per distinct filter among the interested
//! clients (clients are indexed by event name, then grouped by their header and class
//! conditions) and hands it over with `try_send`, so a slow client only ever loses its own
//! events and never slows the AMI socket or anyone else.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ami_client::{ConnectionState, EventItem};
use ami_proto::Message;
use axum::extract::ws::Utf8Bytes;
use serde_json::{Map, Value};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use super::Upstream;
use super::link::{Link, LinkEvent, LinkState};
use super::remote::{Port, RemoteItem};
use super::snapshot::{Progress, Resync};
use crate::envelope::{self, Envelope};
use crate::item::{QueueSender, StreamItem};
use ami_client::queue::TrySendError;

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
    /// Whether the client gets events (a `state=only` client does not).
    pub(crate) events: bool,
    /// Whether the client gets `state` messages: a snapshot first, then updates.
    pub(crate) state: bool,
}

struct Reg {
    filter: Filter,
    tx: QueueSender,
    client: Arc<ClientShared>,
    events: bool,
    state: bool,
    /// A state update was dropped for this client (or its first snapshot did not fit): it
    /// gets no updates until a whole snapshot has gone in after the gap.
    needs_snapshot: bool,
}

/// One event as the fan-out keeps it: the client's (shared, not copied), or a remote's.
#[derive(Clone)]
enum UpEvent {
    Ami(ami_client::Event),
    Remote(Arc<Message>),
}

impl std::ops::Deref for UpEvent {
    type Target = Message;
    fn deref(&self) -> &Message {
        match self {
            Self::Ami(event) => event,
            Self::Remote(message) => message,
        }
    }
}

/// One input of the fan-out, from either kind of link.
enum Incoming {
    Event(UpEvent),
    Lagged(u64),
    Connected(String),
    Disconnected(String),
    /// A packet was skipped: the state may have missed it.
    Skipped,
}

impl Incoming {
    fn from_ami(item: EventItem) -> Option<Self> {
        Some(match item {
            EventItem::Event(event) => Self::Event(UpEvent::Ami(event)),
            EventItem::Lagged(missed) => Self::Lagged(missed),
            EventItem::Connection(ConnectionState::Connected { ami_version }) => {
                Self::Connected(ami_version)
            }
            EventItem::Connection(ConnectionState::Disconnected { reason }) => {
                Self::Disconnected(reason)
            }
            // A packet over the decoder's limits may have been an event the state needed
            // (it is counted in the client's metrics).
            EventItem::Skipped(_) => Self::Skipped,
            // Nothing else concerns stream clients (the fan-out's subscription has no
            // filter to panic).
            _ => return None,
        })
    }

    fn from_remote(item: RemoteItem) -> Self {
        match item {
            RemoteItem::Event(message) => Self::Event(UpEvent::Remote(Arc::new(message))),
            RemoteItem::Lagged(missed) => Self::Lagged(missed),
            RemoteItem::Connected { ami_version } => Self::Connected(ami_version),
            RemoteItem::Disconnected { reason } => Self::Disconnected(reason),
        }
    }
}

/// Events kept per server for `backlog=N` (a console opening shows recent activity at once).
pub(crate) const BACKLOG: usize = 256;

/// The fan-out of one server: its registrations, indexed for delivery, and recent events.
pub(crate) struct Pump {
    upstream: Arc<Upstream>,
    limits: crate::config::StreamLimits,
    regs: Vec<Option<Reg>>,
    /// Registrations that name the event, grouped by conditions.
    by_name: HashMap<Box<[u8]>, Vec<Group>>,
    /// Registrations of every event name, grouped by conditions.
    any_name: Vec<Group>,
    /// The registrations one event goes to (kept to reuse its allocation).
    targets: Vec<usize>,
    /// The last [`BACKLOG`] events with their lowercase names (shared, not copied).
    recent: std::collections::VecDeque<(Box<[u8]>, UpEvent)>,
    /// Registrations that get `state` messages.
    state_regs: usize,
    /// The state as the state clients were last told it (kept only while there are some):
    /// updates are what changed from it.
    state_view: Option<Map<String, Value>>,
}

impl Pump {
    /// The fan-out of `upstream`, with no registrations yet.
    pub(crate) fn new(upstream: Arc<Upstream>, limits: crate::config::StreamLimits) -> Self {
        Self {
            upstream,
            limits,
            regs: Vec::new(),
            by_name: HashMap::new(),
            any_name: Vec::new(),
            targets: Vec::new(),
            recent: std::collections::VecDeque::with_capacity(BACKLOG),
            state_regs: 0,
            state_view: None,
        }
    }

    /// Runs until `shutdown` turns true (or every registration sender is gone), then logs off.
    /// Nothing here waits on the PBX: resyncs run as tasks of their own ([`Resync`]) whose
    /// reports are one more input of the loop.
    pub(crate) async fn run(
        mut self,
        mut link: Link,
        mut registrations: mpsc::UnboundedReceiver<Registration>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut items = Vec::with_capacity(512);
        let mut remote_items = Vec::new();
        let mut resync = Resync::new();
        // Prunes departed clients and tells lag to clients whose queues have room again.
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                seen = link.next(&self.upstream, &mut items, &mut remote_items, 512) => match seen {
                    LinkEvent::Up(port, version) => self.logged_in(&mut resync, port, version),
                    LinkEvent::Items => {
                        let incoming = items
                            .drain(..)
                            .filter_map(Incoming::from_ami)
                            .chain(remote_items.drain(..).map(Incoming::from_remote));
                        self.handle_items(incoming, &mut resync);
                        // The subscription is always ready during a burst, so this task would
                        // never yield, and the stream tasks it just woke would wait in this
                        // worker's LIFO slot until the burst ends. Yield after each batch.
                        tokio::task::yield_now().await;
                    }
                    LinkEvent::Closed => {
                        resync.stop();
                        self.broadcast(self.upstream.connection_item(LinkState::Disconnected, None));
                    }
                },
                progress = resync.next() => match progress {
                    Progress::Classes(Some(classes)) => self.upstream.set_action_classes(classes),
                    Progress::Classes(None) => {}
                    Progress::LinkUp { ami_version } => {
                        info!(%ami_version, "connected");
                        self.upstream.set_status(LinkState::Connected, Some(ami_version), None);
                    }
                    Progress::Done(snapshot) => {
                        if snapshot.apply(&self.upstream) {
                            resync.poll_start(&self.upstream, Instant::now());
                        } else {
                            resync.retry(&self.upstream);
                        }
                        self.publish_state();
                    }
                },
                registration = registrations.recv() => {
                    match registration {
                        Some(registration) => self.add(registration),
                        None => break,
                    }
                }
                _ = tick.tick() => {
                    self.prune();
                    self.send_snapshots();
                    resync.poll_start(&self.upstream, Instant::now());
                }
                _ = shutdown.changed() => break,
            }
        }
        resync.stop();
        if let Some(Port::Ami(client)) = self.upstream.set_port(None) {
            client.close().await;
        }
        info!("upstream task ended");
    }

    /// A session logged in (the first, or one after a drop). Stream clients are told at once,
    /// in order with the events: what follows is the new session's. The status turns
    /// connected once the resync job has learnt the action classes (no request is judged
    /// before they are known) and resynced the live state and learnt the uptime, or waited
    /// long enough.
    fn logged_in(&mut self, resync: &mut Resync, port: Port, ami_version: String) {
        debug!(%ami_version, "logged in; resync started");
        self.broadcast(
            self.upstream
                .connection_item(LinkState::Connected, Some(&ami_version)),
        );
        resync.start_login(&self.upstream, port, ami_version);
    }

    fn handle_items(&mut self, items: impl Iterator<Item = Incoming>, resync: &mut Resync) {
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut name_buf = Vec::with_capacity(64);
        let upstream = self.upstream.clone();
        // Held across the batch (one lock per batch, not per event); let go where the resync
        // takes it itself.
        let mut state = Some(upstream.lock_state());
        for item in items {
            match item {
                Incoming::Event(event) => {
                    let Some(name) = event.get_bytes("Event").filter(|_| event.is_event()) else {
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
                    let model = state.get_or_insert_with(|| upstream.lock_state());
                    model.handle_event(&event);
                    if model.take_resync_request() {
                        // The PBX finished booting after its lists were taken (see
                        // `ami_state::State::take_resync_request`): list again.
                        state = None;
                        resync.handle_lagged(&self.upstream);
                    }
                    name_buf.clear();
                    name_buf.extend(name.iter().map(u8::to_ascii_lowercase));
                    self.fan_out(&name_buf, &event);
                    if self.recent.len() == BACKLOG {
                        self.recent.pop_front();
                    }
                    self.recent.push_back((name_buf.as_slice().into(), event));
                }
                Incoming::Lagged(missed) => {
                    self.upstream
                        .metrics
                        .upstream_lagged
                        .fetch_add(missed, Ordering::Relaxed);
                    let data = Envelope::Lagged {
                        server: &self.upstream.name,
                        missed,
                        upstream: true,
                    }
                    .render();
                    self.broadcast(StreamItem {
                        kind: "lagged",
                        data: data.into(),
                    });
                    state = None;
                    debug!(
                        missed,
                        "the gateway's subscription lost events; resyncing the state"
                    );
                    resync.handle_lagged(&self.upstream);
                }
                Incoming::Connected(ami_version) => {
                    state = None;
                    if let Some(port) = self.upstream.port() {
                        self.logged_in(resync, port, ami_version);
                    }
                }
                Incoming::Disconnected(reason) => {
                    warn!(%reason, "connection lost");
                    state = None;
                    resync.stop();
                    self.upstream
                        .set_status(LinkState::Disconnected, None, Some(reason));
                    self.broadcast(self.upstream.connection_item(LinkState::Disconnected, None));
                }
                Incoming::Skipped => {
                    state = None;
                    resync.handle_lagged(&self.upstream);
                }
            }
        }
        drop(state);
        self.upstream.metrics.events(&mut counts);
        self.publish_state();
    }

    /// Takes the state's changes since the last call and, if there were any and clients want
    /// them, tells those clients what changed: one `state` update, rendered once, made by
    /// comparing the state with what they were last told (see [`envelope::state_update`]).
    fn publish_state(&mut self) {
        let mut changed = false;
        {
            let mut state = self.upstream.lock_state();
            // Read even without state clients, so that they do not pile up (the state keeps
            // a bounded number unread).
            while state.poll_change().is_some() {
                changed = true;
            }
        }
        if self.state_regs == 0 || !changed {
            return;
        }
        let now = self.upstream.state_json();
        let update = match &self.state_view {
            Some(before) => envelope::state_update(before, &now),
            None => now.clone(),
        };
        self.state_view = Some(now);
        if update.is_empty() {
            return;
        }
        let item = StreamItem {
            kind: "state",
            data: envelope::state(&self.upstream.name, None, Some(&update)).into(),
        };
        for index in 0..self.regs.len() {
            let Some(reg) = self.regs[index].as_mut() else {
                continue;
            };
            if !reg.state || reg.needs_snapshot {
                continue;
            }
            match offer(reg, item.clone(), &self.upstream, self.limits.max_lagged) {
                Offer::Sent => {}
                // Its copy of the state misses this update: a whole snapshot comes after the gap.
                Offer::Dropped => reg.needs_snapshot = true,
                Offer::Remove => self.remove(index),
            }
        }
    }

    /// Offers the current state whole to the clients that need it (new ones whose first did
    /// not fit, and those that missed an update). Called on the loop's tick, not per batch:
    /// each offer to a full queue counts as one more missed message in its lag marker.
    fn send_snapshots(&mut self) {
        if !self.regs.iter().flatten().any(|r| r.needs_snapshot) {
            return;
        }
        let view = self
            .state_view
            .get_or_insert_with(|| self.upstream.state_json());
        let data: Utf8Bytes = envelope::state(&self.upstream.name, Some(view), None).into();
        for index in 0..self.regs.len() {
            let Some(reg) = self.regs[index].as_mut() else {
                continue;
            };
            if !reg.needs_snapshot {
                continue;
            }
            let item = StreamItem {
                kind: "state",
                data: data.clone(),
            };
            match reg.tx.try_send(item) {
                Ok(()) => reg.needs_snapshot = false,
                Err(TrySendError::Full { .. }) => {}
                Err(_) => self.remove(index),
            }
        }
    }

    /// An event as a stream message.
    fn render(&self, event: &Message) -> Utf8Bytes {
        envelope::event(&self.upstream.name, event).into()
    }

    fn fan_out(&mut self, lower_name: &[u8], event: &Message) {
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
        if let Offer::Remove = offer(reg, item, &self.upstream, self.limits.max_lagged) {
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
            events,
            state,
        } = registration;
        // Its gaps are told by the queue, in place, naming this server.
        let server = self.upstream.name.clone();
        let tx = tx.with_lagged(move |missed| lag_item(&server, missed));
        // The state first, right after `hello` (docs/gateway.md): a client draws its panels
        // from it before it reads the backlog, which only fills its log.
        let mut needs_snapshot = false;
        if state {
            self.state_regs += 1;
            // Current: every change so far was published as it was read (the view is made
            // now if this is the first state client).
            let view = self
                .state_view
                .get_or_insert_with(|| self.upstream.state_json());
            let item = StreamItem {
                kind: "state",
                data: envelope::state(&self.upstream.name, Some(view), None).into(),
            };
            needs_snapshot = tx.try_send(item).is_err();
        }
        if backlog > 0 {
            // The most recent matching events, oldest first, before anything live.
            let matching: Vec<&UpEvent> = self
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
        if !events {
            // In no group: no event reaches it.
        } else if filter.names.is_empty() {
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
        self.regs[index] = Some(Reg {
            filter,
            tx,
            client,
            events,
            state,
            needs_snapshot,
        });
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
        if reg.state {
            self.state_regs -= 1;
            if self.state_regs == 0 {
                // Not kept for nobody: the next state client gets a fresh one.
                self.state_view = None;
            }
        }
        if !reg.events {
            // It joined no group.
        } else if reg.filter.names.is_empty() {
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

fn lag_item(server: &str, missed: u64) -> StreamItem {
    StreamItem {
        kind: "lagged",
        data: Envelope::Lagged {
            server,
            missed,
            upstream: false,
        }
        .render()
        .into(),
    }
}

/// What became of an item offered to a client.
enum Offer {
    Sent,
    /// Dropped: the client's queue was full.
    Dropped,
    /// The client left or was evicted: its registration should go.
    Remove,
}

/// Offers one item to one client without waiting. A full queue drops the item and counts it
/// (the queue tells the gap with a lag message in place), and a client that has missed more
/// than `max_lagged` messages is told to disconnect.
fn offer(reg: &mut Reg, item: StreamItem, upstream: &Upstream, max_lagged: u64) -> Offer {
    let metrics = &upstream.metrics;
    match reg.tx.try_send(item) {
        Ok(()) => return Offer::Sent,
        Err(TrySendError::Full { missed }) => {
            if missed == 1 {
                metrics.stream_lagged.fetch_add(1, Ordering::Relaxed);
            }
        }
        Err(_) => return Offer::Remove,
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
        return Offer::Remove;
    }
    Offer::Dropped
}
