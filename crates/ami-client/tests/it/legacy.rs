//! The legacy views against the 11 and 1.8 recordings: `DialBegin` takes a `Dial` only with
//! `SubEvent: Begin`, `BridgeEnter` a `Bridge` only with `Bridgestate: Link`, never `Unlink`.
//! The recordings live in `../shared/corpus` beside the checkout (as in CI); the test fails
//! without them rather than pass on nothing.

use std::path::PathBuf;

use ami_client::Message;
use ami_client::typed::{BridgeEnter, DialBegin, EventView};
use ami_proto::{Decoder, Packet};
use bytes::BytesMut;

fn corpus() -> PathBuf {
    let dir = match std::env::var_os("AMI_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
    .join("corpus");
    assert!(dir.is_dir(), "{} is missing", dir.display());
    dir
}

fn recorded_events(version: &str) -> Vec<(String, Message)> {
    let dir = corpus().join(format!("asterisk-{version}"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "recv"))
        .collect();
    files.sort();
    let mut events = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut buf = BytesMut::from(&std::fs::read(&path).expect("recording")[..]);
        let mut decoder = Decoder::new();
        loop {
            match decoder.decode_eof(&mut buf) {
                Ok(Some(Packet::Message(message))) if message.is_event() => {
                    events.push((name.clone(), message))
                }
                Ok(Some(_)) | Err(_) => {}
                Ok(None) => break,
            }
        }
    }
    events
}

#[test]
fn legacy_dial_and_bridge_views_on_11_and_1_8() {
    for version in ["11", "1.8"] {
        let (mut begins, mut ends, mut links, mut unlinks) = (0, 0, 0, 0);
        for (file, event) in recorded_events(version) {
            let name = event.event_name().unwrap_or_default().into_owned();
            match name.as_str() {
                "Dial" => {
                    let begin = event.value_is("SubEvent", "Begin");
                    if begin {
                        begins += 1;
                    } else {
                        assert!(event.value_is("SubEvent", "End"), "{file}: {event:?}");
                        ends += 1;
                    }
                    assert_eq!(DialBegin::from_message(&event).is_some(), begin, "{file}");
                    assert!(BridgeEnter::from_message(&event).is_none());
                }
                "Bridge" => {
                    let link = event.value_is("Bridgestate", "Link");
                    if link {
                        links += 1;
                    } else {
                        unlinks += 1;
                    }
                    let view = BridgeEnter::from_message(&event);
                    assert_eq!(view.is_some(), link, "{file}: {event:?}");
                    if let Some(view) = view {
                        assert!(view.channel().is_some_and(|c| !c.is_empty()));
                    }
                }
                "Unlink" => {
                    unlinks += 1;
                    assert!(BridgeEnter::from_message(&event).is_none(), "{file}");
                }
                _ => {}
            }
        }
        // Both sides of both families are in the recordings, so each check above ran.
        assert!(
            begins > 0 && ends > 0 && links > 0 && unlinks > 0,
            "asterisk-{version}: {begins} begin, {ends} end, {links} link, {unlinks} unlink"
        );
    }
}
