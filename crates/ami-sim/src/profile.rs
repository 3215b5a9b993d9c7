//! Version profiles: what changes between the recorded Asterisk 22, 13, 11 and 1.8 servers.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use crate::perm::Perms;

/// The Asterisk version whose AMI the simulator imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// Asterisk 22.10 (AMI 11.0.0): `Output:` Command lines, EventList everywhere.
    #[default]
    V22,
    /// Asterisk 13.38 (AMI 2.10.6): legacy `Response: Follows` Command framing.
    V13,
    /// Asterisk 11.25 (AMI 1.3): most lists without EventList, 1.x event names.
    V11,
    /// Asterisk 1.8.32 (AMI 1.1): as 11, without Filter, with a separate Unlink event.
    V18,
}

/// A profile name that is not one of `22`, `13`, `11`, `1.8`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile {0:?} (expected 22, 13, 11 or 1.8)")]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "22" | "v22" | "modern" => Ok(Profile::V22),
            "13" | "v13" => Ok(Profile::V13),
            "11" | "v11" => Ok(Profile::V11),
            "1.8" | "18" | "v18" => Ok(Profile::V18),
            other => Err(UnknownProfile(other.to_owned())),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::V22 => "22",
            Profile::V13 => "13",
            Profile::V11 => "11",
            Profile::V18 => "1.8",
        })
    }
}

/// Which list action is asked about in [`Profile::list_style`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// CoreShowChannels (and ShowDialPlan): EventList in every version.
    CoreShowChannels,
    /// Status, QueueStatus, QueueSummary, DBGet ...: EventList from 13 on.
    Other,
}

/// How a list answer is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListStyle {
    /// `EventList: start`, then `...Complete` with ActionID second, `EventList: Complete`, `ListItems`.
    Modern,
    /// `EventList: start`, then `...Complete` with `EventList`/`ListItems` and ActionID last (11, 1.8).
    ActionIdLast,
    /// No EventList at all; the `...Complete` event carries only the ActionID (and extras).
    Bare,
}

impl Profile {
    /// All profiles, newest first.
    pub const ALL: [Profile; 4] = [Profile::V22, Profile::V13, Profile::V11, Profile::V18];

    /// The AMI version in the banner and CoreSettings.
    pub fn ami_version(self) -> &'static str {
        match self {
            Profile::V22 => "11.0.0",
            Profile::V13 => "2.10.6",
            Profile::V11 => "1.3",
            Profile::V18 => "1.1",
        }
    }

    /// The Asterisk version (`core show version`, CoreSettings).
    pub fn asterisk_version(self) -> &'static str {
        match self {
            Profile::V22 => "22.10.1",
            Profile::V13 => "13.38.3",
            Profile::V11 => "11.25.3",
            Profile::V18 => "1.8.32.3",
        }
    }

    /// The greeting line, CRLF included.
    pub fn banner(self) -> String {
        format!("Asterisk Call Manager/{}\r\n", self.ami_version())
    }

    /// Command answers as `Response: Follows` + raw text + `--END COMMAND--` (13 and older).
    pub fn legacy_command(self) -> bool {
        self != Profile::V22
    }

    /// SuccessfulAuth, RequestBadFormat, RequestNotAllowed on AMI (13 and newer).
    pub fn security_events(self) -> bool {
        matches!(self, Profile::V22 | Profile::V13)
    }

    /// The 12+ channel event family (DialBegin, BridgeEnter, QueueCallerJoin, Linkedid ...)
    /// rather than the 1.x one (Dial/SubEvent, Bridge, Join/Leave).
    pub fn modern_events(self) -> bool {
        matches!(self, Profile::V22 | Profile::V13)
    }

    /// The `Filter` action exists (not in 1.8).
    pub fn has_filter(self) -> bool {
        self != Profile::V18
    }

    /// The UserEvent action's event echoes the request's `Action: UserEvent` line (11, 1.8).
    pub fn userevent_echoes_action(self) -> bool {
        matches!(self, Profile::V11 | Profile::V18)
    }

    /// FullyBooted carries Uptime and LastReload (22 only).
    pub fn fully_booted_uptime(self) -> bool {
        self == Profile::V22
    }

    /// CoreStatus has CoreProcessedCalls and CoreSettings has SoundsSearchCustomDir (22 only).
    pub fn newest_core_fields(self) -> bool {
        self == Profile::V22
    }

    /// The DBGetTree action exists (22 only in the recordings).
    pub fn has_dbgettree(self) -> bool {
        self == Profile::V22
    }

    /// The raw `Queues` action exists (13 and older).
    pub fn has_queues_action(self) -> bool {
        self != Profile::V22
    }

    /// AgentCalled/AgentConnect are sent (13+; `eventwhencalled` defaults off in 11 and 1.8).
    pub fn agent_events(self) -> bool {
        self.modern_events()
    }

    /// How a list action of this kind is framed.
    pub(crate) fn list_style(self, kind: ListKind) -> ListStyle {
        match (self, kind) {
            (Profile::V22 | Profile::V13, _) => ListStyle::Modern,
            (_, ListKind::CoreShowChannels) => ListStyle::ActionIdLast,
            (_, ListKind::Other) => ListStyle::Bare,
        }
    }

    /// The actions the recorded server of this version had registered, one name per line, in
    /// the order its `ListCommands` listed them (their classes come from `ami-catalog`).
    pub(crate) fn registered_actions(self) -> &'static str {
        match self {
            Profile::V22 => include_str!("../data/v22_list_commands.txt"),
            Profile::V13 => include_str!("../data/v13_list_commands.txt"),
            Profile::V11 => include_str!("../data/v11_list_commands.txt"),
            Profile::V18 => include_str!("../data/v18_list_commands.txt"),
        }
    }

    /// The recorded `core show help` text (bare-LF lines for 22; as sent for the others).
    pub(crate) fn core_show_help(self) -> &'static str {
        match self {
            Profile::V22 => include_str!("../data/v22_core_show_help.txt"),
            Profile::V13 => include_str!("../data/v13_core_show_help.txt"),
            Profile::V11 => include_str!("../data/v11_core_show_help.txt"),
            Profile::V18 => include_str!("../data/v18_core_show_help.txt"),
        }
    }

    /// The action named `name` (case-insensitive) as this version lists it: its canonical
    /// name and required write classes, or `None` if the version has no such action.
    pub(crate) fn action(self, name: &str) -> Option<(&'static str, Perms)> {
        // This runs for every action received: the name is lowercased into a stack buffer once,
        // then compared with plain byte comparisons against the lowercase keys.
        let mut lower = [0u8; MAX_ACTION_NAME];
        let lower = lower.get_mut(..name.len())?;
        lower.copy_from_slice(name.as_bytes());
        lower.make_ascii_lowercase();
        let table = self.action_table();
        table
            .binary_search_by(|entry| by_length_then_bytes(&entry.key, lower))
            .ok()
            .map(|at| (table[at].name, table[at].perms))
    }

    /// The recorded action list parsed once per profile (it is consulted for every action),
    /// sorted by lowercase key for lookups.
    fn action_table(self) -> &'static [ActionEntry] {
        static TABLES: [OnceLock<Vec<ActionEntry>>; 4] = [const { OnceLock::new() }; 4];
        let index = Profile::ALL.iter().position(|p| *p == self).unwrap_or(0);
        TABLES[index].get_or_init(|| {
            let mut table: Vec<ActionEntry> = self
                .registered_actions()
                .lines()
                .map(|action| ActionEntry {
                    key: action.to_ascii_lowercase().into_bytes().into_boxed_slice(),
                    name: action,
                    perms: self
                        .write_classes(action)
                        .join(",")
                        .parse()
                        .unwrap_or(Perms::NONE),
                })
                .collect();
            // Asterisk 22 ships app_agent_pool, which the recorded server did not load; the
            // simulator has it loaded so that `Agents` and `AgentLogoff` answer on every profile (ListCommands
            // stays as recorded).
            if self == Profile::V22 {
                for (key, name) in [(&b"agents"[..], "Agents"), (b"agentlogoff", "AgentLogoff")] {
                    table.push(ActionEntry {
                        key: key.to_vec().into_boxed_slice(),
                        name,
                        perms: Perms::AGENT,
                    });
                }
            }
            // The recorded lists hold no two names that differ only in case (a test checks),
            // so the order among equal keys does not matter.
            table.sort_by(|a, b| by_length_then_bytes(&a.key, &b.key));
            table
        })
    }
}

impl Profile {
    /// The catalog's name for this version.
    pub(crate) fn catalog_version(self) -> ami_catalog::Version {
        match self {
            Profile::V22 => ami_catalog::Version::V22,
            Profile::V13 => ami_catalog::Version::V13,
            Profile::V11 => ami_catalog::Version::V11,
            Profile::V18 => ami_catalog::Version::V1_8,
        }
    }

    /// The write classes this version's server asks for `action`, from the catalog (which read
    /// them from the recorded `ListCommands` answers); empty when none is needed.
    pub(crate) fn write_classes(self, action: &str) -> &'static [&'static str] {
        ami_catalog::action(action)
            .and_then(|a| a.classes(self.catalog_version()))
            .unwrap_or_default()
    }
}

/// Longer than any action name Asterisk has (a test checks): a longer `Action:` value is
/// simply unknown, and the lookup can lowercase the name on the stack.
const MAX_ACTION_NAME: usize = 64;

/// One action of a profile's recorded list.
#[derive(Debug)]
struct ActionEntry {
    /// The name in lowercase, the lookup key.
    key: Box<[u8]>,
    /// The name as Asterisk spells it.
    name: &'static str,
    /// The write classes a user needs to call it.
    perms: Perms,
}

/// Orders keys by length first: most comparisons in a lookup are then settled without
/// looking at the bytes.
fn by_length_then_bytes(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for profile in Profile::ALL {
            assert_eq!(profile.to_string().parse::<Profile>(), Ok(profile));
        }
        assert!("12".parse::<Profile>().is_err());
    }

    #[test]
    fn actions_and_privileges_come_from_the_recorded_list() {
        let (name, perms) = Profile::V22.action("originate").unwrap();
        assert_eq!(name, "Originate");
        assert!(perms.contains(Perms::ORIGINATE));
        assert!(!perms.contains(Perms::SYSTEM));
        assert_eq!(Profile::V22.action("Ping").unwrap().1, Perms::NONE);
        assert!(Profile::V18.action("Filter").is_none());
        assert!(Profile::V11.action("Filter").is_some());
        assert!(Profile::V22.action("Queues").is_none());
        assert!(Profile::V13.action("Queues").is_some());
        let canonical = |name| Profile::V22.action(name).map(|(canonical, _)| canonical);
        assert_eq!(canonical("cOrEsHoWcHaNnElS"), Some("CoreShowChannels"));
        assert_eq!(canonical("PING"), Some("Ping"));
        assert_eq!(canonical("Pin"), None);
        assert_eq!(canonical("Pingg"), None);
        assert_eq!(canonical(""), None);
        assert_eq!(canonical(&"x".repeat(MAX_ACTION_NAME + 1)), None);
    }

    #[test]
    fn no_two_recorded_actions_differ_only_in_case() {
        // The lookup's binary search relies on it: one name, one entry.
        for profile in Profile::ALL {
            let table = profile.action_table();
            assert!(table.windows(2).all(|w| w[0].key != w[1].key), "{profile}");
            assert!(table.len() > 50, "{profile}: {}", table.len());
            assert!(table.iter().all(|entry| entry.key.len() <= MAX_ACTION_NAME));
        }
    }

    #[test]
    fn every_registered_action_has_its_classes_in_the_catalog() {
        // A name the catalog does not know (or knows without this version's classes) would
        // silently need no class at all: the permission check would wave it through.
        let version = |profile: Profile| profile.catalog_version();
        for profile in Profile::ALL {
            for name in profile.registered_actions().lines() {
                let action = ami_catalog::action(name)
                    .unwrap_or_else(|| panic!("{profile}: {name} is not catalogued"));
                assert!(
                    action.classes(version(profile)).is_some(),
                    "{profile}: {name} has no classes for this version"
                );
            }
        }
        assert_eq!(Profile::V22.write_classes("Originate"), &["originate"][..]);
        assert!(Profile::V22.write_classes("Ping").is_empty());
    }
}
