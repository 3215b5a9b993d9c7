//! The `Filter` action's event filters.
//!
//! Asterisk compiles each filter with `regcomp(REG_EXTENDED | REG_NOSUB)` and searches the whole
//! event text with `regexec` (`!` in front makes it an exclude filter); a filter that does not
//! compile is refused. The simulator translates the POSIX extended syntax into the `regex`
//! crate's and matches with [`regex::bytes::Regex`]: linear in the event's length whatever the
//! pattern, so a client's `a*a*a*...b` cannot stall the server as a backtracking matcher would.
//!
//! Supported: literals, `.`, bracket expressions (`[a-z]`, `[^;]`, `[]x]`, `[[:digit:]]`),
//! `*`, `+`, `?`, intervals `{m}`, `{m,}`, `{m,n}` (and glibc's `{,n}`), anchors `^` and `$`,
//! groups `( )`, alternation `|`, `\` escapes, and glibc's `\w \W \s \S \b \B \< \>`. Where POSIX
//! ERE (as glibc reads it in the C locale) and the `regex` crate differ, the translation keeps
//! the POSIX meaning:
//!
//! - `.` and a negated bracket match a newline too (no `REG_NEWLINE`): `dot_matches_new_line`.
//! - Matching is on bytes, one byte per `.` (C locale), never on UTF-8 characters: Unicode
//!   mode is off, and every literal byte that is not ASCII alphanumeric is written as `\xHH`,
//!   so no byte can take a `regex`-crate meaning (`#`, `&&`, `--`, `~~` in classes ...).
//! - Inside a bracket `\` is an ordinary byte and `]` first is a member; the `regex` crate would
//!   read `\` as an escape and `[` as a nested class: each member is written as `\xHH`.
//! - Quantifiers stack (`a*?` is `(a*)?`, not the crate's lazy `*?`; `a**` is `(a*)*`): a
//!   quantifier after a quantifier wraps what precedes it in a group.
//! - `\` before an ordinary character is that character (`\/` is `/`, `\d` is `d`, `\n` is `n`),
//!   as glibc has it, not the crate's class or control character.
//! - `^` and `$` are anchors anywhere, at the text's start and end only (no multi-line mode):
//!   the same in both.
//!
//! Refused (the Filter action answers Asterisk's "Filter did not compile" error): what POSIX
//! also rejects (unbalanced `(` `)` or `[`, a trailing `\`, a quantifier with nothing to repeat,
//! a backwards range, an unknown `[:class:]`, a malformed interval), and what glibc accepts but
//! the engine has not: back-references `\1`..`\9`, collating elements `[.x.]` and equivalence
//! classes `[=x=]`; and a pattern whose compiled form would exceed [`COMPILED_SIZE_LIMIT`]
//! (`(a{1000}){1000}`), so one client cannot make the server allocate without bound.

use regex::bytes::{Regex, RegexBuilder};

/// Largest compiled program for one filter, in bytes (the `regex` crate's `size_limit`).
pub const COMPILED_SIZE_LIMIT: usize = 1 << 20;

/// Why a filter was refused: it is not a POSIX extended regular expression the simulator can
/// run. The Filter action answers with Asterisk's own text; this says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter did not compile: {reason}")]
pub struct FilterError {
    reason: String,
}

impl FilterError {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// What was wrong with the pattern.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// A session's filters: with any include filter present an event must match one of them; an
/// event matching any `!` filter is dropped.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

impl Filters {
    /// Adds a filter as the Filter action's `Filter:` header gives it. A filter that does not
    /// compile is refused and leaves the filters as they were.
    pub fn add(&mut self, filter: &str) -> Result<(), FilterError> {
        match filter.strip_prefix('!') {
            Some(rest) => self.exclude.push(Pattern::new(rest)?),
            None => self.include.push(Pattern::new(filter)?),
        }
        Ok(())
    }

    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// True when the event's bytes pass.
    pub fn allows(&self, event: &[u8]) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| p.is_match(event)))
            && !self.exclude.iter().any(|p| p.is_match(event))
    }
}

/// A compiled filter.
#[derive(Debug, Clone)]
struct Pattern {
    regex: Regex,
}

impl Pattern {
    fn new(posix: &str) -> Result<Self, FilterError> {
        let translated = translate(posix.as_bytes())?;
        let regex = RegexBuilder::new(&translated)
            .unicode(false)
            .dot_matches_new_line(true)
            .size_limit(COMPILED_SIZE_LIMIT)
            .build()
            .map_err(|error| FilterError::new(error.to_string()))?;
        Ok(Self { regex })
    }

    fn is_match(&self, text: &[u8]) -> bool {
        self.regex.is_match(text)
    }
}

/// Rewrites a POSIX extended regular expression in the `regex` crate's syntax, with the POSIX
/// meaning (see the module docs for each difference).
fn translate(pattern: &[u8]) -> Result<String, FilterError> {
    let mut out = String::with_capacity(pattern.len() * 2);
    // Where the last quantifiable item starts in `out`, and whether it is already quantified.
    let mut atom: Option<usize> = None;
    let mut quantified = false;
    let mut groups: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < pattern.len() {
        let start = out.len();
        let byte = pattern[i];
        i += 1;
        match byte {
            b'(' => {
                groups.push(start);
                out.push_str("(?:");
                atom = None;
                continue;
            }
            b')' => {
                let open = groups
                    .pop()
                    .ok_or_else(|| FilterError::new("unmatched )"))?;
                out.push(')');
                atom = Some(open);
                quantified = false;
                continue;
            }
            b'|' | b'^' | b'$' => {
                out.push(char::from(byte));
                atom = None;
                continue;
            }
            b'*' | b'+' | b'?' => {
                quantify(
                    &mut out,
                    atom,
                    &mut quantified,
                    &char::from(byte).to_string(),
                )?;
                continue;
            }
            b'{' => {
                let (interval, next) = interval(pattern, i)?;
                i = next;
                quantify(&mut out, atom, &mut quantified, &interval)?;
                continue;
            }
            b'.' => out.push('.'),
            b'[' => {
                let (class, next) = bracket(pattern, i)?;
                i = next;
                out.push_str(&class);
            }
            b'\\' => {
                let escaped = *pattern
                    .get(i)
                    .ok_or_else(|| FilterError::new("trailing \\"))?;
                i += 1;
                match escaped {
                    b'1'..=b'9' => {
                        return Err(FilterError::new("back-references are not supported"));
                    }
                    // glibc's word and space classes: ASCII, as the crate's without Unicode.
                    b'w' | b'W' | b's' | b'S' => {
                        out.push('\\');
                        out.push(char::from(escaped));
                    }
                    // Zero-width assertions: nothing to repeat after them.
                    b'b' | b'B' | b'<' | b'>' | b'`' | b'\'' => {
                        out.push_str(match escaped {
                            b'b' => r"\b",
                            b'B' => r"\B",
                            b'<' => r"\b{start}",
                            b'>' => r"\b{end}",
                            b'`' => r"\A",
                            _ => r"\z",
                        });
                        atom = None;
                        continue;
                    }
                    other => push_literal(&mut out, other),
                }
            }
            other => push_literal(&mut out, other),
        }
        atom = Some(start);
        quantified = false;
    }
    if !groups.is_empty() {
        return Err(FilterError::new("unmatched ("));
    }
    Ok(out)
}

/// Applies a quantifier to the item starting at `atom`. POSIX stacks quantifiers where the
/// crate would read a second one as "lazy" or reject it, so a quantified item is grouped first.
fn quantify(
    out: &mut String,
    atom: Option<usize>,
    quantified: &mut bool,
    quantifier: &str,
) -> Result<(), FilterError> {
    let start = atom.ok_or_else(|| FilterError::new("a quantifier with nothing to repeat"))?;
    if *quantified {
        out.insert_str(start, "(?:");
        out.push(')');
    }
    out.push_str(quantifier);
    *quantified = true;
    Ok(())
}

/// Parses an interval after `{`: `{m}`, `{m,}`, `{m,n}` or glibc's `{,n}`. Returns it in the
/// crate's syntax and the index after `}`.
fn interval(pattern: &[u8], from: usize) -> Result<(String, usize), FilterError> {
    let malformed = || FilterError::new("malformed interval {...}");
    let close = pattern[from..]
        .iter()
        .position(|&b| b == b'}')
        .ok_or_else(malformed)?;
    let inside = std::str::from_utf8(&pattern[from..from + close]).map_err(|_| malformed())?;
    let number = |text: &str| -> Result<u32, FilterError> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        text.parse().map_err(|_| malformed())
    };
    let translated = match inside.split_once(',') {
        None => format!("{{{}}}", number(inside)?),
        Some((min, "")) => format!("{{{},}}", number(min)?),
        Some(("", max)) => format!("{{0,{}}}", number(max)?),
        Some((min, max)) => {
            let (min, max) = (number(min)?, number(max)?);
            if min > max {
                return Err(malformed());
            }
            format!("{{{min},{max}}}")
        }
    };
    Ok((translated, from + close + 1))
}

/// The POSIX character classes (`[:name:]`), which the crate spells the same way.
const CLASSES: &[&[u8]] = &[
    b"alnum", b"alpha", b"blank", b"cntrl", b"digit", b"graph", b"lower", b"print", b"punct",
    b"space", b"upper", b"xdigit",
];

/// Parses a bracket expression after `[`, POSIX rules: `^` first negates, `]` first is a member,
/// `\` is an ordinary byte, `a-z` a range, `[:name:]` a class. Returns it in the crate's syntax
/// (each member as `\xHH`) and the index after the closing `]`.
fn bracket(pattern: &[u8], mut i: usize) -> Result<(String, usize), FilterError> {
    let unmatched = || FilterError::new("unmatched [");
    let mut out = String::from("[");
    if pattern.get(i) == Some(&b'^') {
        out.push('^');
        i += 1;
    }
    let mut first = true;
    loop {
        let byte = *pattern.get(i).ok_or_else(unmatched)?;
        if byte == b']' && !first {
            out.push(']');
            return Ok((out, i + 1));
        }
        first = false;
        if byte == b'[' && matches!(pattern.get(i + 1), Some(b':' | b'.' | b'=')) {
            let kind = pattern[i + 1];
            let rest = &pattern[i + 2..];
            let end = rest
                .windows(2)
                .position(|w| w == [kind, b']'])
                .ok_or_else(unmatched)?;
            let name = &rest[..end];
            if kind != b':' {
                return Err(FilterError::new(
                    "collating elements [. .] and equivalence classes [= =] are not supported",
                ));
            }
            if !CLASSES.contains(&name) {
                return Err(FilterError::new(format!(
                    "unknown character class [:{}:]",
                    String::from_utf8_lossy(name)
                )));
            }
            out.push_str("[:");
            out.push_str(&String::from_utf8_lossy(name));
            out.push_str(":]");
            i += 2 + end + 2;
            continue;
        }
        let range_end = pattern
            .get(i + 2)
            .filter(|&&end| pattern.get(i + 1) == Some(&b'-') && end != b']');
        match range_end {
            Some(&end) => {
                if end == b'[' {
                    return Err(FilterError::new("a class cannot end a range"));
                }
                if byte > end {
                    return Err(FilterError::new("a range ends before it starts"));
                }
                push_hex(&mut out, byte);
                out.push('-');
                push_hex(&mut out, end);
                i += 3;
            }
            None => {
                push_hex(&mut out, byte);
                i += 1;
            }
        }
    }
}

/// A literal byte: ASCII letters and digits as they are, anything else as `\xHH`, which the
/// crate reads as that byte whatever it would otherwise mean.
fn push_literal(out: &mut String, byte: u8) {
    if byte.is_ascii_alphanumeric() {
        out.push(char::from(byte));
    } else {
        push_hex(out, byte);
    }
}

fn push_hex(out: &mut String, byte: u8) {
    out.push_str(&format!("\\x{byte:02X}"));
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn pattern(text: &str) -> Pattern {
        Pattern::new(text).unwrap_or_else(|error| panic!("{text:?}: {error}"))
    }

    #[test]
    fn include_and_exclude() {
        let mut filters = Filters::default();
        assert!(filters.allows(b"Event: Newchannel\r\n"));
        filters.add("Event: UserEvent").unwrap();
        assert!(filters.allows(b"Event: UserEvent\r\nUserEvent: X\r\n"));
        assert!(!filters.allows(b"Event: Newchannel\r\n"));
        filters.add("!UserEvent: Secret").unwrap();
        assert!(!filters.allows(b"Event: UserEvent\r\nUserEvent: Secret\r\n"));
    }

    #[test]
    fn regex_subset_as_asterisk_filters_use_it() {
        let event = b"Event: Newchannel\r\nChannel: DAHDI/1-1\r\nExten: 100\r\n";
        let matches = |text: &str| pattern(text).is_match(event);
        assert!(matches("Channel: DAHDI.*"));
        assert!(matches("^Event: New"));
        assert!(!matches("^Channel"));
        assert!(matches("Exten: [0-9]+\r\n$"));
        assert!(!matches("Exten: [^0-9]"));
        assert!(matches("Chan+el: DAHDI/?1"));
        assert!(matches("DAHDI\\/1"));
        assert!(!matches("Exten: 1000"));
        // Groups and alternation, literal before the regex engine, are now what they are.
        assert!(matches("(Newchannel|Hangup)"));
        assert!(!matches("Event: (Hangup|Newstate)"));
        assert!(pattern("a|b").is_match(b"xa|by"));
    }

    /// Exponential for the backtracking matcher this replaced (2^18 ways to split the `a`s,
    /// at every start position); linear now. The bound is only a hang guard.
    #[test]
    fn pathological_pattern_completes() {
        let mut filters = Filters::default();
        filters
            .add(&format!("{}b", "a*".repeat(18)))
            .expect("compiles");
        filters.add("!(a|aa)*c").expect("compiles");
        let event = [b"Event: X\r\nData: ".as_slice(), &[b'a'; 30_000], b"\r\n"].concat();
        let started = Instant::now();
        assert!(!filters.allows(&event));
        let with_b = [&event[..event.len() - 2], b"b\r\n"].concat();
        assert!(filters.allows(&with_b));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn posix_meanings_where_the_engines_differ() {
        // `.` and a negated bracket cross line ends (no REG_NEWLINE).
        assert!(pattern("Event: X.Data").is_match(b"Event: X\nData: 1"));
        assert!(pattern("X[^;]Data").is_match(b"X\nData"));
        // `^` and `$` are the whole text's ends, not each line's.
        assert!(!pattern("^Data").is_match(b"Event: X\r\nData: 1\r\n"));
        assert!(!pattern("X\r$").is_match(b"Event: X\r\nData: 1\r\n"));
        // One byte per `.`, whatever the encoding; non-UTF-8 events still match.
        assert!(pattern("^.$").is_match(b"\xe9"));
        assert!(pattern("^..$").is_match("é".as_bytes()));
        assert!(pattern("Name: Ren.e").is_match(b"Name: Ren\xe9e"));
        assert!(pattern("Name: Renée").is_match("Name: Renée".as_bytes()));
        // In a bracket, `\` is a member and `]` first is a member; `[` does not nest.
        // `[\]` is a class holding `\`, followed by a literal `]+`.
        let class = pattern(r"^[\]]+$");
        assert!(class.is_match(b"\\]]"));
        assert!(!class.is_match(b"\\"));
        assert!(!class.is_match(b"]"));
        assert!(pattern("^[]x]+$").is_match(b"]x]"));
        assert!(pattern("^[[]$").is_match(b"["));
        assert!(pattern("^[a&&b]+$").is_match(b"&a&b"));
        assert!(pattern("^[[:digit:]-]+$").is_match(b"1-2"));
        assert!(pattern("^[^[:space:]]+$").is_match(b"abc"));
        // Stacked quantifiers: `*?` is not lazy, `**` is not an error.
        assert!(pattern("^a*?$").is_match(b"aaa"));
        assert!(pattern("^(ab)**$").is_match(b"abab"));
        assert!(pattern("^a+?b").is_match(b"aaab"));
        // An escaped ordinary character is itself; glibc's word classes and boundaries work.
        assert!(pattern(r"\d").is_match(b"d"));
        assert!(!pattern(r"\d").is_match(b"1"));
        assert!(pattern(r"\n").is_match(b"n"));
        assert!(pattern(r"\.").is_match(b"."));
        assert!(!pattern(r"\.").is_match(b"x"));
        assert!(pattern(r"\<Hang").is_match(b"Event: Hangup"));
        assert!(!pattern(r"\<angup").is_match(b"Event: Hangup"));
        assert!(pattern(r"^\w+: \S+$").is_match(b"Event: Hangup"));
        // Characters the crate would read specially are plain in POSIX.
        assert!(pattern("a#b c").is_match(b"a#b c"));
        // Intervals, glibc's `{,n}` included.
        assert!(pattern("^a{2}$").is_match(b"aa"));
        assert!(pattern("^a{2,}$").is_match(b"aaaa"));
        assert!(pattern("^a{,2}$").is_match(b"a"));
        assert!(!pattern("^a{1,2}$").is_match(b"aaa"));
        // Empty filters match everything, as glibc's empty regex does.
        assert!(pattern("").is_match(b"Event: X"));
    }

    #[test]
    fn what_does_not_compile_is_refused_and_nothing_is_added() {
        let mut filters = Filters::default();
        for bad in [
            "(Newchannel",
            "Hangup)",
            "[abc",
            "*x",
            "x|+y",
            "trailing\\",
            "z-a[z-a]",
            "[[:nope:]]",
            "[[.a.]]",
            "[[=a=]]",
            r"(a)\1",
            "a{x}",
            "a{3,1}",
            "a{2",
            "(a{1000}){1000}",
            "!(unclosed",
        ] {
            let error = filters.add(bad).expect_err(bad);
            assert!(!error.reason().is_empty(), "{bad}");
        }
        assert!(filters.is_empty(), "a refused filter is not kept");
    }
}
