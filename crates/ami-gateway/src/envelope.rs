//! The messages of the event streams (SSE and WebSocket), each one JSON object with a `type`:
//! `hello`, `event`, `connection`, `lagged`, `closing`. Built by serde from [`Envelope`], so
//! every string is escaped by one writer; the event itself is written by ami-json's
//! [`MessageJson`] (its fast path for the common event) straight into the same buffer.
//!
//! A leaf module: the fan-out (`upstream`) and the stream handlers (`streams`) both render
//! through it, without importing each other for it.

use ami_json::MessageJson;
use ami_proto::Message;
use serde::Serialize;
use tracing::warn;

/// One stream message. Field order is wire order.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Envelope<'a> {
    /// First on every stream: what the client subscribed to.
    Hello {
        servers: &'a [String],
        events: &'a [String],
        /// `Name:value` header matches.
        headers: &'a [String],
    },
    /// One AMI event of `server`, in the JSON mapping.
    Event {
        server: &'a str,
        event: MessageJson<'a>,
    },
    /// The link to `server` changed state (`connecting`, `connected`, `disconnected`).
    Connection {
        server: &'a str,
        state: &'a str,
        /// The AMI version of the last login, `null` before the first.
        ami_version: Option<&'a str>,
    },
    /// `missed` events were not delivered here: dropped for this client (its queue was full),
    /// or, with `upstream`, lost between the PBX and the gateway.
    Lagged {
        server: &'a str,
        missed: u64,
        #[serde(skip_serializing_if = "is_false")]
        upstream: bool,
    },
    /// The gateway ends the stream, and why (`slow_consumer`, `shutdown`).
    Closing { reason: &'a str },
}

fn is_false(flag: &bool) -> bool {
    !flag
}

impl Envelope<'_> {
    /// The message's JSON text.
    pub(crate) fn render(&self) -> String {
        let capacity = match self {
            // An event's JSON is about its wire size plus escaping and the envelope; sized
            // once, the buffer is not grown on the hot path.
            Self::Event { event, .. } => event.0.raw().len() + event.0.raw().len() / 4 + 64,
            _ => 128,
        };
        let mut out = Vec::with_capacity(capacity);
        if let Err(error) = serde_json::to_writer(&mut out, self) {
            // Only strings, numbers and string-keyed maps are written, which cannot fail; a
            // failure would be a bug, so say so rather than panic.
            warn!(%error, "a stream message could not be rendered");
            return "{}".to_owned();
        }
        String::from_utf8(out).unwrap_or_else(|error| {
            warn!(%error, "a stream message rendered as invalid UTF-8");
            String::from_utf8_lossy(error.as_bytes()).into_owned()
        })
    }
}

/// `{"type":"event","server":...,"event":{...}}`.
pub(crate) fn event(server: &str, event: &Message) -> String {
    Envelope::Event {
        server,
        event: MessageJson(event),
    }
    .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What rendering was before the direct path: the general mapping, then its text.
    fn general(server_json: &str, event: &Message) -> String {
        let body = serde_json::Value::Object(ami_json::message_to_json(event));
        format!("{{\"type\":\"event\",\"server\":{server_json},\"event\":{body}}}")
    }

    #[test]
    fn events_render_exactly_as_the_general_mapping_does() {
        let plain = Message::builder()
            .header("Event", "Hangup")
            .header("Privilege", "call,all")
            .header("Channel", "Local/400@demo-00000001;1")
            .header("AccountCode", "")
            .header("Quoted", "a \"b\" \\ c\t\u{1}é ☎ </script>")
            .build()
            .expect("valid");
        let repeated = Message::builder()
            .header("Event", "VarSet")
            .header("Variable", "A")
            .header("Variable", "B")
            .header("variable", "c")
            .build()
            .expect("valid");
        let latin1 = Message::builder()
            .header("Event", "Odd")
            .header("Value", b"caf\xe9")
            .build()
            .expect("valid");
        let mut with_text = Message::builder().header("Event", "Text");
        with_text.push_text_line(b"a line without a name");
        let with_text = with_text.build().expect("valid");
        let with_body = Message::builder()
            .header("Response", "Follows")
            .legacy_body("output\n")
            .build()
            .expect("valid");
        for (server, server_json) in [("sim", "\"sim\""), ("p\"bx", "\"p\\\"bx\"")] {
            for message in [&plain, &repeated, &latin1, &with_text, &with_body] {
                let fast = event(server, message);
                assert_eq!(fast, general(server_json, message));
                assert!(
                    serde_json::from_str::<serde_json::Value>(&fast).is_ok(),
                    "{fast}"
                );
            }
        }
    }

    /// Every other message, byte for byte as the streams wrote it with `format!` and `json!`.
    #[test]
    fn the_other_messages_keep_their_wire_form() {
        let servers = ["pbx1".to_owned(), "p\"2".to_owned()];
        let events = ["Hangup".to_owned()];
        let headers = ["Context:demo".to_owned()];
        let cases = [
            (
                Envelope::Hello {
                    servers: &servers,
                    events: &events,
                    headers: &headers,
                },
                r#"{"type":"hello","servers":["pbx1","p\"2"],"events":["Hangup"],"headers":["Context:demo"]}"#,
            ),
            (
                Envelope::Hello {
                    servers: &[],
                    events: &[],
                    headers: &[],
                },
                r#"{"type":"hello","servers":[],"events":[],"headers":[]}"#,
            ),
            (
                Envelope::Connection {
                    server: "pbx1",
                    state: "connected",
                    ami_version: Some("11.0.0"),
                },
                r#"{"type":"connection","server":"pbx1","state":"connected","ami_version":"11.0.0"}"#,
            ),
            (
                Envelope::Connection {
                    server: "pbx1",
                    state: "connecting",
                    ami_version: None,
                },
                r#"{"type":"connection","server":"pbx1","state":"connecting","ami_version":null}"#,
            ),
            (
                Envelope::Lagged {
                    server: "pbx1",
                    missed: 7,
                    upstream: false,
                },
                r#"{"type":"lagged","server":"pbx1","missed":7}"#,
            ),
            (
                Envelope::Lagged {
                    server: "pbx1",
                    missed: 7,
                    upstream: true,
                },
                r#"{"type":"lagged","server":"pbx1","missed":7,"upstream":true}"#,
            ),
            (
                Envelope::Closing {
                    reason: "slow_consumer",
                },
                r#"{"type":"closing","reason":"slow_consumer"}"#,
            ),
        ];
        for (envelope, expected) in cases {
            assert_eq!(envelope.render(), expected);
        }
    }
}
