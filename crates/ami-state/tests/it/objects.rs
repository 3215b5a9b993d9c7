//! Parked calls, device and extension states, and what moves channels between bridges
//! (BridgeList, Local optimisation, BridgeMerge, transfers, 1.x Masquerade), as sequences of
//! events with the documentation's field names (and the recordings' where they have them).

use ami_proto::Message;
use ami_state::{Change, ListKind, State, Version};

use crate::sequences::event;

fn changes(state: &mut State) -> Vec<Change> {
    std::iter::from_fn(|| state.poll_change()).collect()
}

fn channel(name: &str, uniqueid: &str) -> Message {
    event(&[
        ("Event", "Newchannel"),
        ("Channel", name),
        ("ChannelState", "6"),
        ("ChannelStateDesc", "Up"),
        ("Uniqueid", uniqueid),
        ("Linkedid", uniqueid),
    ])
}

fn enter(bridge: &str, name: &str, uniqueid: &str) -> Message {
    event(&[
        ("Event", "BridgeEnter"),
        ("BridgeUniqueid", bridge),
        ("BridgeType", "basic"),
        ("BridgeTechnology", "simple_bridge"),
        ("Channel", name),
        ("ChannelState", "6"),
        ("ChannelStateDesc", "Up"),
        ("Uniqueid", uniqueid),
    ])
}

fn members(state: &State, bridge: &str) -> Vec<String> {
    state
        .snapshot()
        .bridges
        .get(bridge)
        .map(|b| b.channels.clone())
        .unwrap_or_default()
}

fn parked_modern(kind: &str, space: &str, name: &str, uniqueid: &str) -> Message {
    event(&[
        ("Event", kind),
        ("ParkeeChannel", name),
        ("ParkeeChannelState", "6"),
        ("ParkeeChannelStateDesc", "Up"),
        ("ParkeeCallerIDNum", "300"),
        ("ParkeeCallerIDName", "Alice"),
        ("ParkeeUniqueid", uniqueid),
        ("ParkerDialString", "PJSIP/100"),
        ("Parkinglot", "default"),
        ("ParkingSpace", space),
        ("ParkingTimeout", "45"),
        ("ParkingDuration", "0"),
        ("Timestamp", "1700000100.250000"),
    ])
}

#[test]
fn modern_parking_parks_times_out_and_follows_hangups() {
    let mut state = State::for_version(Version::V22);
    state.handle_event(&parked_modern("ParkedCall", "701", "PJSIP/300-1", "8.1"));
    let call = &state.parked()["default:701"];
    assert_eq!(
        (
            call.channel.as_str(),
            call.caller_id_num.as_str(),
            call.parker.as_str()
        ),
        ("PJSIP/300-1", "300", "PJSIP/100")
    );
    assert_eq!((call.timeout, call.parked_since), (45, Some(1_700_000_100)));
    assert!(
        state.channel("8.1").is_some(),
        "the parkee's fields make the channel"
    );
    state.handle_event(&parked_modern("ParkedCall", "702", "PJSIP/400-2", "8.2"));
    state.handle_event(&parked_modern(
        "ParkedCallTimeOut",
        "701",
        "PJSIP/300-1",
        "8.1",
    ));
    assert!(!state.parked().contains_key("default:701"));
    // The parked channel hangs up without a ParkedCallGiveUp seen: the space is free.
    state.handle_event(&event(&[
        ("Event", "Hangup"),
        ("Channel", "PJSIP/400-2"),
        ("Uniqueid", "8.2"),
    ]));
    assert!(state.parked().is_empty());
    // A late ParkedCall about the hung-up channel does not park it again.
    state.handle_event(&parked_modern("ParkedCall", "702", "PJSIP/400-2", "8.2"));
    assert!(state.parked().is_empty());
    let changes = changes(&mut state);
    assert!(changes.contains(&Change::Parked("default:702".into())));
    assert!(changes.contains(&Change::Unparked("default:701".into())));
}

#[test]
fn legacy_parking_uses_exten_and_from_and_unparks() {
    let mut state = State::for_version(Version::V1_8);
    let parked = event(&[
        ("Event", "ParkedCall"),
        ("Exten", "701"),
        ("Channel", "SIP/300-0000001"),
        ("Parkinglot", "default"),
        ("From", "SIP/100-0000002"),
        ("Timeout", "45"),
        ("CallerIDNum", "300"),
        ("CallerIDName", "Alice"),
        ("Uniqueid", "9.1"),
    ]);
    state.handle_event(&parked);
    let call = &state.parked()["default:701"];
    assert_eq!(
        (call.parker.as_str(), call.uniqueid.as_str()),
        ("SIP/100-0000002", "9.1")
    );
    // The parking space is not the channel's extension: 1.x parking events do not touch
    // channels.
    assert!(state.channel("9.1").is_none());
    // The ParkedCalls list of 1.8 (no Uniqueid) agrees.
    let lists = State::from_lists(&[(
        ListKind::Parked,
        vec![event(&[
            ("Event", "ParkedCall"),
            ("Parkinglot", "default"),
            ("Exten", "701"),
            ("Channel", "SIP/300-0000001"),
            ("From", "SIP/100-0000002"),
            ("Timeout", "40"),
            ("CallerIDNum", "300"),
            ("CallerIDName", "Alice"),
        ])],
    )]);
    assert!(state.verify(&lists).is_empty());
    state.handle_event(&event(&[
        ("Event", "UnParkedCall"),
        ("Exten", "701"),
        ("Channel", "SIP/300-0000001"),
        ("Parkinglot", "default"),
        ("From", "SIP/200-0000003"),
        ("Uniqueid", "9.1"),
    ]));
    assert!(state.parked().is_empty());
    let differences: Vec<String> = state
        .verify(&lists)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        differences,
        vec!["parking space default:701: none in the model, SIP/300-0000001 on the PBX"]
    );
}

#[test]
fn device_and_extension_states_on_every_era() {
    let mut state = State::for_version(Version::V13);
    // As the recordings of 13 and 22 show it.
    state.handle_event(&event(&[
        ("Event", "DeviceStateChange"),
        ("Privilege", "call,all"),
        ("Device", "Local/500@demo"),
        ("State", "INUSE"),
    ]));
    assert_eq!(state.device_state("Local/500@demo"), Some("INUSE"));
    state.handle_event(&event(&[
        ("Event", "ExtensionStatus"),
        ("Exten", "100"),
        ("Context", "demo"),
        ("Hint", "PJSIP/100"),
        ("Status", "8"),
        ("StatusText", "Ringing"),
    ]));
    // 1.8 and 11 send no StatusText: the same name is derived from the number.
    state.handle_event(&event(&[
        ("Event", "ExtensionStatus"),
        ("Exten", "200"),
        ("Context", "demo"),
        ("Hint", "SIP/200"),
        ("Status", "1"),
    ]));
    assert_eq!(
        state
            .extension_state("100", "demo")
            .map(|e| (e.status, e.status_text.as_str())),
        Some((8, "Ringing"))
    );
    assert_eq!(
        state
            .extension_state("200", "demo")
            .map(|e| e.status_text.as_str()),
        Some("InUse")
    );
    // Status -1: the hint was removed.
    state.handle_event(&event(&[
        ("Event", "ExtensionStatus"),
        ("Exten", "200"),
        ("Context", "demo"),
        ("Hint", ""),
        ("Status", "-1"),
    ]));
    assert!(state.extension_state("200", "demo").is_none());
    let changes = changes(&mut state);
    assert!(changes.contains(&Change::DeviceState("Local/500@demo".into())));
    assert!(changes.contains(&Change::ExtensionState("200@demo".into())));
    // A DeviceStateList / ExtensionStateList result replaces each part.
    let lists = State::from_lists(&[
        (
            ListKind::Devices,
            vec![event(&[
                ("Event", "DeviceStateChange"),
                ("Device", "Local/500@demo"),
                ("State", "NOT_INUSE"),
            ])],
        ),
        (
            ListKind::Extensions,
            vec![event(&[
                ("Event", "ExtensionStatus"),
                ("Exten", "100"),
                ("Context", "demo"),
                ("Hint", "PJSIP/100"),
                ("Status", "8"),
                ("StatusText", "Ringing"),
            ])],
        ),
    ]);
    let differences: Vec<String> = state
        .verify(&lists)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        differences,
        vec!["device Local/500@demo: INUSE in the model, NOT_INUSE on the PBX"]
    );
}

#[test]
fn a_bridge_list_replaces_bridges_and_keeps_empty_holding_bridges() {
    let mut state = State::for_version(Version::V22);
    state.handle_event(&channel("PJSIP/1-1", "1.1"));
    state.handle_event(&enter("stale", "PJSIP/1-1", "1.1"));
    state.handle_list(
        ListKind::Channels,
        &[event(&[
            ("Event", "CoreShowChannel"),
            ("Channel", "PJSIP/1-1"),
            ("ChannelState", "6"),
            ("Uniqueid", "1.1"),
            ("BridgeId", "b1"),
        ])],
    );
    state.handle_list(
        ListKind::Bridges,
        &[
            event(&[
                ("Event", "BridgeListItem"),
                ("BridgeUniqueid", "b1"),
                ("BridgeType", "basic"),
                ("BridgeTechnology", "simple_bridge"),
                ("BridgeCreator", "<unknown>"),
                ("BridgeName", "<unknown>"),
                ("BridgeNumChannels", "1"),
            ]),
            event(&[
                ("Event", "BridgeListItem"),
                ("BridgeUniqueid", "park"),
                ("BridgeType", "holding"),
                ("BridgeTechnology", "holding_bridge"),
                ("BridgeCreator", "Parking"),
                ("BridgeName", "default"),
                ("BridgeNumChannels", "0"),
            ]),
        ],
    );
    let snapshot = state.snapshot();
    assert!(!snapshot.bridges.contains_key("stale"));
    assert_eq!(snapshot.bridges["b1"].channels, vec!["1.1"]);
    assert_eq!(snapshot.bridges["b1"].technology, "simple_bridge");
    assert_eq!(snapshot.bridges["park"].creator, "Parking");
    // verify names a bridge the model lacks.
    let mut other = State::new();
    other.handle_event(&channel("PJSIP/1-1", "1.1"));
    other.handle_event(&enter("b1", "PJSIP/1-1", "1.1"));
    let differences: Vec<String> = other
        .verify(&state)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        differences,
        vec!["bridge park: none in the model, holding on the PBX"]
    );
}

/// A state of `version` where each channel `(bridge, name, uniqueid)` was created and then
/// entered its bridge: the first pair's bridge, then the second's.
fn two_bridges(
    version: Version,
    first: [(&str, &str, &str); 2],
    second: [(&str, &str, &str); 2],
) -> State {
    let mut state = State::for_version(version);
    for (_, name, uniqueid) in first.iter().chain(&second) {
        state.handle_event(&channel(name, uniqueid));
    }
    for (bridge, name, uniqueid) in first.iter().chain(&second) {
        state.handle_event(&enter(bridge, name, uniqueid));
    }
    state
}

/// Alice (1.1) called Local/200@demo: Local;1 (1.2) is bridged with Alice in b1, Local;2
/// (1.3) with Bob (1.4) in b2.
fn local_call() -> State {
    two_bridges(
        Version::V13,
        [
            ("b1", "PJSIP/alice-1", "1.1"),
            ("b1", "Local/200@demo-0001;1", "1.2"),
        ],
        [
            ("b2", "Local/200@demo-0001;2", "1.3"),
            ("b2", "PJSIP/bob-2", "1.4"),
        ],
    )
}

fn optimisation(kind: &str, extra: &[(&str, &str)]) -> Message {
    let mut fields = vec![
        ("Event", kind),
        ("LocalOneChannel", "Local/200@demo-0001;1"),
        ("LocalOneChannelState", "6"),
        ("LocalOneChannelStateDesc", "Up"),
        ("LocalOneUniqueid", "1.2"),
        ("LocalTwoChannel", "Local/200@demo-0001;2"),
        ("LocalTwoChannelState", "6"),
        ("LocalTwoChannelStateDesc", "Up"),
        ("LocalTwoUniqueid", "1.3"),
    ];
    fields.extend_from_slice(extra);
    event(&fields)
}

#[test]
fn local_optimisation_leaves_the_real_channels_bridged() {
    let mut state = local_call();
    state.handle_event(&optimisation(
        "LocalOptimizationBegin",
        &[
            ("SourceChannel", "PJSIP/bob-2"),
            ("SourceChannelState", "6"),
            ("SourceChannelStateDesc", "Up"),
            ("SourceUniqueid", "1.4"),
            ("DestUniqueId", "b1"),
            ("Id", "7"),
        ],
    ));
    assert_eq!(state.channels().len(), 4, "nothing moves before the End");
    state.handle_event(&optimisation(
        "LocalOptimizationEnd",
        &[("Success", "Yes"), ("Id", "7")],
    ));
    assert!(state.channel("1.2").is_none() && state.channel("1.3").is_none());
    assert_eq!(members(&state, "b1"), vec!["1.1", "1.4"]);
    assert_eq!(
        state
            .channel("1.4")
            .and_then(|c| c.bridge.clone())
            .as_deref(),
        Some("b1")
    );
    // Asterisk's own events that follow change nothing more, and the halves stay gone.
    state.handle_event(&event(&[
        ("Event", "BridgeLeave"),
        ("BridgeUniqueid", "b1"),
        ("Channel", "Local/200@demo-0001;1"),
        ("Uniqueid", "1.2"),
    ]));
    state.handle_event(&event(&[
        ("Event", "Hangup"),
        ("Channel", "Local/200@demo-0001;2"),
        ("Uniqueid", "1.3"),
    ]));
    state.handle_event(&enter("b1", "PJSIP/bob-2", "1.4"));
    assert_eq!(members(&state, "b1"), vec!["1.1", "1.4"]);
    assert_eq!(state.channels().len(), 2);
}

/// Asterisk (core_local.c) sends a Local half's Uniqueid as `DestUniqueId`, not a bridge; the
/// move comes with BridgeLeave/BridgeEnter events around the End. Found by the soak: the
/// model invented a bridge named after the Uniqueid and took the source out of its bridge.
#[test]
fn local_optimisation_with_a_uniqueid_as_dest_invents_no_bridge() {
    let mut state = local_call();
    state.handle_event(&optimisation(
        "LocalOptimizationBegin",
        &[
            ("SourceChannel", "PJSIP/bob-2"),
            ("SourceChannelState", "6"),
            ("SourceChannelStateDesc", "Up"),
            ("SourceUniqueid", "1.4"),
            ("DestUniqueId", "1.3"),
            ("Id", "9"),
        ],
    ));
    let leave = |bridge: &str, name: &str, uniqueid: &str| {
        event(&[
            ("Event", "BridgeLeave"),
            ("BridgeUniqueid", bridge),
            ("Channel", name),
            ("Uniqueid", uniqueid),
        ])
    };
    state.handle_event(&leave("b2", "PJSIP/bob-2", "1.4"));
    state.handle_event(&enter("b1", "PJSIP/bob-2", "1.4"));
    state.handle_event(&leave("b1", "Local/200@demo-0001;1", "1.2"));
    state.handle_event(&optimisation(
        "LocalOptimizationEnd",
        &[("Success", "Yes"), ("Id", "9")],
    ));
    assert_eq!(members(&state, "b1"), vec!["1.1", "1.4"]);
    let bridges = state.snapshot().bridges;
    assert!(!bridges.contains_key("1.3"), "{bridges:?}");
    assert_eq!(
        state
            .channel("1.4")
            .and_then(|c| c.bridge.clone())
            .as_deref(),
        Some("b1")
    );
    assert_eq!(state.channels().len(), 2);
}

#[test]
fn a_failed_local_optimisation_changes_no_bridge() {
    let mut state = local_call();
    state.handle_event(&optimisation(
        "LocalOptimizationBegin",
        &[
            ("SourceUniqueid", "1.4"),
            ("DestUniqueId", "b1"),
            ("Id", "8"),
        ],
    ));
    state.handle_event(&optimisation(
        "LocalOptimizationEnd",
        &[("Success", "No"), ("Id", "8")],
    ));
    assert_eq!(members(&state, "b1"), vec!["1.1", "1.2"]);
    assert_eq!(members(&state, "b2"), vec!["1.3", "1.4"]);
}

#[test]
fn bridge_merge_moves_every_channel() {
    let mut state = local_call();
    state.handle_event(&event(&[
        ("Event", "BridgeMerge"),
        ("ToBridgeUniqueid", "b1"),
        ("ToBridgeType", "basic"),
        ("ToBridgeNumChannels", "2"),
        ("FromBridgeUniqueid", "b2"),
        ("FromBridgeType", "basic"),
        ("FromBridgeNumChannels", "2"),
    ]));
    assert_eq!(members(&state, "b1"), vec!["1.1", "1.2", "1.3", "1.4"]);
    assert!(!state.snapshot().bridges.contains_key("b2"));
}

#[test]
fn a_blind_transfer_takes_the_transferer_out_of_the_bridge() {
    let mut state = local_call();
    state.handle_event(&event(&[
        ("Event", "BlindTransfer"),
        ("Result", "Success"),
        ("TransfererChannel", "PJSIP/alice-1"),
        ("TransfererChannelState", "6"),
        ("TransfererChannelStateDesc", "Up"),
        ("TransfererUniqueid", "1.1"),
        ("TransfereeChannel", "Local/200@demo-0001;1"),
        ("TransfereeChannelState", "6"),
        ("TransfereeChannelStateDesc", "Up"),
        ("TransfereeUniqueid", "1.2"),
        ("BridgeUniqueid", "b1"),
        ("BridgeType", "basic"),
        ("IsExternal", "No"),
        ("Context", "demo"),
        ("Extension", "300"),
    ]));
    assert_eq!(members(&state, "b1"), vec!["1.2"]);
    assert_eq!(state.channel("1.1").and_then(|c| c.bridge.clone()), None);
    // A failed one moves nobody.
    let mut state = local_call();
    state.handle_event(&event(&[
        ("Event", "BlindTransfer"),
        ("Result", "Fail"),
        ("TransfererUniqueid", "1.1"),
        ("BridgeUniqueid", "b1"),
    ]));
    assert_eq!(members(&state, "b1"), vec!["1.1", "1.2"]);
}

#[test]
fn an_attended_transfer_joins_the_transferee_and_the_target() {
    // Alice (1.1) talks to Bob (1.2) in b1, puts him on hold and calls Carol (1.4) from a
    // second channel (1.3) in b2, then completes the transfer: Bob and Carol end up in b1.
    let mut state = two_bridges(
        Version::V22,
        [("b1", "PJSIP/alice-1", "1.1"), ("b1", "PJSIP/bob-2", "1.2")],
        [
            ("b2", "PJSIP/alice-3", "1.3"),
            ("b2", "PJSIP/carol-4", "1.4"),
        ],
    );
    let transfer = event(&[
        ("Event", "AttendedTransfer"),
        ("Result", "Success"),
        ("OrigTransfererChannel", "PJSIP/alice-1"),
        ("OrigTransfererChannelState", "6"),
        ("OrigTransfererChannelStateDesc", "Up"),
        ("OrigTransfererUniqueid", "1.1"),
        ("OrigBridgeUniqueid", "b1"),
        ("OrigBridgeType", "basic"),
        ("SecondTransfererChannel", "PJSIP/alice-3"),
        ("SecondTransfererChannelState", "6"),
        ("SecondTransfererChannelStateDesc", "Up"),
        ("SecondTransfererUniqueid", "1.3"),
        ("SecondBridgeUniqueid", "b2"),
        ("SecondBridgeType", "basic"),
        ("DestType", "Bridge"),
        ("DestBridgeUniqueid", "b1"),
        ("TransfereeChannel", "PJSIP/bob-2"),
        ("TransfereeUniqueid", "1.2"),
        ("TransferTargetChannel", "PJSIP/carol-4"),
        ("TransferTargetUniqueid", "1.4"),
    ]);
    state.handle_event(&transfer);
    assert_eq!(members(&state, "b1"), vec!["1.2", "1.4"]);
    assert!(members(&state, "b2").is_empty());
    // Applied again (a resync's journal): the same state.
    let before = state.snapshot();
    state.handle_event(&transfer);
    assert_eq!(state.snapshot(), before);
}

#[test]
fn a_legacy_masquerade_swaps_states_and_the_renames_follow_by_uniqueid() {
    // From the 11 recording `originate_exten`: Local/400;1 (…268) takes over
    // Local/500;1 (…270), which becomes a zombie and hangs up.
    let mut state = State::for_version(Version::V11);
    state.handle_event(&event(&[
        ("Event", "Newchannel"),
        ("Channel", "Local/400@demo-00000086;1"),
        ("ChannelState", "4"),
        ("ChannelStateDesc", "Ring"),
        ("Uniqueid", "1795410091.268"),
    ]));
    state.handle_event(&event(&[
        ("Event", "Newchannel"),
        ("Channel", "Local/500@demo-00000087;1"),
        ("ChannelState", "6"),
        ("ChannelStateDesc", "Up"),
        ("Uniqueid", "1795410091.270"),
    ]));
    state.handle_event(&event(&[
        ("Event", "Masquerade"),
        ("Privilege", "call,all"),
        ("Clone", "Local/500@demo-00000087;1"),
        ("CloneState", "Up"),
        ("Original", "Local/400@demo-00000086;1"),
        ("OriginalState", "Ring"),
    ]));
    let original = state.channel("1795410091.268").expect("original");
    assert_eq!((original.state, original.state_desc.as_str()), (6, "Up"));
    for (old, new, uniqueid) in [
        (
            "Local/500@demo-00000087;1",
            "Local/500@demo-00000087;1<MASQ>",
            "1795410091.270",
        ),
        (
            "Local/400@demo-00000086;1",
            "Local/500@demo-00000087;1",
            "1795410091.268",
        ),
        (
            "Local/500@demo-00000087;1<MASQ>",
            "Local/400@demo-00000086;1<ZOMBIE>",
            "1795410091.270",
        ),
    ] {
        state.handle_event(&event(&[
            ("Event", "Rename"),
            ("Channel", old),
            ("Newname", new),
            ("Uniqueid", uniqueid),
        ]));
    }
    assert_eq!(
        state.channel("1795410091.268").map(|c| c.name.as_str()),
        Some("Local/500@demo-00000087;1")
    );
    assert_eq!(
        state.channel("1795410091.270").map(|c| c.name.as_str()),
        Some("Local/400@demo-00000086;1<ZOMBIE>")
    );
    // 1.x Transfer makes an unseen target channel known and moves nobody by itself.
    state.handle_event(&event(&[
        ("Event", "Transfer"),
        ("TransferMethod", "SIP"),
        ("TransferType", "Blind"),
        ("Channel", "SIP/100-00000001"),
        ("Uniqueid", "1795410091.300"),
        ("TargetChannel", "SIP/200-00000002"),
        ("TargetUniqueid", "1795410091.301"),
        ("TransferExten", "300"),
        ("TransferContext", "demo"),
    ]));
    assert!(state.channel("1795410091.301").is_some());
}

#[test]
fn local_channel_devices_are_never_listed_and_their_absence_is_no_difference() {
    // Captured from the live Asterisk 22 after a call to the queue `support` (Local members
    // 700 and 701): the DeviceStateChange events of Local devices, then DeviceStateList, which
    // lists only the cached devices (Asterisk publishes Local channels' states as not cachable).
    let mut state = State::for_version(Version::V22);
    for (device, value) in [
        ("Local/600@demo", "INUSE"),
        ("Queue:support", "RINGING"),
        ("Local/701@demo", "INUSE"),
        ("Queue:support_avail", "INUSE"),
        ("Local/700@demo", "INUSE"),
        ("Local/701@demo", "NOT_INUSE"),
        ("Queue:support", "NOT_INUSE"),
        ("Queue:support_avail", "NOT_INUSE"),
        ("Local/700@demo", "NOT_INUSE"),
        ("Local/600@demo", "NOT_INUSE"),
    ] {
        state.handle_event(&event(&[
            ("Event", "DeviceStateChange"),
            ("Privilege", "call,all"),
            ("Device", device),
            ("State", value),
        ]));
    }
    assert_eq!(state.device_state("Local/600@demo"), Some("NOT_INUSE"));
    let listed = |device: &str| {
        event(&[
            ("Event", "DeviceStateChange"),
            ("ActionID", "d1"),
            ("Device", device),
            ("State", "NOT_INUSE"),
        ])
    };
    let lists = State::from_lists(&[(
        ListKind::Devices,
        vec![
            listed("Queue:support_pause_Local/701@demo/n"),
            listed("Queue:support_pause_Local/700@demo/n"),
            listed("Queue:support_avail"),
            listed("Queue:support"),
        ],
    )]);
    let differences: Vec<String> = state
        .verify(&lists)
        .iter()
        .map(ToString::to_string)
        .collect();
    // The two pause devices come only from the list (the model never saw their events).
    assert_eq!(
        differences,
        vec![
            "device Queue:support_pause_Local/700@demo/n: none in the model, NOT_INUSE on the PBX",
            "device Queue:support_pause_Local/701@demo/n: none in the model, NOT_INUSE on the PBX",
        ]
    );
    // A cached device missing from the list is still a difference.
    state.handle_event(&event(&[
        ("Event", "DeviceStateChange"),
        ("Device", "PJSIP/100"),
        ("State", "INUSE"),
    ]));
    assert!(
        state
            .verify(&lists)
            .iter()
            .any(|d| d.to_string() == "device PJSIP/100: INUSE in the model, none on the PBX")
    );
}

#[test]
fn an_event_about_no_channel_creates_none() {
    // Captured from the live Asterisk 13 as it booted (an HTTP session logged in before the
    // dialplan loaded): a global variable's VarSet names the channel `none`.
    let mut state = State::for_version(Version::V13);
    state.handle_event(&event(&[
        ("Event", "VarSet"),
        ("Privilege", "dialplan,all"),
        ("Channel", "none"),
        ("Uniqueid", "none"),
        ("Variable", "DEMOGLOBAL"),
        ("Value", "1"),
    ]));
    assert!(state.snapshot().channels.is_empty());
    let lists = State::from_lists(&[(ListKind::Channels, vec![])]);
    assert!(state.verify(&lists).is_empty());
}
