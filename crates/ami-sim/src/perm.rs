//! Asterisk's permission classes (`read =` / `write =` in manager.conf, `Privilege:` in events).

use std::fmt;
use std::str::FromStr;

/// A set of permission classes, as a bit mask in Asterisk's own order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Perms(u32);

/// Class names in Asterisk's order (`EVENT_FLAG_*` in manager.h); the bit is the position.
const NAMES: [&str; 19] = [
    "system",
    "call",
    "log",
    "verbose",
    "command",
    "agent",
    "user",
    "config",
    "dtmf",
    "reporting",
    "cdr",
    "dialplan",
    "originate",
    "agi",
    "cc",
    "aoc",
    "test",
    "security",
    "message",
];

impl Perms {
    /// No class at all.
    pub const NONE: Perms = Perms(0);
    /// `system`: reloads, shutdown, FullyBooted.
    pub const SYSTEM: Perms = Perms(1);
    /// `call`: channel and bridge events, Status, Hangup, Redirect.
    pub const CALL: Perms = Perms(1 << 1);
    /// `command`: the CLI through `Action: Command`.
    pub const COMMAND: Perms = Perms(1 << 4);
    /// `agent`: queue members and agents.
    pub const AGENT: Perms = Perms(1 << 5);
    /// `user`: UserEvent.
    pub const USER: Perms = Perms(1 << 6);
    /// `config`: configuration files.
    pub const CONFIG: Perms = Perms(1 << 7);
    /// `reporting`: status queries.
    pub const REPORTING: Perms = Perms(1 << 9);
    /// `cdr`: call detail records.
    pub const CDR: Perms = Perms(1 << 10);
    /// `dialplan`: Newexten, VarSet.
    pub const DIALPLAN: Perms = Perms(1 << 11);
    /// `originate`: Originate.
    pub const ORIGINATE: Perms = Perms(1 << 12);
    /// `security`: SuccessfulAuth, RequestBadFormat, RequestNotAllowed.
    pub const SECURITY: Perms = Perms(1 << 17);
    /// Every class (`all`).
    pub const ALL: Perms = Perms((1 << NAMES.len()) - 1);

    /// True when every class of `other` is in `self`.
    pub fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when `self` and `other` share a class.
    pub fn intersects(self, other: Perms) -> bool {
        self.0 & other.0 != 0
    }

    /// True for the empty set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The union of both sets.
    pub fn union(self, other: Perms) -> Perms {
        Perms(self.0 | other.0)
    }

    /// The privilege text Asterisk writes in events: the class names, then `all`
    /// (`call,all`), or `<none>`.
    pub fn privilege(self) -> String {
        if self.is_empty() {
            return "<none>".to_owned();
        }
        let mut text = self.to_string();
        text.push_str(",all");
        text
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (bit, name) in NAMES.iter().enumerate() {
            if self.0 & (1 << bit) != 0 {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// A class name that Asterisk does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission class {0:?}")]
pub struct UnknownClass(pub String);

impl FromStr for Perms {
    type Err = UnknownClass;

    /// Parses `system,call`, `all`, `none`, or an empty string (no class). Asterisk also
    /// accepts a number mask, which is taken as is.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut perms = Perms::NONE;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if let Ok(mask) = part.parse::<u32>() {
                perms = perms.union(Perms(mask & Perms::ALL.0));
                continue;
            }
            let lower = part.to_ascii_lowercase();
            match lower.as_str() {
                "all" => perms = Perms::ALL,
                "none" | "<none>" => {}
                _ => match NAMES.iter().position(|name| *name == lower) {
                    Some(bit) => perms = perms.union(Perms(1 << bit)),
                    None => return Err(UnknownClass(part.to_owned())),
                },
            }
        }
        Ok(perms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_all() {
        let perms: Perms = "system, Call".parse().unwrap();
        assert!(perms.contains(Perms::SYSTEM) && perms.contains(Perms::CALL));
        assert!(!perms.contains(Perms::USER));
        assert_eq!("all".parse::<Perms>().unwrap(), Perms::ALL);
        assert!("frobs".parse::<Perms>().is_err());
    }

    #[test]
    fn privilege_text_matches_asterisk() {
        assert_eq!(Perms::CALL.privilege(), "call,all");
        assert_eq!(
            Perms::SYSTEM.union(Perms::CALL).privilege(),
            "system,call,all"
        );
        assert_eq!(Perms::NONE.privilege(), "<none>");
    }
}
