//! `ami events --nats` and `ami action --nats`: the same subcommands, through what `ami bridge`
//! publishes on NATS instead of an AMI login. The subjects, headers and the reading of stored
//! messages are `ami_bridge::consumer`'s; the printing is the AMI path's own.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ami_bridge::consumer::{self, ConsumerConfig, Delivered, Start, Tracker, Verdict};
use ami_bridge::publish::Kind;
use anyhow::Context;
use async_nats::jetstream::AckKind;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use crate::connect::UsageError;
use crate::filter::{self, Filter};
use crate::output::{self, Document, Format};

/// How long `ami action --nats` waits for the bridge's reply: above the bridge's own wait for
/// the PBX, so that a slow PBX comes back as the bridge's timeout error rather than ours.
const ACTION_TIMEOUT: Duration = Duration::from_secs(60);
/// Messages asked for at once; a pull ends sooner when the stream has no more.
const BATCH: usize = 256;
/// How long one pull waits for messages before the next is asked for.
const PULL_WAIT: Duration = Duration::from_secs(1);

/// The NATS options of `ami events` and `ami action`.
#[derive(Debug, Clone, clap::Args)]
pub struct NatsArgs {
    /// Go through NATS (where `ami bridge` publishes) instead of logging in to AMI: URL(s),
    /// comma-separated. Credentials are refused here; they belong in --nats-config.
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// A file with a `[nats]` table (user, password_env/password_file, token_env/token_file,
    /// creds_file, nkey_file, TLS) and an optional `[stream]` name: the bridge's own file serves.
    #[arg(long, env = "AMI_NATS_CONFIG", value_name = "FILE", requires = "nats")]
    pub nats_config: Option<PathBuf>,
    /// With --nats: the PBX, by its name in the bridge's `[[servers]]`.
    #[arg(long, value_name = "NAME", requires = "nats")]
    pub server: Option<String>,
}

/// Where a consumer without a durable position starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum From {
    /// The oldest message the stream keeps.
    First,
    /// Messages published from now on.
    New,
}

/// The runtime for one subcommand, small like the AMI path's.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Connects with the credentials of --nats-config (none without it).
async fn connect(args: &NatsArgs) -> anyhow::Result<(async_nats::Client, ConsumerConfig)> {
    let url = args.nats.as_deref().unwrap_or_default();
    let config = match &args.nats_config {
        Some(path) => ConsumerConfig::load(path).map_err(|error| UsageError(error.to_string()))?,
        None => ConsumerConfig::new(),
    };
    let client = ami_bridge::nats::connect(url, &config.nats).await?;
    Ok((client, config))
}

/// The line for one stored message, as `ami events` prints the same thing over AMI: the event
/// in the one JSON mapping, `{"_lagged": N}` for a gap, `{"_connection": ...}` for the PBX
/// connection's changes. With several servers mixed (no --server), each line names its own
/// in `_server`.
pub fn delivered_value(message: &Delivered, with_server: bool) -> Value {
    let body = &message.body;
    let mut value = match message.kind {
        Kind::Event => body.clone(),
        Kind::Lagged => {
            let mut lagged = json!({ "_lagged": body["missed"].as_u64().unwrap_or(0) });
            if let Some(reason) = body.get("reason") {
                lagged["reason"] = reason.clone();
            }
            lagged
        }
        Kind::Connection if body["state"] == "connected" => {
            let mut connected = json!({
                "_connection": "reconnected",
                "ami_version": body["ami_version"],
            });
            // Another bridge instance took the PBX over: events between its predecessor's
            // last message and this one may be missing.
            if body["takeover"] == true {
                connected["takeover"] = json!(true);
                connected["previous_owner"] = body["previous_owner"].clone();
            }
            connected
        }
        Kind::Connection => json!({
            "_connection": "disconnected",
            "reason": body["reason"],
        }),
        // The PBX's whole state after a takeover, for consumers that keep a model: one line
        // `{"_state": {...}}`, as a marker (filters do not hide it).
        Kind::State => json!({ "_state": body["state"] }),
    };
    if with_server && let Value::Object(object) = &mut value {
        object.insert("_server".into(), Value::String(message.server.clone()));
    }
    value
}

/// `{"_lagged": N}` for messages of a server's sequence the stream does not hold.
fn hole_value(server: &str, missed: u64, with_server: bool) -> Value {
    let mut value = json!({ "_lagged": missed, "reason": "missing_from_stream" });
    if with_server {
        value["_server"] = Value::String(server.to_owned());
    }
    value
}

/// Whether an event passes the --filter expressions (markers always do: they say where the
/// stream is incomplete, whatever is selected).
fn passes(filters: &[Filter], message: &Delivered) -> bool {
    if filters.is_empty() || message.kind != Kind::Event {
        return true;
    }
    match &message.body {
        Value::Object(object) => ami_json::message_from_json(object)
            .is_ok_and(|parsed| filter::matches_all(filters, &parsed)),
        _ => false,
    }
}

/// The settings of `ami events --nats`, checked.
pub struct EventsSettings {
    pub nats: NatsArgs,
    pub durable: Option<String>,
    pub from: Option<From>,
    pub filters: Vec<Filter>,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    pub format: Format,
}

/// Reads the stream until Ctrl-C, --count events or --duration; each message is acknowledged
/// once printed, so a durable consumer started again begins after the last one printed. A
/// message received after the end was decided is handed back (NAK) for the next reader.
pub fn run_events(settings: EventsSettings) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let result = runtime.block_on(events(settings));
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

async fn events(settings: EventsSettings) -> anyhow::Result<ExitCode> {
    if settings.count == Some(0) {
        return Ok(ExitCode::SUCCESS);
    }
    let (nats, config) = connect(&settings.nats).await?;
    let js = async_nats::jetstream::new(nats.clone());
    let start = match settings.from {
        Some(From::First) => Start::First,
        Some(From::New) => Start::New,
        // A durable consumer is for missing nothing: from the oldest message kept.
        None if settings.durable.is_some() => Start::First,
        None => Start::New,
    };
    let reader = consumer::open(
        &js,
        &config.stream,
        settings.nats.server.as_deref(),
        settings.durable.as_deref(),
        start,
    )
    .await?;
    let with_server = settings.nats.server.is_none();
    let mut tracker = Tracker::new();
    let mut out = std::io::stdout().lock();
    let mut printed = 0u64;
    let mut stopping = false;
    let stop = stop_signal(settings.duration);
    tokio::pin!(stop);
    while !stopping {
        let wanted = settings
            .count
            .map_or(BATCH, |count| (count - printed).min(BATCH as u64) as usize);
        let mut batch = reader
            .batch()
            .max_messages(wanted)
            .expires(PULL_WAIT)
            .messages()
            .await
            .map_err(|error| anyhow::anyhow!("cannot read the stream: {error}"))?;
        loop {
            let next = tokio::select! {
                next = batch.next() => next,
                () = &mut stop, if !stopping => {
                    stopping = true;
                    continue;
                }
            };
            let Some(message) = next else { break };
            let message =
                message.map_err(|error| anyhow::anyhow!("cannot read the stream: {error}"))?;
            if stopping {
                let _ = message.ack_with(AckKind::Nak(None)).await;
                continue;
            }
            if let Some(delivered) = Delivered::parse(message.headers.as_ref(), &message.payload) {
                let verdict = tracker.handle(&delivered);
                if let Verdict::Gap(missed) = verdict {
                    let hole = hole_value(&delivered.server, missed, with_server);
                    output::write_stream_item(&mut out, settings.format, &hole)?;
                }
                if verdict != Verdict::Duplicate && passes(&settings.filters, &delivered) {
                    let value = delivered_value(&delivered, with_server);
                    output::write_stream_item(&mut out, settings.format, &value)?;
                    if delivered.kind == Kind::Event {
                        printed += 1;
                    }
                }
            }
            let done = settings.count.is_some_and(|count| printed >= count);
            // The last one is acknowledged with a confirmation, so that a reader started
            // right after this one exits cannot be given it again.
            let acked = if done {
                message.double_ack().await
            } else {
                message.ack().await
            };
            acked.map_err(|error| anyhow::anyhow!("cannot acknowledge a message: {error}"))?;
            stopping |= done;
        }
    }
    out.flush()?;
    nats.flush()
        .await
        .map_err(|error| anyhow::anyhow!("cannot flush the acknowledgements: {error}"))?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, or the end of --duration.
async fn stop_signal(duration: Option<Duration>) {
    let deadline = async {
        match duration {
            Some(duration) => tokio::time::sleep(duration).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = deadline => {}
    }
}

/// Headers as the bridge takes them: a JSON object, a repeated key as an array in order.
pub fn headers_object(headers: &[(String, String)]) -> Value {
    let mut object = Map::new();
    for (key, value) in headers {
        match object.get_mut(key) {
            None => {
                object.insert(key.clone(), Value::String(value.clone()));
            }
            Some(Value::Array(values)) => values.push(Value::String(value.clone())),
            Some(first) => {
                let first = first.take();
                object.insert(key.clone(), json!([first, value]));
            }
        }
    }
    Value::Object(object)
}

/// What `ami action` prints for the bridge's reply: the same document as over AMI.
pub fn reply_document(reply: &Value) -> Document {
    if let Some(items) = reply.get("items").and_then(Value::as_array) {
        return Document {
            value: json!({
                "response": reply["response"],
                "items": items,
                "complete": reply["complete"],
            }),
            records: Some(items.clone()),
        };
    }
    if let Some(text) = reply.get("text") {
        return Document::single(json!({ "_body": text }));
    }
    Document::single(reply.get("response").cloned().unwrap_or(Value::Null))
}

/// Sends the action through the bridge serving --server and prints the reply as `ami action`
/// does. The PBX's `Response: Error` prints its response and exits 1 with its message, as
/// over AMI; a refusal by the bridge (its `[actions]` rules, a bad body) exits 1 too, with the
/// bridge's message; no bridge serving the server is a plain error.
pub fn run_action(
    nats: NatsArgs,
    name: &str,
    headers: &[(String, String)],
    format: Format,
) -> anyhow::Result<ExitCode> {
    let Some(server) = nats.server.clone() else {
        return Err(UsageError(
            "--nats needs --server NAME: the PBX, by its name in the bridge's [[servers]]".into(),
        )
        .into());
    };
    let runtime = runtime()?;
    let reply = runtime.block_on(async {
        let (client, _) = connect(&nats).await?;
        let reply = consumer::request_action(
            &client,
            &server,
            name,
            &headers_object(headers),
            ACTION_TIMEOUT,
        )
        .await?;
        anyhow::Ok(reply)
    });
    runtime.shutdown_timeout(Duration::from_millis(200));
    let reply = reply?;
    let mut out = std::io::stdout().lock();
    let Some(error) = reply.get("error") else {
        output::write_document(&mut out, format, &reply_document(&reply))?;
        return Ok(ExitCode::SUCCESS);
    };
    let message = error["message"].as_str().unwrap_or("refused");
    if let Some(response) = error.get("response") {
        output::write_document(&mut out, format, &Document::single(response.clone()))?;
        drop(out);
        eprintln!("ami: {name} failed: {message}");
    } else {
        drop(out);
        let code = error["code"].as_str().unwrap_or("error");
        eprintln!("ami: {name} refused by the bridge serving {server:?}: {message} ({code})");
    }
    Ok(ExitCode::FAILURE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivered(kind: Kind, body: Value) -> Delivered {
        Delivered {
            server: "pbx.1".into(),
            kind,
            epoch: 1,
            seq: 1,
            body,
        }
    }

    #[test]
    fn markers_read_as_the_ami_paths_gap_and_reconnect_lines() {
        let up = delivered(
            Kind::Connection,
            json!({"state": "connected", "ami_version": "2.10.6", "epoch": 1}),
        );
        assert_eq!(
            delivered_value(&up, false),
            json!({"_connection": "reconnected", "ami_version": "2.10.6"})
        );
        let down = delivered(
            Kind::Connection,
            json!({"state": "disconnected", "reason": "eof", "epoch": 1}),
        );
        assert_eq!(
            delivered_value(&down, true),
            json!({"_connection": "disconnected", "reason": "eof", "_server": "pbx.1"})
        );
        let lagged = delivered(Kind::Lagged, json!({"missed": 7, "reason": "queue_full"}));
        assert_eq!(
            delivered_value(&lagged, false),
            json!({"_lagged": 7, "reason": "queue_full"})
        );
        let event = delivered(Kind::Event, json!({"Event": "Hangup", "Cause": "16"}));
        assert_eq!(delivered_value(&event, false), event.body);
        assert_eq!(delivered_value(&event, true)["_server"], "pbx.1");
        assert_eq!(hole_value("p", 3, false)["_lagged"], 3);
    }

    /// A takeover: the new owner's connected marker names it, then the PBX's state follows
    /// as one `_state` line.
    #[test]
    fn a_takeover_reads_as_a_reconnect_that_says_so_then_the_state() {
        let up = delivered(
            Kind::Connection,
            json!({"state": "connected", "ami_version": "2.10.6", "takeover": true,
                   "previous_owner": "bridge-a", "instance": "bridge-b"}),
        );
        assert_eq!(
            delivered_value(&up, false),
            json!({"_connection": "reconnected", "ami_version": "2.10.6",
                   "takeover": true, "previous_owner": "bridge-a"})
        );
        let state = delivered(Kind::State, json!({"epoch": 1, "state": {"calls": []}}));
        assert_eq!(
            delivered_value(&state, true),
            json!({"_state": {"calls": []}, "_server": "pbx.1"})
        );
        assert!(passes(&["Event=Hangup".parse().expect("filter")], &state));
    }

    #[test]
    fn filters_select_events_and_never_hide_markers() {
        let filters: Vec<Filter> = vec!["Event=Hangup".parse().expect("filter")];
        let hangup = delivered(Kind::Event, json!({"Event": "Hangup"}));
        let newchannel = delivered(Kind::Event, json!({"Event": "Newchannel"}));
        let lagged = delivered(Kind::Lagged, json!({"missed": 1}));
        assert!(passes(&filters, &hangup));
        assert!(!passes(&filters, &newchannel));
        assert!(passes(&filters, &lagged));
    }

    #[test]
    fn repeated_headers_become_arrays_in_order() {
        let headers = [
            ("Channel".to_owned(), "Local/1@demo".to_owned()),
            ("Variable".to_owned(), "a=1".to_owned()),
            ("Variable".to_owned(), "b=2".to_owned()),
            ("Variable".to_owned(), "c=3".to_owned()),
        ];
        assert_eq!(
            headers_object(&headers),
            json!({"Channel": "Local/1@demo", "Variable": ["a=1", "b=2", "c=3"]})
        );
    }

    #[test]
    fn replies_print_as_over_ami() {
        let list = reply_document(&json!({
            "response": {"Response": "Success"},
            "items": [{"Event": "CoreShowChannel"}],
            "complete": {"Event": "CoreShowChannelsComplete"},
        }));
        assert_eq!(list.records.as_ref().map(Vec::len), Some(1));
        let pong = reply_document(&json!({"response": {"Response": "Success", "Ping": "Pong"}}));
        assert_eq!(pong.value["Ping"], "Pong");
        assert_eq!(reply_document(&json!({"text": "x"})).value["_body"], "x");
    }
}
