//! The typed surface against the recordings: every recorded event decodes to its own view (per
//! version), every value a numeric accessor parses is a number, and the legacy families map.

use std::path::Path;

use ami_catalog::events::{self, TypedEvent};
use ami_proto::{Decoder, Message, Packet};
use bytes::BytesMut;

/// `../shared` beside the checkout: required here (CI has it), so that these tests cannot pass
/// on nothing.
fn shared() -> std::path::PathBuf {
    crate::shared().expect("../shared (or $AMI_SHARED_DIR) holds the recordings")
}

/// Recorded event names the typed enum leaves as `Unknown` on purpose, with the reason. Empty:
/// every recorded event has a view.
const UNTYPED: &[(&str, &str)] = &[];

/// Every message of every `.recv` file of one version's recordings.
fn recorded_messages(corpus: &Path, version: &str) -> Vec<(String, Message)> {
    let dir = corpus.join(format!("asterisk-{version}"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "recv"))
        .collect();
    files.sort();
    let mut messages = Vec::new();
    for path in files {
        let mut buf = BytesMut::from(&std::fs::read(&path).unwrap()[..]);
        let mut decoder = Decoder::new();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        loop {
            match decoder.decode_eof(&mut buf) {
                Ok(Some(Packet::Message(message))) => messages.push((name.clone(), message)),
                Ok(Some(Packet::Banner(_))) => {}
                Ok(None) => break,
                // Over-limit packets are tested elsewhere; the decoder resynchronises.
                Err(_) => {}
            }
        }
    }
    messages
}

fn every_event_is_typed(version: &str) {
    let shared = shared();
    let mut events = 0;
    let mut untyped = Vec::new();
    for (file, message) in recorded_messages(&shared.join("corpus"), version) {
        if !message.is_event() {
            continue;
        }
        events += 1;
        let typed = TypedEvent::decode(&message);
        let name = message.event_name().unwrap_or_default().into_owned();
        match typed.name() {
            Some(typed_name) => assert!(
                typed_name.eq_ignore_ascii_case(&name),
                "{file}: {name} decoded as {typed_name}"
            ),
            None if UNTYPED.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) => {}
            None => untyped.push(format!("{file}: {name}")),
        }
        // The view is the message itself, not a copy.
        assert!(std::ptr::eq(typed.message(), &message));
        for field in message.fields() {
            let header = field.name_str().to_ascii_lowercase();
            if events::NUMBER_FIELDS.contains(&header.as_str()) {
                let value = field.value_str();
                let value = value.trim();
                assert!(
                    value.is_empty() || value.parse::<i64>().is_ok(),
                    "{file}: {name}'s {header} is typed as a number but was {value:?}"
                );
            }
        }
    }
    // Guards against a scan that silently finds nothing.
    assert!(events >= 20, "asterisk-{version}: only {events} events");
    assert!(
        untyped.is_empty(),
        "asterisk-{version}: untyped {untyped:?}"
    );
    for (name, reason) in UNTYPED {
        assert!(!reason.is_empty(), "{name} needs a reason");
    }
}

#[test]
fn every_event_of_22_is_typed() {
    every_event_is_typed("22");
}

#[test]
fn every_event_of_13_is_typed() {
    every_event_is_typed("13");
}

#[test]
fn every_event_of_11_is_typed() {
    every_event_is_typed("11");
}

#[test]
fn every_event_of_1_8_is_typed() {
    every_event_is_typed("1.8");
}

/// Legacy `Dial` and `Bridge`/`Unlink` from the 11 and 1.8 recordings map to the modern event
/// their sub-event or state selects.
#[test]
fn legacy_families_map_by_sub_event() {
    let shared = shared();
    for version in ["11", "1.8"] {
        let (mut begin, mut end) = (0, 0);
        for (file, message) in recorded_messages(&shared.join("corpus"), version) {
            if let TypedEvent::Dial(dial) = TypedEvent::decode(&message) {
                let sub = dial.sub_event().unwrap_or_default();
                match dial.modern() {
                    Some("DialBegin") => {
                        assert!(sub.eq_ignore_ascii_case("Begin"), "{file}");
                        begin += 1;
                    }
                    Some("DialEnd") => {
                        assert!(sub.eq_ignore_ascii_case("End"), "{file}");
                        end += 1;
                    }
                    other => panic!("{file}: Dial {sub} maps to {other:?}"),
                }
            }
        }
        assert!(
            begin > 0 && end > 0,
            "asterisk-{version}: {begin} begin, {end} end"
        );
    }
}
