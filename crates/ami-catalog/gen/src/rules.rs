//! Facts that neither the documentation XML nor the recordings state, written down by hand. Each
//! entry says where it comes from; the generator marks what it adds from here as `Source::Rule`.

/// A list action whose item and completion events the documentation does not name and the corpus
/// did not record.
pub(crate) struct ListRule {
    pub action: &'static str,
    pub items: &'static [&'static str],
    pub complete: &'static str,
    pub note: &'static str,
}

pub(crate) const LIST_RULES: &[ListRule] = &[
    ListRule {
        action: "Agents",
        items: &["Agents"],
        complete: "AgentsComplete",
        note: "item and completion events are documented, the link to the action is not; 1.8 and 11 end the list with AgentsComplete (corpus READMEs)",
    },
    ListRule {
        action: "BridgeList",
        items: &["BridgeListItem"],
        complete: "BridgeListComplete",
        note: "corpus/asterisk-22/README.md (BridgeList exercised, BridgeListItem items)",
    },
    ListRule {
        action: "BridgeTechnologyList",
        items: &["BridgeTechnologyListItem"],
        complete: "BridgeTechnologyListComplete",
        note: "corpus/asterisk-22/README.md (BridgeTechnologyList exercised, BridgeTechnologyListItem items)",
    },
    ListRule {
        action: "ParkedCalls",
        items: &["ParkedCall"],
        complete: "ParkedCallsComplete",
        note: "ParkedCall is documented; ParkedCallsComplete (with Total) per the corpus READMEs",
    },
    ListRule {
        action: "ShowDialPlan",
        items: &["ListDialplan"],
        complete: "ShowDialPlanComplete",
        note: "corpus READMEs (ListDialplan items; ShowDialPlanComplete adds ListExtensions, ListPriorities, ListContexts)",
    },
];

/// Fields the corpus READMEs state for events that no recording or documentation covers.
pub(crate) const RULE_FIELDS: &[(&str, &[&str])] = &[
    (
        "ShowDialPlanComplete",
        &[
            "EventList",
            "ListItems",
            "ListExtensions",
            "ListPriorities",
            "ListContexts",
        ],
    ),
    ("ParkedCallsComplete", &["Total"]),
];

/// What a 1.x event became in Asterisk 12 and later.
pub(crate) struct LegacyRule {
    pub event: &'static str,
    /// (discriminating header, its value, modern event); no header when the whole event maps.
    pub replaced_by: &'static [(Option<(&'static str, &'static str)>, &'static str)],
    pub note: &'static str,
}

pub(crate) const LEGACY: &[LegacyRule] = &[
    LegacyRule {
        event: "Dial",
        replaced_by: &[
            (Some(("SubEvent", "Begin")), "DialBegin"),
            (Some(("SubEvent", "End")), "DialEnd"),
        ],
        note: "one event with SubEvent Begin/End became DialBegin and DialEnd",
    },
    LegacyRule {
        event: "Bridge",
        replaced_by: &[
            (Some(("Bridgestate", "Link")), "BridgeEnter"),
            (Some(("Bridgestate", "Unlink")), "BridgeLeave"),
        ],
        note: "two-channel bridge announcements became bridge objects: channels enter and leave a bridge (BridgeCreate/BridgeDestroy frame it)",
    },
    LegacyRule {
        event: "Unlink",
        replaced_by: &[(None, "BridgeLeave")],
        note: "1.8 sends a separate Unlink where 11 sends Bridge with Bridgestate: Unlink",
    },
    LegacyRule {
        event: "Join",
        replaced_by: &[(None, "QueueCallerJoin")],
        note: "a caller joins a queue; counterpart of Leave, which the 1.8 and 11 recordings show",
    },
    LegacyRule {
        event: "Leave",
        replaced_by: &[(None, "QueueCallerLeave")],
        note: "a caller leaves a queue",
    },
    LegacyRule {
        event: "MusicOnHold",
        replaced_by: &[
            (Some(("State", "Start")), "MusicOnHoldStart"),
            (Some(("State", "Stop")), "MusicOnHoldStop"),
        ],
        note: "one event with State Start/Stop became two",
    },
    LegacyRule {
        event: "Masquerade",
        replaced_by: &[],
        note: "no modern counterpart: 12 and later do not announce masquerades",
    },
    LegacyRule {
        event: "Rename",
        replaced_by: &[],
        note: "no modern counterpart: 12 and later do not announce channel renames",
    },
];

/// Asterisk reads every `Variable:` header of an action (`astman_get_variables`), though the
/// documentation marks none of them `multiple`.
pub(crate) const REPEATED_PARAMS: &[&str] = &["Variable"];
