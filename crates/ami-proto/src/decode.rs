//! Bytes to packets: the banner line, then `Key: Value` blocks ended by a blank line, tolerant
//! of everything real Asterisk servers send (see the crate docs for the list).
//!
//! The decoder is incremental: call [`Decoder::decode`] whenever bytes were appended to the
//! buffer; it returns `Ok(None)` until a whole packet is there and remembers how far it has
//! scanned, so a packet arriving in many pieces is scanned once.

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};
use memchr::memmem;

use crate::message::{FieldSpan, Message, MessageKind, classify};

/// The marker that ends a legacy (Asterisk 13 and older) `Response: Follows` Command body.
pub const END_COMMAND: &[u8] = b"--END COMMAND--";

const BANNER_PREFIX: &[u8] = b"Asterisk Call Manager";

/// Hard limits that keep one connection's memory bounded whatever the peer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest packet, in bytes, terminators included. Default 16 MiB: a `core show help` or a
    /// big `dialplan show` is a few MiB, and Asterisk sends Command output as one packet.
    pub max_packet_bytes: usize,
    /// Most lines (headers, `Output:` lines, text lines) in one packet. Default 1,048,576,
    /// because modern Command output spends one `Output:` header per CLI line.
    pub max_fields: usize,
}

impl Limits {
    /// The largest `max_packet_bytes` accepted: offsets inside a packet are 32-bit.
    pub const MAX_PACKET_BYTES_CEILING: usize = u32::MAX as usize;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_packet_bytes: 16 * 1024 * 1024,
            max_fields: 1 << 20,
        }
    }
}

/// A packet broke a [`Limits`] bound. The decoder has already started skipping it and resumes at
/// the next packet boundary, so calling `decode` again loses nothing that follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The packet grew past `max_packet_bytes`.
    #[error(
        "packet starting at byte {offset} exceeds the {limit}-byte limit; skipped to the next packet"
    )]
    PacketTooLarge {
        /// Stream offset of the packet's first byte.
        offset: u64,
        /// The limit in force.
        limit: usize,
    },
    /// The packet had more than `max_fields` lines.
    #[error(
        "packet starting at byte {offset} has more than {limit} lines; skipped to the next packet"
    )]
    TooManyFields {
        /// Stream offset of the packet's first byte.
        offset: u64,
        /// The limit in force.
        limit: usize,
    },
}

impl DecodeError {
    /// Stream offset of the offending packet's first byte.
    pub fn offset(&self) -> u64 {
        match self {
            Self::PacketTooLarge { offset, .. } | Self::TooManyFields { offset, .. } => *offset,
        }
    }

    /// A short stable name for the error (`packet_too_large`, `too_many_fields`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::PacketTooLarge { .. } => "packet_too_large",
            Self::TooManyFields { .. } => "too_many_fields",
        }
    }
}

/// The greeting line a server sends first: `Asterisk Call Manager/11.0.0`, or a proxy's
/// `Asterisk Call Manager Proxy/...`. The version is the AMI version, not Asterisk's.
#[derive(Clone, PartialEq, Eq)]
pub struct Banner {
    line: Bytes,
    slash: usize,
}

impl Banner {
    /// The whole line, without its line ending.
    pub fn line(&self) -> &[u8] {
        &self.line
    }

    /// What precedes the `/`: `Asterisk Call Manager` or a proxy's name.
    pub fn product(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.line[..self.slash])
    }

    /// What follows the `/`, trimmed: `11.0.0`, `2.10.6`, `1.1` ...
    pub fn version(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.line[self.slash + 1..].trim_ascii())
    }

    /// The leading numeric components of the version (`2.10.6` gives `[2, 10, 6]`), for
    /// comparisons; stops at the first part that is not a number.
    pub fn version_numbers(&self) -> Vec<u32> {
        self.version()
            .split('.')
            .map_while(|part| part.trim().parse().ok())
            .collect()
    }
}

impl fmt::Debug for Banner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Banner")
            .field("product", &self.product())
            .field("version", &self.version())
            .finish()
    }
}

/// One decoded item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// The server's greeting line.
    Banner(Banner),
    /// A response, an event, or an unknown block.
    Message(Message),
}

/// Incremental AMI decoder. One per connection (or per captured stream).
///
/// Contract: between calls the caller may append to the buffer but must not remove or change
/// bytes the decoder has not consumed.
#[derive(Debug, Default)]
pub struct Decoder {
    limits: Limits,
    /// Stream offset of the first byte still in the caller's buffer.
    consumed: u64,
    state: State,
    partial: Partial,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Lines,
    /// Inside a legacy Command body; `search_from` avoids rescanning what has been searched.
    Body { start: usize, search_from: usize },
    /// Skipping an over-limit packet until the next boundary.
    Discard(Discard),
}

#[derive(Debug, Default)]
struct Discard {
    in_body: bool,
    line_has_content: bool,
}

#[derive(Debug, Default)]
struct Partial {
    /// Bytes of the current packet already split into lines.
    scanned: usize,
    fields: Vec<FieldSpan>,
    kind: Option<MessageKind>,
    follows: bool,
}

enum LineEnd {
    Found(usize),
    Other,
    NeedMore,
}

impl Decoder {
    /// A decoder with the default [`Limits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder with the given limits (`max_packet_bytes` is capped at 4 GiB - 1).
    pub fn with_limits(mut limits: Limits) -> Self {
        limits.max_packet_bytes = limits
            .max_packet_bytes
            .min(Limits::MAX_PACKET_BYTES_CEILING);
        Self {
            limits,
            ..Self::default()
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Stream offset of the next byte the decoder will consume.
    pub fn position(&self) -> u64 {
        self.consumed
    }

    /// Decodes the next packet from the front of `buf`, consuming its bytes. `Ok(None)` means
    /// more bytes are needed. After an `Err`, call again: the bad packet is being skipped.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>, DecodeError> {
        loop {
            match &mut self.state {
                State::Discard(_) => {
                    if !self.discard(buf) {
                        return Ok(None);
                    }
                }
                State::Body { .. } => return self.decode_body(buf),
                State::Lines => match self.decode_lines(buf)? {
                    Step::Packet(packet) => return Ok(Some(packet)),
                    Step::NeedMore => return Ok(None),
                    Step::EnterBody => {}
                },
            }
        }
    }

    /// Like [`Decoder::decode`], for when the stream has ended: a packet cut off by the end is
    /// returned marked [`Message::is_truncated`] rather than held forever (a `Follows` body
    /// whose `--END COMMAND--` never came, a capture that stops mid-packet).
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>, DecodeError> {
        if let Some(packet) = self.decode(buf)? {
            return Ok(Some(packet));
        }
        let state = std::mem::take(&mut self.state);
        let body = match state {
            State::Discard(_) => {
                self.consume(buf, buf.len());
                return Ok(None);
            }
            State::Body { start, .. } => Some((start as u32, buf.len() as u32)),
            State::Lines => {
                let pos = self.partial.scanned;
                let mut end = buf.len();
                if buf[pos..].last() == Some(&b'\r') {
                    end -= 1;
                }
                if self.partial.follows && !is_legacy_header(&buf[pos..end], false) {
                    Some((pos as u32, buf.len() as u32))
                } else {
                    if end > pos {
                        self.push_field(buf, pos, end)?;
                    }
                    None
                }
            }
        };
        if self.partial.fields.is_empty() && body.is_none() {
            self.consume(buf, buf.len());
            return Ok(None);
        }
        let mut message = self.take_message(buf, buf.len());
        message.body = body;
        message.truncated = true;
        Ok(Some(Packet::Message(message)))
    }

    fn decode_lines(&mut self, buf: &mut BytesMut) -> Result<Step, DecodeError> {
        loop {
            let pos = self.partial.scanned;
            let Some(newline) = memchr::memchr(b'\n', &buf[pos..]) else {
                if buf.len() > self.limits.max_packet_bytes {
                    return Err(self.fail_too_large(buf, pos, false));
                }
                return Ok(Step::NeedMore);
            };
            let newline = pos + newline;
            let next = newline + 1;
            let crlf = newline > pos && buf[newline - 1] == b'\r';
            let content_end = if crlf { newline - 1 } else { newline };

            if content_end == pos {
                if self.partial.fields.is_empty() {
                    // A stray blank line between packets (or the tail of a `\n\r\n\r\n`).
                    self.consume(buf, next);
                    continue;
                }
                let message = self.take_message(buf, next);
                return Ok(Step::Packet(Packet::Message(message)));
            }

            let line = &buf[pos..content_end];
            if self.partial.fields.is_empty() && line.starts_with(BANNER_PREFIX) {
                if let Some(slash) = memchr::memchr(b'/', line) {
                    let line = buf.split_to(next).freeze().slice(..content_end);
                    self.consumed += next as u64;
                    return Ok(Step::Packet(Packet::Banner(Banner { line, slash })));
                }
            }

            if self.partial.follows && !is_legacy_header(&buf[pos..content_end], crlf) {
                self.state = State::Body {
                    start: pos,
                    search_from: pos,
                };
                return Ok(Step::EnterBody);
            }

            self.push_field(buf, pos, content_end)?;
            self.partial.scanned = next;
            if next > self.limits.max_packet_bytes {
                return Err(self.fail_too_large(buf, next, false));
            }
        }
    }

    fn push_field(
        &mut self,
        buf: &mut BytesMut,
        pos: usize,
        end: usize,
    ) -> Result<(), DecodeError> {
        if self.partial.fields.len() >= self.limits.max_fields {
            let error = DecodeError::TooManyFields {
                offset: self.consumed,
                limit: self.limits.max_fields,
            };
            self.start_discard(buf, pos, false);
            return Err(error);
        }
        let span = field_span(&buf[pos..end], pos);
        if self.partial.fields.is_empty() {
            let first_name = &buf[span.name_start as usize..span.name_end as usize];
            let kind = classify((!first_name.is_empty()).then_some(first_name));
            self.partial.follows = kind == MessageKind::Response
                && buf[span.value_start as usize..span.value_end as usize]
                    .eq_ignore_ascii_case(b"Follows");
            self.partial.kind = Some(kind);
            self.partial.fields.reserve(16);
        }
        self.partial.fields.push(span);
        Ok(())
    }

    fn decode_body(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>, DecodeError> {
        let State::Body {
            start,
            mut search_from,
        } = self.state
        else {
            return Ok(None);
        };
        loop {
            let Some(found) = memmem::find(&buf[search_from..], END_COMMAND) else {
                search_from = buf.len().saturating_sub(END_COMMAND.len() - 1).max(start);
                if buf.len() > self.limits.max_packet_bytes {
                    return Err(self.fail_too_large(buf, search_from, true));
                }
                self.state = State::Body { start, search_from };
                return Ok(None);
            };
            let marker = search_from + found;
            let after_marker = marker + END_COMMAND.len();
            let end = match line_end(&buf[after_marker..]) {
                LineEnd::NeedMore => {
                    self.state = State::Body {
                        start,
                        search_from: marker,
                    };
                    return Ok(None);
                }
                // Text that merely mentions the marker: keep looking.
                LineEnd::Other => {
                    search_from = marker + 1;
                    continue;
                }
                LineEnd::Found(len) => {
                    let blank_at = after_marker + len;
                    match line_end(&buf[blank_at..]) {
                        LineEnd::NeedMore => {
                            self.state = State::Body {
                                start,
                                search_from: marker,
                            };
                            return Ok(None);
                        }
                        LineEnd::Found(blank) => blank_at + blank,
                        // Tolerated: no blank line after the marker.
                        LineEnd::Other => blank_at,
                    }
                }
            };
            self.state = State::Lines;
            if end > self.limits.max_packet_bytes {
                let error = DecodeError::PacketTooLarge {
                    offset: self.consumed,
                    limit: self.limits.max_packet_bytes,
                };
                self.consume(buf, end);
                return Err(error);
            }
            let mut message = self.take_message(buf, end);
            message.body = Some((start as u32, marker as u32));
            return Ok(Some(Packet::Message(message)));
        }
    }

    fn take_message(&mut self, buf: &mut BytesMut, end: usize) -> Message {
        let partial = std::mem::take(&mut self.partial);
        let raw = buf.split_to(end).freeze();
        self.consumed += end as u64;
        Message {
            kind: partial.kind.unwrap_or(MessageKind::Unknown),
            raw,
            fields: partial.fields,
            body: None,
            truncated: false,
        }
    }

    fn consume(&mut self, buf: &mut BytesMut, len: usize) {
        buf.advance(len);
        self.consumed += len as u64;
        self.partial = Partial::default();
    }

    fn fail_too_large(&mut self, buf: &mut BytesMut, resume: usize, in_body: bool) -> DecodeError {
        let error = DecodeError::PacketTooLarge {
            offset: self.consumed,
            limit: self.limits.max_packet_bytes,
        };
        self.start_discard(buf, resume, in_body);
        error
    }

    /// Drops the bytes of the bad packet seen so far (`resume` is at a line start, or inside a
    /// body) and keeps skipping from there.
    fn start_discard(&mut self, buf: &mut BytesMut, resume: usize, in_body: bool) {
        self.consume(buf, resume);
        self.state = State::Discard(Discard {
            in_body,
            line_has_content: false,
        });
    }

    /// Skips to the next packet boundary. Returns true once it is found.
    fn discard(&mut self, buf: &mut BytesMut) -> bool {
        loop {
            let State::Discard(discard) = &mut self.state else {
                return true;
            };
            if discard.in_body {
                match memmem::find(buf, END_COMMAND) {
                    Some(marker) => {
                        discard.in_body = false;
                        discard.line_has_content = true;
                        let len = marker + END_COMMAND.len();
                        self.consume(buf, len);
                    }
                    None => {
                        let keep = END_COMMAND.len() - 1;
                        let len = buf.len().saturating_sub(keep);
                        self.consume(buf, len);
                        return false;
                    }
                }
                continue;
            }
            let Some(newline) = memchr::memchr(b'\n', buf) else {
                if buf.iter().any(|&b| b != b'\r') {
                    discard.line_has_content = true;
                }
                let len = buf.len();
                self.consume(buf, len);
                return false;
            };
            let blank = !discard.line_has_content && buf[..newline].iter().all(|&b| b == b'\r');
            discard.line_has_content = false;
            self.consume(buf, newline + 1);
            if blank {
                self.state = State::Lines;
                return true;
            }
        }
    }
}

enum Step {
    Packet(Packet),
    NeedMore,
    EnterBody,
}

/// Splits one line into name and value spans (offsets from the packet start).
fn field_span(line: &[u8], base: usize) -> FieldSpan {
    if let Some(colon) = memchr::memchr(b':', line) {
        let name = &line[..colon];
        if !name.is_empty() && !name.iter().any(|&b| b == b' ' || b == b'\t') {
            let mut value_start = colon + 1;
            if line.get(value_start) == Some(&b' ') {
                value_start += 1;
            }
            return FieldSpan {
                name_start: base as u32,
                name_end: (base + colon) as u32,
                value_start: (base + value_start) as u32,
                value_end: (base + line.len()) as u32,
            };
        }
    }
    FieldSpan {
        name_start: base as u32,
        name_end: base as u32,
        value_start: base as u32,
        value_end: (base + line.len()) as u32,
    }
}

/// Inside a `Response: Follows` packet, the headers Asterisk writes (`Privilege`, `ActionID`)
/// end in CRLF while the CLI text that follows ends in bare LF. A bare-LF line still counts as a
/// header when it is one of those two, for servers or proxies that write bare LF throughout.
fn is_legacy_header(line: &[u8], crlf: bool) -> bool {
    let span = field_span(line, 0);
    if span.is_text_line() {
        return false;
    }
    let name = &line[..span.name_end as usize];
    crlf || name.eq_ignore_ascii_case(b"Privilege") || name.eq_ignore_ascii_case(b"ActionID")
}

fn line_end(rest: &[u8]) -> LineEnd {
    match rest {
        [] | [b'\r'] => LineEnd::NeedMore,
        [b'\n', ..] => LineEnd::Found(1),
        [b'\r', b'\n', ..] => LineEnd::Found(2),
        _ => LineEnd::Other,
    }
}
