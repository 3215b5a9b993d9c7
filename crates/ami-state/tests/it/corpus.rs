//! Every recording of `crates/ami-proto/tests/fixtures/corpus` (the server side of real
//! sessions) replayed through the model: no panic, and after each list result the model
//! equals what a model built from that list alone holds.

use std::collections::HashMap;
use std::path::PathBuf;

use ami_proto::{Decoder, Message, Packet};
use ami_state::{ListKind, State};
use bytes::BytesMut;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ami-proto/tests/fixtures/corpus")
}

fn messages(path: &std::path::Path) -> Vec<Message> {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&std::fs::read(path).expect("a readable recording")[..]);
    let mut out = Vec::new();
    while let Ok(Some(packet)) = decoder.decode(&mut buf) {
        if let Packet::Message(message) = packet {
            out.push(message);
        }
    }
    out
}

fn list_kind(item_event: &str) -> Option<ListKind> {
    match item_event {
        "CoreShowChannel" => Some(ListKind::Channels),
        "QueueParams" | "QueueMember" | "QueueEntry" => Some(ListKind::Queues),
        _ => None,
    }
}

fn completion_kind(event: &str) -> Option<ListKind> {
    match event {
        "CoreShowChannelsComplete" => Some(ListKind::Channels),
        "QueueStatusComplete" => Some(ListKind::Queues),
        _ => None,
    }
}

#[test]
fn every_recording_replays_and_each_list_result_is_the_model() {
    let mut recordings = 0;
    let mut lists = 0;
    for version in std::fs::read_dir(corpus_dir()).expect("the corpus fixtures") {
        let version = version.expect("an entry").path();
        for file in std::fs::read_dir(&version).expect("a version directory") {
            let path = file.expect("an entry").path();
            if path.extension().is_none_or(|ext| ext != "recv") {
                continue;
            }
            recordings += 1;
            let mut state = State::new();
            let mut pending: HashMap<(String, ListKind), Vec<Message>> = HashMap::new();
            for message in messages(&path) {
                let Some(name) = message.event_name().map(|n| n.into_owned()) else {
                    continue;
                };
                let id = message
                    .action_id()
                    .map(|id| id.into_owned())
                    .unwrap_or_default();
                if let Some(kind) = list_kind(&name) {
                    pending.entry((id, kind)).or_default().push(message);
                    continue;
                }
                if let Some(kind) = completion_kind(&name) {
                    let items = pending.remove(&(id, kind)).unwrap_or_default();
                    state.handle_list(kind, &items);
                    // The model keeps its other part: compare only the part listed.
                    let alone = State::from_lists(&[(kind, items)]);
                    let differences: Vec<String> = state
                        .verify(&alone)
                        .iter()
                        .map(ToString::to_string)
                        .filter(|d| d.starts_with("queue") == (kind == ListKind::Queues))
                        .collect();
                    assert!(
                        differences.is_empty(),
                        "{}: {differences:?}",
                        path.display()
                    );
                    lists += 1;
                    continue;
                }
                state.handle_event(&message);
            }
            // Whatever the recording did, the snapshot serialises.
            serde_json::to_string(&state.snapshot()).expect("a snapshot serialises");
        }
    }
    assert!(recordings > 100, "{recordings} recordings");
    assert!(lists >= 8, "{lists} list results");
}
