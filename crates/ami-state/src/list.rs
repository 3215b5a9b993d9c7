//! The list actions that rebuild parts of the model, and the order a resync sends them in,
//! per Asterisk release line.

use ami_catalog::Version;

/// A part of the model that one list action rebuilds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListKind {
    /// `CoreShowChannels`: channels, and the bridges they are in.
    Channels,
    /// `BridgeList` (12 and later): the bridges, empty ones included.
    Bridges,
    /// `QueueStatus`: queues, their members and waiting callers.
    Queues,
    /// `Agents`: every configured agent and its status.
    Agents,
    /// `ParkedCalls`: the parked calls.
    Parked,
    /// `DeviceStateList` (13 and later): every device's state.
    Devices,
    /// `ExtensionStateList` (13 and later): every hinted extension's state.
    Extensions,
}

impl ListKind {
    /// Every kind, in the order a resync sends them (channels before bridges: a bridge's
    /// members come from the channels).
    pub const ALL: [ListKind; 7] = [
        ListKind::Channels,
        ListKind::Bridges,
        ListKind::Queues,
        ListKind::Agents,
        ListKind::Parked,
        ListKind::Devices,
        ListKind::Extensions,
    ];

    /// The action that lists this part.
    pub fn action(self) -> &'static str {
        match self {
            ListKind::Channels => "CoreShowChannels",
            ListKind::Bridges => "BridgeList",
            ListKind::Queues => "QueueStatus",
            ListKind::Agents => "Agents",
            ListKind::Parked => "ParkedCalls",
            ListKind::Devices => "DeviceStateList",
            ListKind::Extensions => "ExtensionStateList",
        }
    }

    /// The events that carry the list's items.
    pub fn item_events(self) -> &'static [&'static str] {
        match self {
            ListKind::Channels => &["CoreShowChannel"],
            ListKind::Bridges => &["BridgeListItem"],
            ListKind::Queues => &["QueueParams", "QueueMember", "QueueEntry"],
            ListKind::Agents => &["Agents"],
            ListKind::Parked => &["ParkedCall"],
            ListKind::Devices => &["DeviceStateChange"],
            ListKind::Extensions => &["ExtensionStatus"],
        }
    }

    /// The event that ends the list.
    pub fn complete_event(self) -> &'static str {
        match self {
            ListKind::Channels => "CoreShowChannelsComplete",
            ListKind::Bridges => "BridgeListComplete",
            ListKind::Queues => "QueueStatusComplete",
            ListKind::Agents => "AgentsComplete",
            ListKind::Parked => "ParkedCallsComplete",
            ListKind::Devices => "DeviceStateListComplete",
            ListKind::Extensions => "ExtensionStateListComplete",
        }
    }
}

/// The lists a resync sends when the server's version is not known, in order: the two
/// every Asterisk has and every caller relies on. [`resync_plan_for`] gives a version's
/// whole plan.
pub const RESYNC_PLAN: &[ListKind] = &[ListKind::Channels, ListKind::Queues];

/// 1.8 and 11: no BridgeList, DeviceStateList or ExtensionStateList.
const PLAN_1X: &[ListKind] = &[
    ListKind::Channels,
    ListKind::Queues,
    ListKind::Agents,
    ListKind::Parked,
];

/// 13 and 22: every list.
const PLAN_MODERN: &[ListKind] = &ListKind::ALL;

/// The lists a resync sends to a server of `version`, in order: those of [`ListKind::ALL`]
/// whose action the catalog knows on that version (a unit test holds the two to each
/// other). A list the server refuses (its module not loaded) is handed to
/// [`crate::State::handle_list_refused`] and that part is kept from events alone.
pub fn resync_plan_for(version: Version) -> &'static [ListKind] {
    match version {
        Version::V1_8 | Version::V11 => PLAN_1X,
        Version::V13 | Version::V22 => PLAN_MODERN,
    }
}

/// The catalog's release line of a server from the AMI version in its banner: `1.1` is
/// 1.8, `1.2` and `1.3` are 10 and 11, `2.x` to `4.x` are 12 to 15 (documented as 13),
/// `5.x` and later are 16 onwards (documented as 22). `None` for what is not a version.
pub fn version_from_ami(ami_version: &str) -> Option<Version> {
    let mut parts = ami_version.trim().split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some(match (major, minor) {
        (0, _) => return None,
        (1, 0..=1) => Version::V1_8,
        (1, _) => Version::V11,
        (2..=4, _) => Version::V13,
        _ => Version::V22,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_plan_is_the_lists_the_catalog_knows_on_that_version() {
        for version in Version::ALL {
            let known: Vec<ListKind> = ListKind::ALL
                .into_iter()
                .filter(|kind| {
                    ami_catalog::action(kind.action()).is_some_and(|a| a.known_on(version))
                })
                .collect();
            assert_eq!(resync_plan_for(version), known.as_slice(), "{version}");
        }
    }

    #[test]
    fn the_catalog_names_each_list_s_items_and_end() {
        for kind in ListKind::ALL {
            let action = ami_catalog::action(kind.action()).expect("a catalogued action");
            let list = action.list.as_ref().expect("a list action");
            assert_eq!(list.items, kind.item_events(), "{kind:?}");
            assert_eq!(list.complete, kind.complete_event(), "{kind:?}");
        }
    }

    #[test]
    fn banner_versions_map_to_release_lines() {
        assert_eq!(version_from_ami("1.1"), Some(Version::V1_8));
        assert_eq!(version_from_ami("1.3"), Some(Version::V11));
        assert_eq!(version_from_ami("2.10.6"), Some(Version::V13));
        assert_eq!(version_from_ami("11.0.0"), Some(Version::V22));
        assert_eq!(version_from_ami(""), None);
        assert_eq!(version_from_ami("x"), None);
    }
}
