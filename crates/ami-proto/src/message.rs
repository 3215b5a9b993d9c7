//! [`Message`]: one AMI packet as ordered `(name, value)` pairs over the bytes it arrived in.

use std::borrow::Cow;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::syntax::{CRLF, END_COMMAND, EncodeError, HEADER_SEPARATOR, check_name, check_value};

/// How a message presents itself. The first line decides, as Asterisk writes it: an
/// `OriginateResponse` event carries a `Response:` header further down and is still an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// The first header is `Response:`.
    Response,
    /// The first header is `Event:`.
    Event,
    /// Anything else: kept whole, never dropped (the raw `Queues` reply, proxies' extras).
    Unknown,
}

/// Byte range of one line's name and value inside [`Message::raw`].
///
/// A line without a usable `name:` part (GetConfig's `No categories found`, the raw `Queues`
/// text) is kept as a *text line*: its name range is empty and the value is the whole line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldSpan {
    pub(crate) name_start: u32,
    pub(crate) name_end: u32,
    pub(crate) value_start: u32,
    pub(crate) value_end: u32,
}

impl FieldSpan {
    pub(crate) fn is_text_line(&self) -> bool {
        self.name_start == self.name_end
    }
}

/// One line of a message, borrowed from it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    name: &'a [u8],
    value: &'a [u8],
}

impl<'a> Field<'a> {
    /// The header name as written on the wire (original case); empty for a text line.
    pub fn name(&self) -> &'a [u8] {
        self.name
    }

    /// The value (for a text line, the whole line), without the line ending. One space after
    /// the colon is taken as the separator; any further leading spaces belong to the value.
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// The name as text (lossy for bytes that are not UTF-8).
    pub fn name_str(&self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.name)
    }

    /// The value as text (lossy for bytes that are not UTF-8; see [`Field::value`] for the bytes).
    pub fn value_str(&self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.value)
    }

    /// True for a line that had no `name:` part.
    pub fn is_text_line(&self) -> bool {
        self.name.is_empty()
    }

    /// Case-insensitive comparison of the name, as Asterisk does it.
    pub fn name_is(&self, name: &str) -> bool {
        !self.name.is_empty() && self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

impl fmt::Debug for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {:?}", self.name_str(), self.value_str())
    }
}

/// One AMI packet: its lines in wire order (repeated names kept), the legacy Command body if
/// it had one, and the original bytes, which are never altered.
///
/// Lookups by name are ASCII case-insensitive; the original spelling is kept for display.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    pub(crate) kind: MessageKind,
    pub(crate) raw: Bytes,
    pub(crate) fields: Vec<FieldSpan>,
    pub(crate) body: Option<(u32, u32)>,
    pub(crate) truncated: bool,
}

impl Message {
    /// Starts a message built header by header (for servers, simulators and tests).
    pub fn builder() -> MessageBuilder {
        MessageBuilder::default()
    }

    /// Response, event, or unknown.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// True for a `Response:` message.
    pub fn is_response(&self) -> bool {
        self.kind == MessageKind::Response
    }

    /// True for an `Event:` message.
    pub fn is_event(&self) -> bool {
        self.kind == MessageKind::Event
    }

    /// The bytes this message was decoded from (or built as), terminators included.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// Number of lines (headers and text lines).
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when the message has no lines at all.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// All lines in wire order.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = Field<'_>> + '_ {
        self.fields.iter().map(|span| self.field_at(span))
    }

    fn field_at(&self, span: &FieldSpan) -> Field<'_> {
        Field {
            name: &self.raw[span.name_start as usize..span.name_end as usize],
            value: &self.raw[span.value_start as usize..span.value_end as usize],
        }
    }

    /// The first value of `name` (case-insensitive), as bytes.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.fields()
            .find(|field| field.name_is(name))
            .map(|field| field.value)
    }

    /// The first value of `name` (case-insensitive), as text (lossy for non-UTF-8 bytes).
    pub fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get_bytes(name).map(String::from_utf8_lossy)
    }

    /// Every value of `name` (case-insensitive), in wire order: `Variable`, `Output`, ...
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields()
            .filter(move |field| field.name_is(name))
            .map(|field| field.value)
    }

    /// True when `name` is present with a value equal to `value`, ignoring ASCII case.
    pub fn value_is(&self, name: &str, value: &str) -> bool {
        self.get_bytes(name)
            .is_some_and(|found| found.eq_ignore_ascii_case(value.as_bytes()))
    }

    /// True when `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get_bytes(name).is_some()
    }

    /// The `Event:` value of an event.
    pub fn event_name(&self) -> Option<Cow<'_, str>> {
        match self.kind {
            MessageKind::Event => self.get("Event"),
            _ => None,
        }
    }

    /// The `Response:` value of a response (`Success`, `Error`, `Follows`, `Goodbye` ...).
    pub fn response(&self) -> Option<Cow<'_, str>> {
        match self.kind {
            MessageKind::Response => self.get("Response"),
            _ => None,
        }
    }

    /// The `ActionID:` value, if any.
    pub fn action_id(&self) -> Option<Cow<'_, str>> {
        self.get("ActionID")
    }

    /// The raw CLI text of a legacy (Asterisk 13 and older) `Response: Follows` Command reply,
    /// exactly as sent, without the `--END COMMAND--` marker.
    pub fn body(&self) -> Option<&[u8]> {
        self.body
            .map(|(start, end)| &self.raw[start as usize..end as usize])
    }

    /// True when the stream ended before this message was complete (see `Decoder::decode_eof`).
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_struct("Message");
        list.field("kind", &self.kind)
            .field("fields", &self.fields().collect::<Vec<_>>());
        if let Some(body) = self.body() {
            list.field("body", &String::from_utf8_lossy(body));
        }
        if self.truncated {
            list.field("truncated", &true);
        }
        list.finish()
    }
}

/// Builds a [`Message`] in its canonical wire form (`Name: value\r\n` lines, blank-line end).
///
/// Refuses CR or LF in any name or value, and `:` in a name: the first error is kept and
/// returned by [`MessageBuilder::build`].
#[derive(Default)]
pub struct MessageBuilder {
    buf: BytesMut,
    fields: Vec<FieldSpan>,
    body: Option<Vec<u8>>,
    error: Option<EncodeError>,
}

impl MessageBuilder {
    /// Appends a header; repeated names are allowed and kept in order.
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.push(name, value.as_ref());
        self
    }

    /// Appends a header in place.
    pub fn push(&mut self, name: &str, value: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if let Err(error) = check_name(name).and_then(|()| check_value(name, value)) {
            self.error = Some(error);
            return;
        }
        let name_start = self.buf.len() as u32;
        self.buf.put_slice(name.as_bytes());
        let name_end = self.buf.len() as u32;
        self.buf.put_slice(HEADER_SEPARATOR);
        let value_start = self.buf.len() as u32;
        self.buf.put_slice(value);
        let value_end = self.buf.len() as u32;
        self.buf.put_slice(CRLF);
        self.fields.push(FieldSpan {
            name_start,
            name_end,
            value_start,
            value_end,
        });
    }

    /// Appends a line without a `name:` part (as in GetConfig's `No categories found`).
    pub fn push_text_line(&mut self, line: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if let Err(error) = check_value("text line", line) {
            self.error = Some(error);
            return;
        }
        let start = self.buf.len() as u32;
        self.buf.put_slice(line);
        let end = self.buf.len() as u32;
        self.buf.put_slice(CRLF);
        self.fields.push(FieldSpan {
            name_start: start,
            name_end: start,
            value_start: start,
            value_end: end,
        });
    }

    /// Gives the message a legacy Command body (Asterisk 13 and older framing): the text is
    /// written after the headers and ended by `--END COMMAND--`. Used by servers of that age.
    pub fn legacy_body(mut self, text: impl Into<Vec<u8>>) -> Self {
        self.body = Some(text.into());
        self
    }

    /// Finishes the message.
    pub fn build(mut self) -> Result<Message, EncodeError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let body = self.body.take().map(|text| {
            let start = self.buf.len() as u32;
            self.buf.put_slice(&text);
            let end = self.buf.len() as u32;
            self.buf.put_slice(END_COMMAND);
            self.buf.put_slice(CRLF);
            (start, end)
        });
        self.buf.put_slice(CRLF);
        let kind = classify(
            self.fields
                .first()
                .map(|span| &self.buf[span.name_start as usize..span.name_end as usize]),
        );
        Ok(Message {
            kind,
            raw: self.buf.freeze(),
            fields: self.fields,
            body,
            truncated: false,
        })
    }
}

/// The first line's name decides the kind.
pub(crate) fn classify(first_name: Option<&[u8]>) -> MessageKind {
    match first_name {
        Some(name) if name.eq_ignore_ascii_case(b"Event") => MessageKind::Event,
        Some(name) if name.eq_ignore_ascii_case(b"Response") => MessageKind::Response,
        _ => MessageKind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_writes_canonical_wire_form_and_keeps_repeats() {
        let message = Message::builder()
            .header("Event", "UserEvent")
            .header("Variable", "a=1")
            .header("variable", "b=2")
            .build()
            .unwrap();
        assert_eq!(
            &message.raw()[..],
            b"Event: UserEvent\r\nVariable: a=1\r\nvariable: b=2\r\n\r\n"
        );
        assert!(message.is_event());
        let all: Vec<_> = message.get_all("VARIABLE").collect();
        assert_eq!(all, vec![&b"a=1"[..], &b"b=2"[..]]);
    }

    #[test]
    fn builder_refuses_line_breaks() {
        let error = Message::builder()
            .header("Response", "Success")
            .header("Message", "x\r\nAction: Originate")
            .build()
            .unwrap_err();
        assert!(matches!(error, EncodeError::LineBreakInValue { .. }));
    }
}
