//! [`Message`]: one AMI packet as ordered `(name, value)` pairs over the bytes it arrived in.
//!
//! A decoded message is a view into the read buffer (a shared [`Bytes`]) plus a few offsets:
//! the decoder only finds where the packet ends and what its first line says. Lines are split
//! into names and values when they are read, so a consumer that looks at the event name and a
//! header never pays for the rest, and nothing is allocated per message.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use bytes::{BufMut, Bytes, BytesMut};

use crate::scan::{FieldSpan, Lines, field_span, header_value, is_header_name};
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
///
/// Decoding is on demand: the kind, the first line (hence [`Message::event_name`] and
/// [`Message::response`]) and the number of lines are known from the decoder's one pass; a
/// lookup by name scans the lines for that name only, and from the second lookup on, a message
/// builds an index of its lines once (one allocation) and answers from it (see
/// [`Message::index_fields`] to build it up front).
pub struct Message {
    pub(crate) kind: MessageKind,
    pub(crate) raw: Bytes,
    /// The header lines are `raw[..head_end]` (a legacy body and the blank line follow).
    pub(crate) head_end: u32,
    /// Number of lines in the header region, or [`Message::UNCOUNTED`] when the decoder did not
    /// need to count them (it only must when a packet could exceed `Limits::max_fields`).
    pub(crate) lines: u32,
    /// The first line's value range (empty when there is no line): the event name or the
    /// response status, read without a scan. Only the value is kept, to keep `Message` small
    /// (it travels inside replies and errors).
    pub(crate) first_value: (u32, u32),
    /// Every line's span, built on demand, or at once by the builder (whose lines need not
    /// split back the way the decoder splits them: a name may hold a space).
    pub(crate) index: OnceLock<Box<[FieldSpan]>>,
    /// Lookups by name answered by a scan so far; past [`Message::SCANS_BEFORE_INDEX`] the
    /// index is built. A hint only, so relaxed loads and stores do (a race costs one scan).
    pub(crate) scans: AtomicU8,
    pub(crate) body: Option<(u32, u32)>,
    pub(crate) truncated: bool,
}

/// The lines of a message, from its index or split as they are read.
enum FieldsInner<'a> {
    Index(std::slice::Iter<'a, FieldSpan>),
    Scan(Lines<'a>),
}

/// Iterator over a message's lines (see [`Message::fields`]).
pub(crate) struct Fields<'a> {
    raw: &'a [u8],
    inner: FieldsInner<'a>,
    remaining: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    #[inline]
    fn next(&mut self) -> Option<Field<'a>> {
        let span = match &mut self.inner {
            FieldsInner::Index(spans) => *spans.next()?,
            FieldsInner::Scan(lines) => {
                let (start, end) = lines.next()?;
                field_span(&self.raw[start..end], start)
            }
        };
        self.remaining = self.remaining.saturating_sub(1);
        Some(field_at(self.raw, &span))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Fields<'_> {}

fn field_at<'a>(raw: &'a [u8], span: &FieldSpan) -> Field<'a> {
    Field {
        name: &raw[span.name_start as usize..span.name_end as usize],
        value: &raw[span.value_start as usize..span.value_end as usize],
    }
}

impl Message {
    /// Lookups by name answered by scanning the lines before the index is built: a consumer
    /// that reads one header allocates nothing; one that reads more pays one index, which
    /// costs about what a scan for a missing name does and answers every later lookup.
    const SCANS_BEFORE_INDEX: u8 = 1;

    /// `lines` when the decoder left the count to [`Message::len`]: a consumer that reads the
    /// name only never pays for it. Such a message has at least one line, each ending in `\n`.
    pub(crate) const UNCOUNTED: u32 = u32::MAX;

    /// A message as the decoder found it: `raw[..head_end]` holds its `lines` lines, the
    /// first of which is `first`; they are split when read. Offsets fit in 32 bits because
    /// packets are capped at `Limits::MAX_PACKET_BYTES_CEILING`.
    pub(crate) fn decoded(
        kind: MessageKind,
        raw: Bytes,
        head_end: usize,
        lines: usize,
        first: FieldSpan,
    ) -> Self {
        Self {
            kind,
            raw,
            head_end: head_end as u32,
            lines: lines as u32,
            first_value: (first.value_start, first.value_end),
            index: OnceLock::new(),
            scans: AtomicU8::new(0),
            body: None,
            truncated: false,
        }
    }

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
        if self.lines == Self::UNCOUNTED {
            memchr::memchr_iter(b'\n', &self.raw[..self.head_end as usize]).count()
        } else {
            self.lines as usize
        }
    }

    /// True when the message has no lines at all.
    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// All lines in wire order. Splits each line as it is read (from the index if one was
    /// built); allocates nothing.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = Field<'_>> + '_ {
        let inner = match self.index.get() {
            Some(index) => FieldsInner::Index(index.iter()),
            None => FieldsInner::Scan(self.head_lines()),
        };
        Fields {
            raw: &self.raw,
            inner,
            remaining: self.len(),
        }
    }

    fn head_lines(&self) -> Lines<'_> {
        Lines::new(&self.raw[..self.head_end as usize])
    }

    /// Builds the index of this message's lines now, so that every later lookup by name
    /// reads it instead of scanning (which happens anyway from the second lookup on). For a
    /// consumer that is going to read most headers of every message.
    pub fn index_fields(&self) {
        self.index();
    }

    fn index(&self) -> &[FieldSpan] {
        self.index.get_or_init(|| {
            let raw = &self.raw[..];
            // Exact capacity: one allocation, and no shrinking copy into the boxed slice.
            let mut index = Vec::with_capacity(self.len());
            index.extend(
                self.head_lines()
                    .map(|(start, end)| field_span(&raw[start..end], start)),
            );
            index.into_boxed_slice()
        })
    }

    /// The index, if there is one or it is time to build it; `None` means: scan.
    fn index_for_lookup(&self) -> Option<&[FieldSpan]> {
        if let Some(index) = self.index.get() {
            return Some(index);
        }
        let scans = self.scans.load(Ordering::Relaxed);
        if scans < Self::SCANS_BEFORE_INDEX {
            self.scans.store(scans + 1, Ordering::Relaxed);
            return None;
        }
        Some(self.index())
    }

    /// The values of the header `name`, in wire order, by whichever way is cheaper now.
    fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        let raw = &self.raw[..];
        let (index, lines) = match self.index_for_lookup() {
            Some(index) => (Some(index.iter()), None),
            // A name no decoded header can have matches nothing (and is never scanned for).
            None => (
                None,
                is_header_name(name.as_bytes()).then(|| self.head_lines()),
            ),
        };
        let from_index = index.into_iter().flatten().filter_map(move |span| {
            let field = field_at(raw, span);
            field.name_is(name).then_some(field.value)
        });
        let scanned = lines.into_iter().flatten().filter_map(move |(start, end)| {
            let line = &raw[start..end];
            header_value(line, name.as_bytes()).map(|(from, to)| &line[from..to])
        });
        from_index.chain(scanned)
    }

    /// The first value of `name` for this crate's own routing (ActionID, EventList): read
    /// like [`Message::get_bytes`], but never counted toward building the index nor building
    /// it, so a reply the session has looked at is handed out as if nobody had (the index
    /// would otherwise be allocated for every reply, read or not).
    pub(crate) fn peek(&self, name: &str) -> Option<&[u8]> {
        let raw = &self.raw[..];
        if let Some(index) = self.index.get() {
            return index
                .iter()
                .map(|span| field_at(raw, span))
                .find(|field| field.name_is(name))
                .map(|field| field.value);
        }
        if !is_header_name(name.as_bytes()) {
            return None;
        }
        self.head_lines().find_map(|(start, end)| {
            let line = &raw[start..end];
            header_value(line, name.as_bytes()).map(|(from, to)| &line[from..to])
        })
    }

    /// The first line's value as bytes: the `Response:` status of a response, the name of an
    /// event (no scan).
    pub(crate) fn first_value_bytes(&self) -> &[u8] {
        let (start, end) = self.first_value;
        &self.raw[start as usize..end as usize]
    }

    /// The first value of `name` (case-insensitive), as bytes.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.values(name).next()
    }

    /// The first value of `name` (case-insensitive), as text (lossy for non-UTF-8 bytes).
    pub fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get_bytes(name).map(String::from_utf8_lossy)
    }

    /// Every value of `name` (case-insensitive), in wire order: `Variable`, `Output`, ...
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.values(name)
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

    /// The first line's value, for the kind it decided (no scan: the decoder kept its span).
    fn first_value(&self) -> Cow<'_, str> {
        let (start, end) = self.first_value;
        String::from_utf8_lossy(&self.raw[start as usize..end as usize])
    }

    /// The `Event:` value of an event.
    pub fn event_name(&self) -> Option<Cow<'_, str>> {
        match self.kind {
            // An event's first line is its `Event:` header, hence its first `Event` value.
            MessageKind::Event => Some(self.first_value()),
            _ => None,
        }
    }

    /// The `Response:` value of a response (`Success`, `Error`, `Follows`, `Goodbye` ...).
    pub fn response(&self) -> Option<Cow<'_, str>> {
        match self.kind {
            MessageKind::Response => Some(self.first_value()),
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

impl Clone for Message {
    fn clone(&self) -> Self {
        Self {
            kind: self.kind,
            raw: self.raw.clone(),
            head_end: self.head_end,
            lines: self.lines,
            first_value: self.first_value,
            index: self.index.clone(),
            scans: AtomicU8::new(self.scans.load(Ordering::Relaxed)),
            body: self.body,
            truncated: self.truncated,
        }
    }
}

/// Equal when the bytes, the lines (as names and values), the body and the flags are: whether
/// an index was built yet makes no difference.
impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.raw == other.raw
            && self.body == other.body
            && self.truncated == other.truncated
            && self.len() == other.len()
            && self.fields().eq(other.fields())
    }
}

impl Eq for Message {}

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
            head_end: 0,
            lines: self.fields.len() as u32,
            first_value: self
                .fields
                .first()
                .map_or((0, 0), |span| (span.value_start, span.value_end)),
            index: OnceLock::from(self.fields.into_boxed_slice()),
            scans: AtomicU8::new(0),
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

    /// A message travels inside replies and errors (`ActionFailure` holds one next to a
    /// `String`): its size is kept at what it was with an eager field vector and a bit more.
    #[test]
    fn a_message_stays_small() {
        assert!(
            std::mem::size_of::<Message>() <= 88,
            "{}",
            std::mem::size_of::<Message>()
        );
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
