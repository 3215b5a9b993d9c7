//! Line and header scanning shared by the decoder (which only finds where packets end) and
//! [`Message`](crate::Message) (which splits its lines into names and values on demand). A leaf
//! module: both read it, neither imports the other for it, so a line is split by one rule.

/// Byte range of one line's name and value inside a message's raw bytes.
///
/// A line without a usable `name:` part (GetConfig's `No categories found`, the raw `Queues`
/// text) is kept as a *text line*: its name range is empty and the value is the whole line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Marks (high bit) the bytes of `word` equal to `byte`. The lowest mark is always exact (false
/// marks only appear above a true one), which is all the callers use.
#[inline(always)]
fn marks(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Reads eight bytes as a little-endian word, so the lowest mark is the first byte.
#[inline(always)]
fn word(bytes: &[u8]) -> u64 {
    let mut array = [0u8; 8];
    array.copy_from_slice(bytes);
    u64::from_le_bytes(array)
}

/// Position of the first `\n`. Most AMI lines are under 64 bytes: those are scanned inline,
/// eight bytes at a time, which costs less than a `memchr` call; longer ones go to `memchr`.
#[inline]
pub(crate) fn find_newline(haystack: &[u8]) -> Option<usize> {
    const INLINE: usize = 64;
    let head = &haystack[..haystack.len().min(INLINE)];
    let mut chunks = head.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let found = marks(word(chunk), b'\n');
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    if let Some(found) = chunks.remainder().iter().position(|&b| b == b'\n') {
        return Some(at + found);
    }
    memchr::memchr(b'\n', &haystack[head.len()..]).map(|found| head.len() + found)
}

/// Position of the first `:`, space or tab: where a header name ends (or proves not to be one).
#[inline]
fn find_name_end(line: &[u8]) -> Option<usize> {
    let mut chunks = line.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let word = word(chunk);
        let found = marks(word, b':') | marks(word, b' ') | marks(word, b'\t');
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| matches!(b, b':' | b' ' | b'\t'))
        .map(|found| at + found)
}

/// Splits one line into name and value spans (offsets from the packet start). The name is
/// what precedes the first `:`; a line whose name would be empty or hold a space or tab is a
/// text line. One short scan, stopping at the first `:`, space or tab.
#[inline(always)]
pub(crate) fn field_span(line: &[u8], base: usize) -> FieldSpan {
    let stop = find_name_end(line);
    if let Some(colon) = stop.filter(|&at| at > 0 && line[at] == b':') {
        return FieldSpan {
            name_start: base as u32,
            name_end: (base + colon) as u32,
            value_start: (base + value_start(line, colon)) as u32,
            value_end: (base + line.len()) as u32,
        };
    }
    FieldSpan {
        name_start: base as u32,
        name_end: base as u32,
        value_start: base as u32,
        value_end: (base + line.len()) as u32,
    }
}

/// Where the value starts after the colon at `colon`: one space is the separator, any further
/// leading spaces belong to the value.
#[inline(always)]
fn value_start(line: &[u8], colon: usize) -> usize {
    if line.get(colon + 1) == Some(&b' ') {
        colon + 2
    } else {
        colon + 1
    }
}

/// True when `name` can name a header at all: a decoded header name is never empty and never
/// holds `:`, a space or a tab (a line whose name would is a text line).
pub(crate) fn is_header_name(name: &[u8]) -> bool {
    !name.is_empty() && !name.iter().any(|&b| matches!(b, b':' | b' ' | b'\t'))
}

/// The value range (offsets in `line`) when `line` is the header `name`, compared ignoring
/// ASCII case; `name` must pass [`is_header_name`]. Cheaper than [`field_span`]: a line whose
/// first bytes differ is rejected without looking for its colon.
#[inline(always)]
pub(crate) fn header_value(line: &[u8], name: &[u8]) -> Option<(usize, usize)> {
    let colon = name.len();
    // `name` holds no `:`, space or tab and ASCII case folding maps none of those bytes to
    // another, so an equal prefix followed by `:` is exactly the line's name.
    if line.get(colon) == Some(&b':') && line[..colon].eq_ignore_ascii_case(name) {
        Some((value_start(line, colon), line.len()))
    } else {
        None
    }
}

/// The lines of a message's header region, as `(start, content_end)` offsets: each line ends
/// at `\n`, one `\r` before it is the line end's; a last line without `\n` (a packet cut off by
/// the end of the stream) loses one trailing `\r`, as the decoder's does. The region never
/// holds an empty line (a blank line ends a packet), so every item is one field.
#[derive(Clone)]
pub(crate) struct Lines<'a> {
    region: &'a [u8],
    pos: usize,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(region: &'a [u8]) -> Self {
        Self { region, pos: 0 }
    }
}

impl Iterator for Lines<'_> {
    type Item = (usize, usize);

    #[inline]
    fn next(&mut self) -> Option<(usize, usize)> {
        let start = self.pos;
        let rest = self.region.get(start..).filter(|rest| !rest.is_empty())?;
        match find_newline(rest) {
            Some(newline) => {
                let newline = start + newline;
                self.pos = newline + 1;
                let crlf = newline > start && self.region[newline - 1] == b'\r';
                Some((start, if crlf { newline - 1 } else { newline }))
            }
            None => {
                self.pos = self.region.len();
                let mut end = self.region.len();
                if self.region[end - 1] == b'\r' {
                    end -= 1;
                }
                Some((start, end))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_strip_one_cr_and_keep_a_last_unterminated_line() {
        let region = b"A: 1\r\nB\r\r\nC: 2\nD\r";
        let lines: Vec<&[u8]> = Lines::new(region)
            .map(|(start, end)| &region[start..end])
            .collect();
        assert_eq!(lines, [&b"A: 1"[..], b"B\r", b"C: 2", b"D"]);
    }

    #[test]
    fn header_value_agrees_with_field_span() {
        for line in [
            &b"ActionID: 7"[..],
            b"actionid:7",
            b"ActionID:  two spaces",
            b"ActionIDX: no",
            b"Action ID: no",
            b"ActionID",
            b"ActionID:",
        ] {
            let span = field_span(line, 0);
            let by_span = (!span.is_text_line()
                && line[..span.name_end as usize].eq_ignore_ascii_case(b"ActionID"))
            .then_some((span.value_start as usize, span.value_end as usize));
            assert_eq!(header_value(line, b"ActionID"), by_span, "{line:?}");
        }
        assert!(!is_header_name(b"Action ID"));
        assert!(!is_header_name(b""));
        assert!(is_header_name(b"ActionID"));
    }
}
