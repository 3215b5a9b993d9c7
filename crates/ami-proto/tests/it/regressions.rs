//! Decoder bugs found by the property tests, the fuzzer and review, each pinned by its case.

use ami_proto::{DecodeError, Limits, Packet};

use crate::support::{Item, decode_pieces, decode_whole};

fn message(item: &Item) -> &ami_proto::Message {
    match item {
        Ok(Packet::Message(message)) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Whole, in 1-byte pieces and in 7-byte pieces: the same items.
fn decode_every_way(input: &[u8], limits: Limits) -> Vec<Item> {
    let whole = decode_whole(input, limits);
    assert_eq!(decode_pieces(input, 1, limits), whole, "1-byte pieces");
    assert_eq!(decode_pieces(input, 7, limits), whole, "7-byte pieces");
    whole
}

/// Asterisk 13 and older: `core show settings` (also `core show sysinfo`, `sip show settings`)
/// output starts with an empty line, which came right after the headers and was taken for the
/// end of the packet; the CLI text then decoded as junk packets.
#[test]
fn legacy_body_starting_with_an_empty_line() {
    let input = b"Response: Follows\r\nPrivilege: Command\r\nActionID: s-1\r\n\nPBX Core settings\n-----------------\n  Version:                     13.38.3\n--END COMMAND--\r\n\r\nResponse: Success\r\nActionID: s-2\r\n\r\n";
    let items = decode_every_way(input, Limits::default());
    assert_eq!(items.len(), 2, "{items:?}");
    let settings = message(&items[0]);
    assert_eq!(settings.action_id().as_deref(), Some("s-1"));
    assert_eq!(
        settings.body(),
        Some(
            &b"\nPBX Core settings\n-----------------\n  Version:                     13.38.3\n"[..]
        )
    );
    assert_eq!(message(&items[1]).action_id().as_deref(), Some("s-2"));
    // A CRLF blank line still ends a Follows reply that has no text.
    let items = decode_every_way(
        b"Response: Follows\r\nPrivilege: Command\r\n\r\nEvent: X\r\n\r\n",
        Limits::default(),
    );
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(message(&items[0]).body(), None);
}

/// A capture ending right after `--END COMMAND--\r\n` (the blank line after it is optional) is a
/// complete reply, not a truncated one whose body holds the marker.
#[test]
fn legacy_reply_complete_at_end_of_stream_without_blank_line() {
    let input = b"Response: Follows\r\nPrivilege: Command\r\nuptime: 1\n--END COMMAND--\r\n";
    let items = decode_every_way(input, Limits::default());
    assert_eq!(items.len(), 1, "{items:?}");
    let reply = message(&items[0]);
    assert!(!reply.is_truncated());
    assert_eq!(reply.body(), Some(&b"uptime: 1\n"[..]));
    // Without the marker's line end it is cut off.
    let items = decode_every_way(&input[..input.len() - 2], Limits::default());
    assert!(message(&items[0]).is_truncated());
}

fn too_large(offset: u64, limit: usize) -> Item {
    Err(DecodeError::PacketTooLarge { offset, limit })
}

/// The blank line that ends a packet counts in its size: a packet one byte over the limit
/// was accepted when it arrived whole and refused when it arrived in pieces.
#[test]
fn a_packet_is_over_the_limit_however_it_arrives() {
    let limits = Limits {
        max_packet_bytes: 20,
        max_fields: 16,
    };
    // 19 bytes of headers + CRLF = 21 bytes.
    let input = b"Event: X\r\nA: 123456\r\n\r\nEvent: Y\r\n\r\n";
    let items = decode_every_way(input, limits);
    assert_eq!(items[0], too_large(0, 20));
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(message(&items[1]).event_name().as_deref(), Some("Y"));
    // So does a banner.
    let items = decode_every_way(b"Asterisk Call Manager/2.10.6\r\nEvent: Y\r\n\r\n", limits);
    assert_eq!(items[0], too_large(0, 20));
}

/// While skipping an over-limit packet, a line of carriage returns only is a line, as when
/// decoding; it was taken for the blank line ending the packet when it came in pieces.
#[test]
fn skipping_a_packet_agrees_on_what_a_blank_line_is() {
    let limits = Limits {
        max_packet_bytes: 24,
        max_fields: 16,
    };
    let mut input = b"Event: X\r\n".to_vec();
    input.extend_from_slice(&[b'\r'; 40]);
    input.extend_from_slice(b"\nB: still the same packet\r\n\r\nEvent: Y\r\n\r\n");
    let items = decode_every_way(&input, limits);
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], too_large(0, 24));
    assert_eq!(message(&items[1]).event_name().as_deref(), Some("Y"));
}

/// An over-limit legacy body is skipped to the same end a kept body would have: past a mere
/// mention of the marker, and not beyond a marker that has no blank line after it.
#[test]
fn skipping_a_legacy_body_ends_where_the_body_ends() {
    let limits = Limits {
        max_packet_bytes: 64,
        max_fields: 16,
    };
    // The first text line fits (42 bytes so far), so the body is being read when the limit
    // is crossed.
    let mut input = b"Response: Follows\r\nPrivilege: Command\r\nx\n".to_vec();
    input.extend_from_slice(b"text mentioning --END COMMAND-- in passing\n");
    input.extend_from_slice(&b"more text\n".repeat(8));
    input.extend_from_slice(b"--END COMMAND--\r\nResponse: Success\r\nActionID: next\r\n\r\n");
    let items = decode_every_way(&input, limits);
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], too_large(0, 64));
    assert_eq!(message(&items[1]).action_id().as_deref(), Some("next"));
}

/// Found by the fuzzer: waiting to see whether a blank line follows the marker line, the
/// decoder counted the next packet's first byte (a lone CR) in the reply's size, so a reply
/// of exactly the limit was refused when it arrived in pieces.
#[test]
fn bytes_after_the_marker_line_do_not_count_in_the_reply_size() {
    let reply = b"Response: Follows\r\nx\n--END COMMAND--\n";
    let limits = Limits {
        max_packet_bytes: reply.len(),
        max_fields: 16,
    };
    let input = [&reply[..], b"\r\r\nEvent: Y\r\n\r\n"].concat();
    let items = decode_every_way(&input, limits);
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(message(&items[0]).body(), Some(&b"x\n"[..]));
    assert_eq!(message(&items[1]).get("Event").as_deref(), Some("Y"));
}

/// A line both over the size limit and over the line-count limit was `TooManyFields` when it
/// came whole and `PacketTooLarge` when it came in pieces; size is now checked first.
#[test]
fn the_size_limit_is_checked_before_the_line_count() {
    let limits = Limits {
        max_packet_bytes: 32,
        max_fields: 1,
    };
    let input = b"Event: X\r\nA: a value that goes past the size limit\r\n\r\nEvent: Y\r\n\r\n";
    let items = decode_every_way(input, limits);
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], too_large(0, 32));
    assert_eq!(message(&items[1]).event_name().as_deref(), Some("Y"));
}

/// Found by the `decode` fuzz target after about 600,000 runs (the input is kept in
/// `tests/fixtures/fuzz/`): legacy `Follows` replies with NULs and non-UTF-8 bytes, the last one
/// ending in its marker line and a lone CR. `decode_eof` returned that reply, CR included, one
/// byte over the packet limit. Under every limit the input can meet, no message is over it and
/// every chunking agrees.
#[test]
fn no_message_over_the_limit_at_the_end_of_the_stream() {
    let path = crate::support::fixtures()
        .join("fuzz/decode-crash-6ca30e0d188d891e58b97d55851d11999e4dae5f");
    let input = std::fs::read(&path).expect("the fuzz finding is in the fixtures");
    let mut refused = 0;
    for max_packet_bytes in 2..=input.len() + 1 {
        let limits = Limits {
            max_packet_bytes,
            max_fields: 1024,
        };
        for item in decode_every_way(&input, limits) {
            match item {
                Ok(Packet::Message(message)) => assert!(
                    message.raw().len() <= max_packet_bytes,
                    "a {}-byte message under a {max_packet_bytes}-byte limit",
                    message.raw().len()
                ),
                Ok(Packet::Banner(_)) => {}
                Err(_) => refused += 1,
            }
        }
    }
    assert!(refused > 0, "small limits must refuse some packets");
    // The minimised case: one byte over at the end of the stream, however it arrives.
    let reply = b"Response: Follows\r\nPrivilege: Command\r\nsome text\n--END COMMAND--\r\n\r";
    let limits = Limits {
        max_packet_bytes: reply.len() - 1,
        max_fields: 16,
    };
    assert_eq!(
        decode_every_way(reply, limits),
        vec![too_large(0, reply.len() - 1)]
    );
}
