//! `ami state [--verify]`: the live state of the PBX (channels, calls, bridges, queues) built
//! with `ami-state` from list actions and events, printed once; `--verify` keeps it from
//! events for a while, then compares it with fresh lists and exits 1 on any difference.

use std::process::ExitCode;
use std::time::Duration;

use ami_client::{Action, Client, EventItem, Reply, Subscriber, Subscription};
use ami_state::{ListKind, State};
use anyhow::Context as _;
use serde_json::{Value, json};

use crate::output::{self, Document, Format};

/// Arguments of `ami state`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    ami state\n  \
    ami state -o json | jq '.calls | length'\n  \
    ami state --verify --watch 10s\n\n\
    The state comes from CoreShowChannels and QueueStatus, then from events. With --verify it\n\
    is kept from events for --watch, then compared with fresh lists; each difference is\n\
    printed and the exit status is 1 (a difference seen three times in a row, 0.5 s apart,\n\
    so that a call changing at that moment does not count).")]
pub struct Args {
    #[command(flatten)]
    pub common: crate::connect::Common,
    /// Build the state from events, then compare it with fresh list actions.
    #[arg(long)]
    pub verify: bool,
    /// With --verify: how long to follow events before comparing (30s, 500ms, 5m ...).
    #[arg(long, value_name = "D", default_value = "2s", value_parser = crate::cmd::events::parse_duration)]
    pub watch: Duration,
}

/// The items of each list of a resync, in the plan's order.
async fn fetch_lists(client: &Client) -> anyhow::Result<Vec<(ListKind, Vec<ami_client::Message>)>> {
    let mut lists = Vec::new();
    for kind in ami_state::RESYNC_PLAN {
        let reply = client
            .send(Action::new(kind.action()))
            .await
            .with_context(|| format!("{} failed", kind.action()))?;
        let items = match reply {
            Reply::List(list) => list.items,
            _ => Vec::new(),
        };
        lists.push((*kind, items));
    }
    Ok(lists)
}

/// Applies every event already received; a gap (lag, reconnect) starts a new resync.
fn drain(subscriber: &mut Subscriber, state: &mut State) -> bool {
    let mut gap = false;
    while let Ok(Some(item)) = subscriber.try_recv() {
        match item {
            EventItem::Event(event) => state.handle_event(event.message()),
            EventItem::Lagged(_) | EventItem::Connection(_) => gap = true,
        }
    }
    gap
}

/// Resyncs until one resync completes without a gap.
async fn resync(
    client: &Client,
    subscriber: &mut Subscriber,
    state: &mut State,
) -> anyhow::Result<()> {
    for _ in 0..5 {
        state.begin_resync();
        let lists = fetch_lists(client).await?;
        let gap = drain(subscriber, state);
        for (kind, items) in &lists {
            state.handle_list(*kind, items);
        }
        if !gap && !state.needs_resync() {
            return Ok(());
        }
    }
    anyhow::bail!(
        "the event stream kept falling behind during the resync; try again on a quieter moment"
    )
}

fn document(state: &State) -> Document {
    let snapshot = state.snapshot();
    // Oldest first: a Uniqueid is `<epoch seconds>.<sequence>`, compared as two numbers.
    let mut channels: Vec<&ami_state::Channel> = snapshot.channels.values().collect();
    channels.sort_by_key(|c| {
        let (seconds, sequence) = c.uniqueid.split_once('.').unwrap_or((&c.uniqueid, "0"));
        (
            seconds.parse::<u64>().unwrap_or(u64::MAX),
            sequence.parse::<u64>().unwrap_or(u64::MAX),
        )
    });
    let records: Vec<Value> = channels
        .into_iter()
        .map(|c| {
            json!({
                "Channel": c.name,
                "State": c.state_desc,
                "CallerID": if c.caller_id_name.is_empty() || c.caller_id_name == "<unknown>" {
                    c.caller_id_num.clone()
                } else {
                    format!("{} <{}>", c.caller_id_name, c.caller_id_num)
                },
                "Exten": c.exten,
                "Application": c.application,
                "Bridge": c.bridge.clone().unwrap_or_default(),
                "Uniqueid": c.uniqueid,
            })
        })
        .collect();
    let value = serde_json::to_value(&snapshot).unwrap_or(Value::Null);
    Document {
        value,
        records: Some(records),
    }
}

/// Builds the state, prints it (or verifies it).
pub async fn run(args: Args, client: &Client, format: Format) -> anyhow::Result<ExitCode> {
    let mut subscriber = client.subscribe(Subscription::all());
    let mut state = State::new();
    resync(client, &mut subscriber, &mut state).await?;
    if !args.verify {
        drain(&mut subscriber, &mut state);
        output::write_document(&mut std::io::stdout().lock(), format, &document(&state))?;
        return Ok(ExitCode::SUCCESS);
    }
    let deadline = tokio::time::Instant::now() + args.watch;
    loop {
        let item = tokio::select! {
            item = subscriber.recv() => item,
            () = tokio::time::sleep_until(deadline) => break,
        };
        match item {
            Some(EventItem::Event(event)) => state.handle_event(event.message()),
            Some(EventItem::Lagged(_) | EventItem::Connection(_)) => {
                resync(client, &mut subscriber, &mut state).await?;
            }
            None => anyhow::bail!("the connection to the server ended"),
        }
    }
    // A difference must persist: a call that changes while the lists are read is not one.
    let mut differences = Vec::new();
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if drain(&mut subscriber, &mut state) {
            resync(client, &mut subscriber, &mut state).await?;
        }
        let lists = State::from_lists(&fetch_lists(client).await?);
        drain(&mut subscriber, &mut state);
        let now: Vec<String> = state
            .verify(&lists)
            .iter()
            .map(ToString::to_string)
            .collect();
        differences = if attempt == 0 {
            now
        } else {
            differences
                .into_iter()
                .filter(|d| now.contains(d))
                .collect()
        };
        if differences.is_empty() {
            break;
        }
    }
    if differences.is_empty() {
        let snapshot = state.snapshot();
        eprintln!(
            "ami: the state built from events matches the PBX's lists ({} channels, {} queues)",
            snapshot.channels.len(),
            snapshot.queues.len()
        );
    }
    let mut out = std::io::stdout().lock();
    let value = json!({ "differences": differences });
    let records: Vec<Value> = differences
        .iter()
        .map(|d| json!({ "Difference": d }))
        .collect();
    output::write_document(
        &mut out,
        format,
        &Document {
            value,
            records: Some(records),
        },
    )?;
    Ok(if differences.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
