//! `ami events`: the event stream as NDJSON, one line per event, flushed per line, across
//! reconnects, until Ctrl-C, `--count` events or `--duration`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use ami_client::{Client, ConnectionState, EventItem, Subscription};
use serde_json::{Value, json};

use crate::filter::{self, Filter};
use crate::output::{self, Format};

/// Arguments of `ami events`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Filters (all must hold; names and values compared without case):\n  \
    Name=Value     a header equals Value (Event=Hangup); Name=A|B for either\n  \
    Name~Text      a header contains Text (Channel~PJSIP/)\n  \
    Name           the header is present\n  \
    !EXPR          the opposite (!Event=VarSet)\n\n\
    Besides events, the stream carries one line for each connection change and each gap:\n  \
    {\"_connection\":\"disconnected\",\"reason\":\"...\"}\n  \
    {\"_connection\":\"reconnected\",\"ami_version\":\"...\"}\n  \
    {\"_lagged\":N}   N events were dropped here because the output could not keep up\n\n\
    Examples:\n  \
    ami events --filter Event=Hangup --count 10\n  \
    ami events --filter 'Channel~PJSIP/' --filter '!Event=VarSet|Newexten' --duration 30s\n  \
    ami events | jq -r 'select(.Event == \"Newchannel\") | .Channel'\n\n\
    Through NATS (what `ami bridge` publishes), with the same lines and filters:\n  \
    ami events --nats nats://127.0.0.1:4222 --server pbx1 --durable crm\n  \
    A --durable consumer resumes after the last event it printed; without one, reading\n  \
    starts with new messages (--from first: the oldest the stream keeps). Without\n  \
    --server, every PBX's events are read and each line names its own in \"_server\"."
)]
pub struct Args {
    #[command(flatten)]
    pub common: crate::connect::Common,
    #[command(flatten)]
    pub nats: super::nats::NatsArgs,
    /// With --nats: a durable consumer of this name, which resumes after the last message it
    /// acknowledged (created at the first use).
    #[arg(long, value_name = "NAME", requires = "nats")]
    pub durable: Option<String>,
    /// With --nats: where a new consumer starts [default: first with --durable, else new].
    #[arg(long, value_enum, value_name = "WHERE", requires = "nats")]
    pub from: Option<super::nats::From>,
    /// Print only events matching EXPR (repeatable; all must hold).
    #[arg(long = "filter", value_name = "EXPR")]
    pub filters: Vec<Filter>,
    /// Stop after N events (connection and lag lines do not count).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after this long: 30s, 500ms, 5m, 1h, or a number of seconds.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub duration: Option<Duration>,
}

/// `30s`, `500ms`, `1.5m`, `2h`, or bare seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}: use ms, s, m or h (e.g. 30s)"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: expected e.g. 30s, 500ms, 5m, 1h"))?;
    Duration::try_from_secs_f64(value * scale)
        .map_err(|_| format!("{text:?} is not a usable duration"))
}

/// The JSON line for one stream item: the event, or a connection / lag marker.
pub fn item_value(item: &EventItem) -> Value {
    match item {
        EventItem::Event(event) => output::message_value(event.message()),
        EventItem::Lagged(count) => json!({ "_lagged": count }),
        EventItem::Connection(ConnectionState::Disconnected { reason }) => {
            json!({ "_connection": "disconnected", "reason": reason })
        }
        EventItem::Connection(ConnectionState::Connected { ami_version }) => {
            json!({ "_connection": "reconnected", "ami_version": ami_version })
        }
        EventItem::Skipped(error) => json!({ "_skipped": error.to_string() }),
        EventItem::FilterPanicked(reason) => {
            json!({ "_subscription": "ended", "reason": reason })
        }
        // A marker of a newer client: shown for what it is rather than dropped.
        other => json!({ "_other": format!("{other:?}") }),
    }
}

/// Streams until Ctrl-C, `--count` or `--duration`. A write to a closed pipe ends it through
/// the error path, which `main` turns into a quiet exit 0.
pub async fn run(args: Args, client: &Client, format: Format) -> anyhow::Result<ExitCode> {
    let filters = args.filters;
    let mut subscriber = client.subscribe(
        Subscription::all().filter(move |message| filter::matches_all(&filters, message)),
    );
    let mut out = std::io::stdout().lock();
    let deadline = args
        .duration
        .map(|duration| tokio::time::Instant::now() + duration);
    let mut printed = 0u64;
    if args.count == Some(0) {
        return Ok(ExitCode::SUCCESS);
    }
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let item = tokio::select! {
            item = subscriber.recv() => item,
            _ = &mut ctrl_c => break,
            () = sleep_until(deadline) => break,
        };
        let Some(item) = item else {
            out.flush()?;
            anyhow::bail!("the connection to the server ended and could not be re-established");
        };
        output::write_stream_item(&mut out, format, &item_value(&item))?;
        if matches!(item, EventItem::Event(_)) {
            printed += 1;
            if args.count.is_some_and(|count| printed >= count) {
                break;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["", "s", "10 parsecs", "-1s", "1e9999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn connection_and_lag_markers() {
        let lagged = item_value(&EventItem::Lagged(12));
        assert_eq!(lagged, json!({"_lagged": 12}));
        let down = item_value(&EventItem::Connection(ConnectionState::Disconnected {
            reason: "reset".into(),
        }));
        assert_eq!(down["_connection"], "disconnected");
        let up = item_value(&EventItem::Connection(ConnectionState::Connected {
            ami_version: "11.0.0".into(),
        }));
        assert_eq!(
            up,
            json!({"_connection": "reconnected", "ami_version": "11.0.0"})
        );
        let skipped = item_value(&EventItem::Skipped(
            ami_proto::DecodeError::PacketTooLarge {
                offset: 10,
                limit: 64,
            },
        ));
        assert!(
            skipped["_skipped"]
                .as_str()
                .is_some_and(|text| text.contains("64-byte limit")),
            "{skipped}"
        );
    }
}
