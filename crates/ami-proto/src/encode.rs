//! Actions to bytes. Strict: a CR or LF inside a name or value would let attacker-supplied
//! text (a caller name, a CRM field) start a new header or a whole new action, so it is refused.

use bytes::{BufMut, BytesMut};

use crate::message::Message;

/// Why an action or message could not be encoded. Never carries the offending value, which
/// may be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
            name: name.escape_debug().to_string(),
            position,
        }),
        None => Ok(()),
    }
}

pub(crate) fn check_value(name: &str, value: &[u8]) -> Result<(), EncodeError> {
    match memchr::memchr2(b'\r', b'\n', value) {
        Some(position) => Err(EncodeError::LineBreakInValue {
            name: name.escape_debug().to_string(),
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

/// Writes `action` to `out`: `Action:` first, then the headers in order, CRLF endings, and the
/// blank line. Nothing is written if any name or value is refused.
pub fn encode_action(action: &Action, out: &mut BytesMut) -> Result<(), EncodeError> {
    check_value("Action", action.name.as_bytes())?;
    if action.name.contains(':') {
        return Err(EncodeError::InvalidName {
            name: action.name.escape_debug().to_string(),
            position: action.name.find(':').unwrap_or(0),
        });
    }
    for (name, value) in &action.headers {
        check_name(name)?;
        check_value(name, value)?;
    }
    out.reserve(action.encoded_len());
    write_line(out, b"Action", action.name.as_bytes());
    for (name, value) in &action.headers {
        write_line(out, name.as_bytes(), value);
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
    fn action_first_then_headers_in_caller_order_with_repeats() {
        let action = Action::new("Originate")
            .header("Channel", "Local/100@demo")
            .header("Variable", "a=1")
            .header("Variable", "b=2")
            .header("ActionID", "7");
        assert_eq!(
            encoded(&action).unwrap(),
            b"Action: Originate\r\nChannel: Local/100@demo\r\nVariable: a=1\r\nVariable: b=2\r\nActionID: 7\r\n\r\n"
        );
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
    }
}
