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
        note: "both events are documented (13, 22) but not linked to the action; the 1.8 and 11 corpus READMEs name AgentsComplete",
    },
    ListRule {
        action: "BridgeList",
        items: &["BridgeListItem"],
        complete: "BridgeListComplete",
        note: "corpus/asterisk-22/README.md (BridgeList exercised: BridgeListItem items)",
    },
    ListRule {
        action: "BridgeTechnologyList",
        items: &["BridgeTechnologyListItem"],
        complete: "BridgeTechnologyListComplete",
        note: "corpus/asterisk-22/README.md (BridgeTechnologyList exercised: BridgeTechnologyListItem items)",
    },
    ListRule {
        action: "ConfbridgeList",
        items: &["ConfbridgeList"],
        complete: "ConfbridgeListComplete",
        note: "Asterisk source, app_confbridge.c; the item event is documented",
    },
    ListRule {
        action: "ConfbridgeListRooms",
        items: &["ConfbridgeListRooms"],
        complete: "ConfbridgeListRoomsComplete",
        note: "Asterisk source, app_confbridge.c; the item event is documented",
    },
    ListRule {
        action: "DAHDIShowChannels",
        items: &["DAHDIShowChannels"],
        complete: "DAHDIShowChannelsComplete",
        note: "Asterisk source, chan_dahdi.c",
    },
    ListRule {
        action: "FAXSessions",
        items: &["FAXSessionsEntry"],
        complete: "FAXSessionsComplete",
        note: "both events are documented (13, 22) but not linked to the action (res_fax.c)",
    },
    ListRule {
        action: "IAXpeerlist",
        items: &["PeerEntry"],
        complete: "PeerlistComplete",
        note: "Asterisk source, chan_iax2.c (same events as SIPpeers)",
    },
    ListRule {
        action: "IAXpeers",
        items: &["PeerEntry"],
        complete: "PeerlistComplete",
        note: "Asterisk source, chan_iax2.c (same events as SIPpeers)",
    },
    ListRule {
        action: "IAXregistry",
        items: &["RegistryEntry"],
        complete: "RegistrationsComplete",
        note: "Asterisk source, chan_iax2.c (same events as SIPshowregistry)",
    },
    ListRule {
        action: "MeetmeList",
        items: &["MeetmeList"],
        complete: "MeetmeListComplete",
        note: "Asterisk source, app_meetme.c; the item event is documented",
    },
    ListRule {
        action: "MeetmeListRooms",
        items: &["MeetmeListRooms"],
        complete: "MeetmeListRoomsComplete",
        note: "Asterisk source, app_meetme.c; the item event is documented",
    },
    ListRule {
        action: "MWIGet",
        items: &["MWIGet"],
        complete: "MWIGetComplete",
        note: "both events are documented (13, 22) but not linked to the action (res_mwi_external_ami.c)",
    },
    ListRule {
        action: "ParkedCalls",
        items: &["ParkedCall"],
        complete: "ParkedCallsComplete",
        note: "ParkedCall is documented; ParkedCallsComplete (with Total) per the corpus READMEs",
    },
    ListRule {
        action: "Parkinglots",
        items: &["Parkinglot"],
        complete: "ParkinglotsComplete",
        note: "Asterisk source, res_parking/parking_manager.c (features.c in 11)",
    },
    ListRule {
        action: "PJSIPShowMaintenance",
        items: &["PJSIPMaintenanceStatus"],
        complete: "PJSIPMaintenanceStatusComplete",
        note: "completion event named in the action's documentation text (22), not in <responses>; the item event is documented",
    },
    ListRule {
        action: "PJSIPShowRegistrationInboundContactStatuses",
        items: &["ContactStatusDetail"],
        complete: "ContactStatusDetailComplete",
        note: "events named in the action's documentation text (13, 22), not in <responses>",
    },
    ListRule {
        action: "PJSIPShowRegistrationsInbound",
        items: &["InboundRegistrationDetail"],
        complete: "InboundRegistrationDetailComplete",
        note: "events named in the action's documentation text (13, 22), not in <responses>",
    },
    ListRule {
        action: "PJSIPShowRegistrationsOutbound",
        items: &["OutboundRegistrationDetail"],
        complete: "OutboundRegistrationDetailComplete",
        note: "events named in the action's documentation text (13, 22), not in <responses>",
    },
    ListRule {
        action: "PJSIPShowResourceLists",
        items: &["ResourceListDetail"],
        complete: "ResourceListDetailComplete",
        note: "events named in the action's documentation text (13, 22), not in <responses>",
    },
    ListRule {
        action: "PJSIPShowSubscriptionsInbound",
        items: &["InboundSubscriptionDetail"],
        complete: "InboundSubscriptionDetailComplete",
        note: "events named in the action's documentation text (13, 22), not in <responses>",
    },
    ListRule {
        action: "PJSIPShowSubscriptionsOutbound",
        items: &["OutboundSubscriptionDetail"],
        complete: "OutboundSubscriptionDetailComplete",
        note: "events named in the action's documentation text (13, 22), not in <responses>",
    },
    ListRule {
        action: "PRIShowSpans",
        items: &["PRIShowSpans"],
        complete: "PRIShowSpansComplete",
        note: "Asterisk source, chan_dahdi.c",
    },
    ListRule {
        action: "ShowDialPlan",
        items: &["ListDialplan"],
        complete: "ShowDialPlanComplete",
        note: "corpus READMEs (ListDialplan items; ShowDialPlanComplete adds ListExtensions, ListPriorities, ListContexts)",
    },
    ListRule {
        action: "SIPpeers",
        items: &["PeerEntry"],
        complete: "PeerlistComplete",
        note: "completion event named in the action's documentation text (11, 13); PeerEntry items per chan_sip.c",
    },
    ListRule {
        action: "SIPshowregistry",
        items: &["RegistryEntry"],
        complete: "RegistrationsComplete",
        note: "completion event named in the action's documentation text (11, 13); RegistryEntry items per chan_sip.c",
    },
    ListRule {
        action: "SKINNYdevices",
        items: &["DeviceEntry"],
        complete: "DevicelistComplete",
        note: "Asterisk source, chan_skinny.c",
    },
    ListRule {
        action: "SKINNYlines",
        items: &["LineEntry"],
        complete: "LinelistComplete",
        note: "Asterisk source, chan_skinny.c",
    },
    ListRule {
        action: "VoicemailUsersList",
        items: &["VoicemailUserEntry"],
        complete: "VoicemailUserEntryComplete",
        note: "Asterisk source, app_voicemail.c",
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
        event: "Link",
        replaced_by: &[(None, "BridgeEnter")],
        note: "the 1.4/1.6 name, not in the 1.8 and 11 recordings (they send Bridge with Bridgestate: Link)",
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
];

/// Whether `header` of `event` selects the modern counterpart in a [`LEGACY`] rule.
pub(crate) fn discriminates(event: &str, header: &str) -> bool {
    LEGACY.iter().any(|rule| {
        rule.event.eq_ignore_ascii_case(event)
            && rule
                .replaced_by
                .iter()
                .any(|(when, _)| when.is_some_and(|(h, _)| h.eq_ignore_ascii_case(header)))
    })
}

/// Asterisk reads every `Variable:` header of an action (`astman_get_variables`), though the
/// documentation marks none of them `multiple`.
pub(crate) const REPEATED_PARAMS: &[&str] = &["Variable"];

/// Actions whose `Variable` names one variable (read with `astman_get_header`, not
/// `astman_get_variables`): Getvar and Setvar get or set exactly one (manager.c).
pub(crate) const SINGLE_VARIABLE_ACTIONS: &[&str] = &["Getvar", "Setvar"];
