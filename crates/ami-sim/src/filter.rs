//! The `Filter` action's event filters.
//!
//! Asterisk compiles each filter as a POSIX regular expression and matches it against the event
//! text. The simulator matches the filter as a plain substring of the event text, which gives
//! the same answer for the filters seen in practice (`Event: UserEvent`,
//! `!Event: VarSet`); regex metacharacters are not interpreted.

/// A session's filters: with any plain filter present an event must match one of them; an
/// event matching any `!` filter is dropped.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    include: Vec<Vec<u8>>,
    exclude: Vec<Vec<u8>>,
}

impl Filters {
    /// Adds a filter as the Filter action's `Filter:` header gives it.
    pub fn add(&mut self, filter: &str) {
        match filter.strip_prefix('!') {
            Some(rest) => self.exclude.push(rest.as_bytes().to_vec()),
            None => self.include.push(filter.as_bytes().to_vec()),
        }
    }

    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// True when the event's bytes pass.
    pub fn allows(&self, event: &[u8]) -> bool {
        let contains = |needle: &Vec<u8>| {
            needle.is_empty() || event.windows(needle.len()).any(|w| w == needle.as_slice())
        };
        (self.include.is_empty() || self.include.iter().any(contains))
            && !self.exclude.iter().any(contains)
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
}
