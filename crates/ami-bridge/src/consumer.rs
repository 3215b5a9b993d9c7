//! The consumers' side: reading what bridges published, and sending actions to them. Used by
//! `ami events --nats` and `ami action --nats`; the subjects and headers come from
//! [`crate::subject`], so both sides name things once.
//!
//! The sans-IO part ([`Delivered::parse`], [`Tracker`]) turns a stored message into what it
//! means, and tells fresh messages from republished ones and from holes in a server's
//! sequence; the thin async part creates the JetStream consumer and sends requests.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use serde::Deserialize;
use serde_json::Value;

use crate::config::{ConfigError, NatsConfig};
use crate::publish::Kind;
use crate::subject;

/// Why a consumer could not read or send. Never carries a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    /// NATS could not be reached, or refused a request about the stream or the consumer.
    #[error("{0}")]
    Nats(String),
    /// Nobody subscribes to the server's action subject: no bridge serves that server.
    #[error(
        "no bridge answers actions for server {server:?} (nobody listens on {subject}): is `ami bridge` running with that server in its [[servers]]?"
    )]
    NoResponder {
        /// The server's name as given.
        server: String,
        /// The subject the request went to.
        subject: String,
    },
    /// A bridge listens but did not answer in time.
    #[error("the bridge serving {server:?} did not answer within {} s", timeout.as_secs_f64())]
    TimedOut {
        /// The server's name as given.
        server: String,
        /// How long the request waited.
        timeout: Duration,
    },
    /// The reply was not the JSON object a bridge sends.
    #[error("the bridge's reply is not a JSON object: {0}")]
    BadReply(String),
    /// A durable consumer of that name exists with another subject filter; reusing it would
    /// silently read other servers' messages (or miss this one's).
    #[error(
        "the durable consumer {durable:?} already exists on stream {stream} for {existing:?}, not {wanted:?}: choose another --durable name"
    )]
    DurableMismatch {
        /// The durable name.
        durable: String,
        /// The stream.
        stream: String,
        /// Its subject filter.
        existing: String,
        /// The filter asked for now.
        wanted: String,
    },
}

/// What a consumer needs from a configuration file: the `[nats]` table (credentials, TLS) and
/// the stream's name from `[stream]`. Every other table is ignored, so the bridge's own file
/// serves as well.
#[derive(Debug, Clone, Default)]
pub struct ConsumerConfig {
    /// How to reach NATS.
    pub nats: NatsConfig,
    /// The stream (default `AMI`).
    pub stream: String,
}

impl ConsumerConfig {
    /// The defaults: no credentials, stream `AMI`.
    pub fn new() -> Self {
        Self {
            nats: NatsConfig::default(),
            stream: crate::config::StreamConfig::default().name,
        }
    }

    /// Reads the `[nats]` and `[stream]` tables of a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses TOML text; unknown keys inside `[nats]` are refused (a misspelt credential
    /// setting must not silently connect without it).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        struct Stream {
            name: Option<String>,
        }
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            nats: NatsConfig,
            stream: Option<Stream>,
        }
        let raw: Raw =
            toml::from_str(text).map_err(|error| ConfigError::Parse(error.message().to_owned()))?;
        Ok(Self {
            nats: raw.nats,
            stream: raw
                .stream
                .and_then(|stream| stream.name)
                .unwrap_or_else(|| Self::new().stream),
        })
    }
}

/// One message of the stream, as a consumer understands it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    /// The server's configured name (the `Ami-Server` header).
    pub server: String,
    /// What it is.
    pub kind: Kind,
    /// The connection epoch.
    pub epoch: u64,
    /// The sequence number in the epoch.
    pub seq: u64,
    /// The JSON body: the event in the one JSON mapping, or the marker's object.
    pub body: Value,
}

impl Delivered {
    /// Reads a stored message from its headers (`Ami-Server`, `Ami-Kind`, `Ami-Epoch`,
    /// `Ami-Seq`) and JSON body. `None` for a message a bridge did not publish (another
    /// publisher on the stream's subjects): a consumer skips it rather than guessing.
    pub fn parse(headers: Option<&async_nats::HeaderMap>, payload: &[u8]) -> Option<Self> {
        let headers = headers?;
        let get = |name: &str| headers.get(name).map(|value| value.as_str());
        let kind = match get(subject::HEADER_KIND)? {
            "event" => Kind::Event,
            "lagged" => Kind::Lagged,
            "connection" => Kind::Connection,
            // It takes a number in its epoch like the others: a consumer that skipped it
            // would see a hole after every takeover.
            "state" => Kind::State,
            _ => return None,
        };
        Some(Self {
            server: get(subject::HEADER_SERVER)?.to_owned(),
            kind,
            epoch: get(subject::HEADER_EPOCH)?.parse().ok()?,
            seq: get(subject::HEADER_SEQ)?.parse().ok()?,
            body: serde_json::from_slice(payload).ok()?,
        })
    }
}

/// What a consumer should make of a message, given those it has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The next message: show it.
    Fresh,
    /// Seen already (republished after the stream's duplicate window, or redelivered): skip.
    Duplicate,
    /// Show it, after saying that this many messages of the epoch are missing before it (the
    /// stream no longer holds them, or they never reached it).
    Gap(u64),
}

/// Follows each server's `(epoch, seq)` (sans-IO). The first message of a server is fresh
/// whatever its number (the consumer may start mid-stream); a later epoch is fresh (its
/// `connection` marker tells of the change); within an epoch a number at or below the last is
/// a duplicate and a jump is a gap.
#[derive(Debug, Default)]
pub struct Tracker {
    last: HashMap<String, (u64, u64)>,
}

impl Tracker {
    /// A tracker that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The verdict on `message`, which then counts as seen (unless a duplicate).
    pub fn handle(&mut self, message: &Delivered) -> Verdict {
        let now = (message.epoch, message.seq);
        let verdict = match self.last.get(&message.server) {
            None => Verdict::Fresh,
            Some(&last) if now <= last => return Verdict::Duplicate,
            Some(&(epoch, _)) if message.epoch > epoch => Verdict::Fresh,
            Some(&(_, seq)) if message.seq == seq + 1 => Verdict::Fresh,
            Some(&(_, seq)) => Verdict::Gap(message.seq - seq - 1),
        };
        self.last.insert(message.server.clone(), now);
        verdict
    }
}

/// The consumer's subject filter: one server's messages (`ami.<server>.>`), or every
/// server's (`ami.>`).
pub fn filter_subject(server: Option<&str>) -> String {
    match server {
        Some(server) => format!("{}.{}.>", subject::PREFIX, subject::token(server)),
        None => format!("{}.>", subject::PREFIX),
    }
}

/// Where a consumer starts when it is created (a durable one that exists resumes where it
/// stopped, whatever this says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At the oldest message the stream keeps.
    First,
    /// With the messages published from now on.
    New,
}

/// Creates (or, for a durable name that exists, opens) a pull consumer on `stream` for
/// `server`'s messages (every server's when `None`). Acknowledgements are explicit: a
/// durable consumer resumes after the last message acknowledged. An unnamed consumer is
/// removed by the server a minute after its reader goes.
pub async fn open(
    js: &jetstream::Context,
    stream: &str,
    server: Option<&str>,
    durable: Option<&str>,
    start: Start,
) -> Result<PullConsumer, ConsumerError> {
    let stream_handle = js
        .get_stream(stream)
        .await
        .map_err(|error| ConsumerError::Nats(format!("cannot open stream {stream}: {error}")))?;
    let wanted = filter_subject(server);
    let config = pull::Config {
        durable_name: durable.map(str::to_owned),
        description: Some("ami events --nats".into()),
        deliver_policy: match start {
            Start::First => DeliverPolicy::All,
            Start::New => DeliverPolicy::New,
        },
        ack_policy: AckPolicy::Explicit,
        filter_subject: wanted.clone(),
        inactive_threshold: if durable.is_some() {
            Duration::ZERO
        } else {
            Duration::from_secs(60)
        },
        ..Default::default()
    };
    let mut consumer = match durable {
        Some(name) => stream_handle.get_or_create_consumer(name, config).await,
        None => stream_handle.create_consumer(config).await,
    }
    .map_err(|error| ConsumerError::Nats(format!("cannot create the consumer: {error}")))?;
    let existing = consumer
        .info()
        .await
        .map_err(|error| ConsumerError::Nats(format!("cannot read the consumer: {error}")))?
        .config
        .filter_subject
        .clone();
    if let Some(durable) = durable
        && existing != wanted
    {
        return Err(ConsumerError::DurableMismatch {
            durable: durable.to_owned(),
            stream: stream.to_owned(),
            existing,
            wanted,
        });
    }
    Ok(consumer)
}

/// Sends `action` with `headers` (a JSON object, arrays for repeated headers) to the bridge
/// serving `server`, and returns its JSON reply: the gateway's action JSON, or its error
/// object `{"error": {...}}` when the bridge refused or the PBX failed.
pub async fn request_action(
    nats: &async_nats::Client,
    server: &str,
    action: &str,
    headers: &Value,
    timeout: Duration,
) -> Result<Value, ConsumerError> {
    use async_nats::RequestErrorKind;
    let subject = subject::action(server, action);
    let body = serde_json::to_vec(headers).unwrap_or_default();
    let request = nats.request(subject.clone(), body.into());
    let reply = match tokio::time::timeout(timeout, request).await {
        Err(_) => {
            return Err(ConsumerError::TimedOut {
                server: server.to_owned(),
                timeout,
            });
        }
        Ok(Err(error)) => {
            return Err(match error.kind() {
                RequestErrorKind::NoResponders => ConsumerError::NoResponder {
                    server: server.to_owned(),
                    subject,
                },
                RequestErrorKind::TimedOut => ConsumerError::TimedOut {
                    server: server.to_owned(),
                    timeout,
                },
                _ => ConsumerError::Nats(format!("the request on {subject} failed: {error}")),
            });
        }
        Ok(Ok(reply)) => reply,
    };
    match serde_json::from_slice::<Value>(&reply.payload) {
        Ok(value) if value.is_object() => Ok(value),
        // Shown cut: a reply of any size could come from whoever answers on the subject.
        Ok(other) => Err(ConsumerError::BadReply(
            other.to_string().chars().take(80).collect(),
        )),
        Err(error) => Err(ConsumerError::BadReply(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::Sequencer;

    fn delivered(server: &str, epoch: u64, seq: u64) -> Delivered {
        Delivered {
            server: server.into(),
            kind: Kind::Event,
            epoch,
            seq,
            body: Value::Null,
        }
    }

    #[test]
    fn what_a_bridge_publishes_parses_back() {
        let mut sequencer = Sequencer::new("pbx.1");
        let outgoing = sequencer.handle_connected("2.10.6", 7);
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in outgoing.headers("pbx.1") {
            headers.insert(name, value.as_str());
        }
        let parsed = Delivered::parse(Some(&headers), &outgoing.body).expect("parses");
        assert_eq!(parsed.server, "pbx.1");
        assert_eq!(
            (parsed.kind, parsed.epoch, parsed.seq),
            (Kind::Connection, 7, 1)
        );
        assert_eq!(parsed.body["state"], "connected");
        // The state after a takeover takes the next number: read back, it leaves no hole.
        let state = sequencer.state(serde_json::json!({"calls": []}));
        let mut state_headers = async_nats::HeaderMap::new();
        for (name, value) in state.headers("pbx.1") {
            state_headers.insert(name, value.as_str());
        }
        let read = Delivered::parse(Some(&state_headers), &state.body).expect("state parses");
        assert_eq!((read.kind, read.epoch, read.seq), (Kind::State, 7, 2));
        let mut tracker = Tracker::new();
        assert_eq!(tracker.handle(&parsed), Verdict::Fresh);
        assert_eq!(tracker.handle(&read), Verdict::Fresh);
        // Not a bridge's: no headers, or a body that is not JSON.
        assert_eq!(Delivered::parse(None, b"{}"), None);
        assert_eq!(Delivered::parse(Some(&headers), b"{nope"), None);
        headers.insert(subject::HEADER_SEQ, "x");
        assert_eq!(Delivered::parse(Some(&headers), &outgoing.body), None);
    }

    #[test]
    fn the_tracker_skips_repeats_and_counts_holes_per_server() {
        let mut tracker = Tracker::new();
        assert_eq!(tracker.handle(&delivered("a", 5, 40)), Verdict::Fresh);
        assert_eq!(tracker.handle(&delivered("a", 5, 41)), Verdict::Fresh);
        assert_eq!(tracker.handle(&delivered("b", 1, 1)), Verdict::Fresh);
        assert_eq!(tracker.handle(&delivered("a", 5, 41)), Verdict::Duplicate);
        assert_eq!(tracker.handle(&delivered("a", 5, 12)), Verdict::Duplicate);
        assert_eq!(tracker.handle(&delivered("a", 5, 45)), Verdict::Gap(3));
        assert_eq!(tracker.handle(&delivered("a", 4, 99)), Verdict::Duplicate);
        assert_eq!(tracker.handle(&delivered("a", 6, 1)), Verdict::Fresh);
        assert_eq!(tracker.handle(&delivered("b", 1, 2)), Verdict::Fresh);
    }

    #[test]
    fn filters_name_one_server_or_all() {
        assert_eq!(filter_subject(Some("pbx.1")), "ami.pbx_1.>");
        assert_eq!(filter_subject(None), "ami.>");
    }

    #[test]
    fn the_bridge_file_serves_as_a_consumer_file() {
        let config = ConsumerConfig::parse(
            "[nats]\nuser = \"u\"\npassword_env = \"P\"\n[stream]\nname = \"PBX\"\nmax_age_secs = 5\n[actions]\nallow = [\"Ping\"]\n[[servers]]\nname = \"x\"\n",
        )
        .expect("parses");
        assert_eq!(config.nats.user.as_deref(), Some("u"));
        assert_eq!(config.stream, "PBX");
        assert_eq!(ConsumerConfig::parse("").expect("empty").stream, "AMI");
        assert!(ConsumerConfig::parse("[nats]\npasword_env = \"P\"\n").is_err());
    }
}
