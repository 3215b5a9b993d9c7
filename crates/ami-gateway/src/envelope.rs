//! The messages of the event streams (SSE and WebSocket), each one JSON object with a `type`:
//! `hello`, `event`, `state`, `connection`, `lagged`, `closing`. Built by serde from [`Envelope`], so
//! every string is escaped by one writer; the event itself is written by ami-json's
//! [`MessageJson`] (its fast path for the common event) straight into the same buffer.
//!
//! A leaf module: the fan-out (`upstream`) and the stream handlers (`streams`) both render
//! through it, without importing each other for it.

use ami_json::MessageJson;
use ami_proto::Message;
use serde::Serialize;
use serde_json::{Map, Value};
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
        /// Whether `state` messages follow (written only when they do, so the message of a
        /// stream without them is as it always was).
        #[serde(skip_serializing_if = "is_false")]
        state: bool,
    },
    /// One AMI event of `server`, in the JSON mapping.
    Event {
        server: &'a str,
        event: MessageJson<'a>,
    },
    /// The live state of `server`: whole (`snapshot`: first, and again after a gap), or what
    /// changed since the last message (`update`: per key of the snapshot, the entries that
    /// changed, `null` for one that went; a key whose value is not an object is given whole).
    State {
        server: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        snapshot: Option<&'a Map<String, Value>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        update: Option<&'a Map<String, Value>>,
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

/// `{"type":"state","server":...,"snapshot":{...}}`, or `"update"` with the changes.
pub(crate) fn state(
    server: &str,
    snapshot: Option<&Map<String, Value>>,
    update: Option<&Map<String, Value>>,
) -> String {
    Envelope::State {
        server,
        snapshot,
        update,
    }
    .render()
}

/// What changed from `old` to `new`, two snapshots as JSON: for each key whose value changed,
/// the entries of it that changed (a value replaced whole, `null` for an entry that went) when
/// both are objects, or else the new value whole. Empty when nothing changed. The rule does
/// not know the snapshot's keys, so objects the state model gains are followed as they come.
pub(crate) fn state_update(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Map<String, Value> {
    let mut update = Map::new();
    for (key, now) in new {
        match (old.get(key), now) {
            (Some(before), _) if before == now => {}
            (Some(Value::Object(before)), Value::Object(now)) => {
                let mut entries = Map::new();
                for (id, value) in now {
                    if before.get(id) != Some(value) {
                        entries.insert(id.clone(), value.clone());
                    }
                }
                for id in before.keys() {
                    if !now.contains_key(id) {
                        entries.insert(id.clone(), Value::Null);
                    }
                }
                update.insert(key.clone(), Value::Object(entries));
            }
            _ => {
                update.insert(key.clone(), now.clone());
            }
        }
    }
    for key in old.keys() {
        if !new.contains_key(key) {
            update.insert(key.clone(), Value::Null);
        }
    }
    update
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

    #[test]
    fn state_updates_carry_what_changed_and_apply_back_to_the_new_snapshot() {
        let old = serde_json::json!({
            "channels": {"1": {"state": "Ring"}, "2": {"state": "Up"}, "3": {"state": "Up"}},
            "calls": [{"id": "1"}],
            "queues": {"support": {"callers": []}},
        });
        let new = serde_json::json!({
            "channels": {"1": {"state": "Up"}, "3": {"state": "Up"}, "4": {"state": "Down"}},
            "calls": [{"id": "1"}, {"id": "4"}],
            "queues": {"support": {"callers": []}},
            "agents": {"1001": {"status": "idle"}},
        });
        let (Value::Object(old), Value::Object(new)) = (old, new) else {
            panic!("objects");
        };
        let update = state_update(&old, &new);
        assert_eq!(
            Value::Object(update.clone()),
            serde_json::json!({
                "channels": {"1": {"state": "Up"}, "2": null, "4": {"state": "Down"}},
                "calls": [{"id": "1"}, {"id": "4"}],
                "agents": {"1001": {"status": "idle"}},
            })
        );
        // A client applies it as the console does: entries of objects, other values whole.
        let mut applied = old.clone();
        for (key, value) in update {
            match (applied.get_mut(&key), value) {
                (Some(Value::Object(held)), Value::Object(entries)) => {
                    for (id, entry) in entries {
                        if entry.is_null() {
                            held.remove(&id);
                        } else {
                            held.insert(id, entry);
                        }
                    }
                }
                (_, Value::Null) => {
                    applied.remove(&key);
                }
                (_, value) => {
                    applied.insert(key, value);
                }
            }
        }
        assert_eq!(applied, new);
        assert!(state_update(&new, &new).is_empty());
        assert_eq!(
            state("sim", None, Some(&Map::new())),
            r#"{"type":"state","server":"sim","update":{}}"#
        );
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
                    state: false,
                },
                r#"{"type":"hello","servers":["pbx1","p\"2"],"events":["Hangup"],"headers":["Context:demo"]}"#,
            ),
            (
                Envelope::Hello {
                    servers: &[],
                    events: &[],
                    headers: &[],
                    state: false,
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
