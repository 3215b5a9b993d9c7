//! Bytes to packets: the banner line, then `Key: Value` blocks ended by a blank line, tolerant
//! of everything real Asterisk servers send (see the crate docs for the list).
//!
//! The decoder is incremental: call [`Decoder::decode`] whenever bytes were appended to the
//! buffer; it returns `Ok(None)` until a whole packet is there and remembers how far it has
//! scanned, so a packet arriving in many pieces is scanned once.
//!
//! It only finds where each packet ends, counts its lines and reads its first line (the kind,
//! and whether a legacy body may follow); splitting the other lines into names and values is
//! left to [`Message`], on demand.

use std::fmt;
use std::sync::LazyLock;

use bytes::{Buf, Bytes, BytesMut};
use memchr::memmem;

use crate::message::{Message, MessageKind, classify};
use crate::scan::{FieldSpan, field_span, find_newline};
use crate::syntax::{END_COMMAND, LineEnd, line_end};

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
#[non_exhaustive]
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
    /// The last packet found line by line ended with a bare-LF blank line: the wide search
    /// for a CRLF blank line would look past it in vain, so it is not tried.
    bare_lf_ends: bool,
    /// Stream offset before which no bare-LF blank line (`\n\n`) lies in what has been read:
    /// one search over a read's bytes answers the check for every packet in them, instead of a
    /// search per packet.
    no_bare_lf_before: u64,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Lines,
    /// Inside a legacy Command body; `search_from` avoids rescanning what has been searched.
    /// With `skip`, the packet broke a limit: the body is dropped as it is scanned, and the
    /// packet's end is found by the same rules as a kept body's.
    Body {
        start: usize,
        search_from: usize,
        skip: bool,
    },
    /// Skipping an over-limit packet until the next blank line.
    Discard(LineSoFar),
}

/// What the line being skipped held so far: a blank line is `\n` or `\r\n`, as for
/// [`Decoder::decode`], whatever pieces it arrives in.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum LineSoFar {
    #[default]
    Empty,
    Cr,
    Content,
}

impl LineSoFar {
    fn extend(self, bytes: &[u8]) -> Self {
        match (self, bytes) {
            (line, []) => line,
            (Self::Empty, [b'\r']) => Self::Cr,
            _ => Self::Content,
        }
    }
}

#[derive(Debug, Default)]
struct Partial {
    /// Bytes of the current packet already split into lines.
    scanned: usize,
    /// Lines of the current packet so far (headers and text lines).
    lines: usize,
    /// The first line's span, which decides the kind.
    first: FieldSpan,
    kind: Option<MessageKind>,
    follows: bool,
}

impl Partial {
    fn reset(&mut self) {
        *self = Self::default();
    }
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
                State::Body { .. } => match self.decode_body(buf)? {
                    Step::Packet(packet) => return Ok(Some(packet)),
                    Step::NeedMore => return Ok(None),
                    Step::Again => {}
                },
                State::Lines => match self.decode_lines(buf)? {
                    Step::Packet(packet) => return Ok(Some(packet)),
                    Step::NeedMore => return Ok(None),
                    Step::Again => {}
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
            State::Discard(_) | State::Body { skip: true, .. } => {
                self.consume(buf, buf.len());
                return Ok(None);
            }
            State::Body {
                start,
                search_from,
                skip: false,
            } => {
                // The marker and its line end came, only the (optional) blank line is
                // missing: the packet is complete.
                if let Some(marker) = complete_marker(&buf[search_from..]) {
                    let marker = search_from + marker;
                    let mut message = self.take_rest(buf, start)?;
                    message.body = Some((start as u32, marker as u32));
                    return Ok(Some(Packet::Message(message)));
                }
                (Some((start as u32, buf.len() as u32)), start)
            }
            State::Lines => {
                let pos = self.partial.scanned;
                let mut end = buf.len();
                if buf[pos..].last() == Some(&b'\r') {
                    end -= 1;
                }
                if self.partial.lines == 0 && buf[pos..end].starts_with(BANNER_PREFIX) {
                    if let Some(slash) = memchr::memchr(b'/', &buf[pos..end]) {
                        let total = buf.len();
                        let line = buf.split_to(total).freeze().slice(pos..end);
                        self.consumed += total as u64;
                        self.partial.reset();
                        return Ok(Some(Packet::Banner(Banner { line, slash })));
                    }
                }
                if self.partial.follows && !is_legacy_header(&buf[pos..end], false) {
                    (Some((pos as u32, buf.len() as u32)), pos)
                } else if end > pos {
                    // The cut-off last line is a field too (its trailing `\r` dropped, as the
                    // message's line splitting does for a last line without `\n`).
                    self.push_field(buf, pos, end)?;
                    (None, buf.len())
                } else {
                    (None, pos)
                }
            }
        };
        let (body, head_end) = body;
        if self.partial.lines == 0 && body.is_none() {
            self.consume(buf, buf.len());
            return Ok(None);
        }
        let mut message = self.take_rest(buf, head_end)?;
        message.body = body;
        message.truncated = true;
        Ok(Some(Packet::Message(message)))
    }

    /// At the end of the stream, everything left is the last packet. `decode` only knows a
    /// lower bound of a legacy reply's end while the bytes after its marker are undecided (a
    /// lone `\r` may start the blank line or the next packet), so the limit is checked again
    /// here on the bytes the message would actually hold; over it, the packet is dropped with
    /// the same error as in `decode` and nothing follows it to resynchronise to.
    fn take_rest(&mut self, buf: &mut BytesMut, head_end: usize) -> Result<Message, DecodeError> {
        if buf.len() > self.limits.max_packet_bytes {
            let error = self.too_large();
            self.consume(buf, buf.len());
            return Err(error);
        }
        Ok(self.take_message(buf, buf.len(), head_end))
    }

    fn decode_lines(&mut self, buf: &mut BytesMut) -> Result<Step, DecodeError> {
        // A packet resumed from an earlier call: its end may have arrived since.
        if let Some(message) = self.finish_ordinary(buf) {
            return Ok(Step::Packet(Packet::Message(message)));
        }
        loop {
            let pos = self.partial.scanned;
            let Some(newline) = find_newline(&buf[pos..]) else {
                if buf.len() > self.limits.max_packet_bytes {
                    return Err(self.fail_too_large(buf, pos));
                }
                return Ok(Step::NeedMore);
            };
            let newline = pos + newline;
            let next = newline + 1;
            let crlf = newline > pos && buf[newline - 1] == b'\r';
            let content_end = if crlf { newline - 1 } else { newline };

            if content_end == pos && self.partial.lines == 0 {
                // A stray blank line between packets (or the tail of a `\n\r\n\r\n`).
                self.consume(buf, next);
                continue;
            }
            // Checked before anything else, so the outcome is the same whether this line came
            // whole or in pieces (see the no-newline case above).
            if next > self.limits.max_packet_bytes {
                return Err(self.fail_too_large(buf, pos));
            }
            // In a legacy `Follows` reply the CLI text follows the CRLF headers directly, and may
            // start with an empty line (`core show settings`, `core show sysinfo`, `sip show
            // settings` do): a bare LF there is that text, not the end of the packet.
            if content_end == pos && (crlf || !self.partial.follows) {
                self.bare_lf_ends = !crlf;
                let message = self.take_message(buf, next, pos);
                return Ok(Step::Packet(Packet::Message(message)));
            }

            let line = &buf[pos..content_end];
            if self.partial.lines == 0 && line.starts_with(BANNER_PREFIX) {
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
                    skip: false,
                };
                return Ok(Step::Again);
            }

            self.push_field(buf, pos, content_end)?;
            self.partial.scanned = next;
            if self.partial.lines == 1 {
                if let Some(message) = self.finish_ordinary(buf) {
                    return Ok(Step::Packet(Packet::Message(message)));
                }
            }
        }
    }

    /// The wide path for an ordinary packet (not a legacy `Follows` reply) whose first line
    /// has been read: finds its CRLF blank line with one SIMD search, checks with two more
    /// that no bare-LF blank line comes first and counts its lines, and hands it out if it is
    /// within the limits. Anything else (no end in sight within a window, a bare-LF end, a
    /// limit broken) is left to the line-by-line loop, which gives the exact same result and
    /// errors; the window keeps the search from crossing many packets' worth of bytes.
    fn finish_ordinary(&mut self, buf: &mut BytesMut) -> Option<Message> {
        const WINDOW: usize = 16 * 1024;
        // Built once: a searcher's setup costs more than searching one packet.
        static BLANK_CRLF: LazyLock<memmem::Finder<'static>> =
            LazyLock::new(|| memmem::Finder::new(b"\n\r\n"));
        let from = self.partial.scanned;
        if self.partial.lines == 0 || self.partial.follows || self.bare_lf_ends {
            return None;
        }
        // `from` starts a line, so the byte before it is the previous line's `\n`.
        let search = &buf[from - 1..buf.len().min(from - 1 + WINDOW)];
        let newline = from - 1 + BLANK_CRLF.find(search)?;
        if !self.no_bare_lf_in(buf, from - 1, newline) {
            return None;
        }
        let head = &buf[from - 1..=newline];
        let end = newline + 3;
        if end > self.limits.max_packet_bytes {
            return None;
        }
        // Every line before the blank one holds a byte besides its `\n`, so the head holds at
        // most half its length in lines: only a packet that could break `max_fields` by that
        // bound is counted here; any other leaves the count to `Message::len`.
        let rest = &head[1..];
        if self.partial.lines + rest.len() / 2 <= self.limits.max_fields {
            let mut message = self.take_message(buf, end, newline + 1);
            message.lines = Message::UNCOUNTED;
            return Some(message);
        }
        let lines = memchr::memchr_iter(b'\n', rest).count();
        if self.partial.lines + lines > self.limits.max_fields {
            return None;
        }
        self.partial.lines += lines;
        Some(self.take_message(buf, end, newline + 1))
    }

    /// True when `buf[start..=end]` holds no bare-LF blank line (`\n\n`). Searches from where
    /// the last search stopped to the end of the buffer, so the bytes of a read are searched
    /// once, whatever the number of packets in them.
    fn no_bare_lf_in(&mut self, buf: &[u8], start: usize, end: usize) -> bool {
        static BLANK_LF: LazyLock<memmem::Finder<'static>> =
            LazyLock::new(|| memmem::Finder::new(b"\n\n"));
        let clear = usize::try_from(self.no_bare_lf_before.saturating_sub(self.consumed))
            .unwrap_or(usize::MAX);
        if end < clear {
            return true;
        }
        // A `\n\n` that straddles the old limit starts one byte before it.
        let from = start.max(clear.saturating_sub(1));
        match BLANK_LF.find(&buf[from..]) {
            Some(found) => {
                let found = from + found;
                self.no_bare_lf_before = self.consumed + found as u64 + 1;
                found + 1 > end
            }
            None => {
                self.no_bare_lf_before = self.consumed + buf.len() as u64;
                true
            }
        }
    }

    fn push_field(
        &mut self,
        buf: &mut BytesMut,
        pos: usize,
        end: usize,
    ) -> Result<(), DecodeError> {
        if self.partial.lines >= self.limits.max_fields {
            let error = DecodeError::TooManyFields {
                offset: self.consumed,
                limit: self.limits.max_fields,
            };
            self.start_discard(buf, pos);
            return Err(error);
        }
        // Only the first line is split here: it decides the kind and whether a legacy body
        // may follow. The others are split when the message is read.
        if self.partial.lines == 0 {
            let span = field_span(&buf[pos..end], pos);
            let first_name = &buf[span.name_start as usize..span.name_end as usize];
            let kind = classify((!first_name.is_empty()).then_some(first_name));
            self.partial.follows = kind == MessageKind::Response
                && buf[span.value_start as usize..span.value_end as usize]
                    .eq_ignore_ascii_case(b"Follows");
            self.partial.kind = Some(kind);
            self.partial.first = span;
        }
        self.partial.lines += 1;
        Ok(())
    }

    fn decode_body(&mut self, buf: &mut BytesMut) -> Result<Step, DecodeError> {
        let State::Body {
            start,
            search_from,
            skip,
        } = self.state
        else {
            return Ok(Step::Again);
        };
        match find_body_end(buf, search_from) {
            BodyEnd::Found { marker, end } => {
                self.state = State::Lines;
                if skip {
                    self.consume(buf, end);
                    return Ok(Step::Again);
                }
                if end > self.limits.max_packet_bytes {
                    let error = self.too_large();
                    self.consume(buf, end);
                    return Err(error);
                }
                let mut message = self.take_message(buf, end, start);
                message.body = Some((start as u32, marker as u32));
                Ok(Step::Packet(Packet::Message(message)))
            }
            BodyEnd::NeedMore {
                search_from,
                min_end,
            } => {
                // Over the limit only once the packet's end is known to lie beyond it: the
                // bytes after a marker may turn out to belong to the next packet.
                if skip || min_end > self.limits.max_packet_bytes {
                    let error = (!skip).then(|| self.too_large());
                    // Drop what has been searched; keep where a marker may still start.
                    self.consume(buf, search_from);
                    self.state = State::Body {
                        start: 0,
                        search_from: 0,
                        skip: true,
                    };
                    return error.map_or(Ok(Step::NeedMore), Err);
                }
                self.state = State::Body {
                    start,
                    search_from,
                    skip,
                };
                Ok(Step::NeedMore)
            }
        }
    }

    /// Hands out the packet's first `end` bytes as a message whose header lines end at
    /// `head_end`. The bytes are shared with the read buffer (no copy, no allocation).
    fn take_message(&mut self, buf: &mut BytesMut, end: usize, head_end: usize) -> Message {
        let raw = buf.split_to(end).freeze();
        self.consumed += end as u64;
        let message = Message::decoded(
            self.partial.kind.unwrap_or(MessageKind::Unknown),
            raw,
            head_end,
            self.partial.lines,
            self.partial.first,
        );
        self.partial.reset();
        message
    }

    fn consume(&mut self, buf: &mut BytesMut, len: usize) {
        buf.advance(len);
        self.consumed += len as u64;
        self.partial.reset();
    }

    fn too_large(&self) -> DecodeError {
        DecodeError::PacketTooLarge {
            offset: self.consumed,
            limit: self.limits.max_packet_bytes,
        }
    }

    fn fail_too_large(&mut self, buf: &mut BytesMut, line_start: usize) -> DecodeError {
        let error = self.too_large();
        if self.partial.follows {
            // A legacy `Follows` reply: the long line is CLI text, which may hold blank lines,
            // so the packet ends at its `--END COMMAND--` marker, not at the next blank line.
            self.consume(buf, line_start);
            self.state = State::Body {
                start: 0,
                search_from: 0,
                skip: true,
            };
        } else {
            self.start_discard(buf, line_start);
        }
        error
    }

    /// Drops the bytes of the bad packet before `line_start` and skips from there to the next
    /// blank line.
    fn start_discard(&mut self, buf: &mut BytesMut, line_start: usize) {
        self.consume(buf, line_start);
        self.state = State::Discard(LineSoFar::Empty);
    }

    /// Skips to the next blank line. Returns true once it is found.
    fn discard(&mut self, buf: &mut BytesMut) -> bool {
        loop {
            let State::Discard(line) = &mut self.state else {
                return true;
            };
            let Some(newline) = memchr::memchr(b'\n', buf) else {
                *line = line.extend(buf);
                let len = buf.len();
                self.consume(buf, len);
                return false;
            };
            let blank = line.extend(&buf[..newline]) != LineSoFar::Content;
            *line = LineSoFar::Empty;
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
    /// The state changed (a body starts, or a skipped body ended): go on.
    Again,
}

enum BodyEnd {
    /// The marker at `marker`, its line end, and the blank line if there is one, end at `end`.
    Found { marker: usize, end: usize },
    /// Not there yet; search again from `search_from`. The packet will end at `min_end` or
    /// later.
    NeedMore { search_from: usize, min_end: usize },
}

/// Finds the end of a legacy body: `--END COMMAND--` followed by a line end (text that merely
/// mentions the marker does not count), then a blank line, tolerated when absent.
fn find_body_end(buf: &[u8], mut search_from: usize) -> BodyEnd {
    loop {
        let Some(found) = memmem::find(&buf[search_from..], END_COMMAND) else {
            let search_from = buf
                .len()
                .saturating_sub(END_COMMAND.len() - 1)
                .max(search_from);
            return BodyEnd::NeedMore {
                search_from,
                min_end: buf.len() + 1,
            };
        };
        let marker = search_from + found;
        let after_marker = marker + END_COMMAND.len();
        match line_end(&buf[after_marker..]) {
            LineEnd::NeedMore => {
                return BodyEnd::NeedMore {
                    search_from: marker,
                    min_end: after_marker + 1,
                };
            }
            LineEnd::Other => search_from = marker + 1,
            LineEnd::Found(len) => {
                let blank_at = after_marker + len;
                let end = match line_end(&buf[blank_at..]) {
                    LineEnd::NeedMore => {
                        return BodyEnd::NeedMore {
                            search_from: marker,
                            min_end: blank_at,
                        };
                    }
                    LineEnd::Found(blank) => blank_at + blank,
                    LineEnd::Other => blank_at,
                };
                return BodyEnd::Found { marker, end };
            }
        }
    }
}

/// At the end of the stream: the first marker followed by a whole line end, if any.
fn complete_marker(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = memmem::find(&buf[from..], END_COMMAND) {
        let marker = from + found;
        if let LineEnd::Found(_) = line_end(&buf[marker + END_COMMAND.len()..]) {
            return Some(marker);
        }
        from = marker + 1;
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed whole, then fed in every two-piece split, and in 1-byte pieces;
    /// all must agree. Returns the packets of the whole feed, with `decode_eof` at the end.
    fn decode_all(input: &[u8]) -> Vec<Packet> {
        let whole = feed(&[input]);
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(
                feed(&[a, b]),
                whole,
                "split at byte {cut} changed the result"
            );
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(feed(&bytes), whole, "1-byte pieces changed the result");
        whole
    }

    fn feed(pieces: &[&[u8]]) -> Vec<Packet> {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            while let Some(packet) = decoder.decode(&mut buf).expect("no limit is hit") {
                out.push(packet);
            }
        }
        while let Some(packet) = decoder.decode_eof(&mut buf).expect("no limit is hit") {
            out.push(packet);
        }
        assert!(buf.is_empty(), "decode_eof leaves nothing behind");
        out
    }

    fn messages(input: &[u8]) -> Vec<Message> {
        decode_all(input)
            .into_iter()
            .map(|packet| match packet {
                Packet::Message(message) => message,
                Packet::Banner(banner) => panic!("unexpected banner {banner:?}"),
            })
            .collect()
    }

    fn one(input: &[u8]) -> Message {
        let mut all = messages(input);
        assert_eq!(all.len(), 1, "expected one message, got {all:?}");
        all.remove(0)
    }

    fn pairs(message: &Message) -> Vec<(String, String)> {
        message
            .fields()
            .map(|field| {
                (
                    field.name_str().into_owned(),
                    field.value_str().into_owned(),
                )
            })
            .collect()
    }

    fn banner(packet: &Packet) -> &Banner {
        match packet {
            Packet::Banner(banner) => banner,
            other => panic!("expected a banner, got {other:?}"),
        }
    }

    #[test]
    fn banner_of_any_version_is_its_own_item() {
        for (line, product, version) in [
            (
                "Asterisk Call Manager/11.0.0",
                "Asterisk Call Manager",
                "11.0.0",
            ),
            (
                "Asterisk Call Manager/2.10.6",
                "Asterisk Call Manager",
                "2.10.6",
            ),
            ("Asterisk Call Manager/1.1", "Asterisk Call Manager", "1.1"),
            (
                "Asterisk Call Manager/99.1.0-rc2",
                "Asterisk Call Manager",
                "99.1.0-rc2",
            ),
            (
                "Asterisk Call Manager Proxy/1.22pre",
                "Asterisk Call Manager Proxy",
                "1.22pre",
            ),
        ] {
            let input = format!("{line}\r\nResponse: Success\r\nPing: Pong\r\n\r\n");
            let packets = decode_all(input.as_bytes());
            assert_eq!(packets.len(), 2, "{line}");
            let banner = banner(&packets[0]);
            assert_eq!(banner.product(), product);
            assert_eq!(banner.version(), version);
            assert_eq!(banner.line(), line.as_bytes());
            assert!(matches!(&packets[1], Packet::Message(m) if m.is_response()));
        }
        let packets = decode_all(b"Asterisk Call Manager/2.10.6\n");
        assert_eq!(banner(&packets[0]).version_numbers(), vec![2, 10, 6]);
    }

    #[test]
    fn crlf_and_bare_lf_mixed_in_one_packet() {
        let message = one(b"Response: Success\nActionID: 1\r\nMessage: ok\n\r\n");
        assert_eq!(
            pairs(&message),
            [
                ("Response", "Success"),
                ("ActionID", "1"),
                ("Message", "ok")
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        let all = messages(b"Event: A\n\nEvent: B\r\n\nEvent: C\n\r\n");
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn stray_blank_lines_between_packets_are_skipped() {
        let all = messages(b"\r\n\nResponse: Success\r\n\r\n\r\n\n\r\nEvent: X\r\n\r\n\r\n");
        assert_eq!(all.len(), 2);
        assert!(all[0].is_response());
        assert!(all[1].is_event());
    }

    #[test]
    fn header_names_case_insensitive_with_original_spelling_and_order() {
        let message = one(b"Event: Status\r\nAccountcode: 7\r\nCallerIDnum: 100\r\n\r\n");
        assert_eq!(message.get("AccountCode").as_deref(), Some("7"));
        assert_eq!(message.get("CALLERIDNUM").as_deref(), Some("100"));
        let names: Vec<_> = message
            .fields()
            .map(|f| f.name_str().into_owned())
            .collect();
        assert_eq!(names, ["Event", "Accountcode", "CallerIDnum"]);
        assert_eq!(message.event_name().as_deref(), Some("Status"));
        let lower = one(b"event: Hangup\r\n\r\n");
        assert!(lower.is_event());
    }

    #[test]
    fn repeated_keys_are_all_kept_in_order() {
        let message = one(
            b"Event: Status\r\nVariable: A=1\r\nChannel: x\r\nVariable: B=2\r\nvariable: C=3\r\n\r\n",
        );
        let values: Vec<_> = message.get_all("Variable").collect();
        assert_eq!(values, [&b"A=1"[..], b"B=2", b"C=3"]);
        assert_eq!(message.len(), 5);
        let output = one(b"Response: Success\r\nOutput: a\r\nOutput: b\r\n\r\n");
        assert_eq!(output.get_all("output").count(), 2);
    }

    #[test]
    fn legacy_chanvariable_keys_keep_the_channel_in_the_name() {
        let message = one(
            b"Event: Hangup\r\nChanVariable(Local/600@demo-00000006;1): MYVAR=1\r\nChanVariable(Local/600@demo-00000006;1): OTHER=two words\r\n\r\n",
        );
        let fields: Vec<_> = message.fields().skip(1).collect();
        assert_eq!(fields[0].name(), b"ChanVariable(Local/600@demo-00000006;1)");
        assert_eq!(fields[0].value(), b"MYVAR=1");
        assert_eq!(fields[1].value(), b"OTHER=two words");
        assert_eq!(
            message
                .get_all("ChanVariable(Local/600@demo-00000006;1)")
                .count(),
            2
        );
    }

    #[test]
    fn values_may_hold_colons_and_leading_spaces() {
        let message = one(
            b"Event: UserEvent\r\nHeader2: value: with colon\r\nTime: 12:30:01\r\nSpaced:    leading spaces\r\nURL:http://x\r\n\r\n",
        );
        assert_eq!(message.get("Header2").as_deref(), Some("value: with colon"));
        assert_eq!(message.get("Time").as_deref(), Some("12:30:01"));
        assert_eq!(message.get("Spaced").as_deref(), Some("   leading spaces"));
        assert_eq!(message.get("URL").as_deref(), Some("http://x"));
    }

    #[test]
    fn empty_values_with_and_without_a_space() {
        let message = one(b"Event: RTCPReceived\r\nReportBlock:\r\nEmpty:\r\nSystemName: \r\n\r\n");
        assert_eq!(message.get("ReportBlock").as_deref(), Some(""));
        assert_eq!(message.get("Empty").as_deref(), Some(""));
        assert_eq!(message.get("SystemName").as_deref(), Some(""));
        assert_eq!(message.len(), 4);
    }

    #[test]
    fn a_line_without_a_colon_is_kept_as_text() {
        let message = one(b"Response: Error\r\nActionID: g1\r\nNo categories found\r\n\r\n");
        let last = message.fields().last().expect("three lines");
        assert!(last.is_text_line());
        assert_eq!(last.value(), b"No categories found");
        assert_eq!(message.len(), 3);
        // A colon after a space does not make a header name.
        let queues = one(b"support has 1 calls, W:0, C:0\r\n   Members: \r\n\r\n");
        assert!(queues.fields().all(|field| field.is_text_line()));
    }

    #[test]
    fn a_packet_without_event_or_response_is_unknown_not_dropped() {
        let all = messages(
            b"Response: Success\r\n\r\nsupport has 0 calls (max unlimited)\r\n   No Members\r\n\r\n\r\n\r\nChannel: x\r\nFoo: y\r\n\r\n",
        );
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].kind(), MessageKind::Unknown);
        assert_eq!(all[1].len(), 2);
        assert_eq!(all[2].kind(), MessageKind::Unknown);
        assert_eq!(all[2].get("Foo").as_deref(), Some("y"));
    }

    #[test]
    fn originate_response_event_with_response_header_is_still_an_event() {
        let message = one(
            b"Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: o1\r\nResponse: Success\r\nChannel: Local/100@demo\r\n\r\n",
        );
        assert!(message.is_event());
        assert_eq!(message.event_name().as_deref(), Some("OriginateResponse"));
        assert_eq!(message.response(), None);
        assert_eq!(message.get("Response").as_deref(), Some("Success"));
    }

    #[test]
    fn bare_lf_inside_a_value_just_before_crlf() {
        let all = messages(
            b"Response: Error\r\nActionID: m1\r\nMessage: Could not get channel snapshot\n\r\n\r\nResponse: Success\r\nActionID: m2\r\n\r\n",
        );
        assert_eq!(all.len(), 2, "no empty packet from the extra line ending");
        assert_eq!(
            all[0].get("Message").as_deref(),
            Some("Could not get channel snapshot")
        );
        assert_eq!(all[1].action_id().as_deref(), Some("m2"));
    }

    /// The wide search for a CRLF blank line must not look past a bare-LF blank line that
    /// comes first, nor stay off once the stream is back to CRLF; every cut is checked too.
    #[test]
    fn packet_ends_found_by_the_wide_search_and_line_by_line_agree() {
        let all = messages(
            b"Event: A\r\nB: 1\r\n\r\nEvent: G\r\nH: x\n\nI: y\r\n\r\nEvent: E\r\nF: 3\n\r\nEvent: K\r\nL: 4\r\nM: 5\r\n\r\n",
        );
        let got: Vec<(MessageKind, Vec<(String, String)>)> = all
            .iter()
            .map(|message| (message.kind(), pairs(message)))
            .collect();
        let pair = |name: &str, value: &str| (name.to_owned(), value.to_owned());
        assert_eq!(
            got,
            [
                (MessageKind::Event, vec![pair("Event", "A"), pair("B", "1")]),
                (MessageKind::Event, vec![pair("Event", "G"), pair("H", "x")]),
                (MessageKind::Unknown, vec![pair("I", "y")]),
                (MessageKind::Event, vec![pair("Event", "E"), pair("F", "3")]),
                (
                    MessageKind::Event,
                    vec![pair("Event", "K"), pair("L", "4"), pair("M", "5")]
                ),
            ]
        );
    }

    /// The bare-LF check is answered from one search per read: a `\n\n` in a later read, or
    /// split across two reads, must still end its packet where line-by-line decoding does.
    #[test]
    fn a_bare_lf_blank_line_is_found_whatever_the_reads() {
        let input: &[u8] = b"Event: A\r\nB: 1\r\n\r\nEvent: C\r\nD: 2\r\n\r\nEvent: G\r\nH: x\n\nI: y\r\n\r\nEvent: K\r\nL: 4\r\n\r\n";
        let whole = feed(&[input]);
        assert_eq!(whole.len(), 5, "{whole:?}");
        for cut in 1..input.len() {
            assert_eq!(feed(&[&input[..cut], &input[cut..]]), whole, "cut at {cut}");
        }
        for first in (1..input.len()).step_by(5) {
            for second in first + 1..input.len() {
                let pieces = [&input[..first], &input[first..second], &input[second..]];
                assert_eq!(feed(&pieces), whole, "cuts at {first} and {second}");
            }
        }
    }

    const LEGACY: &[u8] = b"Response: Follows\r\nPrivilege: Command\r\nActionID: cc-1\r\nChannel              Context\nLocal/600@demo-0000 demo\n\nState: Up\nKey: value looking line\n--END COMMAND--\r\n\r\nResponse: Success\r\nActionID: p\r\n\r\n";

    #[test]
    fn legacy_command_output_is_one_body() {
        let all = messages(LEGACY);
        assert_eq!(all.len(), 2);
        let command = &all[0];
        assert_eq!(command.response().as_deref(), Some("Follows"));
        assert_eq!(command.action_id().as_deref(), Some("cc-1"));
        assert_eq!(
            command.len(),
            3,
            "only Response, Privilege, ActionID are headers"
        );
        assert_eq!(
            command.body().expect("legacy body"),
            b"Channel              Context\nLocal/600@demo-0000 demo\n\nState: Up\nKey: value looking line\n"
        );
        assert!(!command.contains("State"));
        assert_eq!(all[1].action_id().as_deref(), Some("p"));
    }

    #[test]
    fn legacy_end_marker_glued_to_the_last_line() {
        let command = one(
            b"Response: Follows\r\nPrivilege: Command\r\nActionID: v\r\nAsterisk 11.25.3 built by root--END COMMAND--\r\n\r\n",
        );
        assert_eq!(command.body(), Some(&b"Asterisk 11.25.3 built by root"[..]));
        let empty = one(b"Response: Follows\r\nPrivilege: Command\r\n--END COMMAND--\r\n\r\n");
        assert_eq!(empty.body(), Some(&b""[..]));
    }

    #[test]
    fn legacy_body_without_action_id_and_with_bare_lf_headers() {
        let command =
            one(b"Response: Follows\nPrivilege: Command\nActionID: 5\nhello\n--END COMMAND--\n\n");
        assert_eq!(command.action_id().as_deref(), Some("5"));
        assert_eq!(command.body(), Some(&b"hello\n"[..]));
    }

    #[test]
    fn legacy_marker_mentioned_inside_the_text_is_not_the_end() {
        let command = one(
            b"Response: Follows\r\nPrivilege: Command\r\nsee --END COMMAND--s below\n--END COMMAND--\r\n\r\n",
        );
        assert_eq!(command.body(), Some(&b"see --END COMMAND--s below\n"[..]));
    }

    #[test]
    fn follows_without_a_body_ends_at_the_blank_line() {
        let all = messages(
            b"Response: Follows\r\nPrivilege: Command\r\nActionID: 9\r\n\r\nEvent: X\r\n\r\n",
        );
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].body(), None);
        assert!(all[1].is_event());
    }

    #[test]
    fn follows_without_a_complete_marker_is_returned_truncated_at_eof() {
        let command = one(
            b"Response: Follows\r\nPrivilege: Command\r\nActionID: 9\r\npartial text\n--END COMM",
        );
        assert!(command.is_truncated());
        assert_eq!(command.body(), Some(&b"partial text\n--END COMM"[..]));
        let headers_only = one(b"Event: Hangup\r\nChannel: x");
        assert!(headers_only.is_truncated());
        assert_eq!(headers_only.get("Channel").as_deref(), Some("x"));
    }

    #[test]
    fn modern_command_output_lines() {
        let message = one(
            b"Response: Success\r\nActionID: c\r\nMessage: Command output follows\r\nOutput: Channel   Location\r\nOutput: \r\nOutput: 0 active channels\r\n\r\n",
        );
        let output: Vec<_> = message.get_all("Output").collect();
        assert_eq!(
            output,
            [&b"Channel   Location"[..], b"", b"0 active channels"]
        );
        assert_eq!(message.body(), None);
        let error = one(
            b"Response: Error\r\nMessage: Command output follows\r\nOutput: No such command 'x'\r\n\r\n",
        );
        assert_eq!(error.response().as_deref(), Some("Error"));
    }

    #[test]
    fn non_utf8_bytes_are_kept_and_recoverable() {
        let input = b"Event: Newchannel\r\nCallerIDName: Fran\xe7ois \xff\xfe\r\n\r\n";
        let message = one(input);
        assert_eq!(
            message.get_bytes("CallerIDName"),
            Some(&b"Fran\xe7ois \xff\xfe"[..])
        );
        assert_eq!(&message.raw()[..], input);
        assert!(message.get("CallerIDName").is_some());
    }

    #[test]
    fn splits_inside_crlf_and_inside_the_end_marker_change_nothing() {
        // decode_all checks every cut position of these inputs.
        let mut input = b"Asterisk Call Manager/2.10.6\r\n".to_vec();
        input.extend_from_slice(LEGACY);
        input.extend_from_slice(b"Event: X\r\nA: b\r\n\r\n");
        let packets = decode_all(&input);
        assert_eq!(packets.len(), 4);
    }

    fn small(max_packet_bytes: usize, max_fields: usize) -> Decoder {
        Decoder::with_limits(Limits {
            max_packet_bytes,
            max_fields,
        })
    }

    fn drain(decoder: &mut Decoder, buf: &mut BytesMut) -> Vec<Result<Packet, DecodeError>> {
        let mut out = Vec::new();
        loop {
            match decoder.decode(buf) {
                Ok(Some(packet)) => out.push(Ok(packet)),
                Ok(None) => return out,
                Err(error) => out.push(Err(error)),
            }
        }
    }

    #[test]
    fn oversized_packet_gives_typed_error_with_offset_and_resyncs() {
        let mut decoder = small(64, 100);
        let mut input = b"Response: Success\r\nActionID: 1\r\n\r\n".to_vec();
        let big_at = input.len() as u64;
        input.extend_from_slice(b"Event: Big\r\nData: ");
        input.extend_from_slice(&[b'x'; 500]);
        input.extend_from_slice(b"\r\nMore: y\r\n\r\nResponse: Success\r\nActionID: 2\r\n\r\n");
        let mut buf = BytesMut::from(&input[..]);
        let out = drain(&mut decoder, &mut buf);
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(
            out[1].as_ref().unwrap_err(),
            &DecodeError::PacketTooLarge {
                offset: big_at,
                limit: 64
            }
        );
        match &out[2] {
            Ok(Packet::Message(message)) => assert_eq!(message.action_id().as_deref(), Some("2")),
            other => panic!("the next packet was lost: {other:?}"),
        }
    }

    #[test]
    fn discarding_keeps_memory_bounded_while_bytes_keep_coming() {
        let mut decoder = small(128, 100);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"Event: Flood\r\nData: ");
        let mut errors = 0;
        for _ in 0..1000 {
            buf.extend_from_slice(&[b'z'; 1000]);
            for item in drain(&mut decoder, &mut buf) {
                assert!(item.is_err());
                errors += 1;
            }
            assert!(buf.len() <= 1128, "buffer grew to {}", buf.len());
        }
        assert_eq!(errors, 1, "one error per bad packet");
        buf.extend_from_slice(b"\r\n\r\nEvent: After\r\n\r\n");
        let out = drain(&mut decoder, &mut buf);
        assert!(
            matches!(&out[..], [Ok(Packet::Message(m))] if m.event_name().as_deref() == Some("After"))
        );
    }

    #[test]
    fn too_many_fields_gives_typed_error_and_resyncs() {
        let mut decoder = small(1 << 20, 3);
        let mut buf = BytesMut::from(
            &b"Event: A\r\nB: 1\r\nC: 2\r\nD: 3\r\nE: 4\r\n\r\nEvent: Next\r\n\r\n"[..],
        );
        let out = drain(&mut decoder, &mut buf);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(
            out[0].as_ref().unwrap_err(),
            &DecodeError::TooManyFields {
                offset: 0,
                limit: 3
            }
        );
        assert!(
            matches!(&out[1], Ok(Packet::Message(m)) if m.event_name().as_deref() == Some("Next"))
        );
    }

    #[test]
    fn oversized_legacy_body_resyncs_after_its_marker_not_at_its_blank_lines() {
        let mut input = b"Response: Follows\r\nPrivilege: Command\r\n".to_vec();
        for _ in 0..20 {
            input.extend_from_slice(b"line of text\n\nKey: value\n");
        }
        input
            .extend_from_slice(b"--END COMMAND--\r\n\r\nResponse: Success\r\nActionID: ok\r\n\r\n");
        assert_one_error_then_the_ok_packet(&input);
    }

    #[test]
    fn oversized_first_line_of_a_legacy_body_resyncs_after_its_marker() {
        let mut input = b"Response: Follows\r\nPrivilege: Command\r\n".to_vec();
        input.extend_from_slice(&[b'x'; 300]);
        input.extend_from_slice(b"\n\nKey: value\n\n--END COMMAND--\r\n\r\n");
        input.extend_from_slice(b"Response: Success\r\nActionID: ok\r\n\r\n");
        assert_one_error_then_the_ok_packet(&input);
    }

    /// Under a 100-byte limit, in any chunking: one error for the over-limit Follows reply,
    /// then the `ActionID: ok` packet after its marker, and nothing made of its CLI text.
    fn assert_one_error_then_the_ok_packet(input: &[u8]) {
        for chunk in [7usize, 64, input.len()] {
            let mut decoder = small(100, 100);
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            for piece in input.chunks(chunk) {
                buf.extend_from_slice(piece);
                out.extend(drain(&mut decoder, &mut buf));
            }
            assert_eq!(out.len(), 2, "chunk {chunk}: {out:?}");
            assert!(out[0].is_err());
            assert!(
                matches!(&out[1], Ok(Packet::Message(m)) if m.action_id().as_deref() == Some("ok")),
                "chunk {chunk}: {out:?}"
            );
        }
    }

    #[test]
    fn several_mib_of_command_output_pass_with_default_limits() {
        let mut input = b"Response: Success\r\nMessage: Command output follows\r\n".to_vec();
        for i in 0..100_000 {
            input.extend_from_slice(
                format!("Output: line {i:>6} of a long help text, padded\r\n").as_bytes(),
            );
        }
        input.extend_from_slice(b"\r\n");
        assert!(input.len() > 4 * 1024 * 1024);
        let mut buf = BytesMut::new();
        let mut decoder = Decoder::new();
        let mut found = None;
        for piece in input.chunks(64 * 1024) {
            buf.extend_from_slice(piece);
            if let Some(packet) = decoder.decode(&mut buf).expect("within default limits") {
                found = Some(packet);
            }
        }
        match found {
            Some(Packet::Message(message)) => {
                assert_eq!(message.get_all("Output").count(), 100_000)
            }
            other => panic!("expected the command output, got {other:?}"),
        }
    }

    /// Found by the `decode` fuzz target (`tests/fixtures/fuzz/decode-crash-6ca30e0d`): the
    /// marker's line end ends at the limit and a lone `\r` follows. `decode` rightly waits (the
    /// `\r` may start the next packet), but `decode_eof` returned all 67 bytes as one message
    /// over the 66-byte limit. Now it is the same typed error as any over-limit packet, in any
    /// chunking, and every byte is consumed.
    #[test]
    fn legacy_reply_over_the_limit_only_at_eof_is_refused() {
        let input = b"Response: Follows\r\nPrivilege: Command\r\nsome text\n--END COMMAND--\r\n\r";
        assert_eq!(input.len(), 67);
        for chunk in 1..=input.len() {
            let mut decoder = small(66, 100);
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            for piece in input.chunks(chunk) {
                buf.extend_from_slice(piece);
                out.extend(drain(&mut decoder, &mut buf));
            }
            assert!(out.is_empty(), "chunk {chunk}: decode waits: {out:?}");
            assert_eq!(
                decoder.decode_eof(&mut buf),
                Err(DecodeError::PacketTooLarge {
                    offset: 0,
                    limit: 66
                }),
                "chunk {chunk}"
            );
            assert_eq!(decoder.decode_eof(&mut buf), Ok(None), "chunk {chunk}");
            assert!(buf.is_empty());
            assert_eq!(decoder.position(), 67);
        }
        // One byte more of limit and the same bytes are a complete reply (the stray `\r` kept
        // in its raw bytes, as before), so the check is on the size and nothing else.
        let mut decoder = small(67, 100);
        let mut buf = BytesMut::from(&input[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        match decoder.decode_eof(&mut buf) {
            Ok(Some(Packet::Message(message))) => {
                assert_eq!(message.raw().len(), 67);
                assert_eq!(message.body(), Some(&b"some text\n"[..]));
                assert!(!message.is_truncated());
            }
            other => panic!("expected the reply, got {other:?}"),
        }
    }

    /// A reply cut off inside its body at the end of the stream stays within the limit too:
    /// whatever the limit, `decode_eof` never returns more than it.
    #[test]
    fn truncated_legacy_reply_at_eof_never_exceeds_the_limit() {
        let input = b"Response: Follows\r\nPrivilege: Command\r\nsome text\n--END COMMAND--\r\n\r";
        for end in 1..=input.len() {
            for limit in 2..=input.len() + 1 {
                let mut decoder = small(limit, 100);
                let mut buf = BytesMut::from(&input[..end]);
                let mut out = drain(&mut decoder, &mut buf);
                loop {
                    match decoder.decode_eof(&mut buf) {
                        Ok(None) => break,
                        item => out.push(item.map(|packet| packet.expect("Some"))),
                    }
                }
                assert!(buf.is_empty());
                for item in out.iter().flatten() {
                    if let Packet::Message(message) = item {
                        assert!(message.raw().len() <= limit, "end {end} limit {limit}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_banner_cut_off_by_the_end_of_the_input_is_still_a_banner() {
        let packets = feed(&[b"Asterisk Call Manager/11.0.0"]);
        assert_eq!(banner(&packets[0]).version(), "11.0.0");
        assert_eq!(packets.len(), 1);
    }

    #[test]
    fn position_tracks_stream_offset() {
        let mut decoder = Decoder::new();
        let mut buf =
            BytesMut::from(&b"Asterisk Call Manager/1.1\r\n\r\nEvent: A\r\n\r\nEvent: B"[..]);
        let _ = drain(&mut decoder, &mut buf);
        assert_eq!(decoder.position(), 41);
    }
}
