//! The syntax AMI lines share, in one leaf module that the decoder, the encoder and the
//! message builder all read (none of them imports another for it): line ends, the legacy
//! Command end marker, the name/value separator, Asterisk's input limits, and the checks a
//! header name and value must pass before they are written.

/// The line end every writer uses (readers also take a bare LF).
pub const CRLF: &[u8] = b"\r\n";

/// What separates a header's name from its value when written (`Name: value`).
pub const HEADER_SEPARATOR: &[u8] = b": ";

/// The marker that ends a legacy (Asterisk 13 and older) `Response: Follows` Command body.
pub const END_COMMAND: &[u8] = b"--END COMMAND--";

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
pub(crate) fn name_for_error(name: &str) -> String {
    let mut shown: String = name.chars().take(MAX_NAME_IN_ERROR).collect();
    if shown.len() < name.len() {
        shown.push_str("...");
    }
    shown.escape_debug().to_string()
}

/// Refuses a `Name: value` line longer than Asterisk reads ([`MAX_LINE_BYTES`]).
pub fn check_line_len(name: &str, value_len: usize) -> Result<(), EncodeError> {
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

/// Refuses a header name that is empty or holds CR, LF, `:`, a space or a tab (any of which
/// would change how the receiver splits the line).
pub fn check_name(name: &str) -> Result<(), EncodeError> {
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

/// Refuses a value holding CR or LF (header injection). `name` only labels the error.
pub fn check_value(name: &str, value: &[u8]) -> Result<(), EncodeError> {
    match memchr::memchr2(b'\r', b'\n', value) {
        Some(position) => Err(EncodeError::LineBreakInValue {
            name: name_for_error(name),
            position,
        }),
        None => Ok(()),
    }
}

/// How the bytes at the start of `rest` end a line.
pub(crate) enum LineEnd {
    /// A line end of this many bytes (1 for LF, 2 for CRLF).
    Found(usize),
    /// Something else: the line goes on.
    Other,
    /// Not enough bytes yet to tell.
    NeedMore,
}

/// Reads a line end (LF or CRLF) at the start of `rest`; a lone CR or nothing at all may still
/// become one when more bytes arrive.
pub(crate) fn line_end(rest: &[u8]) -> LineEnd {
    match rest {
        [] | [b'\r'] => LineEnd::NeedMore,
        [b'\n', ..] => LineEnd::Found(1),
        [b'\r', b'\n', ..] => LineEnd::Found(2),
        _ => LineEnd::Other,
    }
}
