//! The `Filter` action's event filters.
//!
//! Asterisk compiles each filter as a POSIX extended regular expression and searches the whole
//! event text with it (`!` in front makes it an exclude filter). The simulator implements the
//! subset filters use in practice: literals, `.`, bracket classes (`[a-z]`, `[^;]`), `*`, `+`,
//! `?`, anchors `^` and `$`, and `\` escapes. Groups and `|` are not supported; a filter that
//! uses them is matched literally.

/// A session's filters: with any include filter present an event must match one of them; an
/// event matching any `!` filter is dropped.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

impl Filters {
    /// Adds a filter as the Filter action's `Filter:` header gives it.
    pub fn add(&mut self, filter: &str) {
        match filter.strip_prefix('!') {
            Some(rest) => self.exclude.push(Pattern::new(rest)),
            None => self.include.push(Pattern::new(filter)),
        }
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

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    Byte(u8),
    Any,
    Class {
        negated: bool,
        ranges: Vec<(u8, u8)>,
    },
}

impl Atom {
    fn matches(&self, byte: u8) -> bool {
        match self {
            Atom::Byte(b) => *b == byte,
            Atom::Any => true,
            Atom::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&byte)) != *negated
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    One,
    ZeroOrOne,
    ZeroOrMore,
    OneOrMore,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Piece {
    atom: Atom,
    repeat: Repeat,
}

/// A compiled filter.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    anchored_start: bool,
    anchored_end: bool,
    pieces: Vec<Piece>,
}

impl Pattern {
    fn new(text: &str) -> Self {
        Self::compile(text.as_bytes()).unwrap_or_else(|| Self::literal(text.as_bytes()))
    }

    fn literal(text: &[u8]) -> Self {
        Self {
            anchored_start: false,
            anchored_end: false,
            pieces: text
                .iter()
                .map(|b| Piece {
                    atom: Atom::Byte(*b),
                    repeat: Repeat::One,
                })
                .collect(),
        }
    }

    /// `None` for syntax outside the supported subset.
    fn compile(mut text: &[u8]) -> Option<Self> {
        let anchored_start = text.first() == Some(&b'^');
        if anchored_start {
            text = &text[1..];
        }
        let anchored_end = text.last() == Some(&b'$') && !text.ends_with(b"\\$");
        if anchored_end {
            text = &text[..text.len() - 1];
        }
        let mut pieces: Vec<Piece> = Vec::new();
        let mut i = 0;
        while i < text.len() {
            let atom = match text[i] {
                b'(' | b')' | b'|' | b'{' => return None,
                b'.' => Atom::Any,
                b'\\' => {
                    i += 1;
                    Atom::Byte(*text.get(i)?)
                }
                b'[' => {
                    let (class, next) = parse_class(text, i + 1)?;
                    i = next - 1;
                    class
                }
                b'*' | b'+' | b'?' => {
                    let last = pieces.last_mut()?;
                    if last.repeat != Repeat::One {
                        return None;
                    }
                    last.repeat = match text[i] {
                        b'*' => Repeat::ZeroOrMore,
                        b'+' => Repeat::OneOrMore,
                        _ => Repeat::ZeroOrOne,
                    };
                    i += 1;
                    continue;
                }
                byte => Atom::Byte(byte),
            };
            pieces.push(Piece {
                atom,
                repeat: Repeat::One,
            });
            i += 1;
        }
        Some(Self {
            anchored_start,
            anchored_end,
            pieces,
        })
    }

    fn is_match(&self, text: &[u8]) -> bool {
        if self.anchored_start {
            return self.match_here(0, text, 0);
        }
        (0..=text.len()).any(|start| self.match_here(0, text, start))
    }

    /// Backtracking match of `pieces[piece..]` at `text[at..]`.
    fn match_here(&self, piece: usize, text: &[u8], at: usize) -> bool {
        let Some(current) = self.pieces.get(piece) else {
            return !self.anchored_end || at == text.len();
        };
        let (min, max) = match current.repeat {
            Repeat::One => (1, 1),
            Repeat::ZeroOrOne => (0, 1),
            Repeat::ZeroOrMore => (0, usize::MAX),
            Repeat::OneOrMore => (1, usize::MAX),
        };
        let mut count = 0;
        while count < max && at + count < text.len() && current.atom.matches(text[at + count]) {
            count += 1;
        }
        if count < min {
            return false;
        }
        // Greedy: longest run first, as POSIX leftmost-longest would accept it.
        (min..=count)
            .rev()
            .any(|taken| self.match_here(piece + 1, text, at + taken))
    }
}

/// Parses a bracket class starting after `[`; returns it and the index after `]`.
fn parse_class(text: &[u8], mut i: usize) -> Option<(Atom, usize)> {
    let negated = text.get(i) == Some(&b'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let byte = *text.get(i)?;
        if byte == b']' && !first {
            return Some((Atom::Class { negated, ranges }, i + 1));
        }
        first = false;
        if text.get(i + 1) == Some(&b'-') && text.get(i + 2).is_some_and(|b| *b != b']') {
            ranges.push((byte, text[i + 2]));
            i += 3;
        } else {
            ranges.push((byte, byte));
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_and_exclude() {
        let mut filters = Filters::default();
        assert!(filters.allows(b"Event: Newchannel\r\n"));
        filters.add("Event: UserEvent");
        assert!(filters.allows(b"Event: UserEvent\r\nUserEvent: X\r\n"));
        assert!(!filters.allows(b"Event: Newchannel\r\n"));
        filters.add("!UserEvent: Secret");
        assert!(!filters.allows(b"Event: UserEvent\r\nUserEvent: Secret\r\n"));
    }

    #[test]
    fn regex_subset_as_asterisk_filters_use_it() {
        let event = b"Event: Newchannel\r\nChannel: DAHDI/1-1\r\nExten: 100\r\n";
        let matches = |pattern: &str| Pattern::new(pattern).is_match(event);
        assert!(matches("Channel: DAHDI.*"));
        assert!(matches("^Event: New"));
        assert!(!matches("^Channel"));
        assert!(matches("Exten: [0-9]+\r\n$"));
        assert!(!matches("Exten: [^0-9]"));
        assert!(matches("Chan+el: DAHDI/?1"));
        assert!(matches("DAHDI\\/1"));
        assert!(!matches("Exten: 1000"));
        // Outside the subset: taken literally.
        assert!(!matches("(Newchannel|Hangup)"));
        assert!(Pattern::new("a|b").is_match(b"xa|by"));
    }
}
