//! A live state of the PBX attached to a [`Client`]: an [`ami_state::State`] kept from the
//! client's events by a task of its own, resynchronised with the list actions the server's
//! version has at attach, after every reconnect and after every gap, with queries (calls,
//! queues, agents, parked calls, device and extension states) and actions on its objects.
//!
//! ```
//! use ami_client::{Client, Config, live::LiveState};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let sim = ami_sim::spawn(ami_sim::SimConfig { demo_calls: true, ..Default::default() }).await?;
//! # let (host, port) = (sim.addr().ip().to_string(), sim.addr().port());
//! let client = Client::connect(Config::new(host, "admin", "amp111").port(port)).await?;
//! let live = LiveState::attach(&client).await?;
//! let snapshot = live.snapshot();
//! println!("{} calls, {} queues", snapshot.calls.len(), snapshot.queues.len());
//! if let Some(queue) = live.with(|state| state.queue("support").cloned()) {
//!     println!("{} callers waiting in {}", queue.callers.len(), queue.name);
//! }
//! for agent in live.agents().values() {
//!     println!("agent {} ({}): {}", agent.id, agent.name, agent.status);
//! }
//! assert!(live.verify().await?.is_empty());
//! # client.close().await;
//! # sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ami_proto::{Action, Message};
use ami_state::{Agent, Change, Difference, ExtensionState, ListKind, ParkedCall, Snapshot, State};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::{Client, EventItem, Reply, Result, Subscriber, Subscription};

/// How many changes a slow change subscriber may fall behind before it misses some.
const CHANGE_BUFFER: usize = 4096;

struct Shared {
    state: Mutex<State>,
    /// Whether the upstream connection is up, as the last connection item said.
    connected: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A handler that panicked leaves a state that is still a state; keep serving it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The live state of one PBX, kept by a background task until dropped.
pub struct LiveState {
    client: Client,
    shared: Arc<Shared>,
    changes: broadcast::Sender<Change>,
    generation: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for LiveState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveState").finish_non_exhaustive()
    }
}

impl Drop for LiveState {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The items of every list of `plan`, fetched in order; `None` for a list the server
/// refused (an error response: its module is not loaded, or the user may not run it).
async fn fetch_lists(
    client: &Client,
    plan: &[ListKind],
) -> Result<Vec<(ListKind, Option<Vec<Message>>)>> {
    let mut lists = Vec::with_capacity(plan.len());
    for kind in plan {
        let items = match client.send(Action::new(kind.action())).await {
            Ok(Reply::List(list)) => Some(list.items),
            Ok(_) => None,
            // The server answered `Response: Error`: it has no such list here.
            Err(error) if error.server_message().is_some() => None,
            Err(error) => return Err(error),
        };
        lists.push((*kind, items));
    }
    Ok(lists)
}

impl LiveState {
    /// Subscribes to the client's events, resyncs with the lists the server's version has
    /// (from the AMI version of its banner: CoreShowChannels, QueueStatus, Agents and
    /// ParkedCalls everywhere, BridgeList, DeviceStateList and ExtensionStateList on 12 and
    /// later; only the first two when the version is unknown) and starts the task that keeps
    /// the state. Fails if the first resync fails; a list the server refuses is not a failure
    /// (that part is kept from events alone).
    pub async fn attach(client: &Client) -> Result<LiveState> {
        Self::attach_with(client, Subscription::all()).await
    }

    /// As [`LiveState::attach`], with the subscription the state reads its events from (its
    /// buffer size, say). A subscription that filters events out makes the state wrong.
    pub async fn attach_with(client: &Client, subscription: Subscription) -> Result<LiveState> {
        // Subscribed before the lists are asked for: no event between them is missed.
        let subscriber = client.subscribe(subscription);
        let state = match ami_state::version_from_ami(&client.ami_version()) {
            Some(version) => State::for_version(version),
            None => State::new(),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            connected: AtomicBool::new(true),
        });
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        let (generation_tx, generation) = watch::channel(0u64);
        let (first_tx, first) = oneshot::channel();
        // The first resync is the task's too: its events are read while its lists come.
        let task = tokio::spawn(keep(
            client.clone(),
            subscriber,
            Arc::clone(&shared),
            changes.clone(),
            generation_tx,
            first_tx,
        ));
        // Dropped on failure, and that ends the task.
        let live = LiveState {
            client: client.clone(),
            shared,
            changes,
            generation,
            task,
        };
        match first.await {
            Ok(Ok(())) => Ok(live),
            Ok(Err(error)) => Err(error),
            // The task ended before its first resync: the client's events ended (closed).
            Err(_) => Err(crate::Error::new(crate::error::Kind::Closed)),
        }
    }

    /// A copy of the whole state.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.lock().snapshot()
    }

    /// Runs `f` on the state (queries: a queue by name, a channel, the calls), under its lock.
    pub fn with<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.shared.lock())
    }

    /// Every change from now on. A receiver that falls more than 4,096 changes behind gets
    /// `RecvError::Lagged` and should read a fresh [`LiveState::snapshot`].
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// A counter that moves whenever the state changes: what a screen waits on to redraw.
    pub fn generation(&self) -> watch::Receiver<u64> {
        self.generation.clone()
    }

    /// Whether the client's connection is up (the state is kept across reconnects and resynced
    /// after each).
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// The agents, by id.
    pub fn agents(&self) -> BTreeMap<String, Agent> {
        self.with(|state| state.agents().clone())
    }

    /// An agent by id (`1001`, or its interface `Agent/1001`).
    pub fn agent(&self, id: &str) -> Option<Agent> {
        self.with(|state| state.agent(id).cloned())
    }

    /// The parked calls, by `lot:space`.
    pub fn parked(&self) -> BTreeMap<String, ParkedCall> {
        self.with(|state| state.parked().clone())
    }

    /// A device's state (`NOT_INUSE`, `INUSE`, `RINGING` …) by device name (`PJSIP/100`).
    pub fn device_state(&self, device: &str) -> Option<String> {
        self.with(|state| state.device_state(device).map(str::to_owned))
    }

    /// An extension's state (hint, status number and text) by extension and context.
    pub fn extension_state(&self, exten: &str, context: &str) -> Option<ExtensionState> {
        self.with(|state| state.extension_state(exten, context).cloned())
    }

    /// Compares the state with fresh list actions: every difference (empty when exact).
    /// Parts whose list the server refuses are not compared.
    pub async fn verify(&self) -> Result<Vec<Difference>> {
        let plan = self.with(State::resync_plan);
        let lists: Vec<(ListKind, Vec<Message>)> = fetch_lists(&self.client, plan)
            .await?
            .into_iter()
            .filter_map(|(kind, items)| Some((kind, items?)))
            .collect();
        let lists = State::from_lists(&lists);
        Ok(self.shared.lock().verify(&lists))
    }

    /// The differences that persist over `rounds` comparisons `pause` apart: under a steady
    /// call load a call may change between reading the lists and comparing them; a real drift
    /// stays. Stops early once nothing is left.
    pub async fn verify_settled(
        &self,
        rounds: usize,
        pause: std::time::Duration,
    ) -> Result<Vec<Difference>> {
        let mut differences = self.verify().await?;
        for _ in 1..rounds {
            if differences.is_empty() {
                break;
            }
            tokio::time::sleep(pause).await;
            let now = self.verify().await?;
            differences.retain(|d| now.contains(d));
        }
        Ok(differences)
    }

    fn channel_name(&self, uniqueid: &str) -> Option<String> {
        self.with(|state| state.channel(uniqueid).map(|c| c.name.clone()))
    }

    /// Hangs up a channel of the state, by Uniqueid. `Ok(false)` if it is not (or no longer)
    /// up.
    pub async fn hangup(&self, uniqueid: &str) -> Result<bool> {
        let Some(name) = self.channel_name(uniqueid) else {
            return Ok(false);
        };
        self.client
            .send(Action::new("Hangup").header("Channel", name))
            .await?;
        Ok(true)
    }

    /// Sends a channel of the state to `context,exten,priority`. `Ok(false)` if it is not up.
    pub async fn redirect(
        &self,
        uniqueid: &str,
        context: &str,
        exten: &str,
        priority: &str,
    ) -> Result<bool> {
        let Some(name) = self.channel_name(uniqueid) else {
            return Ok(false);
        };
        self.client
            .send(
                Action::new("Redirect")
                    .header("Channel", name)
                    .header("Context", context)
                    .header("Exten", exten)
                    .header("Priority", priority),
            )
            .await?;
        Ok(true)
    }

    /// Pauses or unpauses a queue member (by its interface) in one queue.
    pub async fn pause_member(&self, queue: &str, interface: &str, paused: bool) -> Result<()> {
        self.client
            .send(
                Action::new("QueuePause")
                    .header("Queue", queue)
                    .header("Interface", interface)
                    .header("Paused", if paused { "true" } else { "false" }),
            )
            .await?;
        Ok(())
    }
}

/// The lists of one resync, or why fetching them failed.
type Fetched = Result<Vec<(ListKind, Option<Vec<Message>>)>>;

/// After a resync failed on a connection that is still up (a list timed out), the next try
/// waits this long; a dropped connection instead resyncs at its reconnect.
const RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// The resyncs of the keeping task. Each fetches its lists in a task of its own, so the task
/// goes on reading events meanwhile (the state journals them): under load a resync that
/// stopped reading would overflow the subscription's buffer, and the gap would ask for
/// another resync, for ever.
struct Resyncs {
    client: Client,
    reports: mpsc::UnboundedSender<(u64, Fetched)>,
    received: mpsc::UnboundedReceiver<(u64, Fetched)>,
    /// The current job; reports of an earlier one (restarted after another gap) are dropped.
    job: u64,
    task: Option<JoinHandle<()>>,
}

impl Resyncs {
    fn new(client: Client) -> Resyncs {
        let (reports, received) = mpsc::unbounded_channel();
        Resyncs {
            client,
            reports,
            received,
            job: 0,
            task: None,
        }
    }

    /// Starts a resync after `delay`, replacing one under way: its lists may predate the gap
    /// that asked for this one.
    fn start(&mut self, shared: &Shared, delay: std::time::Duration) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.job += 1;
        let plan = {
            let mut state = shared.lock();
            state.begin_resync();
            state.resync_plan()
        };
        let (client, reports, job) = (self.client.clone(), self.reports.clone(), self.job);
        self.task = Some(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = reports.send((job, fetch_lists(&client, plan).await));
        }));
    }

    /// The current job's lists once fetched; pending while none is under way. Cancel-safe.
    async fn next(&mut self) -> Fetched {
        loop {
            // `self` holds a sender: the channel never closes.
            let Some((job, fetched)) = self.received.recv().await else {
                return std::future::pending().await;
            };
            if job == self.job {
                self.task = None;
                return fetched;
            }
        }
    }
}

impl Drop for Resyncs {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Hands a resync's lists to the state: each replaces its part, then the events journaled
/// since the resync began are applied again on top.
fn apply_lists(state: &mut State, lists: &[(ListKind, Option<Vec<Message>>)]) {
    for (kind, items) in lists {
        match items {
            Some(items) => state.handle_list(*kind, items),
            None => state.handle_list_refused(*kind),
        }
    }
}

/// The task: applies events, resyncs after a reconnect or a gap, publishes changes.
async fn keep(
    client: Client,
    mut subscriber: Subscriber,
    shared: Arc<Shared>,
    changes: broadcast::Sender<Change>,
    generation: watch::Sender<u64>,
    first: oneshot::Sender<Result<()>>,
) {
    let mut resyncs = Resyncs::new(client);
    resyncs.start(&shared, std::time::Duration::ZERO);
    // Told how the first resync went (`attach` fails with it), then dropped.
    let mut first = Some(first);
    let mut batch = Vec::with_capacity(256);
    loop {
        batch.clear();
        let mut resync_after = None;
        let mut changed = false;
        tokio::select! {
            received = subscriber.recv_many(&mut batch, 256) => {
                if received == 0 {
                    return;
                }
                if apply_items(&shared, &batch) {
                    resync_after = Some(std::time::Duration::ZERO);
                }
            }
            fetched = resyncs.next() => {
                let fetched = match (fetched, first.take()) {
                    (Err(error), Some(first)) => {
                        let _ = first.send(Err(error));
                        return;
                    }
                    (fetched, waiting) => {
                        first = waiting;
                        fetched
                    }
                };
                changed = true;
                let mut state = shared.lock();
                match fetched {
                    Ok(lists) => {
                        apply_lists(&mut state, &lists);
                        // More events came during it than the journal keeps: once more.
                        if state.needs_resync() {
                            resync_after = Some(std::time::Duration::ZERO);
                        }
                        // Told once the lists are in: `attach` returns a state that holds them.
                        if let Some(first) = first.take() {
                            let _ = first.send(Ok(()));
                        }
                    }
                    // A dropped connection resyncs at its reconnect (its own Connected item).
                    Err(_) if !shared.connected.load(Ordering::Relaxed) => {}
                    Err(_) => resync_after = Some(RETRY_DELAY),
                }
            }
        }
        if let Some(delay) = resync_after {
            resyncs.start(&shared, delay);
            changed = true;
        }
        let mut state = shared.lock();
        while let Some(change) = state.poll_change() {
            changed = true;
            // No receiver is fine: changes are for those who ask.
            let _ = changes.send(change);
        }
        drop(state);
        if changed {
            generation.send_modify(|g| *g += 1);
        }
    }
}

/// Applies a batch of subscription items to the state; whether they ask for a resync (a
/// reconnect, a gap, a skipped packet, or a server restart the state saw).
fn apply_items(shared: &Shared, batch: &[EventItem]) -> bool {
    let mut needs_resync = false;
    let mut state = shared.lock();
    for item in batch {
        match item {
            EventItem::Event(event) => state.handle_event(event.message()),
            EventItem::Lagged(_) => needs_resync = true,
            EventItem::Connection(crate::ConnectionState::Connected { .. }) => {
                shared.connected.store(true, Ordering::Relaxed);
                needs_resync = true;
            }
            EventItem::Connection(_) => shared.connected.store(false, Ordering::Relaxed),
            // A skipped packet may have been an event the state needed.
            EventItem::Skipped(_) => needs_resync = true,
            // No predicate here to panic; nothing else changes the PBX.
            _ => {}
        }
    }
    needs_resync | state.take_resync_request()
}
