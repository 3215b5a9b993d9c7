//! Events from a simulated PBX into JetStream: order, headers, deduplication, epochs.

use std::time::{Duration, Instant};

use ami_bridge::{Bridge, Config};
use ami_client::{Client, EventItem, Subscription};
use ami_sim::{SimConfig, SimHandle};
use async_nats::jetstream;
use serde_json::Value;

use crate::nats::NatsServer;

/// A bridge config for `sims`, named `pbx.1`, `pbx.2` ... (a '.' that the subject must not
/// keep), plus `extra` TOML.
pub fn config_for(sims: &[&SimHandle], extra: &str) -> Config {
    let mut text = format!("{extra}\n");
    for (i, sim) in sims.iter().enumerate() {
        text.push_str(&format!(
            "[[servers]]\nname = \"pbx.{}\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"admin\"\nsecret = \"amp111\"\n",
            i + 1,
            sim.addr().port()
        ));
    }
    Config::parse(&text).expect("valid bridge config")
}

/// One stored message, as a consumer reads it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub subject: String,
    pub header: std::collections::HashMap<String, String>,
    pub body: Value,
}

impl Stored {
    pub fn get(&self, name: &str) -> &str {
        self.header.get(name).map_or("", String::as_str)
    }
    pub fn num(&self, name: &str) -> u64 {
        self.get(name)
            .parse()
            .unwrap_or_else(|_| panic!("{name} in {self:?}"))
    }
}

/// Every message of the stream, in stream order.
pub async fn stored(js: &jetstream::Context) -> Vec<Stored> {
    let mut stream = js.get_stream("AMI").await.expect("the stream exists");
    let last = stream.info().await.expect("info").state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        let Ok(message) = stream.get_raw_message(seq).await else {
            continue;
        };
        let mut header = std::collections::HashMap::new();
        for (name, values) in message.headers.iter() {
            header.insert(name.to_string(), values[0].to_string());
        }
        out.push(Stored {
            subject: message.subject.to_string(),
            header,
            body: serde_json::from_slice(&message.payload).expect("JSON body"),
        });
    }
    out
}

/// Waits (at most 20 s) until `done` holds for the stored messages, and returns them.
pub async fn wait_for(
    js: &jetstream::Context,
    what: &str,
    done: impl Fn(&[Stored]) -> bool,
) -> Vec<Stored> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if js.get_stream("AMI").await.is_ok() {
            let all = stored(js).await;
            if done(&all) {
                return all;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; stored: {:#?}",
                    all.iter().rev().take(5).collect::<Vec<_>>()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A NATS server, the simulator of `sim_config`, a bridge for it with `extra` TOML, and the
/// JetStream context, once the bridge's login is stored.
pub async fn logged_in_bridge(
    sim_config: SimConfig,
    extra: &str,
) -> (NatsServer, SimHandle, Bridge, jetstream::Context) {
    let nats = NatsServer::start();
    let sim = ami_sim::spawn(sim_config).await.expect("simulator");
    let bridge = Bridge::start(&config_for(&[&sim], extra), nats.client().await)
        .await
        .expect("bridge");
    let js = jetstream::new(nats.client().await);
    wait_for(&js, "the login", |all| !all.is_empty()).await;
    (nats, sim, bridge, js)
}

fn count(all: &[Stored], kind: &str) -> usize {
    all.iter().filter(|m| m.get("Ami-Kind") == kind).count()
}

#[tokio::test]
async fn events_reach_jetstream_in_order_with_their_headers_once_each() {
    let nats = NatsServer::start();
    let sim = ami_sim::spawn(SimConfig::default())
        .await
        .expect("simulator");
    let config = config_for(&[&sim], "");
    let bridge = Bridge::start(&config, nats.client().await)
        .await
        .expect("bridge");
    let js = jetstream::new(nats.client().await);
    // The stream was created, with the bridge's subjects and not the action requests'.
    let info = js
        .get_stream("AMI")
        .await
        .expect("created")
        .info()
        .await
        .expect("info")
        .clone();
    assert_eq!(info.config.subjects, ami_bridge::subject::stream_subjects());
    wait_for(&js, "the connection marker", |all| {
        count(all, "connection") == 1
    })
    .await;

    // A direct client sees the same events, in the PBX's order.
    let direct = Client::connect(
        ami_client::Config::new("127.0.0.1", "admin", "amp111").port(sim.addr().port()),
    )
    .await
    .expect("direct client");
    let mut subscriber = direct.subscribe(Subscription::all());
    const N: usize = 500;
    sim.emit_events(N as u64);
    let mut expected = Vec::new();
    while expected.len() < N {
        match tokio::time::timeout(Duration::from_secs(10), subscriber.recv()).await {
            Ok(Some(EventItem::Event(event))) => {
                expected.push(Value::Object(ami_json::message_to_json(event.message())))
            }
            Ok(Some(_)) => {}
            other => panic!("direct subscriber: {other:?}"),
        }
    }
    let all = wait_for(&js, "the emitted events", |all| count(all, "event") >= N).await;

    // Every message of the one epoch, markers included, numbered 1, 2, 3 ... with its id.
    let epoch = all[0].num("Ami-Epoch");
    assert_eq!(all[0].get("Ami-Kind"), "connection");
    assert_eq!(all[0].subject, "ami.pbx_1.connection");
    assert_eq!(all[0].body["state"], "connected");
    for (i, message) in all.iter().enumerate() {
        assert_eq!(message.get("Ami-Server"), "pbx.1");
        assert_eq!(message.num("Ami-Epoch"), epoch);
        assert_eq!(message.num("Ami-Seq"), i as u64 + 1, "{message:?}");
        assert_eq!(
            message.get("Nats-Msg-Id"),
            format!("pbx.1/{epoch}/{}", i + 1)
        );
        if message.get("Ami-Kind") == "event" {
            let name = message.get("Ami-Event");
            assert_eq!(message.body["Event"], name);
            assert_eq!(message.subject, format!("ami.pbx_1.event.{name}"));
        }
    }
    // The last N events are the PBX's, in its order.
    let events: Vec<Value> = all
        .iter()
        .filter(|m| m.get("Ami-Kind") == "event")
        .map(|m| m.body.clone())
        .collect();
    assert_eq!(events[events.len() - N..], expected[..]);
    assert_eq!(count(&all, "lagged"), 0);

    // A republish of a stored message (same Nats-Msg-Id) is stored once.
    let first_event = all
        .iter()
        .find(|m| m.get("Ami-Kind") == "event")
        .expect("an event");
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", first_event.get("Nats-Msg-Id"));
    let ack = js
        .publish_with_headers(
            first_event.subject.clone(),
            headers,
            serde_json::to_vec(&first_event.body).expect("json").into(),
        )
        .await
        .expect("publish")
        .await
        .expect("ack");
    assert!(ack.duplicate, "{ack:?}");
    assert_eq!(stored(&js).await.len(), all.len());
    assert_eq!(
        bridge
            .stats()
            .lost
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );

    direct.close().await;
    bridge.stop().await;
    // A graceful stop closes the epoch with a marker.
    let last = stored(&js).await.pop().expect("messages");
    assert_eq!(last.get("Ami-Kind"), "connection");
    assert_eq!(last.body["state"], "disconnected");
    assert_eq!(last.num("Ami-Epoch"), epoch);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_pbx_reconnect_is_marked_and_starts_a_new_epoch() {
    let nats = NatsServer::start();
    let sim = ami_sim::spawn(SimConfig::default())
        .await
        .expect("simulator");
    let config = config_for(&[&sim], "");
    let bridge = Bridge::start(&config, nats.client().await)
        .await
        .expect("bridge");
    let js = jetstream::new(nats.client().await);
    wait_for(&js, "the first login", |all| count(all, "connection") == 1).await;
    sim.emit_events(10);
    wait_for(&js, "events", |all| count(all, "event") >= 10).await;
    sim.restart();
    let all = wait_for(&js, "the drop and the new login", |all| {
        count(all, "connection") == 3
    })
    .await;
    let markers: Vec<&Stored> = all
        .iter()
        .filter(|m| m.get("Ami-Kind") == "connection")
        .collect();
    let (first, down, up) = (markers[0], markers[1], markers[2]);
    assert_eq!(first.body["state"], "connected");
    assert_eq!(down.body["state"], "disconnected");
    assert_eq!(down.num("Ami-Epoch"), first.num("Ami-Epoch"));
    assert_eq!(up.body["state"], "connected");
    assert!(up.num("Ami-Epoch") > first.num("Ami-Epoch"), "{up:?}");
    assert_eq!(up.num("Ami-Seq"), 1);
    assert_eq!(up.body["epoch"], up.num("Ami-Epoch"));
    // Events after the new login carry the new epoch, numbered on from its marker.
    sim.emit_events(5);
    let all = wait_for(&js, "events of the new epoch", |all| {
        all.iter()
            .filter(|m| m.get("Ami-Kind") == "event" && m.num("Ami-Epoch") == up.num("Ami-Epoch"))
            .count()
            >= 5
    })
    .await;
    let new: Vec<u64> = all
        .iter()
        .filter(|m| m.num("Ami-Epoch") == up.num("Ami-Epoch"))
        .map(|m| m.num("Ami-Seq"))
        .collect();
    assert_eq!(new, (1..=new.len() as u64).collect::<Vec<_>>());
    bridge.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_stalled_nats_server_costs_events_only_where_a_lagged_marker_says_so() {
    let nats = NatsServer::start();
    let sim = ami_sim::spawn(SimConfig::default())
        .await
        .expect("simulator");
    // A tiny queue and window, so that a stall overflows at once.
    let config = config_for(&[&sim], "[publish]\nqueue = 8\nin_flight = 1\n");
    let bridge = Bridge::start(&config, nats.client().await)
        .await
        .expect("bridge");
    let js = jetstream::new(nats.client().await);
    // The login's own events (FullyBooted, SuccessfulAuth) come before its state snapshot.
    let before = wait_for(&js, "the login and its state", |all| {
        count(all, "connection") == 1 && count(all, "state") == 1
    })
    .await;
    let events_before = count(&before, "event");
    nats.pause();
    const N: u64 = 2_000;
    sim.emit_events(N);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    nats.resume();
    let all = wait_for(&js, "the events and the lag", |all| {
        let missed: u64 = all
            .iter()
            .filter(|m| m.get("Ami-Kind") == "lagged")
            .map(|m| m.body["missed"].as_u64().unwrap_or(0))
            .sum();
        (count(all, "event") - events_before) as u64 + missed >= N
    })
    .await;
    let lagged: Vec<&Stored> = all
        .iter()
        .filter(|m| m.get("Ami-Kind") == "lagged")
        .collect();
    assert!(!lagged.is_empty());
    assert!(
        lagged.iter().all(|m| m.body["reason"] == "queue_full"),
        "{lagged:?}"
    );
    let missed: u64 = lagged
        .iter()
        .map(|m| m.body["missed"].as_u64().unwrap_or(0))
        .sum();
    // Every emitted event is either stored or counted missing, never both.
    assert_eq!((count(&all, "event") - events_before) as u64 + missed, N);
    assert!(missed > 0 && missed < N, "{missed}");
    // Still one epoch, numbered without a hole: the marker takes the place of the lost events.
    let seqs: Vec<u64> = all.iter().map(|m| m.num("Ami-Seq")).collect();
    assert_eq!(seqs, (1..=all.len() as u64).collect::<Vec<_>>());
    bridge.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn events_the_queue_drops_are_counted_lost_as_the_lagged_markers_say() {
    let nats = NatsServer::start();
    let sim = ami_sim::spawn(SimConfig::default())
        .await
        .expect("simulator");
    // A tiny queue and window: while NATS is frozen the queue overflows at once.
    let config = config_for(&[&sim], "[publish]\nqueue = 8\nin_flight = 1\n");
    let bridge = Bridge::start(&config, nats.client().await)
        .await
        .expect("bridge");
    let js = jetstream::new(nats.client().await);
    let before = wait_for(&js, "the login and its state", |all| {
        count(all, "connection") == 1 && count(all, "state") == 1
    })
    .await;
    let events_before = count(&before, "event");
    let lost = || {
        bridge
            .stats()
            .lost
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!(lost(), 0);
    nats.pause();
    const N: u64 = 3_000;
    sim.emit_events(N);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    nats.resume();
    let missed_in = |all: &[Stored]| -> u64 {
        all.iter()
            .filter(|m| m.get("Ami-Kind") == "lagged")
            .map(|m| m.body["missed"].as_u64().unwrap_or(0))
            .sum()
    };
    let all = wait_for(&js, "the events and the lag", |all| {
        (count(all, "event") - events_before) as u64 + missed_in(all) >= N
    })
    .await;
    let missed = missed_in(&all);
    assert!(count(&all, "lagged") > 0);
    assert!(missed > 0 && missed < N, "{missed}");
    // The counter says what the markers say: every dropped event, no more.
    assert_eq!(lost(), missed);
    bridge.stop().await;
    sim.shutdown().await;
}
