//! `ami state [--verify]`: the live state of the PBX (channels, calls, bridges, queues,
//! agents, parked calls, device and extension states), an `ami_client::live::LiveState`,
//! printed once; `--verify` keeps it from events for a while, then compares it with fresh
//! lists and exits 1 on any difference.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use ami_client::Client;
use ami_client::live::LiveState;
use ami_state::State;
use anyhow::Context as _;
use serde_json::{Value, json};

use crate::output::{self, Document, Format};

/// Arguments of `ami state`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    ami state\n  \
    ami state -o json | jq '.calls | length'\n  \
    ami state --verify --watch 10s\n\n\
    The state comes from the list actions the server's version has (CoreShowChannels,\n\
    QueueStatus, Agents, ParkedCalls; BridgeList, DeviceStateList, ExtensionStateList on 12\n\
    and later), then from events. The table shows the channels, then agents, parked calls\n\
    and extension states when there are any; -o json has every object. With --verify it\n\
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

pub(crate) fn document(state: &State) -> Document {
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

/// The tables printed after the channels' (`-o table`): agents, parked calls, extension
/// states, each titled and only when it has rows.
pub(crate) fn sections(state: &State) -> Vec<(&'static str, Vec<Value>)> {
    let none = |value: &Option<String>| value.clone().unwrap_or_default();
    let agents: Vec<Value> = state
        .agents()
        .values()
        .map(|a| {
            json!({
                "Agent": a.id,
                "Name": a.name,
                "Status": a.status,
                "Channel": none(&a.channel),
                "TalkingTo": none(&a.talking_to),
            })
        })
        .collect();
    let parked: Vec<Value> = state
        .parked()
        .values()
        .map(|p| {
            json!({
                "Lot": p.lot,
                "Space": p.space,
                "Channel": p.channel,
                "CallerID": p.caller_id_num,
                "Parker": p.parker,
                "Timeout": p.timeout,
            })
        })
        .collect();
    let extensions: Vec<Value> = state
        .snapshot()
        .extensions
        .values()
        .map(|e| {
            json!({
                "Exten": e.exten,
                "Context": e.context,
                "Hint": e.hint,
                "Status": e.status_text,
            })
        })
        .collect();
    [
        ("Agents", agents),
        ("Parked calls", parked),
        ("Extensions", extensions),
    ]
    .into_iter()
    .filter(|(_, rows)| !rows.is_empty())
    .collect()
}

/// Builds the state, prints it (or verifies it).
pub async fn run(args: Args, client: &Client, format: Format) -> anyhow::Result<ExitCode> {
    let live = LiveState::attach(client)
        .await
        .context("building the state (CoreShowChannels, QueueStatus, Agents ...)")?;
    if !args.verify {
        let (document, sections) = live.with(|state| (document(state), sections(state)));
        let mut out = std::io::stdout().lock();
        output::write_document(&mut out, format, &document)?;
        // The other objects are in the JSON/YAML value; a table gets one section each.
        if format == Format::Table {
            for (title, rows) in sections {
                writeln!(out, "\n{title}:")?;
                output::write_table(&mut out, &rows)?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    tokio::time::sleep(args.watch).await;
    if !live.is_connected() {
        anyhow::bail!("the connection to the server dropped while following events");
    }
    // A difference must persist: a call that changes while the lists are read is not one.
    let differences: Vec<String> = live
        .verify_settled(3, Duration::from_millis(500))
        .await?
        .iter()
        .map(ToString::to_string)
        .collect();
    if differences.is_empty() {
        let snapshot = live.snapshot();
        eprintln!(
            "ami: the state built from events matches the PBX's lists ({} channels, {} queues)",
            snapshot.channels.len(),
            snapshot.queues.len()
        );
    }
    let value = json!({ "differences": differences });
    let records: Vec<Value> = differences
        .iter()
        .map(|d| json!({ "Difference": d }))
        .collect();
    output::write_document(
        &mut std::io::stdout().lock(),
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
