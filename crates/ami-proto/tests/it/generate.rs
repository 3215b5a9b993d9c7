//! Generators of AMI packets with a known expected decoding, for property tests. Shared with
//! ami-json's tests (included there by path), which map the same packets to JSON and back.

use ami_proto::MessageKind;
use proptest::prelude::*;

/// One generated packet: its bytes and what the decoder must return for it.
#[derive(Debug, Clone)]
pub struct Generated {
    pub bytes: Vec<u8>,
    pub expected: Expected,
}

#[derive(Debug, Clone)]
pub enum Expected {
    Banner(Vec<u8>),
    Message {
        kind: MessageKind,
        fields: Vec<(Vec<u8>, Vec<u8>)>,
        body: Option<Vec<u8>>,
    },
    /// Stray blank lines: consumed, nothing returned.
    Nothing,
}

pub fn eol() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![Just(&b"\r\n"[..]), Just(&b"\n"[..])]
}

pub fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[A-Za-z][A-Za-z0-9_-]{0,11}".prop_map(String::into_bytes),
        1 => prop::sample::select(vec!["Variable", "variable", "Output", "ActionID", "Uniqueid"])
            .prop_map(|name| name.as_bytes().to_vec()),
    ]
}

/// A value: any bytes but CR and LF, often with `:`, spaces and bytes that are not UTF-8.
pub fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => "[ -~]{0,24}".prop_map(String::into_bytes),
        1 => proptest::collection::vec(
            any::<u8>().prop_filter("no line break", |b| *b != b'\r' && *b != b'\n'),
            0..24,
        ),
        1 => Just(b"a: b: c".to_vec()),
        1 => Just(b"  two leading spaces".to_vec()),
    ]
}

/// A line without a `name:` part.
pub fn text_line() -> impl Strategy<Value = Vec<u8>> {
    "[a-z][a-z ]{0,20}".prop_map(String::into_bytes)
}

pub fn header_block() -> impl Strategy<Value = Generated> {
    let first = prop_oneof![
        (Just(b"Event".to_vec()), value()),
        (
            Just(b"Response".to_vec()),
            prop::sample::select(vec!["Success", "Error", "Goodbye"])
                .prop_map(|value| value.as_bytes().to_vec())
        ),
        (name(), value()),
    ];
    let line = prop_oneof![
        5 => (name(), value()).prop_map(|(name, value)| (Some(name), value)),
        1 => text_line().prop_map(|line| (None, line)),
    ];
    (
        first,
        eol(),
        proptest::collection::vec((line, eol()), 0..12),
        eol(),
    )
        .prop_map(|((first_name, first_value), first_eol, lines, end)| {
            let mut bytes = Vec::new();
            let mut fields = Vec::new();
            // A first header named Response with value Follows would start a legacy body.
            let first_value = if first_name.eq_ignore_ascii_case(b"Response")
                && first_value.eq_ignore_ascii_case(b"Follows")
            {
                b"Success".to_vec()
            } else {
                first_value
            };
            let kind = if first_name.eq_ignore_ascii_case(b"Event") {
                MessageKind::Event
            } else if first_name.eq_ignore_ascii_case(b"Response") {
                MessageKind::Response
            } else {
                MessageKind::Unknown
            };
            for ((name, value), eol) in
                std::iter::once(((Some(first_name), first_value), first_eol)).chain(lines)
            {
                match name {
                    Some(name) => {
                        bytes.extend_from_slice(&name);
                        bytes.extend_from_slice(b": ");
                        bytes.extend_from_slice(&value);
                        fields.push((name, value));
                    }
                    None => {
                        bytes.extend_from_slice(&value);
                        fields.push((Vec::new(), value));
                    }
                }
                bytes.extend_from_slice(eol);
            }
            bytes.extend_from_slice(end);
            Generated {
                bytes,
                expected: Expected::Message {
                    kind,
                    fields,
                    body: None,
                },
            }
        })
}

/// A legacy `Response: Follows` Command reply: CRLF headers, bare-LF body (which may hold
/// empty lines and header look-alikes, and may end glued to the marker), the marker, and the
/// blank line.
pub fn legacy_follows() -> impl Strategy<Value = Generated> {
    let body_line = prop_oneof![
        "[ -~]{0,30}".prop_filter("not a legacy header", |line| {
            let lower = line.to_ascii_lowercase();
            !lower.starts_with("privilege:") && !lower.starts_with("actionid:")
        }),
        Just(String::new()),
        Just("System uptime: 53 seconds".to_owned()),
    ];
    (
        proptest::option::of("[a-z0-9-]{1,10}"),
        proptest::collection::vec(body_line, 0..8),
        any::<bool>(),
        prop_oneof![Just(&b"\r\n"[..]), Just(&b"\n"[..]), Just(&b""[..])],
    )
        .prop_map(|(action_id, lines, glued, blank)| {
            let mut bytes = b"Response: Follows\r\nPrivilege: Command\r\n".to_vec();
            let mut fields = vec![
                (b"Response".to_vec(), b"Follows".to_vec()),
                (b"Privilege".to_vec(), b"Command".to_vec()),
            ];
            if let Some(id) = action_id {
                bytes.extend_from_slice(format!("ActionID: {id}\r\n").as_bytes());
                fields.push((b"ActionID".to_vec(), id.into_bytes()));
            }
            let mut body = Vec::new();
            for line in &lines {
                body.extend_from_slice(line.as_bytes());
                body.push(b'\n');
            }
            // Asterisk 1.8 sometimes glues the marker to the last line (not to the first: a
            // first line glued to the marker ends in CRLF and may read as a header).
            if glued && lines.len() > 1 && body[body.len() - 2] != b'\n' {
                body.pop();
            }
            bytes.extend_from_slice(&body);
            bytes.extend_from_slice(b"--END COMMAND--\r\n");
            bytes.extend_from_slice(blank);
            Generated {
                bytes,
                expected: Expected::Message {
                    kind: MessageKind::Response,
                    fields,
                    body: Some(body),
                },
            }
        })
}
