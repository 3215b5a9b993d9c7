//! What is published for each item a PBX's subscriber yields (sans-IO): the connection epoch,
//! the sequence within it, the subject, the headers, the message id and the JSON body.
//!
//! Every message of an epoch, events and markers alike, takes the next `Ami-Seq`, so a
//! consumer sees a gap in the sequence only where a message was lost, and the `lagged` and
//! `connection` markers say where and why.

use ami_client::{ConnectionState, EventItem, Message};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::subject;

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An AMI event.
    Event,
    /// Events were dropped before this point.
    Lagged,
    /// The PBX connection came up or went down.
    Connection,
    /// The PBX's state (an `ami-state` snapshot), after a new owner logged in.
    State,
}

impl Kind {
    /// The `Ami-Kind` header's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Lagged => "lagged",
            Self::Connection => "connection",
            Self::State => "state",
        }
    }
}

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The subject.
    pub subject: String,
    /// What it is.
    pub kind: Kind,
    /// The event's name, for events.
    pub event: Option<String>,
    /// The connection epoch it belongs to.
    pub epoch: u64,
    /// Its sequence number in the epoch (from 1).
    pub seq: u64,
    /// The `Nats-Msg-Id`: `server/epoch/seq`.
    pub msg_id: String,
    /// The JSON body.
    pub body: Bytes,
}

impl Outgoing {
    /// The NATS headers, in order: server, kind, event (events only), epoch, seq, msg id.
    pub fn headers(&self, server: &str) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            (subject::HEADER_SERVER, server.to_owned()),
            (subject::HEADER_KIND, self.kind.as_str().to_owned()),
        ];
        if let Some(event) = &self.event {
            headers.push((subject::HEADER_EVENT, event.clone()));
        }
        headers.push((subject::HEADER_EPOCH, self.epoch.to_string()));
        headers.push((subject::HEADER_SEQ, self.seq.to_string()));
        headers.push((subject::HEADER_MSG_ID, self.msg_id.clone()));
        headers
    }
}

/// Numbers and names the messages of one PBX.
#[derive(Debug)]
pub struct Sequencer {
    server: String,
    /// `ami.<server>.event.`: every event subject starts with it (sanitised once, not per event).
    event_prefix: String,
    /// The last event body's length: the next one's buffer is allocated once at about its size
    /// rather than grown step by step.
    body_hint: usize,
    epoch: u64,
    seq: u64,
    /// The bridge instance holding the PBX's lease, named in every `connected` marker.
    instance: Option<String>,
    /// Set at a takeover until the first `connected` marker says it: the previous owner
    /// (`Some(None)`: unknown).
    takeover: Option<Option<String>>,
}

impl Sequencer {
    /// For the server named `server` (its configured name).
    pub fn new(server: impl Into<String>) -> Self {
        let server = server.into();
        Self {
            event_prefix: subject::event_prefix(&server),
            server,
            body_hint: 256,
            epoch: 0,
            seq: 0,
            instance: None,
            takeover: None,
        }
    }

    /// For a PBX whose lease `instance` just acquired: its first `connected` marker says so
    /// (`"takeover": true`), with the previous owner if known (`"previous_owner"`, else
    /// null). The previous owner's last epoch is not known here: events between its last
    /// message and this marker may be missing.
    pub fn with_owner(mut self, instance: impl Into<String>, previous: Option<String>) -> Self {
        self.instance = Some(instance.into());
        self.takeover = Some(previous);
        self
    }

    /// The current epoch (0 before the first login).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The message for one subscriber item, if it is one to publish. `now_ms` is the wall
    /// clock (Unix milliseconds): a login starts a new epoch numbered by it, always above the
    /// previous one, so epochs order logins even if the clock steps back.
    pub fn handle_item(&mut self, item: &EventItem, now_ms: u64) -> Option<Outgoing> {
        match item {
            EventItem::Event(event) => Some(self.handle_event(event.message())),
            EventItem::Lagged(missed) => Some(self.lagged(*missed, "queue_full")),
            EventItem::Skipped(error) => Some(self.lagged_with(json!({
                "missed": 1,
                "reason": "decode_error",
                "error": error.to_string(),
            }))),
            EventItem::Connection(ConnectionState::Connected { ami_version }) => {
                Some(self.handle_connected(ami_version, now_ms))
            }
            EventItem::Connection(ConnectionState::Disconnected { reason }) => {
                Some(self.handle_disconnected(reason))
            }
            // A filter panic cannot happen (the bridge sets none); newer items are not events.
            _ => None,
        }
    }

    /// An event: `ami.<server>.event.<Name>` with the one JSON mapping as its body.
    pub fn handle_event(&mut self, message: &Message) -> Outgoing {
        let name = message.event_name().unwrap_or_default().into_owned();
        // Written straight out by serde, without building a JSON object first: building it
        // (a map, a key and a value per header) was the largest part of an event's cost.
        let mut body = Vec::with_capacity(self.body_hint + self.body_hint / 4);
        if serde_json::to_writer(&mut body, &ami_json::MessageJson(message)).is_err() {
            body.clear();
        }
        self.body_hint = body.len();
        let mut subject = String::with_capacity(self.event_prefix.len() + name.len());
        subject.push_str(&self.event_prefix);
        subject::push_token(&mut subject, &name);
        self.next(subject, Kind::Event, Some(name), body)
    }

    /// A login: a new epoch, numbered by the clock and above the previous one, opened by a
    /// `connection` marker.
    pub fn handle_connected(&mut self, ami_version: &str, now_ms: u64) -> Outgoing {
        self.epoch = now_ms.max(self.epoch + 1);
        self.seq = 0;
        let mut body = json!({ "state": "connected", "ami_version": ami_version });
        if let Some(instance) = &self.instance {
            body["instance"] = json!(instance);
        }
        if let Some(previous) = self.takeover.take() {
            body["takeover"] = json!(true);
            body["previous_owner"] = json!(previous);
        }
        self.connection(body)
    }

    /// The PBX's state: `ami.<server>.state` with `state` (an `ami-state` snapshot as JSON)
    /// and the epoch it belongs to as its body.
    pub fn state(&mut self, state: Value) -> Outgoing {
        let body = json!({ "epoch": self.epoch, "state": state });
        let body = serde_json::to_vec(&body).unwrap_or_default();
        self.next(subject::state(&self.server), Kind::State, None, body)
    }

    /// The connection dropped: a `connection` marker closing the epoch.
    pub fn handle_disconnected(&mut self, reason: &str) -> Outgoing {
        self.connection(json!({ "state": "disconnected", "reason": reason }))
    }

    /// A `lagged` marker for `missed` messages lost for `reason` (`queue_full`: the
    /// subscriber's queue overflowed; `publish_failed`: JetStream never acknowledged them).
    pub fn lagged(&mut self, missed: u64, reason: &str) -> Outgoing {
        self.lagged_with(json!({ "missed": missed, "reason": reason }))
    }

    /// A `connection` marker saying the bridge stops serving this PBX (its last message in
    /// the epoch).
    pub fn stopping(&mut self) -> Outgoing {
        self.connection(json!({ "state": "disconnected", "reason": "the bridge is stopping" }))
    }

    fn lagged_with(&mut self, body: Value) -> Outgoing {
        let body = serde_json::to_vec(&body).unwrap_or_default();
        self.next(subject::lagged(&self.server), Kind::Lagged, None, body)
    }

    fn connection(&mut self, mut body: Value) -> Outgoing {
        body["epoch"] = json!(self.epoch);
        let body = serde_json::to_vec(&body).unwrap_or_default();
        self.next(
            subject::connection(&self.server),
            Kind::Connection,
            None,
            body,
        )
    }

    fn next(
        &mut self,
        subject: String,
        kind: Kind,
        event: Option<String>,
        body: Vec<u8>,
    ) -> Outgoing {
        self.seq += 1;
        Outgoing {
            subject,
            kind,
            event,
            epoch: self.epoch,
            seq: self.seq,
            msg_id: subject::msg_id(&self.server, self.epoch, self.seq),
            body: Bytes::from(body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(raw: &[u8]) -> Message {
        let mut decoder = ami_proto::Decoder::new();
        let mut buf = bytes::BytesMut::from(raw);
        match decoder.decode(&mut buf) {
            Ok(Some(ami_proto::Packet::Message(message))) => message,
            other => panic!("not a message: {other:?}"),
        }
    }

    fn connected() -> EventItem {
        EventItem::Connection(ConnectionState::Connected {
            ami_version: "2.10.6".into(),
        })
    }

    #[test]
    fn a_login_starts_an_epoch_and_numbers_every_message_from_one() {
        let mut seq = Sequencer::new("pbx.1");
        let up = seq.handle_item(&connected(), 1_000).expect("marker");
        assert_eq!((up.kind, up.epoch, up.seq), (Kind::Connection, 1_000, 1));
        assert_eq!(up.subject, "ami.pbx_1.connection");
        assert_eq!(up.msg_id, "pbx.1/1000/1");
        let body: Value = serde_json::from_slice(&up.body).expect("json");
        assert_eq!(
            body,
            json!({"state": "connected", "ami_version": "2.10.6", "epoch": 1000})
        );

        let hangup = seq.handle_event(&event(
            b"Event: Hangup\r\nChannel: PJSIP/1-0001\r\nCause: 16\r\n\r\n",
        ));
        assert_eq!(hangup.subject, "ami.pbx_1.event.Hangup");
        assert_eq!((hangup.epoch, hangup.seq), (1_000, 2));
        let body: Value = serde_json::from_slice(&hangup.body).expect("json");
        assert_eq!(body["Channel"], "PJSIP/1-0001");
        assert_eq!(
            hangup.headers("pbx.1"),
            vec![
                ("Ami-Server", "pbx.1".to_owned()),
                ("Ami-Kind", "event".to_owned()),
                ("Ami-Event", "Hangup".to_owned()),
                ("Ami-Epoch", "1000".to_owned()),
                ("Ami-Seq", "2".to_owned()),
                ("Nats-Msg-Id", "pbx.1/1000/2".to_owned()),
            ]
        );

        let lag = seq
            .handle_item(&EventItem::Lagged(7), 1_002)
            .expect("marker");
        assert_eq!(
            (lag.kind, lag.subject.as_str(), lag.seq),
            (Kind::Lagged, "ami.pbx_1.lagged", 3)
        );
        let body: Value = serde_json::from_slice(&lag.body).expect("json");
        assert_eq!(body, json!({"missed": 7, "reason": "queue_full"}));

        let down = seq
            .handle_item(
                &EventItem::Connection(ConnectionState::Disconnected {
                    reason: "eof".into(),
                }),
                1_003,
            )
            .expect("marker");
        assert_eq!((down.epoch, down.seq), (1_000, 4));
    }

    #[test]
    fn each_relogin_is_a_new_higher_epoch_even_if_the_clock_steps_back() {
        let mut seq = Sequencer::new("p");
        seq.handle_item(&connected(), 5_000);
        seq.handle_event(&event(b"Event: Newchannel\r\n\r\n"));
        let again = seq.handle_item(&connected(), 4_000).expect("marker");
        assert_eq!((again.epoch, again.seq), (5_001, 1));
        let later = seq.handle_item(&connected(), 9_000).expect("marker");
        assert_eq!(later.epoch, 9_000);
        assert_eq!(seq.epoch(), 9_000);
    }

    #[test]
    fn a_takeover_is_said_in_the_first_marker_and_followed_by_the_state() {
        let mut seq = Sequencer::new("p").with_owner("bridge-b", Some("bridge-a".into()));
        let up = seq.handle_item(&connected(), 7_000).expect("marker");
        let body: Value = serde_json::from_slice(&up.body).expect("json");
        assert_eq!(body["takeover"], true);
        assert_eq!(body["previous_owner"], "bridge-a");
        assert_eq!(body["instance"], "bridge-b");
        let state = seq.state(json!({"calls": []}));
        assert_eq!(
            (state.kind, state.subject.as_str()),
            (Kind::State, "ami.p.state")
        );
        assert_eq!((state.epoch, state.seq), (7_000, 2));
        assert_eq!(state.headers("p")[1], ("Ami-Kind", "state".to_owned()));
        let body: Value = serde_json::from_slice(&state.body).expect("json");
        assert_eq!(body, json!({"epoch": 7_000, "state": {"calls": []}}));
        // A later reconnect of the same owner is no takeover.
        let again = seq.handle_item(&connected(), 8_000).expect("marker");
        let body: Value = serde_json::from_slice(&again.body).expect("json");
        assert_eq!(body.get("takeover"), None);
        assert_eq!(body["instance"], "bridge-b");
        // Without a known previous owner, it says null.
        let mut fresh = Sequencer::new("p").with_owner("b", None);
        let up = fresh.handle_item(&connected(), 1).expect("marker");
        let body: Value = serde_json::from_slice(&up.body).expect("json");
        assert_eq!(body["previous_owner"], Value::Null);
    }

    #[test]
    fn event_names_are_sanitised_in_the_subject_but_kept_in_the_header() {
        let mut seq = Sequencer::new("p");
        let odd = seq.handle_event(&event(b"Event: My.Event *\r\n\r\n"));
        assert_eq!(odd.subject, "ami.p.event.My_Event__");
        assert_eq!(odd.event.as_deref(), Some("My.Event *"));
    }
}
