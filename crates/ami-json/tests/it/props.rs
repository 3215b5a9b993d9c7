//! Generated packets through the JSON mapping and back.

use ami_json::{message_from_json, message_to_json};
use ami_proto::{Limits, Message, Packet};
use proptest::prelude::*;

use crate::generate::{header_block, legacy_follows};
use crate::support::decode_whole;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// `message_to_json` then `message_from_json` gives back every header's bytes: each name's
    /// values in wire order (the JSON form groups repeated names), then the text lines and body.
    #[test]
    fn json_round_trips_header_bytes(generated in header_block()) {
        let items = decode_whole(&generated.bytes, Limits::default());
        let Some(Ok(Packet::Message(message))) = items.first() else {
            return Err(TestCaseError::fail(format!("{items:?}")));
        };
        let back = message_from_json(&message_to_json(message)).unwrap();
        prop_assert_eq!(grouped(&back), grouped(message));
        prop_assert_eq!(back.body(), message.body());
    }

    /// Same for legacy Command replies (the body comes back exactly).
    #[test]
    fn json_round_trips_legacy_body(generated in legacy_follows()) {
        let items = decode_whole(&generated.bytes, Limits::default());
        let Some(Ok(Packet::Message(message))) = items.first() else {
            return Err(TestCaseError::fail(format!("{items:?}")));
        };
        let back = message_from_json(&message_to_json(message)).unwrap();
        prop_assert_eq!(grouped(&back), grouped(message));
        prop_assert_eq!(back.body(), message.body());
    }
}

/// Each name with its values, in order of first appearance.
type Groups = Vec<(Vec<u8>, Vec<Vec<u8>>)>;

/// Headers grouped by exact name in order of first appearance, then the text lines.
fn grouped(message: &Message) -> (Groups, Vec<Vec<u8>>) {
    let mut groups: Groups = Vec::new();
    let mut text = Vec::new();
    for field in message.fields() {
        if field.is_text_line() {
            text.push(field.value().to_vec());
            continue;
        }
        match groups.iter_mut().find(|(name, _)| name == field.name()) {
            Some((_, values)) => values.push(field.value().to_vec()),
            None => groups.push((field.name().to_vec(), vec![field.value().to_vec()])),
        }
    }
    (groups, text)
}
