//! The thin tokio layer: one task per PBX that logs in with ami-client, turns each
//! subscriber item into a message ([`crate::publish::Sequencer`]) and publishes it, and one
//! task per PBX that awaits JetStream's acknowledgements in order and republishes what was not
//! acknowledged.
//!
//! The AMI reader never waits for NATS: ami-client hands events to the bridge's subscriber
//! through its lossy bounded queue (`publish.queue` events), and a full queue drops the
//! newest events and tells the bridge how many, which it publishes as a `lagged` marker at
//! that place. The publisher itself waits only for a place among the `publish.in_flight`
//! unacknowledged messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ami_client::live::LiveState;
use ami_client::{Buffer, Client, EventItem, Subscription};
use ami_gateway::ServerConfig;
use ami_gateway::auth::ActionRules;
use async_nats::HeaderName;
use async_nats::jetstream;
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::kv;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::config::{Config, PublishConfig};
use crate::error::Error;
use crate::lease::{Failure, Lease, LeaseEvent, Request};
use crate::publish::{Outgoing, Sequencer};
use crate::subject;

/// Counters of one bridge, for logs and tests.
#[derive(Debug, Default)]
pub struct Stats {
    /// Messages JetStream acknowledged as stored.
    pub stored: AtomicU64,
    /// Messages JetStream acknowledged as duplicates (a republish it had already stored).
    pub duplicates: AtomicU64,
    /// Events missing from the stream, each counted in a `lagged` marker where the gap is:
    /// dropped by the bounded queue between the AMI reader and the publisher, undecodable, or
    /// given up after every retry.
    pub lost: AtomicU64,
    /// PBXes whose lease this instance holds now.
    pub owned: AtomicU64,
    /// Leases acquired so far.
    pub acquired: AtomicU64,
}

/// A running bridge: one lease holder per PBX of its configuration, each serving its PBX
/// while it holds the lease.
pub struct Bridge {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    stats: Arc<Stats>,
    instance: String,
}

/// Why a PBX's publisher stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// It does not stop.
    Run,
    /// The bridge stops: close the epoch with a marker and wait for the acknowledgements.
    Graceful,
    /// The lease is lost: another instance may be publishing already, so nothing more.
    Lost,
}

/// This process's default instance id: host name, process id and start time, unique
/// among running instances.
fn default_instance() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "bridge".into());
    format!("{host}-{}-{}", std::process::id(), now_ms())
}

impl Bridge {
    /// Creates the stream and the lease bucket if they are missing, then starts a lease
    /// holder for every server of `config` over `nats`: each PBX whose lease this instance
    /// gets is served (PBXes that cannot be reached yet are retried in the background).
    pub async fn start(config: &Config, nats: async_nats::Client) -> Result<Self, Error> {
        let js = jetstream::new(nats.clone());
        crate::nats::ensure_stream(&js, &config.stream).await?;
        let (store, ttl) = crate::nats::ensure_leases(&js, &config.fleet).await?;
        let instance = config
            .fleet
            .instance
            .clone()
            .unwrap_or_else(default_instance);
        info!(%instance, lease_ttl = ?ttl, "bridge instance");
        let (stop, _) = watch::channel(false);
        let stats = Arc::new(Stats::default());
        let mut tasks = Vec::new();
        for server in &config.servers {
            let span = info_span!("pbx", server = %server.name);
            let holder = Holder {
                server: server.clone(),
                nats: nats.clone(),
                publish: config.publish,
                actions: config.actions.clone(),
                stats: stats.clone(),
                stop: stop.subscribe(),
                store: store.clone(),
                instance: instance.clone(),
                ttl,
            };
            tasks.push(tokio::spawn(holder.run().instrument(span)));
        }
        Ok(Self {
            stop,
            tasks,
            stats,
            instance,
        })
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// This instance's id (the value of the leases it holds).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Stops gracefully: each PBX it owns gets a last `connection` marker, its
    /// acknowledgements are awaited, it is logged off, and then its lease is deleted so that
    /// another instance takes it over at once.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Runs a bridge until `shutdown` completes, then stops it gracefully.
pub async fn run(
    config: &Config,
    nats: async_nats::Client,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    let bridge = Bridge::start(config, nats).await?;
    shutdown.await;
    bridge.stop().await;
    Ok(())
}

/// Holds (or waits for) one PBX's lease: the thin tokio layer over [`Lease`], which starts
/// the PBX's publisher when the lease is acquired and stops it when it is lost.
struct Holder {
    server: ServerConfig,
    nats: async_nats::Client,
    publish: PublishConfig,
    actions: ActionRules,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
    store: kv::Store,
    instance: String,
    ttl: Duration,
}

/// A running publisher and how to stop it.
struct Serving {
    stop: watch::Sender<Stop>,
    task: JoinHandle<()>,
}

impl Serving {
    async fn stop(self, why: Stop, stats: &Stats) {
        let _ = self.stop.send(why);
        let _ = self.task.await;
        stats.owned.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Holder {
    async fn run(mut self) {
        let key = subject::lease_key(&self.server.name);
        let mut lease = Lease::new(self.instance.clone(), self.ttl, Instant::now());
        let mut serving: Option<Serving> = None;
        let mut stopping = false;
        // A graceful stop deletes the key: watching it lets a waiting instance take over at
        // once rather than at its next look. Without a watch, the periodic look still works.
        let mut watch = match self.store.watch(&key).await {
            Ok(watch) => Some(watch),
            Err(error) => {
                debug!(%error, "cannot watch the lease; looking at it periodically only");
                None
            }
        };
        loop {
            if self.act(&mut lease, &mut serving).await {
                return;
            }
            if let Some(request) = lease.poll_request(Instant::now()) {
                let store = self.store.clone();
                let (key, instance) = (key.clone(), self.instance.clone());
                let limit = self.ttl / 3;
                let perform = tokio::time::timeout(limit, perform(store, key, instance, request));
                tokio::pin!(perform);
                // The timer keeps running while the request is out: a renewal that hangs
                // must not extend the belief.
                loop {
                    let deadline = lease.poll_timeout().map(tokio::time::Instant::from_std);
                    tokio::select! {
                        result = &mut perform => {
                            let now = Instant::now();
                            let answer = result.unwrap_or(Answer::Failed);
                            match (request, answer) {
                                (Request::Read, Answer::Read(entry)) => lease.handle_read(now, Ok(entry)),
                                (Request::Read, _) => lease.handle_read(now, Err(Failure::Failed)),
                                (Request::Write { .. }, Answer::Written(revision)) => lease.handle_written(now, Ok(revision)),
                                (Request::Write { .. }, Answer::Conflict) => lease.handle_written(now, Err(Failure::Conflict)),
                                (Request::Write { .. }, _) => lease.handle_written(now, Err(Failure::Failed)),
                                (Request::Delete { .. }, _) => lease.handle_deleted(now),
                            }
                            break;
                        }
                        () = sleep_until(deadline) => {
                            lease.handle_timeout(Instant::now());
                            if self.act(&mut lease, &mut serving).await {
                                return;
                            }
                        }
                    }
                }
                continue;
            }
            let deadline = lease.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                () = stop_requested(&mut self.stop), if !stopping => {
                    stopping = true;
                    // Publishing ends (with its last marker) before the lease is deleted, so
                    // the next owner's epoch starts after this one's last message.
                    if let Some(running) = serving.take() {
                        running.stop(Stop::Graceful, &self.stats).await;
                    }
                    lease.handle_stop(Instant::now());
                }
                () = sleep_until(deadline) => lease.handle_timeout(Instant::now()),
                change = next_change(&mut watch), if watch.is_some() => match change {
                    Some(Ok(entry)) if entry.operation != kv::Operation::Put => {
                        lease.handle_vacated(Instant::now());
                    }
                    Some(_) => {}
                    None => watch = None,
                },
            }
        }
    }

    /// Acts on the lease's events; `true` once it is released.
    async fn act(&self, lease: &mut Lease, serving: &mut Option<Serving>) -> bool {
        while let Some(event) = lease.poll_event() {
            match event {
                LeaseEvent::Acquired { previous } => {
                    info!(previous_owner = ?previous, "lease acquired; serving");
                    self.stats.acquired.fetch_add(1, Ordering::Relaxed);
                    self.stats.owned.fetch_add(1, Ordering::Relaxed);
                    let (stop, receiver) = watch::channel(Stop::Run);
                    let pbx = Pbx {
                        server: self.server.clone(),
                        nats: self.nats.clone(),
                        publish: self.publish,
                        actions: self.actions.clone(),
                        stats: self.stats.clone(),
                        stop: receiver,
                        sequencer: Sequencer::new(self.server.name.clone())
                            .with_owner(self.instance.clone(), previous),
                    };
                    let task = tokio::spawn(pbx.run().in_current_span());
                    *serving = Some(Serving { stop, task });
                }
                LeaseEvent::Lost(reason) => {
                    warn!(?reason, "lease lost; no longer serving");
                    if let Some(running) = serving.take() {
                        running.stop(Stop::Lost, &self.stats).await;
                    }
                }
                LeaseEvent::Released => {
                    debug!("lease released");
                    return true;
                }
            }
        }
        false
    }
}

/// Completes once the bridge is told to stop (or is gone).
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The next change of a watched key (`None`: the watch ended).
async fn next_change(watch: &mut Option<kv::Watch>) -> Option<Result<kv::Entry, kv::WatcherError>> {
    match watch {
        Some(watch) => futures_util::StreamExt::next(watch).await,
        None => None,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The outcome of one lease request.
enum Answer {
    Read(Option<crate::lease::Entry>),
    Written(u64),
    Conflict,
    Deleted,
    Failed,
}

/// Performs one lease request on the bucket.
async fn perform(store: kv::Store, key: String, instance: String, request: Request) -> Answer {
    match request {
        Request::Read => match store.entry(key).await {
            Ok(entry) => Answer::Read(entry.map(|entry| crate::lease::Entry {
                value: String::from_utf8_lossy(&entry.value).into_owned(),
                revision: entry.revision,
                live: entry.operation == kv::Operation::Put,
            })),
            Err(error) => {
                debug!(%error, "cannot read the lease");
                Answer::Failed
            }
        },
        Request::Write { revision } => {
            match store.update(key, Bytes::from(instance), revision).await {
                Ok(revision) => Answer::Written(revision),
                Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    Answer::Conflict
                }
                Err(error) => {
                    debug!(%error, "cannot write the lease");
                    Answer::Failed
                }
            }
        }
        Request::Delete { revision } => {
            match store.delete_expect_revision(key, Some(revision)).await {
                Ok(()) => Answer::Deleted,
                Err(error) => {
                    debug!(%error, "cannot delete the lease; it expires instead");
                    Answer::Failed
                }
            }
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// One message waiting for its acknowledgement (`None`: the publish itself failed).
struct Pending {
    out: Outgoing,
    ack: Option<PublishAckFuture>,
}

struct Pbx {
    server: ServerConfig,
    nats: async_nats::Client,
    publish: PublishConfig,
    actions: ActionRules,
    stats: Arc<Stats>,
    stop: watch::Receiver<Stop>,
    sequencer: Sequencer,
}

impl Pbx {
    async fn run(mut self) {
        let config = match self.server.client_config() {
            Ok(config) => config.action_id_prefix(format!("bridge-{}-", self.server.name)),
            Err(error) => {
                warn!(%error, "not served");
                return;
            }
        };
        let subscription = Subscription::all().buffer(Buffer::Events(self.publish.queue));
        // Until the first login; after it ami-client reconnects by itself.
        let mut delay = Duration::from_millis(500);
        let (client, mut events) = loop {
            let attempt = tokio::select! {
                biased;
                _ = self.stop.wait_for(|stop| *stop != Stop::Run) => return,
                attempt = Client::connect_subscribed(config.clone(), subscription.clone()) => attempt,
            };
            match attempt {
                Ok(pair) => break pair,
                Err(error) => {
                    warn!(%error, retry_in = ?delay, "cannot log in");
                    tokio::select! {
                        _ = self.stop.wait_for(|stop| *stop != Stop::Run) => return,
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        };
        info!(ami_version = %client.ami_version(), "logged in; publishing");
        let responder = tokio::spawn(
            {
                let (nats, server, client, rules) = (
                    self.nats.clone(),
                    self.server.name.clone(),
                    client.clone(),
                    self.actions.clone(),
                );
                async move {
                    if let Err(error) = crate::actions::serve(nats, server, client, rules).await {
                        warn!(%error, "actions are not served");
                    }
                }
            }
            .in_current_span(),
        );
        // Each PBX has its own window of unacknowledged publishes.
        let js = jetstream::ContextBuilder::new()
            .timeout(self.publish.ack_timeout())
            .max_ack_inflight(self.publish.in_flight)
            .backpressure_on_inflight(true)
            .build(self.nats.clone());
        let lost = Arc::new(AtomicU64::new(0));
        let (acks, pending) = mpsc::channel(self.publish.in_flight);
        let acker = tokio::spawn(
            acknowledge(
                pending,
                js.clone(),
                self.server.name.clone(),
                self.publish.retries,
                self.stats.clone(),
                lost.clone(),
            )
            .in_current_span(),
        );
        // The state of the PBX as this owner finds it, published once after the login's
        // marker: consumers learn what the PBX looks like after a gap.
        let (state_tx, mut state_rx) = oneshot::channel();
        let snapshot = tokio::spawn({
            let client = client.clone();
            async move {
                match LiveState::attach(&client).await {
                    Ok(live) => {
                        let _ = state_tx.send(serde_json::to_value(live.snapshot()).ok());
                    }
                    Err(error) => warn!(%error, "no state snapshot"),
                }
            }
        });
        let mut state_pending = true;
        let mut held_state = None;
        let mut sequencer = std::mem::replace(&mut self.sequencer, Sequencer::new(""));
        let mut batch = Vec::with_capacity(256);
        loop {
            // Held until the login's marker has opened the epoch it belongs to.
            if sequencer.epoch() != 0
                && let Some(state) = held_state.take()
            {
                let out = sequencer.state(state);
                publish(&js, &self.server.name, out, &acks).await;
            }
            let received = tokio::select! {
                biased;
                _ = self.stop.wait_for(|stop| *stop != Stop::Run) => break,
                received = events.recv_many(&mut batch, 256) => received,
                // After the events already queued: the snapshot was taken after they came.
                state = &mut state_rx, if state_pending => {
                    state_pending = false;
                    held_state = state.ok().flatten();
                    continue;
                }
            };
            if received == 0 {
                break;
            }
            let missed = lost.swap(0, Ordering::Relaxed);
            if missed > 0 {
                let marker = sequencer.lagged(missed, "publish_failed");
                publish(&js, &self.server.name, marker, &acks).await;
            }
            // One clock reading per batch: only a login's marker uses it.
            let now = now_ms();
            let (stats, server) = (&self.stats, &self.server.name);
            let publish_all = async {
                for item in batch.drain(..) {
                    // What the marker about to be published says is missing (the acker
                    // counts what JetStream never stored itself).
                    match &item {
                        EventItem::Lagged(missed) => {
                            stats.lost.fetch_add(*missed, Ordering::Relaxed);
                        }
                        EventItem::Skipped(_) => {
                            stats.lost.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                    if let Some(out) = sequencer.handle_item(&item, now) {
                        publish(&js, server, out, &acks).await;
                    }
                }
            };
            // A publish can wait for room among the unacknowledged (NATS slow or cut off,
            // often why the lease was lost): a loss must not wait for it. One watch per batch,
            // not per event: the rest of the batch is dropped with the future.
            let lease_lost = tokio::select! {
                biased;
                _ = self.stop.wait_for(|stop| *stop == Stop::Lost) => true,
                () = publish_all => false,
            };
            batch.clear();
            if lease_lost {
                break;
            }
        }
        responder.abort();
        snapshot.abort();
        if *self.stop.borrow() == Stop::Lost {
            // Another instance may own the PBX already: no marker, no republish.
            acker.abort();
            client.close().await;
            info!("stopped at once (lease lost)");
            return;
        }
        if sequencer.epoch() != 0 {
            let marker = sequencer.stopping();
            publish(&js, &self.server.name, marker, &acks).await;
        }
        drop(acks);
        let _ = acker.await;
        client.close().await;
        info!("stopped");
    }
}

/// The NATS headers of `out`, as [`Outgoing::headers`] lists them, built without the
/// intermediate list; the names are static (not parsed and copied per message).
fn headers(server: &str, out: &Outgoing) -> async_nats::HeaderMap {
    let name = HeaderName::from_static;
    let mut map = async_nats::HeaderMap::new();
    map.insert(name(subject::HEADER_SERVER), server);
    map.insert(name(subject::HEADER_KIND), out.kind.as_str());
    if let Some(event) = &out.event {
        map.insert(name(subject::HEADER_EVENT), event.as_str());
    }
    map.insert(name(subject::HEADER_EPOCH), out.epoch.to_string());
    map.insert(name(subject::HEADER_SEQ), out.seq.to_string());
    map.insert(name(subject::HEADER_MSG_ID), out.msg_id.as_str());
    map
}

/// Publishes `out` and hands its acknowledgement to the acker (which retries a failure).
async fn publish(
    js: &jetstream::Context,
    server: &str,
    out: Outgoing,
    acks: &mpsc::Sender<Pending>,
) {
    let ack = match js
        .publish_with_headers(out.subject.clone(), headers(server, &out), out.body.clone())
        .await
    {
        Ok(ack) => Some(ack),
        Err(error) => {
            debug!(%error, seq = out.seq, "publish failed; the acker retries it");
            None
        }
    };
    // Only fails once the acker is gone, at shutdown.
    let _ = acks.send(Pending { out, ack }).await;
}

/// Awaits acknowledgements in publication order; a message not acknowledged is republished
/// with the same `Nats-Msg-Id` (so JetStream stores it once) up to `retries` times, then
/// counted in `lost` for the publisher's next `lagged` marker.
async fn acknowledge(
    mut pending: mpsc::Receiver<Pending>,
    js: jetstream::Context,
    server: String,
    retries: u32,
    stats: Arc<Stats>,
    lost: Arc<AtomicU64>,
) {
    while let Some(Pending { out, ack }) = pending.recv().await {
        let mut result = match ack {
            Some(ack) => ack.await.map_err(|error| error.to_string()),
            None => Err("not sent".to_owned()),
        };
        let mut attempt = 0;
        while result.is_err() && attempt < retries {
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            result = match js
                .publish_with_headers(
                    out.subject.clone(),
                    headers(&server, &out),
                    out.body.clone(),
                )
                .await
            {
                Ok(ack) => ack.await.map_err(|error| error.to_string()),
                Err(error) => Err(error.to_string()),
            };
        }
        match result {
            Ok(ack) if ack.duplicate => {
                stats.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {
                stats.stored.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                warn!(%error, seq = out.seq, epoch = out.epoch, "JetStream did not store a message; it is counted in the next lagged marker");
                stats.lost.fetch_add(1, Ordering::Relaxed);
                lost.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_map_holds_exactly_the_listed_headers() {
        let mut sequencer = Sequencer::new("pbx.1");
        let mut buf = bytes::BytesMut::from(&b"Event: Hangup\r\nChannel: PJSIP/1-0001\r\n\r\n"[..]);
        let Ok(Some(ami_proto::Packet::Message(event))) =
            ami_proto::Decoder::new().decode(&mut buf)
        else {
            panic!("not a message");
        };
        let marker = sequencer.lagged(3, "queue_full");
        for out in [sequencer.handle_event(&event), marker] {
            let listed = out.headers("pbx.1");
            let map = headers("pbx.1", &out);
            assert_eq!(map.iter().count(), listed.len(), "{map:?}");
            for (name, value) in listed {
                assert_eq!(
                    map.get(name).map(|value| value.as_str()),
                    Some(value.as_str()),
                    "{name}"
                );
            }
        }
    }
}
