//! Incoming actions: Asterisk's input rules (line limit, header-line limit, a lone blank line
//! is an empty packet) and its header lookup.
//!
//! The client-side `ami_proto::Decoder` is deliberately tolerant (it skips stray blank lines and
//! has no 1024-byte line limit); a server must instead reproduce what Asterisk's `get_input`
//! does, so the server reads actions with this small reader of its own.

use bytes::{BufMut, Bytes, BytesMut};

/// Asterisk's input buffer: a line (terminator included) longer than this is refused.
pub const MAX_LINE_BYTES: usize = 1024;
/// Asterisk's `AST_MAX_MANHEADERS`: more header lines than this make the packet fail.
pub const MAX_HEADER_LINES: usize = 128;

/// One action packet as received: its header lines, verbatim (without line endings).
///
/// The lines are kept back to back in one buffer, each ended by a bare LF. A received line can
/// never hold an LF (the reader splits on it), so the LF is an unambiguous separator, and one
/// shared buffer per packet spares an allocation per line on the hot path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    text: Bytes,
}

impl Request {
    /// A request from raw `Name: value` lines.
    pub fn from_lines<I, L>(lines: I) -> Self
    where
        I: IntoIterator<Item = L>,
        L: AsRef<[u8]>,
    {
        let mut text = BytesMut::new();
        for line in lines {
            let line = line.as_ref();
            // An LF inside a line would split it in two; the reader never produces one.
            text.extend(line.iter().copied().filter(|&b| b != b'\n'));
            text.put_u8(b'\n');
        }
        Self {
            text: text.freeze(),
        }
    }

    /// A request from a decoded message (for example one built with `MessageBuilder`).
    pub fn from_message(message: &ami_proto::Message) -> Self {
        Self::from_lines(message.fields().map(|field| {
            let mut line = field.name().to_vec();
            if !field.is_text_line() {
                line.extend_from_slice(b": ");
            }
            line.extend_from_slice(field.value());
            line
        }))
    }

    /// The raw lines.
    pub fn lines(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut rest = &self.text[..];
        std::iter::from_fn(move || {
            // Every line, the last one too, ends with an LF.
            let end = find_lf(rest)?;
            let line = &rest[..end];
            rest = &rest[end + 1..];
            Some(line)
        })
    }

    /// True for an empty packet (a lone blank line).
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The first value of `name`, found as Asterisk's `astman_get_header` does: a line that
    /// starts with `name:` (any case), value with leading blanks skipped. Missing or empty
    /// both give `""`, as in Asterisk.
    pub fn get(&self, name: &str) -> &str {
        self.get_opt(name).unwrap_or("")
    }

    /// Like [`Request::get`], but `None` when the header is absent.
    pub fn get_opt(&self, name: &str) -> Option<&str> {
        self.lines().find_map(|line| value_of(line, name))
    }

    /// Every value of `name`, in order (`Variable:` may repeat).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.lines().filter_map(move |line| value_of(line, name))
    }
}

fn value_of<'a>(line: &'a [u8], name: &str) -> Option<&'a str> {
    let rest = strip_name(line, name)?;
    std::str::from_utf8(rest)
        .ok()
        .map(|v| v.trim_start_matches([' ', '\t']))
}

fn strip_name<'a>(line: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let n = name.len();
    // The colon test first: it rejects most other headers without comparing their names.
    (line.len() > n && line[n] == b':' && same_name(&line[..n], name.as_bytes()))
        .then(|| &line[n + 1..])
}

/// `a.eq_ignore_ascii_case(b)`, cheaper when the bytes are equal (clients mostly spell header
/// names as Asterisk does): only bytes that differ are case-folded.
fn same_name(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(&x, &y)| x == y || (x ^ y == 0x20 && (x | 0x20).is_ascii_lowercase()))
}

/// What the reader produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A whole packet (possibly empty).
    Request(Request),
    /// A line was over [`MAX_LINE_BYTES`]; the ActionID seen before it, if any.
    LineTooLong {
        /// `ActionID` of the packet, if it came before the long line.
        action_id: Option<String>,
    },
    /// More than [`MAX_HEADER_LINES`] lines.
    TooManyLines {
        /// `ActionID` of the packet, if seen.
        action_id: Option<String>,
    },
}

#[derive(Debug, Default)]
enum Fault {
    #[default]
    None,
    LineTooLong,
    TooManyLines,
}

/// Splits client bytes into [`Input`]s, as Asterisk reads them: LF or CRLF line ends, a blank
/// line ends a packet (even an empty one), lines over 1024 bytes and packets over 128 lines fail
/// but the session goes on.
#[derive(Debug, Default)]
pub struct RequestReader {
    /// The packet so far: finished lines, each ended by LF, then the current partial line.
    /// Finished packets are split off this buffer, so it is reused rather than reallocated.
    packet: BytesMut,
    /// Where the current line starts in `packet`.
    line_start: usize,
    /// Finished lines in `packet`.
    lines: usize,
    /// The current line is over the limit: drop bytes until its end.
    skipping_line: bool,
    fault: Fault,
}

impl RequestReader {
    /// A reader at the start of a packet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; calls `sink` for each finished input.
    pub fn handle_bytes(&mut self, mut data: &[u8], mut sink: impl FnMut(Input)) {
        while !data.is_empty() {
            let (chunk, ended) = match find_lf(data) {
                Some(at) => (&data[..at], true),
                None => (data, false),
            };
            data = &data[chunk.len() + usize::from(ended)..];
            if self.skipping_line {
                // The rest of a line already refused: only its end matters.
                self.skipping_line = !ended;
                continue;
            }
            self.packet.extend_from_slice(chunk);
            if self.packet.len() - self.line_start + usize::from(ended) > MAX_LINE_BYTES {
                // The long line is gone; keep reading the packet after it.
                self.packet.truncate(self.line_start);
                self.skipping_line = !ended;
                self.fault = Fault::LineTooLong;
                continue;
            }
            if ended {
                if let Some(input) = self.end_line() {
                    sink(input);
                }
            }
        }
    }

    /// Finishes the current line: the packet's input if the line was blank.
    fn end_line(&mut self) -> Option<Input> {
        if self.packet.last() == Some(&b'\r') && self.packet.len() > self.line_start {
            self.packet.truncate(self.packet.len() - 1);
        }
        if self.packet.len() == self.line_start {
            return Some(self.finish());
        }
        if self.lines >= MAX_HEADER_LINES {
            self.packet.truncate(self.line_start);
            if matches!(self.fault, Fault::None) {
                self.fault = Fault::TooManyLines;
            }
            return None;
        }
        self.packet.put_u8(b'\n');
        self.lines += 1;
        self.line_start = self.packet.len();
        None
    }

    fn finish(&mut self) -> Input {
        let request = Request {
            text: self.packet.split().freeze(),
        };
        self.line_start = 0;
        self.lines = 0;
        let action_id = || request.get_opt("ActionID").map(str::to_owned);
        match std::mem::take(&mut self.fault) {
            Fault::None => Input::Request(request),
            Fault::LineTooLong => Input::LineTooLong {
                action_id: action_id(),
            },
            Fault::TooManyLines => Input::TooManyLines {
                action_id: action_id(),
            },
        }
    }
}

/// The index of the first LF. Header lookups and the reader search every line for its end,
/// so this looks at eight bytes per step rather than branching on each byte.
fn find_lf(data: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const LFS: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut words = data.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        // Bytes equal to LF become zero; the classic zero-byte test flags them, and the
        // lowest flag is always a real one (false flags only appear above a true zero).
        let x = u64::from_le_bytes(bytes) ^ LFS;
        let flags = x.wrapping_sub(ONES) & !x & HIGHS;
        if flags != 0 {
            return Some(offset + flags.trailing_zeros() as usize / 8);
        }
        offset += 8;
    }
    let tail = words.remainder();
    tail.iter().position(|&b| b == b'\n').map(|at| offset + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(pieces: &[&[u8]]) -> Vec<Input> {
        let mut reader = RequestReader::new();
        let mut out = Vec::new();
        for piece in pieces {
            reader.handle_bytes(piece, |input| out.push(input));
        }
        out
    }

    #[test]
    fn crlf_and_lf_packets_and_lone_blank_lines() {
        let out = read_all(&[b"Action: Ping\r\nActionID: 1\r\n\r\n\r\nAction: Ping\n\n"]);
        assert_eq!(out.len(), 3);
        let Input::Request(first) = &out[0] else {
            panic!()
        };
        assert_eq!(first.get("action"), "Ping");
        assert_eq!(first.get("ActionID"), "1");
        assert_eq!(out[1], Input::Request(Request::default()));
    }

    #[test]
    fn same_result_when_cut_anywhere() {
        let bytes = b"Action: UserEvent\r\nEmpty:\r\nSpaced:    x\r\n\r\n";
        let whole = read_all(&[bytes]);
        for cut in 0..bytes.len() {
            assert_eq!(
                read_all(&[&bytes[..cut], &bytes[cut..]]),
                whole,
                "cut at {cut}"
            );
        }
        let Input::Request(request) = &whole[0] else {
            panic!()
        };
        assert_eq!(request.get("Spaced"), "x");
        assert_eq!(request.get_opt("Empty"), Some(""));
        assert_eq!(request.lines().nth(1), Some(&b"Empty:"[..]));
    }

    #[test]
    fn long_line_fails_the_packet_keeps_action_id_and_resumes() {
        let mut bytes = b"Action: Ping\r\nActionID: huge-1\r\nX-Huge: ".to_vec();
        bytes.extend(std::iter::repeat_n(b'A', 70_000));
        bytes.extend_from_slice(b"\r\n\r\nAction: Ping\r\nActionID: huge-2\r\n\r\n");
        let out = read_all(&[&bytes]);
        assert_eq!(
            out[0],
            Input::LineTooLong {
                action_id: Some("huge-1".into())
            }
        );
        let Input::Request(next) = &out[1] else {
            panic!()
        };
        assert_eq!(next.get("ActionID"), "huge-2");
    }

    #[test]
    fn find_lf_finds_the_first_lf_anywhere() {
        for len in 0..40 {
            let mut data: Vec<u8> = (0..len as u8).map(|i| b'a' + i % 26).collect();
            assert_eq!(find_lf(&data), None, "{len}");
            // High bytes and a 0x0b next to the LF must not confuse the word-wise test.
            data.iter_mut().step_by(3).for_each(|b| *b = 0xff);
            for at in 0..len {
                let mut with_lf = data.clone();
                with_lf[at] = b'\n';
                if at + 1 < len {
                    with_lf[at + 1] = 0x0b;
                    with_lf[len - 1] = b'\n';
                }
                assert_eq!(find_lf(&with_lf), Some(at), "{len} {at}");
            }
        }
    }

    #[test]
    fn same_name_is_eq_ignore_ascii_case() {
        let bytes: Vec<u8> = (0..=255).collect();
        for &x in &bytes {
            for &y in &bytes {
                assert_eq!(
                    same_name(&[x], &[y]),
                    [x].eq_ignore_ascii_case(&[y]),
                    "{x} {y}"
                );
            }
        }
        assert!(same_name(b"ActionID", b"actionid"));
        assert!(!same_name(b"ActionID", b"Action"));
    }

    #[test]
    fn too_many_lines() {
        let mut bytes = b"Action: Ping\r\nActionID: 9\r\n".to_vec();
        for i in 0..200 {
            bytes.extend_from_slice(format!("X{i}: y\r\n").as_bytes());
        }
        bytes.extend_from_slice(b"\r\n");
        assert_eq!(
            read_all(&[&bytes]),
            vec![Input::TooManyLines {
                action_id: Some("9".into())
            }]
        );
    }
}
