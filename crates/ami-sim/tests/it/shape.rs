//! The "shape" of an AMI stream: packet kinds, names, header-name order and the values that do
//! not change between runs. Volatile values (Uniqueid, timestamps, SessionID, addresses,
//! challenge, durations) are left out; digits in compared values are masked.

use std::collections::BTreeMap;

use ami_proto::{Decoder, MessageKind, Packet};
use bytes::BytesMut;

/// Headers whose values are compared (digits masked).
const COMPARED: &[&str] = &[
    "Response",
    "Message",
    "EventList",
    "ListItems",
    "Events",
    "Ping",
    "UserEvent",
    "Privilege",
    "Status",
    "Variable",
    "Value",
    "SubEvent",
    "Bridgestate",
];

/// One packet's shape.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Shape {
    pub kind: String,
    pub name: String,
    pub headers: Vec<String>,
    pub values: Vec<(String, String)>,
    /// Output lines or the legacy body: per line, the text before its first digit.
    pub text: Vec<String>,
    pub action_id: Option<String>,
}

pub fn mask(value: &str) -> String {
    let mut out = String::new();
    let mut in_digits = false;
    for c in value.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

fn text_key(line: &str) -> String {
    line.split(|c: char| c.is_ascii_digit())
        .next()
        .unwrap_or("")
        .to_owned()
}

/// Decodes a whole server stream into shapes; the banner becomes a `banner` shape.
pub fn shapes(bytes: &[u8]) -> Vec<Shape> {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    loop {
        let packet = match decoder.decode_eof(&mut buf) {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(_) => continue,
        };
        match packet {
            Packet::Banner(banner) => out.push(Shape {
                kind: "banner".into(),
                name: String::from_utf8_lossy(banner.line()).into_owned(),
                headers: vec![],
                values: vec![],
                text: vec![],
                action_id: None,
            }),
            Packet::Message(message) => {
                let kind = match message.kind() {
                    MessageKind::Response => "response",
                    MessageKind::Event => "event",
                    MessageKind::Unknown => "unknown",
                };
                let name = match message.kind() {
                    MessageKind::Response => message.response().unwrap_or_default().into_owned(),
                    MessageKind::Event => message.event_name().unwrap_or_default().into_owned(),
                    MessageKind::Unknown => String::new(),
                };
                let mut headers = Vec::new();
                let mut values = Vec::new();
                let mut text = Vec::new();
                for field in message.fields() {
                    if field.is_text_line() {
                        continue;
                    }
                    let field_name = field.name_str().into_owned();
                    if field.name_is("Output") {
                        text.push(text_key(&field.value_str()));
                    }
                    if COMPARED.iter().any(|c| field.name_is(c)) {
                        let value = field.value_str();
                        // A ListCommands line (`Synopsis  (Priv: ...)`): the synopsis is
                        // Asterisk's prose, which the simulator leaves out; the classes count.
                        let value = match value.rfind("(Priv: ") {
                            Some(at) => &value[at..],
                            None => &value[..],
                        };
                        values.push((field_name.clone(), mask(value)));
                    }
                    headers.push(field_name);
                }
                if let Some(body) = message.body() {
                    text.extend(String::from_utf8_lossy(body).lines().map(text_key));
                }
                out.push(Shape {
                    kind: kind.into(),
                    name,
                    headers,
                    values,
                    text,
                    action_id: message.action_id().map(|id| id.into_owned()),
                })
            }
        }
    }
    out
}

/// How strictly two streams are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deterministic scenario: responses, list events and unsolicited events all match.
    Exact,
    /// Depends on calls that were up: responses match exactly; list items and unsolicited
    /// events must be shapes the recording also has.
    Lenient,
}

fn is_reply(shape: &Shape) -> bool {
    shape.kind == "response" || shape.kind == "unknown"
}

/// Compares a recorded stream with the simulator's; returns every difference found.
pub fn compare(recorded: &[Shape], ours: &[Shape], mode: Mode) -> Vec<String> {
    let mut problems = Vec::new();
    match (recorded.first(), ours.first()) {
        (Some(r), Some(o)) if r.kind == "banner" && r == o => {}
        (r, o) => problems.push(format!("banner differs: recorded {r:?}, ours {o:?}")),
    }
    // 1. Responses, in order.
    let rec: Vec<&Shape> = recorded.iter().filter(|s| is_reply(s)).collect();
    let our: Vec<&Shape> = ours.iter().filter(|s| is_reply(s)).collect();
    if rec.len() != our.len() {
        problems.push(format!(
            "{} responses recorded, {} from the simulator:\n recorded {:?}\n ours {:?}",
            rec.len(),
            our.len(),
            rec.iter()
                .map(|s| (&s.name, &s.action_id))
                .collect::<Vec<_>>(),
            our.iter()
                .map(|s| (&s.name, &s.action_id))
                .collect::<Vec<_>>()
        ));
    }
    for (r, o) in rec.iter().zip(&our) {
        let same = if r.kind == "unknown" || mode == Mode::Lenient && !r.text.is_empty() {
            r.kind == o.kind && r.headers.first() == o.headers.first()
        } else {
            r == o
        };
        if !same {
            problems.push(format!(
                "response differs:\n recorded {r:?}\n ours     {o:?}"
            ));
        }
    }
    // 2. Events answering an action (list items, Complete, UserEvent echo, OriginateResponse).
    let group = |shapes: &[Shape]| {
        let mut map: BTreeMap<String, Vec<Shape>> = BTreeMap::new();
        for s in shapes.iter().filter(|s| s.kind == "event") {
            if let Some(id) = &s.action_id {
                map.entry(id.clone()).or_default().push(s.clone());
            }
        }
        map
    };
    let rec_lists = group(recorded);
    let our_lists = group(ours);
    for (id, rec_items) in &rec_lists {
        let our_items = our_lists.get(id).cloned().unwrap_or_default();
        match mode {
            Mode::Exact => {
                if *rec_items != our_items {
                    problems.push(format!(
                        "events for ActionID {id} differ:\n recorded {rec_items:#?}\n ours {our_items:#?}"
                    ));
                }
            }
            Mode::Lenient => {
                let unmasked = |s: &Shape| Shape {
                    values: s
                        .values
                        .iter()
                        .filter(|(n, _)| {
                            !matches!(n.as_str(), "ListItems" | "Status" | "Value" | "Variable")
                        })
                        .cloned()
                        .collect(),
                    ..s.clone()
                };
                // The Complete event (last) must match apart from counts.
                let rec_done = rec_items
                    .iter()
                    .rev()
                    .find(|s| s.name.ends_with("Complete"));
                let our_done = our_items
                    .iter()
                    .rev()
                    .find(|s| s.name.ends_with("Complete"));
                if rec_done.map(unmasked) != our_done.map(unmasked) {
                    problems.push(format!(
                        "Complete event for {id} differs:\n recorded {rec_done:?}\n ours {our_done:?}"
                    ));
                }
                for item in our_items.iter().filter(|s| !s.name.ends_with("Complete")) {
                    let known = rec_items
                        .iter()
                        .any(|r| r.name == item.name && r.headers == item.headers);
                    let recorded_kind = rec_items.iter().any(|r| r.name == item.name);
                    if recorded_kind && !known {
                        problems.push(format!(
                            "list item {} for {id} has headers the recording never shows: {:?}\n recorded ones: {:?}",
                            item.name,
                            item.headers,
                            rec_items.iter().filter(|r| r.name == item.name).map(|r| &r.headers).collect::<Vec<_>>()
                        ));
                    }
                }
            }
        }
    }
    // 3. Unsolicited events.
    let unsolicited = |shapes: &[Shape]| -> Vec<Shape> {
        shapes
            .iter()
            .filter(|s| s.kind == "event" && s.action_id.is_none())
            .cloned()
            .collect()
    };
    let mut rec_events = unsolicited(recorded);
    let mut our_events = unsolicited(ours);
    match mode {
        Mode::Exact => {
            rec_events.sort();
            our_events.sort();
            if rec_events != our_events {
                problems.push(format!(
                    "unsolicited events differ:\n recorded {:?}\n ours {:?}",
                    rec_events.iter().map(|s| &s.name).collect::<Vec<_>>(),
                    our_events.iter().map(|s| &s.name).collect::<Vec<_>>()
                ));
                for o in &our_events {
                    if !rec_events.contains(o) {
                        let close = rec_events.iter().find(|r| r.name == o.name);
                        problems.push(format!(" ours {o:?}\n recorded {close:?}"));
                    }
                }
            }
        }
        Mode::Lenient => {
            for o in &our_events {
                let same_name: Vec<&Shape> =
                    rec_events.iter().filter(|r| r.name == o.name).collect();
                if same_name.is_empty() {
                    problems.push(format!("event {} never appears in the recording", o.name));
                } else if !same_name.iter().any(|r| r.headers == o.headers) {
                    problems.push(format!(
                        "event {} has headers {:?}; recorded: {:?}",
                        o.name, o.headers, same_name[0].headers
                    ));
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    problems
}
