//! AMI over HTTP without IO: an action as a query string, the `mansession_id` cookie, and a
//! `/rawman` body read with the same decoder and session as a TCP stream.

use ami_proto::session::{ActionFailure, Reply, Session, SessionLimits, strip_ansi};
use ami_proto::{Action, DecodeError, Decoder, Limits, Message, Packet};
use bytes::BytesMut;

/// The cookie Asterisk names its HTTP manager sessions with.
pub(crate) const COOKIE_NAME: &str = "mansession_id";

/// `action` as `/rawman` query parameters: `Action` first, then every header in order, a
/// repeated header (`Variable`) as a repeated parameter. Every byte but RFC 3986's unreserved
/// ones is percent-encoded, a space as `%20` (never `+`, which old Asterisk versions do not
/// decode as a space).
pub(crate) fn query(action: &Action) -> String {
    let mut out = String::with_capacity(16 + action.headers().len() * 24);
    out.push_str("action=");
    escape_into(action.name().as_bytes(), &mut out);
    for (name, value) in action.headers() {
        out.push('&');
        escape_into(name.as_bytes(), &mut out);
        out.push('=');
        escape_into(value, &mut out);
    }
    out
}

fn escape_into(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 15)] as char);
        }
    }
}

/// The session a `Set-Cookie` header names: its id (quotes removed) and `Max-Age` in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionCookie {
    pub(crate) id: String,
    pub(crate) max_age: Option<u64>,
}

impl SessionCookie {
    /// The value of a `Set-Cookie` header, if it sets `mansession_id`.
    pub(crate) fn parse(header: &str) -> Option<Self> {
        let mut parts = header.split(';');
        let (name, value) = parts.next()?.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case(COOKIE_NAME) {
            return None;
        }
        let id = value.trim().trim_matches('"').to_owned();
        if id.is_empty() {
            return None;
        }
        let max_age = parts
            .filter_map(|attribute| attribute.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("Max-Age"))
            .and_then(|(_, value)| value.trim().parse().ok());
        Some(Self { id, max_age })
    }

    /// The `Cookie` request header that presents this session, quoted as Asterisk sets it.
    pub(crate) fn header(&self) -> String {
        format!("{COOKIE_NAME}=\"{}\"", self.id)
    }
}

/// What one `/rawman` body held.
#[derive(Debug, Default)]
pub(crate) struct Body {
    /// The action's reply; `None` only for an action that was not given an ActionID.
    pub(crate) reply: Option<Result<Reply, ActionFailure>>,
    /// Every other message, in order: a WaitEvent's events, or a response for no one.
    pub(crate) events: Vec<Message>,
    /// Packets skipped for breaking the decoder's limits.
    pub(crate) skipped: Vec<DecodeError>,
    /// Responses that matched no action (among `events`).
    pub(crate) unmatched: u64,
    /// The body's first response says the request had no session: `Response: Error` with
    /// `Message: Permission denied`, which is also what an action the user may not run gets;
    /// the cookie tells the two apart (see the policy).
    pub(crate) denied: bool,
}

/// Reads the body that answered `action` (which carries its ActionID) with the decoder and
/// session a TCP stream uses, so lists, Command output of every version and server errors
/// come out exactly as over TCP. A reply the body ends before completing (a list without its
/// `Complete` event) is [`ActionFailure::ConnectionLost`], as a TCP drop mid-list would be.
/// `WaitEventComplete`, the marker that ends a WaitEvent body, is not passed on.
pub(crate) fn read_body(
    action: &Action,
    body: &[u8],
    decode_limits: Limits,
    session_limits: SessionLimits,
) -> Body {
    let mut out = Body::default();
    let mut input = match action.action_id() {
        Some(id) => with_action_id(body, id),
        None => BytesMut::from(body),
    };
    if action.name().eq_ignore_ascii_case("Queues") && !body.starts_with(b"Response:") {
        // Legacy `Queues` answers bare CLI text; over HTTP that text is the whole body (the
        // barrier Ping the TCP session sends after it is not needed).
        out.reply = Some(Ok(Reply::Text(queues_text(body))));
        return out;
    }
    let mut session: Session<()> = Session::with_limits("amikit-http-", session_limits);
    let mut scratch = BytesMut::new();
    let started = action.action_id().is_some()
        && session
            .try_start_action(action.clone(), (), &mut scratch)
            .is_ok();
    let mut decoder = Decoder::with_limits(decode_limits);
    let mut first_response = true;
    let mut eof = false;
    loop {
        let decoded = if eof {
            decoder.decode_eof(&mut input)
        } else {
            decoder.decode(&mut input)
        };
        match decoded {
            Ok(Some(packet)) => {
                if let Packet::Message(message) = &packet
                    && message.is_response()
                    && std::mem::take(&mut first_response)
                {
                    out.denied = message.value_is("Response", "Error")
                        && message.value_is("Message", "Permission denied");
                }
                session.handle_packet(packet);
            }
            Ok(None) if eof => break,
            Ok(None) => eof = true,
            Err(error) => out.skipped.push(error),
        }
    }
    session.handle_close();
    if started {
        out.reply = session.poll_completion().map(|done| done.result);
    }
    out.unmatched = session.stats().unmatched_responses;
    session.drain_events_into(&mut out.events);
    out.events
        .retain(|event| !event.value_is("Event", "WaitEventComplete"));
    out
}

/// Legacy `Queues` text as the TCP session returns it: without ANSI colour codes, CRLF made LF,
/// the trailing blank lines dropped. Over HTTP, Asterisk 13, 11 and 1.8 end the body with CRLF lines
/// and three blank ones (checked against the live servers), which TCP callers never see.
fn queues_text(body: &[u8]) -> String {
    let text = strip_ansi(&String::from_utf8_lossy(body));
    let mut text = text.trim_end_matches(['\r', '\n']).replace("\r\n", "\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// `body` with `ActionID: id` added to its first response when that has none. A body answers
/// exactly one request, so its response is that action's whatever it carries; Asterisk echoes
/// the ActionID, but a proxy or a server that does not would otherwise leave the caller with
/// no reply. The line goes right after `Response:`, where Asterisk itself puts it, which is
/// also where a legacy `Follows` block has its headers.
fn with_action_id(body: &[u8], id: &[u8]) -> BytesMut {
    let Some(first_end) = memchr_newline(body, 0) else {
        return BytesMut::from(body);
    };
    if !body.starts_with(b"Response:") {
        return BytesMut::from(body);
    }
    let mut at = first_end + 1;
    while at < body.len() {
        let end = memchr_newline(body, at).unwrap_or(body.len());
        let line = &body[at..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            break; // a blank line or the text of a Follows body: the headers are over
        };
        if line[..colon].eq_ignore_ascii_case(b"ActionID") {
            return BytesMut::from(body);
        }
        at = end + 1;
    }
    let mut out = BytesMut::with_capacity(body.len() + id.len() + 12);
    out.extend_from_slice(&body[..=first_end]);
    out.extend_from_slice(b"ActionID: ");
    out.extend_from_slice(id);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body[first_end + 1..]);
    out
}

fn memchr_newline(bytes: &[u8], from: usize) -> Option<usize> {
    bytes[from..]
        .iter()
        .position(|b| *b == b'\n')
        .map(|i| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body of a recorded HTTP exchange (after the blank line ending the headers).
    fn recorded_body(version: &str, scenario: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../../shared/corpus/asterisk-{version}/{scenario}.recv",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let at = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("{path}: no header end"));
        bytes[at + 4..].to_vec()
    }

    const VERSIONS: [&str; 4] = ["22", "13", "11", "1.8"];

    fn read(action: Action, body: &[u8]) -> Body {
        read_body(&action, body, Limits::default(), SessionLimits::default())
    }

    #[test]
    fn query_keeps_order_and_repeats_and_escapes_everything_reserved() {
        let action = Action::new("Originate")
            .header("Channel", "Local/300@demo")
            .header("Variable", "A=1")
            .header("Variable", "B=x y+z&w")
            .header("ActionID", "h-1");
        assert_eq!(
            query(&action),
            "action=Originate&Channel=Local%2F300%40demo&Variable=A%3D1\
             &Variable=B%3Dx%20y%2Bz%26w&ActionID=h-1"
        );
        let bytes = Action::new("Command").header("Command", [0xC3, 0xA9]);
        assert_eq!(query(&bytes), "action=Command&Command=%C3%A9");
    }

    #[test]
    fn cookie_of_every_recorded_version_is_read() {
        let cookie = SessionCookie::parse("mansession_id=\"78e8cd23\"; Version=1; Max-Age=60");
        assert_eq!(
            cookie,
            Some(SessionCookie {
                id: "78e8cd23".into(),
                max_age: Some(60)
            })
        );
        assert_eq!(
            cookie.map(|c| c.header()).as_deref(),
            Some("mansession_id=\"78e8cd23\"")
        );
        assert_eq!(
            SessionCookie::parse("other=1; Max-Age=60"),
            None,
            "another cookie is not the session"
        );
        assert_eq!(
            SessionCookie::parse("mansession_id=abc").map(|c| c.max_age),
            Some(None)
        );
    }

    #[test]
    fn recorded_ping_completes_on_every_version() {
        for version in VERSIONS {
            let body = read(
                Action::new("Ping").header("ActionID", "h-1"),
                &recorded_body(version, "http_rawman_ping"),
            );
            let Some(Ok(Reply::Response(pong))) = body.reply else {
                panic!("{version}: {:?}", body.reply)
            };
            assert!(pong.value_is("Ping", "Pong"), "{version}");
            assert!(body.events.is_empty() && !body.denied, "{version}");
        }
    }

    #[test]
    fn recorded_list_arrives_whole_in_one_body_on_every_version() {
        for version in VERSIONS {
            let body = read(
                Action::new("CoreShowChannels").header("ActionID", "h-2"),
                &recorded_body(version, "http_rawman_coreshowchannels"),
            );
            let Some(Ok(Reply::List(list))) = body.reply else {
                panic!("{version}: {:?}", body.reply)
            };
            assert_eq!(list.items.len(), 2, "{version}");
            assert!(
                list.complete.value_is("Event", "CoreShowChannelsComplete"),
                "{version}"
            );
            assert!(body.events.is_empty(), "{version}");
        }
    }

    #[test]
    fn recorded_command_output_reads_the_same_on_every_version() {
        for version in VERSIONS {
            let body = read(
                Action::new("Command")
                    .header("Command", "core show uptime")
                    .header("ActionID", "h-9"),
                &recorded_body(version, "http_rawman_command"),
            );
            let Some(Ok(Reply::Command(command))) = body.reply else {
                panic!("{version}: {:?}", body.reply)
            };
            let lines: Vec<&str> = command.output.lines().map(str::trim_end).collect();
            assert_eq!(lines.len(), 2, "{version}: {:?}", command.output);
            assert!(lines[0].starts_with("System uptime: "), "{version}");
            assert!(lines[1].starts_with("Last reload: "), "{version}");
        }
    }

    #[test]
    fn recorded_waitevent_gives_its_events_without_the_end_marker() {
        for version in VERSIONS {
            let body = read(
                Action::new("WaitEvent")
                    .header("Timeout", "2")
                    .header("ActionID", "w-1"),
                &recorded_body(version, "http_rawman_waitevent"),
            );
            assert!(
                matches!(body.reply, Some(Ok(Reply::Response(_)))),
                "{version}: {:?}",
                body.reply
            );
            let names: Vec<String> = body
                .events
                .iter()
                .filter_map(|e| e.event_name().map(|n| n.into_owned()))
                .collect();
            // 22 and 13 queue the session's own SuccessfulAuth; 11 and 1.8 have no security events.
            let expected: &[&str] = if matches!(version, "22" | "13") {
                &["SuccessfulAuth"]
            } else {
                &[]
            };
            assert_eq!(names, expected, "{version}");
        }
    }

    #[test]
    fn recorded_refusals_are_server_errors_and_no_session_is_denied() {
        for version in VERSIONS {
            let login = read(
                Action::new("Login").header("ActionID", "l-1"),
                &recorded_body(version, "http_rawman_bad_login"),
            );
            // The recorded login carried no ActionID: the body's response is the login's still.
            let Some(Err(ActionFailure::Server { message, .. })) = login.reply else {
                panic!("{version}: {:?}", login.reply)
            };
            assert_eq!(message, "Authentication failed", "{version}");
            assert_eq!(login.unmatched, 0, "{version}");
            assert!(!login.denied, "{version}");
            let ping = read(
                Action::new("Ping").header("ActionID", "p-1"),
                &recorded_body(version, "http_rawman_no_session"),
            );
            assert!(ping.denied, "{version}");
        }
        let own = read(
            Action::new("Ping").header("ActionID", "p-2"),
            b"Response: Error\r\nActionID: p-2\r\nMessage: Permission denied\r\n\r\n",
        );
        let Some(Err(ActionFailure::Server { message, .. })) = own.reply else {
            panic!("{:?}", own.reply)
        };
        assert_eq!(message, "Permission denied");
        assert!(own.denied);
    }

    #[test]
    fn the_action_id_is_added_only_where_missing() {
        let id = b"x-1";
        assert_eq!(
            &with_action_id(b"Response: Success\r\nPing: Pong\r\n\r\n", id)[..],
            b"Response: Success\r\nActionID: x-1\r\nPing: Pong\r\n\r\n"
        );
        let has = b"Response: Success\r\nPing: Pong\r\nactionid: y\r\n\r\n";
        assert_eq!(&with_action_id(has, id)[..], has);
        // An ActionID further on (an event's) is not the response's.
        let follows =
            b"Response: Follows\r\nPrivilege: Command\r\nActionID is text\n--END COMMAND--\r\n\r\n";
        assert!(
            with_action_id(follows, id)
                .starts_with(b"Response: Follows\r\nActionID: x-1\r\nPrivilege: Command\r\n")
        );
        let event = b"Event: X\r\n\r\n";
        assert_eq!(&with_action_id(event, id)[..], event);
    }

    #[test]
    fn a_list_cut_short_by_the_body_is_lost_not_hung() {
        let body = read(
            Action::new("CoreShowChannels").header("ActionID", "c-1"),
            b"Response: Success\r\nActionID: c-1\r\nEventList: start\r\n\r\n\
              Event: CoreShowChannel\r\nActionID: c-1\r\n\r\n",
        );
        assert!(matches!(
            body.reply,
            Some(Err(ActionFailure::ConnectionLost))
        ));
    }

    #[test]
    fn legacy_queues_text_reads_as_over_tcp() {
        // The end of Asterisk 13's live answer over HTTP: colour codes, CRLF lines, three blank
        // lines after the last one. Over TCP the caller gets LF lines and no blank ones.
        let body = b"support has 0 calls (max unlimited)\r\n   Members: \r\n      Agent One \
              (\x1b[1;32;40mNot in use\x1b[0m) has taken no calls yet\r\n   No Callers\r\n\r\n\r\n\r\n";
        let read = read(Action::new("Queues").header("ActionID", "q-2"), body);
        let Some(Ok(Reply::Text(text))) = read.reply else {
            panic!("{:?}", read.reply)
        };
        assert_eq!(
            text,
            "support has 0 calls (max unlimited)\n   Members: \n      Agent One \
             (Not in use) has taken no calls yet\n   No Callers\n"
        );
    }

    #[test]
    fn legacy_queues_text_is_the_whole_body() {
        let body = read(
            Action::new("Queues").header("ActionID", "q-1"),
            b"support has 0 calls (max unlimited)\n   No Members\n\n",
        );
        let Some(Ok(Reply::Text(text))) = body.reply else {
            panic!("{:?}", body.reply)
        };
        assert!(text.starts_with("support has 0 calls"));
    }
}
