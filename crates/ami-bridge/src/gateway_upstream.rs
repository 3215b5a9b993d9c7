//! The gateway's servers served through NATS: an implementation of the gateway's upstream
//! seam ([`ami_gateway::Remote`]) that reads a server's messages from the bridges' JetStream
//! stream and sends its actions by request/reply, so that any number of gateways serve
//! browser clients for one fleet without logging in to the PBXes themselves.
//!
//! It lives here, beside the consumer it reuses ([`crate::consumer`]), because this crate
//! already depends on the gateway (for `[[servers]]` and the action rules): the gateway only
//! defines the seam, and the `ami` binary hands this implementation to it.
//!
//! What the gateway gets, in order: each event; the bridge's `connection` markers as its own
//! `connected` / `disconnected` (so stream clients see the gap, and the gateway resyncs its
//! live state over request/reply after each login); the bridge's `lagged` markers, and any
//! hole in a server's sequence, as lost events. The `state` snapshot the bridge publishes
//! after a takeover follows the `connection` marker that already made the gateway resync,
//! so it is not read.

use std::sync::Arc;
use std::time::Duration;

use ami_gateway::{Remote, RemoteActions, RemoteError, RemoteFuture, RemoteItem};
use async_nats::jetstream;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{Instrument, debug, info, warn};

use crate::config::{ConfigError, NatsConfig, StreamConfig};
use crate::consumer::{self, ConsumerError, Delivered, Start, Tracker, Verdict};
use crate::publish::Kind;
use crate::subject;

/// Items held between the JetStream reader and the gateway's fan-out, per server; past it
/// the reader waits (JetStream keeps the messages meanwhile).
const QUEUE: usize = 4096;
/// How long to wait before opening the consumer again after it failed.
const RETRY: Duration = Duration::from_secs(1);

/// The gateway's `[nats]` table: the bridge's `[nats]` keys (the same credentials rules:
/// secrets from files or environment variables only), plus `stream` and `durable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayNats {
    /// How to reach NATS; `url` is required here (the gateway has no `--nats`).
    pub nats: NatsConfig,
    /// The bridges' stream (default `AMI`).
    pub stream: String,
    /// A durable consumer name prefix: each server's consumer is `<durable>-<server>` and
    /// resumes where it stopped; without it each server's consumer is ephemeral and starts
    /// with the messages published from then on.
    pub durable: Option<String>,
}

impl GatewayNats {
    /// Reads and checks the table (as the gateway's configuration keeps it).
    pub fn from_table(table: &toml::Table) -> Result<Self, ConfigError> {
        let mut rest = table.clone();
        let text = |value: toml::Value, key: &str| match value {
            toml::Value::String(text) => Ok(text),
            _ => Err(ConfigError::Invalid(format!("nats.{key}: a string"))),
        };
        let stream = match rest.remove("stream") {
            Some(value) => text(value, "stream")?,
            None => StreamConfig::default().name,
        };
        let durable = rest
            .remove("durable")
            .map(|value| text(value, "durable"))
            .transpose()?;
        // The bridge's own table: an unknown key (`password = ...` inline) is refused there.
        let nats: NatsConfig =
            toml::Value::Table(rest)
                .try_into()
                .map_err(|error: toml::de::Error| {
                    ConfigError::Parse(format!("[nats]: {}", error.message()))
                })?;
        nats.check()?;
        if nats.url.as_deref().is_none_or(str::is_empty) {
            return Err(ConfigError::Invalid(
                "nats.url is needed: the NATS server(s) the bridges publish to".into(),
            ));
        }
        let plain = |name: &str| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        };
        if !plain(&stream) {
            return Err(ConfigError::Invalid(
                "nats.stream: use letters, digits, '-' or '_'".into(),
            ));
        }
        if durable.as_deref().is_some_and(|d| !plain(d)) {
            return Err(ConfigError::Invalid(
                "nats.durable: use letters, digits, '-' or '_'".into(),
            ));
        }
        Ok(Self {
            nats,
            stream,
            durable,
        })
    }

    /// Connects to NATS with the table's credentials.
    pub async fn connect(&self) -> Result<async_nats::Client, crate::Error> {
        crate::nats::connect(self.nats.url.as_deref().unwrap_or_default(), &self.nats).await
    }

    /// The durable consumer name of `server`, if the table names a prefix.
    fn durable_for(&self, server: &str) -> Option<String> {
        self.durable
            .as_ref()
            .map(|prefix| format!("{prefix}-{}", subject::token(server)))
    }
}

/// The remote of one server: a task reads its messages from JetStream (until the gateway
/// drops the remote), and its actions go by request/reply. Must run inside a tokio runtime.
pub fn open(nats: async_nats::Client, config: &GatewayNats, server: &str) -> Remote {
    let (tx, items) = mpsc::channel(QUEUE);
    let reader = Reader {
        js: jetstream::new(nats.clone()),
        stream: config.stream.clone(),
        server: server.to_owned(),
        durable: config.durable_for(server),
        tx,
    };
    let span = tracing::info_span!("nats_upstream", server = %server);
    tokio::spawn(reader.run().instrument(span));
    Remote {
        items,
        actions: Arc::new(NatsActions {
            nats,
            server: server.to_owned(),
        }),
    }
}

struct NatsActions {
    nats: async_nats::Client,
    server: String,
}

impl RemoteActions for NatsActions {
    fn request(&self, action: &str, headers: Value, timeout: Duration) -> RemoteFuture<'_> {
        let action = action.to_owned();
        Box::pin(async move {
            consumer::request_action(&self.nats, &self.server, &action, &headers, timeout)
                .await
                .map_err(|error| match error {
                    ConsumerError::TimedOut { .. } => RemoteError::TimedOut,
                    ConsumerError::NoResponder { .. } => {
                        RemoteError::Unavailable(error.to_string())
                    }
                    other => RemoteError::Failed(other.to_string()),
                })
        })
    }
}

/// What one stored message means to the gateway (sans-IO); `None` for what it does not use.
pub(crate) fn item(delivered: Delivered) -> Option<RemoteItem> {
    let text = |key: &str| {
        delivered
            .body
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match delivered.kind {
        Kind::Event => match &delivered.body {
            Value::Object(object) => ami_json::message_from_json(object)
                .ok()
                .map(RemoteItem::Event),
            _ => None,
        },
        Kind::Lagged => Some(RemoteItem::Lagged(
            delivered
                .body
                .get("missed")
                .and_then(Value::as_u64)
                .unwrap_or(1),
        )),
        Kind::Connection if text("state") == "connected" => Some(RemoteItem::Connected {
            ami_version: text("ami_version"),
        }),
        Kind::Connection => Some(RemoteItem::Disconnected {
            reason: format!("the bridge says: {}", text("reason")),
        }),
        Kind::State => None,
    }
}

/// Reads one server's messages into the gateway's fan-out.
struct Reader {
    js: jetstream::Context,
    stream: String,
    server: String,
    durable: Option<String>,
    tx: mpsc::Sender<RemoteItem>,
}

impl Reader {
    async fn run(self) {
        loop {
            let ended = tokio::select! {
                () = self.tx.closed() => return,
                ended = self.read() => ended,
            };
            warn!(reason = %ended, "reading the server's messages stopped; opening the consumer again");
            let down = RemoteItem::Disconnected {
                reason: format!("the gateway lost the NATS stream: {ended}"),
            };
            if self.tx.send(down).await.is_err() {
                return;
            }
            tokio::select! {
                () = self.tx.closed() => return,
                () = tokio::time::sleep(RETRY) => {}
            }
        }
    }

    /// Opens the consumer, tells the server's current state, and forwards its messages until
    /// something fails (returned) or the gateway goes (the caller notices).
    async fn read(&self) -> String {
        let consumer = match consumer::open(
            &self.js,
            &self.stream,
            Some(&self.server),
            self.durable.as_deref(),
            Start::New,
        )
        .await
        {
            Ok(consumer) => consumer,
            Err(error) => return error.to_string(),
        };
        // Where the server stands now: the bridges' last `connection` marker for it (the
        // consumer only delivers what comes after).
        let now = self.last_marker().await;
        if self.tx.send(now).await.is_err() {
            return "the gateway is gone".into();
        }
        let mut messages = match consumer.messages().await {
            Ok(messages) => messages,
            Err(error) => return format!("cannot read the stream: {error}"),
        };
        info!(stream = %self.stream, "reading the server's messages from NATS");
        let mut tracker = Tracker::new();
        while let Some(next) = messages.next().await {
            let message = match next {
                Ok(message) => message,
                Err(error) => return format!("cannot read the stream: {error}"),
            };
            if let Err(error) = message.ack().await {
                debug!(%error, "could not acknowledge a message");
            }
            let Some(delivered) = Delivered::parse(message.headers.as_ref(), &message.payload)
            else {
                continue;
            };
            match tracker.handle(&delivered) {
                Verdict::Duplicate => continue,
                Verdict::Gap(missed) => {
                    if self.tx.send(RemoteItem::Lagged(missed)).await.is_err() {
                        return "the gateway is gone".into();
                    }
                }
                Verdict::Fresh => {}
            }
            if let Some(item) = item(delivered)
                && self.tx.send(item).await.is_err()
            {
                return "the gateway is gone".into();
            }
        }
        "the stream's messages ended".into()
    }

    /// The server's last `connection` marker as an item (disconnected if there is none).
    async fn last_marker(&self) -> RemoteItem {
        let none = || RemoteItem::Disconnected {
            reason: "no bridge has said that it serves this server".into(),
        };
        let Ok(stream) = self.js.get_stream(&self.stream).await else {
            return none();
        };
        match stream
            .get_last_raw_message_by_subject(&subject::connection(&self.server))
            .await
        {
            Ok(stored) => Delivered::parse(Some(&stored.headers), &stored.payload)
                .and_then(item)
                .unwrap_or_else(none),
            Err(_) => none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(text: &str) -> toml::Table {
        text.parse().expect("TOML")
    }

    #[test]
    fn the_table_follows_the_bridges_credentials_rules() {
        let ok = GatewayNats::from_table(&table(
            "url = \"nats://127.0.0.1:4222\"\nuser = \"gw\"\npassword_env = \"P\"\nstream = \"PBX\"\ndurable = \"gw1\"\n",
        ))
        .expect("valid");
        assert_eq!(ok.stream, "PBX");
        assert_eq!(ok.nats.user.as_deref(), Some("gw"));
        assert_eq!(ok.durable_for("pbx.1").as_deref(), Some("gw1-pbx_1"));
        let plain = GatewayNats::from_table(&table("url = \"nats://h:4222\"\n")).expect("valid");
        assert_eq!(plain.stream, "AMI");
        assert_eq!(plain.durable_for("x"), None);
        for bad in [
            // A secret inline is an unknown key: refused, and never echoed.
            "url = \"nats://h:4222\"\npassword = \"s3cr3t\"\n",
            "url = \"nats://h:4222\"\nuser = \"gw\"\n",
            "url = \"nats://h:4222\"\ntoken_env = \"T\"\ntoken_file = \"/t\"\n",
            "url = \"nats://h:4222\"\ntls_cert = \"/c\"\n",
            "user = \"gw\"\npassword_env = \"P\"\n",
            "url = \"nats://h:4222\"\nstream = \"a.b\"\n",
            "url = \"nats://h:4222\"\ndurable = \"a b\"\n",
            "url = \"nats://h:4222\"\nstream = 5\n",
        ] {
            let error = GatewayNats::from_table(&table(bad)).expect_err(bad);
            assert!(!error.to_string().contains("s3cr3t"), "{error}");
        }
    }

    fn delivered(kind: Kind, body: Value) -> Delivered {
        Delivered {
            server: "pbx".into(),
            kind,
            epoch: 1,
            seq: 1,
            body,
        }
    }

    #[test]
    fn markers_become_the_gateways_items() {
        let event = item(delivered(
            Kind::Event,
            json!({"Event": "Hangup", "Uniqueid": "1.2"}),
        ));
        assert!(matches!(event, Some(RemoteItem::Event(m)) if m.value_is("Uniqueid", "1.2")));
        let up = item(delivered(
            Kind::Connection,
            json!({"state": "connected", "ami_version": "2.10.6"}),
        ));
        assert!(
            matches!(up, Some(RemoteItem::Connected { ami_version }) if ami_version == "2.10.6")
        );
        let down = item(delivered(
            Kind::Connection,
            json!({"state": "disconnected", "reason": "the bridge is stopping"}),
        ));
        assert!(
            matches!(down, Some(RemoteItem::Disconnected { reason }) if reason.contains("stopping"))
        );
        let lagged = item(delivered(Kind::Lagged, json!({"missed": 7})));
        assert!(matches!(lagged, Some(RemoteItem::Lagged(7))));
        assert!(item(delivered(Kind::State, json!({"state": {}}))).is_none());
        assert!(item(delivered(Kind::Event, json!([1]))).is_none());
    }
}
