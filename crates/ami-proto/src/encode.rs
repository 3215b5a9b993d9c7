//! Actions to bytes. Strict: a CR or LF inside a name or value would let attacker-supplied
//! text (a caller name, a CRM field) start a new header or a whole new action, so it is refused.
//! So is an action over Asterisk's input limits ([`MAX_ACTION_LINES`], [`MAX_LINE_BYTES`]):
//! Asterisk would drop lines or answer an error that names no ActionID, and the caller would
//! wait for a reply that never comes.

use bytes::{BufMut, BytesMut};

use crate::message::Message;

/// Most lines an action may have, its `Action:` and `ActionID:` lines included.
///
/// Asterisk reads at most `AST_MAX_MANHEADERS` (128) header lines per message
/// (`main/manager.c`); Asterisk 1.8 and 11 keep only the first 127 and drop the rest without a
/// word, newer versions answer "Too many lines in message" without an ActionID. The strictest
/// era decides, so an action that fits is read whole by every version.
pub const MAX_ACTION_LINES: usize = 127;

/// Most bytes of one line (`Name: value`, without its CRLF).
///
/// Asterisk reads input into a 1024-byte buffer; a line whose content plus CRLF does not fit is
/// discarded with "Failed to parse message: line too long" (recorded in the Asterisk 22 corpus,
/// `huge_header`), and that error carries no ActionID either.
pub const MAX_LINE_BYTES: usize = 1022;

/// Longest header name an error repeats: a name is echoed to say which header was refused,
/// but an error message must stay small whatever the input.
const MAX_NAME_IN_ERROR: usize = 64;

/// Why an action or message could not be encoded. Never carries the offending value, which
/// may be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A header name was empty.
    #[error("empty header name")]
    EmptyName,
    /// A header name held CR, LF or `:`, which would change how the line is split.
    #[error(
        "header name {name:?} contains a forbidden byte (CR, LF or ':') at position {position}"
    )]
    InvalidName {
        /// The name, lossily decoded, with the forbidden bytes escaped.
        name: String,
        /// Byte position of the first forbidden byte.
        position: usize,
    },
    /// A value held CR or LF (header injection).
    #[error(
        "value of header {name:?} contains a line break at byte {position}; AMI values are single lines"
    )]
    LineBreakInValue {
        /// The header whose value was refused.
        name: String,
        /// Byte position of the first CR or LF in the value.
        position: usize,
    },
    /// The action has more lines than Asterisk reads ([`MAX_ACTION_LINES`]).
    #[error(
        "the action has too many lines ({lines}); Asterisk reads at most {max}, Action and ActionID included"
    )]
    TooManyLines {
        /// Lines counted (when refused while still counting: the count at which it stopped).
        lines: usize,
        /// The limit.
        max: usize,
    },
    /// One `Name: value` line is longer than Asterisk reads ([`MAX_LINE_BYTES`]).
    #[error(
        "the line of header {name:?} is {len} bytes long; Asterisk reads at most {max} bytes per line (name, ': ' and value)"
    )]
    LineTooLong {
        /// The header whose line was refused (escaped, and cut if very long).
        name: String,
        /// Bytes of `Name: value`.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl EncodeError {
    /// Whether the action was refused for exceeding Asterisk's size limits (too many lines, a
    /// line too long) rather than for its content.
    pub fn is_too_large(&self) -> bool {
        matches!(self, Self::TooManyLines { .. } | Self::LineTooLong { .. })
    }
}

/// A header name as an error shows it: escaped, and cut to a bounded length.
fn name_for_error(name: &str) -> String {
    let mut shown: String = name.chars().take(MAX_NAME_IN_ERROR).collect();
    if shown.len() < name.len() {
        shown.push_str("...");
    }
    shown.escape_debug().to_string()
}

/// Refuses a `Name: value` line longer than Asterisk reads.
pub(crate) fn check_line_len(name: &str, value_len: usize) -> Result<(), EncodeError> {
    let len = name.len().saturating_add(2).saturating_add(value_len);
    if len > MAX_LINE_BYTES {
        return Err(EncodeError::LineTooLong {
            name: name_for_error(name),
            len,
            max: MAX_LINE_BYTES,
        });
    }
    Ok(())
}

pub(crate) fn check_name(name: &str) -> Result<(), EncodeError> {
    if name.is_empty() {
        return Err(EncodeError::EmptyName);
    }
    // A space or tab would make the receiver read the line as text rather than a header.
    match name
        .bytes()
        .position(|b| matches!(b, b'\r' | b'\n' | b':' | b' ' | b'\t'))
    {
        Some(position) => Err(EncodeError::InvalidName {
            name: name_for_error(name),
            position,
        }),
        None => Ok(()),
    }
}

pub(crate) fn check_value(name: &str, value: &[u8]) -> Result<(), EncodeError> {
    match memchr::memchr2(b'\r', b'\n', value) {
        Some(position) => Err(EncodeError::LineBreakInValue {
            name: name_for_error(name),
            position,
        }),
        None => Ok(()),
    }
}

/// An action to send: its name and headers in the caller's order. Repeated names (several
/// `Variable`) are allowed. Values are bytes so a Latin-1 PBX can be spoken to in Latin-1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    name: String,
    headers: Vec<(String, Vec<u8>)>,
}

impl Action {
    /// A new action, `Action: name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            headers: Vec::new(),
        }
    }

    /// Appends a header (chained form).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.push(name, value);
        self
    }

    /// Appends a header.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.headers.push((name.into(), value.into()));
    }

    /// Replaces every header `name` (case-insensitive) by one with `value`, kept at the
    /// position of the first one, or appended.
    pub fn set(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        let value = value.into();
        match self
            .headers
            .iter()
            .position(|(existing, _)| existing.eq_ignore_ascii_case(name))
        {
            Some(index) => {
                self.headers[index].1 = value;
                let mut seen = 0usize;
                self.headers.retain(|(existing, _)| {
                    let same = existing.eq_ignore_ascii_case(name);
                    seen += usize::from(same);
                    !same || seen == 1
                });
            }
            None => self.headers.push((name.to_owned(), value)),
        }
    }

    /// The action name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Headers in order, without the `Action:` line.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(existing, _)| existing.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }

    /// The `ActionID`, if one was set.
    pub fn action_id(&self) -> Option<&[u8]> {
        self.get("ActionID")
    }

    /// Removes the first `ActionID` and returns its value (the session keeps it as its key
    /// once the action is written, so it is not copied).
    pub(crate) fn take_action_id(&mut self) -> Option<Vec<u8>> {
        let index = self
            .headers
            .iter()
            .position(|(name, _)| name.eq_ignore_ascii_case("ActionID"))?;
        Some(self.headers.swap_remove(index).1)
    }

    /// Encoded size, for buffer reservation.
    pub(crate) fn encoded_len(&self) -> usize {
        "Action: \r\n\r\n".len()
            + self.name.len()
            + self
                .headers
                .iter()
                .map(|(name, value)| name.len() + value.len() + 4)
                .sum::<usize>()
    }
}

/// Checks everything [`encode_action`] checks, without writing: names and values (no line
/// breaks, no bad names) and Asterisk's limits ([`MAX_ACTION_LINES`] lines, `Action:` and
/// every `ActionID:` included; [`MAX_LINE_BYTES`] per line).
pub fn check_action(action: &Action) -> Result<(), EncodeError> {
    check_value("Action", action.name.as_bytes())?;
    if let Some(position) = action.name.find(':') {
        return Err(EncodeError::InvalidName {
            name: name_for_error(&action.name),
            position,
        });
    }
    check_line_len("Action", action.name.len())?;
    let lines = 1 + action.headers.len();
    if lines > MAX_ACTION_LINES {
        return Err(EncodeError::TooManyLines {
            lines,
            max: MAX_ACTION_LINES,
        });
    }
    for (name, value) in &action.headers {
        check_name(name)?;
        check_value(name, value)?;
        check_line_len(name, value.len())?;
    }
    Ok(())
}

/// Writes `action` to `out`: `Action:` first, then its first `ActionID` (wherever the caller
/// put it), then the other headers in order, CRLF endings, and the blank line. Nothing is
/// written if any name or value is refused or the action is over Asterisk's limits
/// ([`check_action`]).
///
/// ActionID goes second so that a server which drops lines past its limit, or refuses the
/// packet, still sees it and answers with it: written last, it is the first line lost, and the
/// reply can then never be paired with its action.
pub fn encode_action(action: &Action, out: &mut BytesMut) -> Result<(), EncodeError> {
    check_action(action)?;
    out.reserve(action.encoded_len());
    write_line(out, b"Action", action.name.as_bytes());
    let id = action
        .headers
        .iter()
        .position(|(name, _)| name.eq_ignore_ascii_case("ActionID"));
    if let Some(index) = id {
        let (name, value) = &action.headers[index];
        write_line(out, name.as_bytes(), value);
    }
    for (index, (name, value)) in action.headers.iter().enumerate() {
        if Some(index) != id {
            write_line(out, name.as_bytes(), value);
        }
    }
    out.put_slice(b"\r\n");
    Ok(())
}

/// Writes a message (for example one decoded elsewhere, or built by a server) in canonical
/// form: CRLF endings, one space after each colon, a legacy body followed by its marker.
/// Text lines without a name are written as they are.
pub fn encode_message(message: &Message, out: &mut BytesMut) {
    for field in message.fields() {
        if field.is_text_line() {
            out.put_slice(field.value());
            out.put_slice(b"\r\n");
        } else {
            write_line(out, field.name(), field.value());
        }
    }
    if let Some(body) = message.body() {
        out.put_slice(body);
        out.put_slice(crate::decode::END_COMMAND);
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
}

fn write_line(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.put_slice(name);
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(action: &Action) -> Result<Vec<u8>, EncodeError> {
        let mut out = BytesMut::new();
        encode_action(action, &mut out).map(|()| out.to_vec())
    }

    #[test]
    fn action_then_action_id_then_headers_in_caller_order_with_repeats() {
        // The caller put ActionID last; it is written second all the same.
        let action = Action::new("Originate")
            .header("Channel", "Local/100@demo")
            .header("Variable", "a=1")
            .header("Variable", "b=2")
            .header("actionid", "7");
        assert_eq!(
            encoded(&action).unwrap(),
            b"Action: Originate\r\nactionid: 7\r\nChannel: Local/100@demo\r\nVariable: a=1\r\nVariable: b=2\r\n\r\n"
        );
        // Without one, nothing moves.
        assert_eq!(
            encoded(&Action::new("Ping").header("X", "1").header("Y", "2")).unwrap(),
            b"Action: Ping\r\nX: 1\r\nY: 2\r\n\r\n"
        );
    }

    /// `Action:` plus `headers` headers named `X` with empty values.
    fn with_headers(headers: usize) -> Action {
        (0..headers).fold(Action::new("Ping"), |action, _| action.header("X", ""))
    }

    #[test]
    fn at_most_127_lines_action_and_action_id_included() {
        let fits = with_headers(MAX_ACTION_LINES - 2).header("ActionID", "1");
        let wire = encoded(&fits).unwrap();
        assert_eq!(
            wire.windows(2).filter(|w| w == b"\r\n").count(),
            MAX_ACTION_LINES + 1,
            "127 lines and the blank line"
        );
        let over = with_headers(MAX_ACTION_LINES - 1).header("ActionID", "1");
        let mut out = BytesMut::new();
        assert_eq!(
            encode_action(&over, &mut out),
            Err(EncodeError::TooManyLines {
                lines: MAX_ACTION_LINES + 1,
                max: MAX_ACTION_LINES
            })
        );
        assert!(out.is_empty(), "nothing written");
        assert!(check_action(&over).unwrap_err().is_too_large());
    }

    #[test]
    fn a_line_of_at_most_1022_bytes_and_the_error_never_echoes_the_value() {
        // "X: " and the value: 1022 bytes, which with CRLF fill Asterisk's 1024-byte buffer.
        let fits = Action::new("Ping").header("X", "v".repeat(MAX_LINE_BYTES - 3));
        assert!(encoded(&fits).is_ok());
        let secret = format!("hunter2{}", "v".repeat(MAX_LINE_BYTES - 3 - 7 + 1));
        let over = Action::new("Ping").header("X", secret);
        let error = encoded(&over).unwrap_err();
        assert_eq!(
            error,
            EncodeError::LineTooLong {
                name: "X".into(),
                len: MAX_LINE_BYTES + 1,
                max: MAX_LINE_BYTES
            }
        );
        assert!(!error.to_string().contains("hunter2"), "{error}");
        // The action's own line counts too.
        let long_name = Action::new("P".repeat(MAX_LINE_BYTES - 7));
        assert!(matches!(
            encoded(&long_name),
            Err(EncodeError::LineTooLong { .. })
        ));
        assert!(encoded(&Action::new("P".repeat(MAX_LINE_BYTES - 8))).is_ok());
    }

    #[test]
    fn a_long_name_is_cut_in_the_error() {
        let error = encoded(&Action::new("Ping").header("N".repeat(5000), "")).unwrap_err();
        let text = error.to_string();
        assert!(text.len() < 300, "{text}");
        assert!(matches!(error, EncodeError::LineTooLong { len: 5002, .. }));
    }

    #[test]
    fn injection_through_a_value_is_refused_and_nothing_written() {
        let action = Action::new("Originate").header(
            "CallerID",
            "Mallory\r\n\r\nAction: Command\r\nCommand: core stop now",
        );
        let mut out = BytesMut::new();
        let error = encode_action(&action, &mut out).unwrap_err();
        assert_eq!(
            error,
            EncodeError::LineBreakInValue {
                name: "CallerID".into(),
                position: 7
            }
        );
        assert!(out.is_empty());
        let bare_lf = Action::new("Ping").header("X", "a\nb");
        assert!(encoded(&bare_lf).is_err());
    }

    #[test]
    fn injection_through_a_name_or_action_name_is_refused() {
        assert!(matches!(
            encoded(&Action::new("Ping").header("X\r\nAction", "Command")),
            Err(EncodeError::InvalidName { .. })
        ));
        assert!(matches!(
            encoded(&Action::new("Ping").header("A:B", "c")),
            Err(EncodeError::InvalidName { .. })
        ));
        assert!(matches!(
            encoded(&Action::new("Ping").header("Caller ID", "c")),
            Err(EncodeError::InvalidName { position: 6, .. })
        ));
        assert!(matches!(
            encoded(&Action::new("Ping").header("", "c")),
            Err(EncodeError::EmptyName)
        ));
        assert!(encoded(&Action::new("Ping\r\nAction: Command")).is_err());
    }

    #[test]
    fn error_never_echoes_the_value() {
        let action = Action::new("Login").header("Secret", "hunter2\n");
        let text = encoded(&action).unwrap_err().to_string();
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn set_replaces_all_occurrences_in_place() {
        let mut action = Action::new("Ping")
            .header("ActionID", "1")
            .header("X", "y")
            .header("actionid", "2");
        action.set("ActionID", "9");
        assert_eq!(
            encoded(&action).unwrap(),
            b"Action: Ping\r\nActionID: 9\r\nX: y\r\n\r\n"
        );
        assert_eq!(action.headers().len(), 2);
    }
}
