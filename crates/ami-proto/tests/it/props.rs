//! Property tests: the decoder's output does not depend on how the input is cut, generated
//! streams decode to what was generated, encoder and JSON mapping round-trip, and arbitrary
//! bytes never panic nor grow the buffer past the limits.

use ami_proto::{Action, Decoder, Limits, Packet, encode_action};
use bytes::BytesMut;
use proptest::prelude::*;

use crate::generate::{Expected, Generated, eol, header_block, legacy_follows};
use crate::support::{Item, corpus_files, decode_cut, decode_pieces, decode_whole};

// ---------------------------------------------------------------------------------------------
// The corpus, cut every way.

/// Every single cut position of every small recording, and 1-byte pieces of every recording.
#[test]
fn corpus_decodes_the_same_however_it_is_cut() {
    let limits = Limits::default();
    for (version, scenario, path) in corpus_files() {
        let input = std::fs::read(&path).unwrap();
        let whole = decode_whole(&input, limits);
        assert_eq!(
            decode_pieces(&input, 1, limits),
            whole,
            "{version}/{scenario}: 1-byte pieces"
        );
        if input.len() <= 2048 {
            for cut in 1..input.len() {
                assert_eq!(
                    decode_cut(&input, &[cut], limits),
                    whole,
                    "{version}/{scenario}: cut at {cut}"
                );
            }
        }
    }
}

/// The corpus in random chunkings, with default and with tight limits (so that packets over the
/// limits, skipped and resynchronised, are cut anywhere too).
#[test]
fn corpus_random_chunkings() {
    let files: Vec<Vec<u8>> = corpus_files()
        .into_iter()
        .map(|(_, _, path)| std::fs::read(path).unwrap())
        .collect();
    let tight = Limits {
        max_packet_bytes: 600,
        max_fields: 12,
    };
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    });
    let strategy = (
        0..files.len(),
        proptest::collection::vec(1usize..3000, 1..40),
        any::<bool>(),
    );
    runner
        .run(&strategy, |(index, sizes, use_tight)| {
            let input = &files[index];
            let limits = if use_tight { tight } else { Limits::default() };
            let cuts = cuts_from_sizes(&sizes, input.len());
            prop_assert_eq!(
                decode_cut(input, &cuts, limits),
                decode_whole(input, limits)
            );
            Ok(())
        })
        .unwrap();
}

/// Cut offsets from a list of piece sizes, cycled until the input is covered.
fn cuts_from_sizes(sizes: &[usize], len: usize) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut at = 0;
    for size in sizes.iter().cycle() {
        at += size;
        if at >= len {
            break;
        }
        cuts.push(at);
    }
    cuts
}

fn stray_blank_lines() -> impl Strategy<Value = Generated> {
    proptest::collection::vec(eol(), 1..3).prop_map(|eols| Generated {
        bytes: eols.concat(),
        expected: Expected::Nothing,
    })
}

fn banner() -> impl Strategy<Value = Generated> {
    ("[0-9]{1,2}\\.[0-9]{1,2}(\\.[0-9]{1,2})?", eol()).prop_map(|(version, eol)| {
        let line = format!("Asterisk Call Manager/{version}").into_bytes();
        Generated {
            bytes: [&line[..], eol].concat(),
            expected: Expected::Banner(line),
        }
    })
}

/// A stream: optionally a banner, then packets (a legacy body never directly follows a packet
/// ended without its blank line, which would glue the two).
fn stream() -> impl Strategy<Value = Vec<Generated>> {
    let packet = prop_oneof![
        6 => header_block(),
        2 => legacy_follows(),
        1 => stray_blank_lines(),
    ];
    (
        proptest::option::of(banner()),
        proptest::collection::vec(packet, 0..10),
    )
        .prop_map(|(banner, packets)| {
            let mut stream: Vec<Generated> = banner.into_iter().collect();
            for packet in packets {
                // A Follows reply without its blank line is only unambiguous when what follows
                // is not a blank line (that blank line would be taken as its end).
                let previous_unterminated = stream.last().is_some_and(|previous| {
                    !previous.bytes.ends_with(b"\n\r\n")
                        && !previous.bytes.ends_with(b"\n\n")
                        && matches!(previous.expected, Expected::Message { body: Some(_), .. })
                });
                if previous_unterminated && matches!(packet.expected, Expected::Nothing) {
                    continue;
                }
                stream.push(packet);
            }
            stream
        })
}

fn check_expected(items: &[Item], stream: &[Generated]) -> Result<(), TestCaseError> {
    let expected: Vec<&Generated> = stream
        .iter()
        .filter(|packet| !matches!(packet.expected, Expected::Nothing))
        .collect();
    prop_assert_eq!(items.len(), expected.len(), "packet count: {:?}", items);
    for (item, generated) in items.iter().zip(expected) {
        let packet = item
            .as_ref()
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        match (&generated.expected, packet) {
            (Expected::Banner(line), Packet::Banner(banner)) => {
                prop_assert_eq!(banner.line(), &line[..]);
            }
            (Expected::Message { kind, fields, body }, Packet::Message(message)) => {
                prop_assert_eq!(message.kind(), *kind);
                let got: Vec<(Vec<u8>, Vec<u8>)> = message
                    .fields()
                    .map(|field| (field.name().to_vec(), field.value().to_vec()))
                    .collect();
                prop_assert_eq!(&got, fields);
                prop_assert_eq!(message.body(), body.as_deref());
                prop_assert!(!message.is_truncated());
                prop_assert_eq!(&message.raw()[..], &generated.bytes[..]);
            }
            (expected, packet) => {
                return Err(TestCaseError::fail(format!(
                    "expected {expected:?}, got {packet:?}"
                )));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A generated stream decodes to exactly what was generated, given whole, in 1-byte
    /// pieces, and in random pieces.
    #[test]
    fn generated_streams_decode_as_generated_however_cut(
        stream in stream(),
        sizes in proptest::collection::vec(1usize..64, 1..16),
    ) {
        let input: Vec<u8> = stream.iter().flat_map(|packet| packet.bytes.clone()).collect();
        let limits = Limits::default();
        let whole = decode_whole(&input, limits);
        check_expected(&whole, &stream)?;
        prop_assert_eq!(&decode_pieces(&input, 1, limits), &whole);
        let cuts = cuts_from_sizes(&sizes, input.len());
        prop_assert_eq!(&decode_cut(&input, &cuts, limits), &whole);
    }

    /// Every single cut position of a generated stream.
    #[test]
    fn generated_streams_every_cut(stream in stream()) {
        let input: Vec<u8> = stream.iter().flat_map(|packet| packet.bytes.clone()).collect();
        let limits = Limits::default();
        let whole = decode_whole(&input, limits);
        for cut in 1..input.len() {
            prop_assert_eq!(&decode_cut(&input, &[cut], limits), &whole, "cut at {}", cut);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Arbitrary bytes: no panic, output independent of chunking, memory bounded by the limits.

/// Bytes biased towards what matters to the decoder: line ends, colons, the marker, Follows.
fn noisy_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        4 => any::<u8>().prop_map(|b| vec![b]),
        3 => prop::sample::select(vec![
            &b"\r\n"[..], b"\n", b"\r", b": ", b":", b" ", b"A", b"Event: X\r\n",
            b"Response: Follows\r\n", b"Privilege: Command\n", b"ActionID: 1\r\n",
            b"--END COMMAND--", b"--END COMMAND--\r\n\r\n", b"\r\n\r\n",
            b"Asterisk Call Manager/1.1\r\n",
        ]).prop_map(<[u8]>::to_vec),
    ];
    proptest::collection::vec(token, 0..120).prop_map(|tokens| tokens.concat())
}

fn small_limits() -> impl Strategy<Value = Limits> {
    (1usize..200, 1usize..10).prop_map(|(max_packet_bytes, max_fields)| Limits {
        max_packet_bytes,
        max_fields,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary bytes with small limits: no panic, the same items whatever the chunking, and
    /// (checked inside `decode_cut`) the buffer never holds more than the packet limit plus the
    /// piece just appended.
    #[test]
    fn arbitrary_bytes_are_chunking_independent_and_bounded(
        input in noisy_bytes(),
        limits in small_limits(),
        sizes in proptest::collection::vec(1usize..40, 1..12),
    ) {
        let whole = decode_whole(&input, limits);
        prop_assert_eq!(&decode_pieces(&input, 1, limits), &whole);
        let cuts = cuts_from_sizes(&sizes, input.len());
        prop_assert_eq!(&decode_cut(&input, &cuts, limits), &whole);
        for item in whole.iter().flatten() {
            if let Packet::Message(message) = item {
                prop_assert!(message.raw().len() <= limits.max_packet_bytes);
                prop_assert!(message.len() <= limits.max_fields);
            }
        }
    }

    /// Raw arbitrary bytes with default limits never panic and are consumed entirely.
    #[test]
    fn raw_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(&input[..]);
        let mut steps = 0;
        while decoder.decode_eof(&mut buf).map_or(true, |packet| packet.is_some()) {
            steps += 1;
            prop_assert!(steps <= input.len() + 1);
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(decoder.position(), input.len() as u64);
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips.

/// A header name the decoder reads back as one: no CR, LF, `:`, space or tab.
fn action_header_name() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z][A-Za-z0-9_-]{0,15}", "[^\r\n: \t]{1,8}",]
}

fn action_value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no line break", |b| *b != b'\r' && *b != b'\n'),
        0..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever action is encoded decodes to `Action: name` then its headers, in order, with
    /// the same bytes.
    #[test]
    fn encode_action_then_decode_round_trips(
        name in "[^\r\n:]{0,20}",
        headers in proptest::collection::vec((action_header_name(), action_value()), 0..10),
    ) {
        let mut action = Action::new(name.clone());
        for (header, value) in &headers {
            action.push(header.clone(), value.clone());
        }
        let mut buf = BytesMut::new();
        encode_action(&action, &mut buf).unwrap();
        let wire = buf.to_vec();
        let items = decode_whole(&wire, Limits::default());
        prop_assert_eq!(items.len(), 1, "{:?}", items);
        let Ok(Packet::Message(message)) = &items[0] else {
            return Err(TestCaseError::fail(format!("{:?}", items[0])));
        };
        let got: Vec<(Vec<u8>, Vec<u8>)> = message
            .fields()
            .map(|field| (field.name().to_vec(), field.value().to_vec()))
            .collect();
        let mut expected = vec![(b"Action".to_vec(), name.into_bytes())];
        expected.extend(headers.into_iter().map(|(header, value)| (header.into_bytes(), value)));
        prop_assert_eq!(got, expected);
        prop_assert_eq!(&message.raw()[..], &wire[..]);
    }
}

// ---------------------------------------------------------------------------------------------
// On-demand field access.

/// Bytes that look like AMI often enough to make headers, text lines, blank lines, legacy
/// bodies and odd names, and otherwise anything.
fn ami_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(&b"Event"[..]),
        Just(&b"Response"[..]),
        Just(&b"Follows"[..]),
        Just(&b"ActionID"[..]),
        Just(&b"actionid"[..]),
        Just(&b"Privilege"[..]),
        Just(&b"Output"[..]),
        Just(&b"--END COMMAND--"[..]),
        Just(&b":"[..]),
        Just(&b": "[..]),
        Just(&b" "[..]),
        Just(&b"\t"[..]),
        Just(&b"\r"[..]),
        Just(&b"\n"[..]),
        Just(&b"\r\n"[..]),
        Just(&b"\r\n\r\n"[..]),
        Just(&b"x"[..]),
        Just(&b"\xff"[..]),
    ];
    let piece = prop_oneof![
        4 => token.prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 0..4),
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

/// Every way of reading a message's fields, on a fresh copy each time (so the scans, not an
/// index, answer) and on a copy with its index built: they must agree, and the lookups must
/// agree with a plain walk over `fields()`.
fn check_lazy_and_eager_agree(message: &ami_proto::Message) -> Result<(), TestCaseError> {
    let indexed = message.clone();
    indexed.index_fields();
    let walked: Vec<(Vec<u8>, Vec<u8>)> = message
        .fields()
        .map(|field| (field.name().to_vec(), field.value().to_vec()))
        .collect();
    let walked_indexed: Vec<(Vec<u8>, Vec<u8>)> = indexed
        .fields()
        .map(|field| (field.name().to_vec(), field.value().to_vec()))
        .collect();
    prop_assert_eq!(&walked, &walked_indexed);
    prop_assert_eq!(walked.len(), message.len());
    prop_assert_eq!(message.fields().len(), message.len());
    prop_assert_eq!(message, &indexed);

    let mut names: Vec<String> = walked
        .iter()
        .map(|(name, _)| String::from_utf8_lossy(name).into_owned())
        .collect();
    for name in names.clone() {
        names.push(name.to_ascii_uppercase());
        names.push(name.to_ascii_lowercase());
        names.push(format!("{name}x"));
        let mut shorter = name.chars();
        if shorter.next_back().is_some() && !shorter.as_str().is_empty() {
            names.push(shorter.as_str().to_owned());
        }
    }
    names.extend(
        [
            "", "Event", "Response", "ActionID", "a b", "a:b", "x", "\u{fffd}",
        ]
        .map(String::from),
    );
    for name in &names {
        // What a plain walk over the fields says, the reference.
        let expected: Vec<&[u8]> = walked
            .iter()
            .filter(|(field, _)| !field.is_empty() && field.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| &value[..])
            .collect();
        let fresh = message.clone();
        prop_assert_eq!(fresh.get_bytes(name), expected.first().copied(), "{}", name);
        let fresh = message.clone();
        prop_assert_eq!(
            &fresh.get_all(name).collect::<Vec<_>>(),
            &expected,
            "{}",
            name
        );
        let fresh = message.clone();
        prop_assert_eq!(fresh.contains(name), !expected.is_empty(), "{}", name);
        prop_assert_eq!(
            indexed.get_bytes(name),
            expected.first().copied(),
            "{}",
            name
        );
        prop_assert_eq!(
            &indexed.get_all(name).collect::<Vec<_>>(),
            &expected,
            "{}",
            name
        );
    }
    // Many lookups on one copy: scans first, then the index it builds, same answers.
    let many = message.clone();
    for name in &names {
        prop_assert_eq!(many.get_bytes(name), indexed.get_bytes(name), "{}", name);
    }
    let first_value = walked
        .first()
        .map(|(_, value)| String::from_utf8_lossy(value).into_owned());
    prop_assert_eq!(
        message.event_name().map(|name| name.into_owned()),
        if message.is_event() {
            first_value.clone()
        } else {
            None
        }
    );
    prop_assert_eq!(
        message.response().map(|name| name.into_owned()),
        if message.is_response() {
            first_value
        } else {
            None
        }
    );
    prop_assert_eq!(
        message.event_name().map(|name| name.into_owned()),
        message
            .is_event()
            .then(|| indexed.get("Event").map(|n| n.into_owned()))
            .flatten()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Fields read on demand (split as they are read, lookups that scan for one name) and read
    /// from the index agree on any input, whole or cut, complete or cut off by the end.
    #[test]
    fn lazy_and_eager_field_access_agree(
        input in ami_like_bytes(),
        sizes in proptest::collection::vec(1usize..32, 1..8),
    ) {
        let limits = Limits { max_packet_bytes: 1 << 16, max_fields: 64 };
        let whole = decode_whole(&input, limits);
        let cuts = cuts_from_sizes(&sizes, input.len());
        prop_assert_eq!(&decode_cut(&input, &cuts, limits), &whole);
        for item in &whole {
            if let Ok(Packet::Message(message)) = item {
                check_lazy_and_eager_agree(message)?;
            }
        }
    }
}
