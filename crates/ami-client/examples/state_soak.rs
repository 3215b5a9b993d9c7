//! The live state's soak, long form (the suite runs a few seconds of it: `live::soak_*` in
//! `tests/it/live.rs`). A simulator places calls at a steady rate (plain calls, Local chains
//! that optimise themselves away, queue calls, parked and retrieved calls, blind and attended
//! transfers); the state reads them through a 32-event buffer, a consumer holds the state's
//! lock on purpose now and then so that the buffer overflows (a `Lagged` gap, then a resync),
//! and the simulator restarts every few checkpoints. At every checkpoint `verify()` must find
//! no difference that persists; any that does is printed and the run exits with status 1.
//!
//! ```sh
//! cargo run --release -p ami-client --example state_soak -- --profile 1.8 --seconds 600
//! ```
//!
//! Options: `--profile 22|13|11|1.8` (default 22), `--seconds N` (default 60), `--rate R`
//! calls per second (default 20), `--checkpoint-ms N` between checkpoints (default 2000),
//! `--restart-every N` checkpoints (default 5; 0: never).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ami_client::live::LiveState;
use ami_client::{Backoff, Buffer, Client, Config, EventItem, Subscription};
use ami_sim::{Profile, SimConfig};

/// The run's settings, from the command line.
struct Settings {
    profile: Profile,
    seconds: u64,
    rate: f64,
    checkpoint: Duration,
    restart_every: u64,
}

fn settings() -> Result<Settings, String> {
    let mut settings = Settings {
        profile: Profile::V22,
        seconds: 60,
        rate: 20.0,
        checkpoint: Duration::from_millis(2_000),
        restart_every: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--profile" => settings.profile = value.parse().map_err(|e| bad(&e))?,
            "--seconds" => settings.seconds = value.parse().map_err(|e| bad(&e))?,
            "--rate" => settings.rate = value.parse().map_err(|e| bad(&e))?,
            "--checkpoint-ms" => {
                settings.checkpoint = Duration::from_millis(value.parse().map_err(|e| bad(&e))?)
            }
            "--restart-every" => settings.restart_every = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(settings)
}

/// Events counted to show what the run exercised.
const COUNTED: &[&str] = &[
    "BlindTransfer",
    "AttendedTransfer",
    "LocalOptimizationEnd",
    "Masquerade",
    "ParkedCall",
    "UnParkedCall",
    "QueueCallerJoin",
    "Join",
    "Hangup",
];

/// Waits until the client has started a reconnect since `reconnects` and an action succeeds
/// (on the new connection); an error after 30 s.
async fn reconnected(client: &Client, reconnects: u64) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if client.metrics().reconnects > reconnects
            && client.send(ami_client::Action::new("Ping")).await.is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err("no reconnect within 30 s of the restart".into())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let settings = match settings() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("state_soak: {message}");
            return Ok(ExitCode::from(2));
        }
    };
    let sim = ami_sim::spawn(SimConfig {
        profile: settings.profile,
        demo_calls: true,
        calls_per_second: Some(settings.rate),
        ..SimConfig::default()
    })
    .await?;
    let config = Config::new("127.0.0.1", "admin", "amp111")
        .port(sim.addr().port())
        .reconnect(Some(Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(200),
        }));
    let client = Client::connect(config).await?;
    let live =
        LiveState::attach_with(&client, Subscription::all().buffer(Buffer::Events(32))).await?;
    // A second, roomy subscriber counts what the run exercised.
    let mut counter = client.subscribe(Subscription::all().buffer(Buffer::Events(100_000)));
    let counts = tokio::spawn(async move {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        while let Some(item) = counter.recv().await {
            if let EventItem::Event(event) = item {
                let name = event.name();
                if COUNTED.contains(&name.as_ref()) {
                    *counts.entry(name.into_owned()).or_default() += 1;
                }
            }
        }
        counts
    });
    // Resyncs (after the restarts and after each gap the slow consumer causes).
    let mut changes = live.changes();
    let resyncs = tokio::spawn(async move {
        let mut resyncs = 0u64;
        loop {
            match changes.recv().await {
                Ok(ami_state::Change::Resynced) => resyncs += 1,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break resyncs,
            }
        }
    });
    let started = Instant::now();
    let (mut checkpoints, mut failed) = (0u64, 0u64);
    while started.elapsed() < Duration::from_secs(settings.seconds) {
        tokio::time::sleep(settings.checkpoint).await;
        checkpoints += 1;
        // The slow consumer: nothing is applied while the lock is held.
        live.with(|_| std::thread::sleep(Duration::from_millis(400)));
        if settings.restart_every > 0 && checkpoints % settings.restart_every == 0 {
            let reconnects = client.metrics().reconnects;
            sim.restart();
            // Compared only once the client is logged in again: on a loaded machine 500 ms
            // was not always enough, and the check's list actions failed on the dropped
            // connection instead of comparing anything.
            reconnected(&client, reconnects).await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let differences = live.verify_settled(4, Duration::from_millis(300)).await?;
        let channels = live.with(|state| state.channels().len());
        println!(
            "{:>6.1}s checkpoint {checkpoints}: {channels} channels, {} difference(s)",
            started.elapsed().as_secs_f64(),
            differences.len()
        );
        if !differences.is_empty() {
            failed += 1;
            for difference in &differences {
                println!("    {difference}");
            }
        }
    }
    client.close().await;
    sim.shutdown().await;
    let counts = counts.await.unwrap_or_default();
    // The state (and its change stream) ends with the last handle.
    drop(live);
    let resyncs = tokio::time::timeout(Duration::from_secs(5), resyncs)
        .await
        .ok()
        .and_then(Result::ok);
    println!(
        "{:?}: {checkpoints} checkpoints, {failed} with differences, {} resyncs; events: {counts:?}",
        settings.profile,
        resyncs.map_or("?".to_owned(), |n| n.to_string()),
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
