//! The fleet's acceptance test: 4 simulated PBXes with calls running, 2 bridge instances in
//! child processes sharing them through leases, one durable JetStream consumer. One instance
//! is killed (SIGKILL) mid-run; the other takes its PBXes within the lease TTL plus a login,
//! and the consumer sees every PBX's events in order, once each, with each gap marked.
//!
//! The instances are this test binary run again (`bridge_instance` below, with the
//! configuration in environment variables), so a kill is a real process kill.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ami_bridge::Config;
use ami_bridge::config::StreamConfig;
use ami_client::Client;
use ami_proto::Action;
use ami_sim::{SimConfig, SimHandle};
use async_nats::jetstream;
use async_nats::jetstream::consumer::{AckPolicy, pull};
use futures_util::StreamExt;
use serde_json::Value;

use crate::nats::NatsServer;

const TTL_MS: u64 = 2_000;
const PBXES: usize = 4;

const ENV_CONFIG: &str = "AMI_FLEET_TEST_CONFIG";
const ENV_NATS: &str = "AMI_FLEET_TEST_NATS";
const ENV_INSTANCE: &str = "AMI_FLEET_TEST_INSTANCE";

/// One bridge instance, as a child process of the fleet test: serves the configuration
/// until SIGTERM (a graceful stop), or for at most a minute so that it never outlives a
/// test that died without stopping it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a bridge instance that the fleet test runs in a child process"]
async fn bridge_instance() {
    let (Ok(path), Ok(url), Ok(instance)) = (
        std::env::var(ENV_CONFIG),
        std::env::var(ENV_NATS),
        std::env::var(ENV_INSTANCE),
    ) else {
        eprintln!(
            "nothing to do: the fleet test runs this with {ENV_CONFIG}, {ENV_NATS} and {ENV_INSTANCE}"
        );
        return;
    };
    let mut config = Config::load(Path::new(&path)).expect("the fleet test's config");
    config.fleet.instance = Some(instance);
    let nats = ami_bridge::nats::connect(&url, &config.nats)
        .await
        .expect("NATS");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    ami_bridge::run(&config, nats, async move {
        tokio::select! {
            _ = term.recv() => {}
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
    })
    .await
    .expect("the bridge runs");
}

/// A child bridge instance, killed if the test ends without stopping it.
struct Instance {
    id: String,
    child: Child,
}

impl Instance {
    fn spawn(id: &str, config: &Path, nats: &str) -> Self {
        let exe = std::env::current_exe().expect("the test binary");
        let child = Command::new(exe)
            .args([
                "fleet::bridge_instance",
                "--exact",
                "--ignored",
                "--test-threads=1",
            ])
            .env(ENV_CONFIG, config)
            .env(ENV_NATS, nats)
            .env(ENV_INSTANCE, id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("a child bridge instance");
        Self {
            id: id.to_owned(),
            child,
        }
    }

    fn signal(&self, which: &str) {
        let status = Command::new("kill")
            .args([which, &self.child.id().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill {which}");
    }

    /// Waits (at most `limit`) for the process to end; whether it did.
    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn write_config(dir: &Path, sims: &[SimHandle]) -> PathBuf {
    let mut text = format!("[fleet]\nlease_ttl_ms = {TTL_MS}\n");
    for (i, sim) in sims.iter().enumerate() {
        text.push_str(&format!(
            "[[servers]]\nname = \"pbx.{}\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"admin\"\nsecret = \"amp111\"\n",
            i + 1,
            sim.addr().port()
        ));
    }
    Config::parse(&text).expect("a valid config");
    let path = dir.join("bridge.toml");
    std::fs::write(&path, text).expect("write the config");
    path
}

/// The lease holders by server name (live entries only).
async fn owners(kv: &jetstream::kv::Store) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for i in 1..=PBXES {
        let name = format!("pbx.{i}");
        if let Ok(Some(entry)) = kv.entry(ami_bridge::subject::lease_key(&name)).await
            && entry.operation == jetstream::kv::Operation::Put
        {
            out.insert(name, String::from_utf8_lossy(&entry.value).into_owned());
        }
    }
    out
}

/// One message as the durable consumer received it.
#[derive(Debug, Clone)]
struct Received {
    server: String,
    kind: String,
    epoch: u64,
    seq: u64,
    body: Value,
}

impl Received {
    /// The generator's counter, for its UserEvents.
    fn counter(&self) -> Option<u64> {
        if self.kind == "event" && self.body["UserEvent"] == "FleetTick" {
            self.body["Counter"].as_str().and_then(|c| c.parse().ok())
        } else {
            None
        }
    }
}

/// Reads (and acknowledges) messages from the durable consumer into `received` until
/// `done` holds for them, or panics after `limit`.
async fn receive_until(
    messages: &mut pull::Stream,
    received: &mut Vec<Received>,
    what: &str,
    limit: Duration,
    done: &dyn Fn(&[Received]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done(received) {
        let message = match tokio::time::timeout_at(deadline, messages.next()).await {
            Ok(Some(Ok(message))) => message,
            Ok(other) => panic!("the consumer ended: {other:?}"),
            Err(_) => panic!(
                "timed out waiting for {what}; last received: {:#?}",
                received.iter().rev().take(3).collect::<Vec<_>>()
            ),
        };
        let headers = message.headers.clone().unwrap_or_default();
        let header = |name: &str| {
            headers
                .get(name)
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default()
        };
        received.push(Received {
            server: header("Ami-Server"),
            kind: header("Ami-Kind"),
            epoch: header("Ami-Epoch").parse().expect("Ami-Epoch"),
            seq: header("Ami-Seq").parse().expect("Ami-Seq"),
            body: serde_json::from_slice(&message.payload).expect("JSON body"),
        });
        message.ack().await.expect("ack");
    }
}

/// Sends `UserEvent: FleetTick` with `Counter: 1, 2, 3 ...` to one PBX until `stop`; the
/// counter of the last one the PBX accepted is in `sent`.
async fn generate(port: u16, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let client =
        Client::connect(ami_client::Config::new("127.0.0.1", "admin", "amp111").port(port))
            .await
            .expect("the generator logs in");
    let mut counter = 0u64;
    while !stop.load(Ordering::Relaxed) {
        counter += 1;
        client
            .send(
                Action::new("UserEvent")
                    .header("UserEvent", "FleetTick")
                    .header("Counter", counter.to_string()),
            )
            .await
            .expect("the PBX takes the UserEvent");
        sent.store(counter, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_s_pbxes_are_taken_over_and_every_gap_is_marked() {
    let started = Instant::now();
    let nats = NatsServer::start();
    let mut sims = Vec::new();
    for _ in 0..PBXES {
        sims.push(
            ami_sim::spawn(SimConfig {
                demo_calls: true,
                calls_per_second: Some(4.0),
                ..SimConfig::default()
            })
            .await
            .expect("simulator"),
        );
    }
    let dir = std::env::temp_dir().join(format!("ami-bridge-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let config_path = write_config(&dir, &sims);

    // The stream and the durable consumer exist before any bridge publishes.
    let client = nats.client().await;
    let js = jetstream::new(client.clone());
    ami_bridge::nats::ensure_stream(&js, &StreamConfig::default())
        .await
        .expect("stream");
    let consumer: jetstream::consumer::PullConsumer = js
        .get_stream("AMI")
        .await
        .expect("stream")
        .get_or_create_consumer(
            "fleet-test",
            pull::Config {
                durable_name: Some("fleet-test".into()),
                ack_policy: AckPolicy::Explicit,
                ..Default::default()
            },
        )
        .await
        .expect("durable consumer");
    let mut messages = consumer.messages().await.expect("message stream");
    let mut received: Vec<Received> = Vec::new();

    // Deal the PBXes out (pbx.1 and pbx.2 to a, the others to b) by writing the leases as
    // if each instance held them already: an instance that finds its own id in a lease takes
    // it back. (Were a child slow to start, a lease would expire first and go to whoever
    // came first; the test holds either way.)
    let config = Config::load(&config_path).expect("config");
    let (kv, bucket_ttl) = ami_bridge::nats::ensure_leases(&js, &config.fleet)
        .await
        .expect("the lease bucket");
    assert_eq!(bucket_ttl, Duration::from_millis(TTL_MS));
    for i in 1..=PBXES {
        let owner = if i <= PBXES / 2 {
            "bridge-a"
        } else {
            "bridge-b"
        };
        kv.create(
            ami_bridge::subject::lease_key(&format!("pbx.{i}")),
            owner.into(),
        )
        .await
        .expect("seed a lease");
    }

    let ttl = Duration::from_millis(TTL_MS);
    let mut a = Instance::spawn("bridge-a", &config_path, &nats.url());
    let mut b = Instance::spawn("bridge-b", &config_path, &nats.url());
    // Every PBX owned and logged in, its state published.
    receive_until(
        &mut messages,
        &mut received,
        "every PBX's login and state",
        Duration::from_secs(10),
        &|all| all.iter().filter(|m| m.kind == "state").count() == PBXES,
    )
    .await;
    let before = owners(&kv).await;
    assert_eq!(before.len(), PBXES, "{before:?}");
    // Exactly one owner per PBX: each PBX logged in once, by the instance holding its lease.
    for (server, owner) in &before {
        let logins: Vec<&Received> = received
            .iter()
            .filter(|m| &m.server == server && m.kind == "connection")
            .collect();
        assert_eq!(logins.len(), 1, "{server}: {logins:?}");
        assert_eq!(logins[0].body["instance"], owner.as_str());
        assert_eq!(logins[0].body["takeover"], true);
    }

    // The UserEvents the consumer must see, with a known count per PBX.
    let stop = Arc::new(AtomicBool::new(false));
    let sent: Vec<Arc<AtomicU64>> = (0..PBXES).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let generators: Vec<_> = sims
        .iter()
        .zip(&sent)
        .map(|(sim, sent)| tokio::spawn(generate(sim.addr().port(), stop.clone(), sent.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    // Kill the instance that owns more PBXes (a if they tie): a real SIGKILL, no goodbye.
    let a_owns = before.values().filter(|o| **o == a.id).count();
    let (victim, survivor) = if a_owns * 2 >= PBXES {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    let orphaned: Vec<String> = before
        .iter()
        .filter(|(_, owner)| **owner == victim.id)
        .map(|(server, _)| server.clone())
        .collect();
    assert!(!orphaned.is_empty());
    victim.signal("-KILL");
    let killed_at = now_ms();
    assert!(victim.wait(Duration::from_secs(5)).is_some());
    let victim_id = victim.id.clone();
    let survivor_id = survivor.id.clone();

    // The survivor takes each orphaned PBX over: a takeover marker naming the victim, and the
    // PBX's state, in a new epoch.
    receive_until(
        &mut messages,
        &mut received,
        "the takeovers",
        ttl + Duration::from_secs(8),
        &|all| {
            orphaned.iter().all(|server| {
                all.iter().any(|m| {
                    &m.server == server
                        && m.kind == "state"
                        && all.iter().any(|c| {
                            c.server == m.server
                                && c.epoch == m.epoch
                                && c.kind == "connection"
                                && c.body["instance"] == survivor_id.as_str()
                        })
                })
            })
        },
    )
    .await;
    let after = owners(&kv).await;
    assert!(after.values().all(|o| *o == survivor_id), "{after:?}");
    assert_eq!(after.len(), PBXES);
    for server in &orphaned {
        let takeover = received
            .iter()
            .find(|m| {
                &m.server == server
                    && m.kind == "connection"
                    && m.body["instance"] == survivor_id.as_str()
            })
            .expect("the takeover marker");
        assert_eq!(takeover.body["state"], "connected");
        assert_eq!(takeover.body["takeover"], true);
        assert_eq!(takeover.body["previous_owner"], victim_id.as_str());
        assert_eq!(takeover.seq, 1);
        // Published again within the TTL plus a login (the epoch is the login's time).
        let delay = takeover.epoch.saturating_sub(killed_at);
        assert!(
            delay <= TTL_MS + 1_500,
            "{server} taken over {delay} ms after the kill (TTL {TTL_MS} ms)"
        );
        eprintln!("{server}: taken over {delay} ms after the kill (TTL {TTL_MS} ms)");
        // Its state follows the marker in the same epoch, with the calls running.
        let state = received
            .iter()
            .find(|m| &m.server == server && m.kind == "state" && m.epoch == takeover.epoch)
            .expect("the state");
        assert_eq!(state.body["epoch"], takeover.epoch);
        assert!(state.body["state"]["calls"].is_array(), "{state:?}");
        assert!(
            !state.body["state"]["channels"]
                .as_object()
                .expect("channels")
                .is_empty(),
            "calls are running: {state:?}"
        );
    }

    // Some more events after the takeover, then the generators stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for generator in generators {
        generator.await.expect("generator");
    }
    let totals: Vec<u64> = sent.iter().map(|s| s.load(Ordering::Relaxed)).collect();
    receive_until(
        &mut messages,
        &mut received,
        "every PBX's last UserEvent",
        Duration::from_secs(10),
        &|all| {
            (0..PBXES).all(|i| {
                let server = format!("pbx.{}", i + 1);
                all.iter()
                    .any(|m| m.server == server && m.counter() == Some(totals[i]))
            })
        },
    )
    .await;

    for (i, total) in totals.iter().enumerate() {
        let server = format!("pbx.{}", i + 1);
        let mine: Vec<&Received> = received.iter().filter(|m| m.server == server).collect();
        assert!(*total > 50, "{server}: only {total} UserEvents");
        // In order within each epoch, each message once; every epoch opened by a marker.
        let mut last_seq: HashMap<u64, u64> = HashMap::new();
        let mut epochs: Vec<u64> = Vec::new();
        for m in &mine {
            let previous = last_seq.insert(m.epoch, m.seq);
            match previous {
                Some(previous) => assert!(m.seq > previous, "{server}: {m:?} after seq {previous}"),
                None => {
                    assert_eq!(
                        (m.kind.as_str(), m.seq),
                        ("connection", 1),
                        "{server}: {m:?}"
                    );
                    assert_eq!(m.body["state"], "connected");
                    if let Some(last) = epochs.last() {
                        assert!(m.epoch > *last, "{server}: epochs out of order");
                    }
                    epochs.push(m.epoch);
                }
            }
            assert_ne!(m.kind, "lagged", "{server}: nothing is dropped here: {m:?}");
        }
        // The UserEvents of each epoch: counters without a hole, and no counter twice.
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for epoch in &epochs {
            let counters: Vec<u64> = mine
                .iter()
                .filter(|m| m.epoch == *epoch)
                .filter_map(|m| m.counter())
                .collect();
            if let (Some(first), Some(last)) = (counters.first(), counters.last()) {
                assert_eq!(
                    counters,
                    (*first..=*last).collect::<Vec<_>>(),
                    "{server}: a hole or a duplicate inside epoch {epoch}"
                );
                runs.push((*first, *last));
            }
        }
        // Between epochs, the missing counters are exactly the marked gap; outside it the
        // count equals what was sent. The generator started after every login, so counting
        // starts at 1.
        assert_eq!(runs.first().map(|r| r.0), Some(1), "{server}: {runs:?}");
        assert_eq!(runs.last().map(|r| r.1), Some(*total), "{server}: {runs:?}");
        for pair in runs.windows(2) {
            assert!(pair[1].0 > pair[0].1, "{server}: epochs overlap: {runs:?}");
        }
        let seen: u64 = runs.iter().map(|(first, last)| last - first + 1).sum();
        let gap: u64 = runs.windows(2).map(|p| p[1].0 - p[0].1 - 1).sum();
        assert_eq!(seen + gap, *total);
        if orphaned.contains(&server) {
            assert_eq!(epochs.len(), 2, "{server}: one takeover: {epochs:?}");
            eprintln!("{server}: {seen} of {total} UserEvents, {gap} in the takeover gap");
        } else {
            // The survivor's own PBXes were never interrupted.
            assert_eq!(epochs.len(), 1, "{server}: {epochs:?}");
            assert_eq!(seen, *total, "{server}");
        }
    }

    // A graceful stop hands every lease back at once (deleted, not left to expire) after
    // closing each epoch with a marker.
    survivor.signal("-TERM");
    let status = survivor
        .wait(Duration::from_secs(10))
        .expect("the survivor stops");
    assert!(status.success(), "{status:?}");
    assert!(owners(&kv).await.is_empty());
    for i in 1..=PBXES {
        let entry = kv
            .entry(ami_bridge::subject::lease_key(&format!("pbx.{i}")))
            .await
            .expect("read")
            .expect("a delete marker");
        assert_eq!(entry.operation, jetstream::kv::Operation::Delete);
    }
    receive_until(
        &mut messages,
        &mut received,
        "the closing markers",
        Duration::from_secs(5),
        &|all| {
            all.iter()
                .filter(|m| m.kind == "connection" && m.body["state"] == "disconnected")
                .count()
                == PBXES
        },
    )
    .await;

    for sim in sims {
        sim.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_graceful_stop_hands_the_pbx_over_at_once() {
    let nats = NatsServer::start();
    let sim = ami_sim::spawn(SimConfig::default())
        .await
        .expect("simulator");
    // A 6 s TTL: the waiting instance looks at the lease every 2 s by itself, so taking over
    // well within that is the watch seeing the delete.
    let fleet = |id: &str| format!("[fleet]\nlease_ttl_ms = 6000\ninstance = \"{id}\"\n");
    let a = ami_bridge::Bridge::start(
        &crate::publish::config_for(&[&sim], &fleet("a")),
        nats.client().await,
    )
    .await
    .expect("bridge a");
    let js = jetstream::new(nats.client().await);
    crate::publish::wait_for(&js, "a's login and state", |all| {
        all.iter().any(|m| m.get("Ami-Kind") == "state")
    })
    .await;
    assert_eq!(a.stats().owned.load(Ordering::Relaxed), 1);
    let b = ami_bridge::Bridge::start(
        &crate::publish::config_for(&[&sim], &fleet("b")),
        nats.client().await,
    )
    .await
    .expect("bridge b");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // b waits: it neither owns nor publishes anything.
    assert_eq!(b.stats().owned.load(Ordering::Relaxed), 0);
    assert_eq!(b.stats().stored.load(Ordering::Relaxed), 0);

    let stopped = Instant::now();
    a.stop().await;
    while b.stats().owned.load(Ordering::Relaxed) == 0 {
        assert!(
            stopped.elapsed() < Duration::from_secs(5),
            "b never took the PBX"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let handover = stopped.elapsed();
    assert!(handover < Duration::from_millis(1_000), "{handover:?}");
    let all = crate::publish::wait_for(&js, "b's login and state", |all| {
        all.iter().filter(|m| m.get("Ami-Kind") == "state").count() == 2
    })
    .await;
    let markers: Vec<&crate::publish::Stored> = all
        .iter()
        .filter(|m| m.get("Ami-Kind") == "connection")
        .collect();
    // a's epoch is closed before b's opens, and b's says whose it was.
    assert_eq!(markers.len(), 3, "{markers:?}");
    assert_eq!(markers[0].body["instance"], "a");
    assert_eq!(markers[1].body["state"], "disconnected");
    assert_eq!(markers[1].num("Ami-Epoch"), markers[0].num("Ami-Epoch"));
    assert_eq!(markers[2].body["instance"], "b");
    assert_eq!(markers[2].body["takeover"], true);
    assert_eq!(markers[2].body["previous_owner"], "a");
    assert!(markers[2].num("Ami-Epoch") > markers[1].num("Ami-Epoch"));
    b.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_lease_written_by_another_stops_publishing_at_once_until_it_expires() {
    let nats = NatsServer::start();
    let sim = ami_sim::spawn(SimConfig::default())
        .await
        .expect("simulator");
    let config =
        crate::publish::config_for(&[&sim], "[fleet]\nlease_ttl_ms = 2000\ninstance = \"a\"\n");
    let a = ami_bridge::Bridge::start(&config, nats.client().await)
        .await
        .expect("bridge");
    let js = jetstream::new(nats.client().await);
    crate::publish::wait_for(&js, "the login and state", |all| {
        all.iter().any(|m| m.get("Ami-Kind") == "state")
    })
    .await;
    let kv = js.get_key_value("ami-bridge-leases").await.expect("bucket");
    // Someone else writes the key: a's next renewal (within TTL/3) finds another revision.
    let written = Instant::now();
    kv.put(ami_bridge::subject::lease_key("pbx.1"), "intruder".into())
        .await
        .expect("put");
    while a.stats().owned.load(Ordering::Relaxed) == 1 {
        assert!(
            written.elapsed() < Duration::from_millis(1_500),
            "a still owns"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let at_loss = crate::publish::stored(&js).await.len();
    // Events now reach nobody: a logged off and publishes nothing for the PBX.
    sim.emit_events(50);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(written.elapsed() < Duration::from_millis(2_000));
    assert_eq!(crate::publish::stored(&js).await.len(), at_loss);
    assert_eq!(sim.open_connections(), 0);

    // The intruder never renews: its key expires after the TTL, and a takes the PBX back in
    // a new epoch, naming the intruder as the previous owner.
    let all = crate::publish::wait_for(&js, "a's second takeover", |all| {
        all.iter()
            .any(|m| m.get("Ami-Kind") == "connection" && m.body["previous_owner"] == "intruder")
    })
    .await;
    assert!(written.elapsed() >= Duration::from_millis(2_000));
    let markers: Vec<&crate::publish::Stored> = all
        .iter()
        .filter(|m| m.get("Ami-Kind") == "connection")
        .collect();
    assert_eq!(
        markers.len(),
        2,
        "no closing marker after a loss: {markers:?}"
    );
    assert!(markers[1].num("Ami-Epoch") > markers[0].num("Ami-Epoch"));
    assert_eq!(a.stats().acquired.load(Ordering::Relaxed), 2);
    a.stop().await;
    sim.shutdown().await;
}
