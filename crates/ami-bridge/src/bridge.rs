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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ami_client::{Buffer, Client, Subscription};
use ami_gateway::ServerConfig;
use ami_gateway::auth::ActionRules;
use async_nats::jetstream;
use async_nats::jetstream::context::PublishAckFuture;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::config::{Config, PublishConfig};
use crate::error::Error;
use crate::publish::{Outgoing, Sequencer};

/// Counters of one bridge, for logs and tests.
#[derive(Debug, Default)]
pub struct Stats {
    /// Messages JetStream acknowledged as stored.
    pub stored: AtomicU64,
    /// Messages JetStream acknowledged as duplicates (a republish it had already stored).
    pub duplicates: AtomicU64,
    /// Messages given up after every retry (each counted in a `lagged` marker).
    pub lost: AtomicU64,
}

/// A running bridge: one publisher per PBX of its configuration.
pub struct Bridge {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    stats: Arc<Stats>,
}

impl Bridge {
    /// Creates the stream if it is missing, then starts serving every server of `config`
    /// over `nats`. PBXes that cannot be reached yet are retried in the background.
    pub async fn start(config: &Config, nats: async_nats::Client) -> Result<Self, Error> {
        let js = jetstream::new(nats.clone());
        crate::nats::ensure_stream(&js, &config.stream).await?;
        let (stop, _) = watch::channel(false);
        let stats = Arc::new(Stats::default());
        let mut tasks = Vec::new();
        for server in &config.servers {
            let span = info_span!("pbx", server = %server.name);
            let pbx = Pbx {
                server: server.clone(),
                nats: nats.clone(),
                publish: config.publish,
                actions: config.actions.clone(),
                stats: stats.clone(),
                stop: stop.subscribe(),
            };
            tasks.push(tokio::spawn(pbx.run().instrument(span)));
        }
        Ok(Self { stop, tasks, stats })
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Stops gracefully: each PBX gets a last `connection` marker, its acknowledgements are
    /// awaited, and it is logged off.
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
    stop: watch::Receiver<bool>,
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
                _ = self.stop.wait_for(|stop| *stop) => return,
                attempt = Client::connect_subscribed(config.clone(), subscription.clone()) => attempt,
            };
            match attempt {
                Ok(pair) => break pair,
                Err(error) => {
                    warn!(%error, retry_in = ?delay, "cannot log in");
                    tokio::select! {
                        _ = self.stop.wait_for(|stop| *stop) => return,
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
        let mut sequencer = Sequencer::new(self.server.name.clone());
        let mut batch = Vec::with_capacity(256);
        loop {
            let received = tokio::select! {
                biased;
                _ = self.stop.wait_for(|stop| *stop) => break,
                received = events.recv_many(&mut batch, 256) => received,
            };
            if received == 0 {
                break;
            }
            let missed = lost.swap(0, Ordering::Relaxed);
            if missed > 0 {
                let marker = sequencer.lagged(missed, "publish_failed");
                publish(&js, &self.server.name, marker, &acks).await;
            }
            for item in batch.drain(..) {
                if let Some(out) = sequencer.handle_item(&item, now_ms()) {
                    publish(&js, &self.server.name, out, &acks).await;
                }
            }
        }
        responder.abort();
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

fn headers(server: &str, out: &Outgoing) -> async_nats::HeaderMap {
    let mut map = async_nats::HeaderMap::new();
    for (name, value) in out.headers(server) {
        map.insert(name, value.as_str());
    }
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
