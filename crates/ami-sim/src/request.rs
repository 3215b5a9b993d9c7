//! Incoming actions: Asterisk's input rules (line limit, header-line limit, a lone blank line
//! is an empty packet) and its header lookup.
//!
//! The client-side `ami_proto::Decoder` is deliberately tolerant (it skips stray blank lines and
//! has no 1024-byte line limit); a server must instead reproduce what Asterisk's `get_input`
//! does, so the server reads actions with this small reader of its own.

use bytes::Bytes;

/// Asterisk's input buffer: a line (terminator included) longer than this is refused.
pub const MAX_LINE_BYTES: usize = 1024;
/// Asterisk's `AST_MAX_MANHEADERS`: more header lines than this make the packet fail.
pub const MAX_HEADER_LINES: usize = 128;

/// One action packet as received: its header lines, verbatim (without line endings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    lines: Vec<Bytes>,
}

impl Request {
    /// A request from raw `Name: value` lines.
    pub fn from_lines<I, L>(lines: I) -> Self
    where
        I: IntoIterator<Item = L>,
        L: Into<Bytes>,
    {
        Self {
            lines: lines.into_iter().map(Into::into).collect(),
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
    pub fn lines(&self) -> &[Bytes] {
        &self.lines
    }

    /// True for an empty packet (a lone blank line).
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The first value of `name`, found as Asterisk's `astman_get_header` does: a line that
    /// starts with `name:` (any case), value with leading blanks skipped. Missing or empty
    /// both give `""`, as in Asterisk.
    pub fn get(&self, name: &str) -> &str {
        self.get_opt(name).unwrap_or("")
    }

    /// Like [`Request::get`], but `None` when the header is absent.
    pub fn get_opt(&self, name: &str) -> Option<&str> {
        self.lines.iter().find_map(|line| value_of(line, name))
    }

    /// Every value of `name`, in order (`Variable:` may repeat).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.lines
            .iter()
            .filter_map(move |line| value_of(line, name))
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
    (line.len() > n && line[..n].eq_ignore_ascii_case(name.as_bytes()) && line[n] == b':')
        .then(|| &line[n + 1..])
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
    line: Vec<u8>,
    /// The current line is over the limit: drop bytes until its end.
    skipping_line: bool,
    lines: Vec<Bytes>,
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
            let newline = memchr_lf(data);
            let (chunk, rest, ended) = match newline {
                Some(at) => (&data[..at], &data[at + 1..], true),
                None => (data, &data[data.len()..], false),
            };
            data = rest;
            if !self.skipping_line {
                self.line.extend_from_slice(chunk);
                if self.line.len() + usize::from(ended) > MAX_LINE_BYTES {
                    self.line.clear();
                    self.skipping_line = !ended;
                    self.fault = Fault::LineTooLong;
                    if !ended {
                        continue;
                    }
                    // The long line ended here: it is gone, keep reading the packet.
                    continue;
                }
            }
            if !ended {
                continue;
            }
            if self.skipping_line {
                self.skipping_line = false;
                continue;
            }
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.is_empty() {
                sink(self.finish());
                continue;
            }
            if self.lines.len() >= MAX_HEADER_LINES {
                self.fault = match self.fault {
                    Fault::None => Fault::TooManyLines,
                    Fault::LineTooLong => Fault::LineTooLong,
                    Fault::TooManyLines => Fault::TooManyLines,
                };
                continue;
            }
            self.lines.push(Bytes::from(line));
        }
    }

    fn finish(&mut self) -> Input {
        let request = Request {
            lines: std::mem::take(&mut self.lines),
        };
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

fn memchr_lf(data: &[u8]) -> Option<usize> {
    data.iter().position(|&b| b == b'\n')
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
        assert_eq!(request.lines()[1].as_ref(), b"Empty:");
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
