//! Event sequences of each era, written as Asterisk sends them (field names and order from
//! the recordings), and the resync's reconciliation.

use ami_proto::Message;
use ami_state::{Change, ListKind, State};

pub(crate) fn event(fields: &[(&str, &str)]) -> Message {
    let mut builder = Message::builder();
    for (name, value) in fields {
        builder = builder.header(name, value);
    }
    builder.build().expect("a valid message")
}

fn newchannel(name: &str, uniqueid: &str, linkedid: Option<&str>) -> Message {
    let mut fields = vec![
        ("Event", "Newchannel"),
        ("Channel", name),
        ("ChannelState", "0"),
        ("ChannelStateDesc", "Down"),
        ("Uniqueid", uniqueid),
    ];
    if let Some(linkedid) = linkedid {
        fields.push(("Linkedid", linkedid));
    }
    event(&fields)
}

fn hangup(name: &str, uniqueid: &str) -> Message {
    event(&[
        ("Event", "Hangup"),
        ("Channel", name),
        ("Uniqueid", uniqueid),
        ("Cause", "16"),
    ])
}

fn bridge(kind: &str, bridge: &str, name: &str, uniqueid: &str) -> Message {
    event(&[
        ("Event", kind),
        ("BridgeUniqueid", bridge),
        ("BridgeType", "basic"),
        ("Channel", name),
        ("ChannelState", "6"),
        ("ChannelStateDesc", "Up"),
        ("Uniqueid", uniqueid),
        ("Linkedid", "1.1"),
    ])
}

#[test]
fn a_modern_call_is_two_channels_in_one_bridge_and_ends_cleanly() {
    let mut state = State::new();
    state.handle_event(&newchannel("PJSIP/100-1", "1.1", Some("1.1")));
    state.handle_event(&newchannel("PJSIP/200-2", "1.2", Some("1.1")));
    state.handle_event(&event(&[
        ("Event", "Newstate"),
        ("Channel", "PJSIP/200-2"),
        ("ChannelState", "6"),
        ("ChannelStateDesc", "Up"),
        ("Uniqueid", "1.2"),
        ("Linkedid", "1.1"),
    ]));
    state.handle_event(&event(&[
        ("Event", "BridgeCreate"),
        ("BridgeUniqueid", "b1"),
        ("BridgeType", "basic"),
    ]));
    state.handle_event(&bridge("BridgeEnter", "b1", "PJSIP/100-1", "1.1"));
    state.handle_event(&bridge("BridgeEnter", "b1", "PJSIP/200-2", "1.2"));
    let calls = state.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].channels, vec!["1.1", "1.2"]);
    let snapshot = state.snapshot();
    assert_eq!(snapshot.bridges["b1"].channels, vec!["1.1", "1.2"]);
    assert_eq!(snapshot.channels["1.2"].state_desc, "Up");
    assert_eq!(snapshot.channels["1.1"].bridge.as_deref(), Some("b1"));

    state.handle_event(&bridge("BridgeLeave", "b1", "PJSIP/100-1", "1.1"));
    state.handle_event(&hangup("PJSIP/100-1", "1.1"));
    // Asterisk sends events about a channel after its Hangup (the `h` extension, VarSet):
    // they must not bring it back.
    state.handle_event(&event(&[
        ("Event", "Newexten"),
        ("Channel", "PJSIP/100-1"),
        ("Uniqueid", "1.1"),
        ("Exten", "h"),
    ]));
    assert!(state.channel("1.1").is_none());
    assert_eq!(state.snapshot().bridges["b1"].channels, vec!["1.2"]);
    state.handle_event(&event(&[
        ("Event", "BridgeDestroy"),
        ("BridgeUniqueid", "b1"),
    ]));
    assert!(state.snapshot().bridges.is_empty());
    assert_eq!(state.channel("1.2").and_then(|c| c.bridge.clone()), None);
    let changes: Vec<Change> = std::iter::from_fn(|| state.poll_change()).collect();
    assert!(changes.contains(&Change::ChannelUp("1.1".into())));
    assert!(changes.contains(&Change::ChannelGone("1.1".into())));
    assert!(changes.contains(&Change::BridgeChanged("b1".into())));
}

#[test]
fn a_legacy_call_links_unlinks_and_renames() {
    let mut state = State::new();
    state.handle_event(&newchannel("SIP/100-1", "9.1", None));
    state.handle_event(&newchannel("SIP/200-2", "9.2", None));
    // 1.8 sends Bridge with Bridgestate, older servers Link; both pair the two channels.
    state.handle_event(&event(&[
        ("Event", "Bridge"),
        ("Bridgestate", "Link"),
        ("Channel1", "SIP/100-1"),
        ("Channel2", "SIP/200-2"),
        ("Uniqueid1", "9.1"),
        ("Uniqueid2", "9.2"),
    ]));
    assert_eq!(
        state.calls().len(),
        1,
        "no Linkedid: the bridge makes the call"
    );
    state.handle_event(&event(&[
        ("Event", "Rename"),
        ("Channel", "SIP/200-2"),
        ("Newname", "SIP/200-2<MASQ>"),
        ("Uniqueid", "9.2"),
    ]));
    assert_eq!(
        state.channel("9.2").map(|c| c.name.as_str()),
        Some("SIP/200-2<MASQ>")
    );
    state.handle_event(&event(&[
        ("Event", "Unlink"),
        ("Channel1", "SIP/100-1"),
        ("Channel2", "SIP/200-2<MASQ>"),
        ("Uniqueid1", "9.1"),
        ("Uniqueid2", "9.2"),
    ]));
    assert_eq!(state.calls().len(), 2);
    assert!(state.snapshot().bridges.is_empty());
    // 1.x Newexten spells the extension `Extension`.
    state.handle_event(&event(&[
        ("Event", "Newexten"),
        ("Channel", "SIP/100-1"),
        ("Context", "demo"),
        ("Extension", "300"),
        ("Priority", "4"),
        ("Application", "Wait"),
        ("AppData", "60"),
        ("Uniqueid", "9.1"),
    ]));
    let channel = state.channel("9.1").expect("up");
    assert_eq!(
        (channel.exten.as_str(), channel.application.as_str()),
        ("300", "Wait")
    );
}

#[test]
fn an_event_about_an_unseen_channel_creates_it() {
    let mut state = State::new();
    state.handle_event(&event(&[
        ("Event", "Newstate"),
        ("Channel", "PJSIP/300-3"),
        ("ChannelState", "5"),
        ("ChannelStateDesc", "Ringing"),
        ("Uniqueid", "2.1"),
        ("Linkedid", "2.0"),
    ]));
    let channel = state.channel("2.1").expect("created from the event");
    assert_eq!((channel.name.as_str(), channel.state), ("PJSIP/300-3", 5));
}

#[test]
fn queue_callers_keep_their_order_on_every_era() {
    let mut state = State::new();
    for (kind, channel, position) in [
        ("QueueCallerJoin", "Local/600-1;2", "1"),
        ("Join", "Local/600-2;2", "2"),
        ("QueueCallerJoin", "Local/600-3;2", "3"),
    ] {
        state.handle_event(&event(&[
            ("Event", kind),
            ("Channel", channel),
            ("Queue", "support"),
            ("Position", position),
            ("Count", position),
        ]));
    }
    state.handle_event(&event(&[
        ("Event", "Leave"),
        ("Channel", "Local/600-1;2"),
        ("Queue", "support"),
    ]));
    let callers: Vec<String> = state
        .queue("support")
        .expect("queue")
        .callers
        .iter()
        .map(|c| c.channel.clone())
        .collect();
    assert_eq!(callers, vec!["Local/600-2;2", "Local/600-3;2"]);
    state.handle_event(&event(&[
        ("Event", "QueueMemberPause"),
        ("Queue", "support"),
        ("Interface", "Local/701@demo/n"),
        ("MemberName", "Agent Two"),
        ("Paused", "1"),
        ("PausedReason", "lunch"),
    ]));
    let member = &state.queue("support").expect("queue").members["Local/701@demo/n"];
    assert!(member.paused);
    assert_eq!(member.paused_reason, "lunch");
}

/// Found by `sim::the_model_equals_the_lists_*` (and behind a soak's wrong caller order):
/// events during a resync are applied as they come and again over the lists at its end. F
/// joined third; the QueueStatus result came; A and B left and G and H joined (second and
/// third). Applied again at the end, F's `Join` (Position 3) moved F behind G and H, and
/// theirs shuffled them: a caller already waiting must keep its place.
#[test]
fn a_join_seen_again_at_the_end_of_a_resync_keeps_the_caller_s_place() {
    let join = |caller: &str, position: &str| {
        event(&[
            ("Event", "Join"),
            ("Channel", caller),
            ("Queue", "support"),
            ("Position", position),
            ("Count", position),
        ])
    };
    let leave = |caller: &str| {
        event(&[
            ("Event", "Leave"),
            ("Channel", caller),
            ("Queue", "support"),
        ])
    };
    let entry = |caller: &str, position: &str| {
        event(&[
            ("Event", "QueueEntry"),
            ("Queue", "support"),
            ("Position", position),
            ("Channel", caller),
        ])
    };
    let mut state = State::for_version(ami_state::Version::V1_8);
    state.begin_resync();
    state.handle_event(&join("SIP/F", "3"));
    state.handle_list(ListKind::Channels, &[]);
    let listed = [
        entry("SIP/A", "1"),
        entry("SIP/B", "2"),
        entry("SIP/F", "3"),
    ];
    state.handle_list(ListKind::Queues, &listed);
    for event in [
        leave("SIP/A"),
        leave("SIP/B"),
        join("SIP/G", "2"),
        join("SIP/H", "3"),
    ] {
        state.handle_event(&event);
    }
    state.handle_list(ListKind::Agents, &[]);
    state.handle_list(ListKind::Parked, &[]);
    assert!(!state.is_resyncing());
    let callers: Vec<&str> = state
        .queue("support")
        .expect("queue")
        .callers
        .iter()
        .map(|c| c.channel.as_str())
        .collect();
    assert_eq!(callers, ["SIP/F", "SIP/G", "SIP/H"]);
}

#[test]
fn a_resync_reconciles_events_that_arrive_while_lists_are_on_the_way() {
    let mut state = State::new();
    state.handle_event(&newchannel("PJSIP/1-1", "3.1", Some("3.1")));
    state.begin_resync();
    // The channel hangs up after Asterisk built the list but before the list arrived; a new
    // channel appears that the list already includes.
    state.handle_event(&hangup("PJSIP/1-1", "3.1"));
    state.handle_event(&newchannel("PJSIP/2-2", "3.2", Some("3.2")));
    let listed = |name: &str, uniqueid: &str| {
        event(&[
            ("Event", "CoreShowChannel"),
            ("Channel", name),
            ("ChannelState", "6"),
            ("ChannelStateDesc", "Up"),
            ("Uniqueid", uniqueid),
            ("Linkedid", uniqueid),
            ("BridgeId", ""),
        ])
    };
    state.handle_list(
        ListKind::Channels,
        &[listed("PJSIP/1-1", "3.1"), listed("PJSIP/2-2", "3.2")],
    );
    assert!(state.is_resyncing(), "QueueStatus is still awaited");
    state.handle_list(ListKind::Queues, &[]);
    assert!(!state.is_resyncing());
    assert!(
        state.channel("3.1").is_none(),
        "the journaled Hangup applies over the list"
    );
    assert_eq!(
        state.channel("3.2").map(|c| c.state),
        Some(0),
        "the journaled Newchannel set it again: Down"
    );
    assert_eq!(state.channels().len(), 1);
}

#[test]
fn verify_names_every_difference() {
    let mut state = State::new();
    state.handle_event(&newchannel("PJSIP/1-1", "4.1", Some("4.1")));
    state.handle_event(&newchannel("PJSIP/9-9", "4.9", Some("4.9")));
    let listed = event(&[
        ("Event", "CoreShowChannel"),
        ("Channel", "PJSIP/1-1"),
        ("ChannelState", "6"),
        ("ChannelStateDesc", "Up"),
        ("Uniqueid", "4.1"),
        ("BridgeId", ""),
    ]);
    let other = event(&[
        ("Event", "CoreShowChannel"),
        ("Channel", "PJSIP/5-5"),
        ("ChannelState", "6"),
        ("Uniqueid", "4.5"),
    ]);
    let lists = State::from_lists(&[(ListKind::Channels, vec![listed, other])]);
    let differences: Vec<String> = state
        .verify(&lists)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(differences.len(), 3, "{differences:?}");
    assert!(
        differences
            .iter()
            .any(|d| d.contains("4.1") && d.contains("state"))
    );
    assert!(
        differences
            .iter()
            .any(|d| d.contains("PJSIP/5-5") && d.contains("missing"))
    );
    assert!(
        differences
            .iter()
            .any(|d| d.contains("PJSIP/9-9") && d.contains("not up"))
    );
    assert!(lists.verify(&lists).is_empty());
}

/// A `FullyBooted` after the lists were taken (the session logged in while Asterisk was still
/// loading: live 13 over HTTP) asks for a resync, once; one at login (before any list) or
/// during a resync asks nothing, and starting a resync clears a request.
#[test]
fn fully_booted_after_the_lists_asks_for_a_resync() {
    let booted = || {
        event(&[
            ("Event", "FullyBooted"),
            ("Privilege", "system,all"),
            ("Status", "Fully Booted"),
        ])
    };
    let mut state = State::new();
    state.handle_event(&booted());
    assert!(
        !state.take_resync_request(),
        "the login's own, before any list"
    );
    state.begin_resync();
    state.handle_event(&booted());
    for kind in state.resync_plan().to_vec() {
        state.handle_list(kind, &[]);
    }
    assert!(!state.is_resyncing());
    assert!(!state.take_resync_request(), "one during the resync");
    state.handle_event(&booted());
    assert!(
        state.take_resync_request(),
        "the PBX finished booting after the lists"
    );
    assert!(!state.take_resync_request(), "asked once");
    state.handle_event(&booted());
    state.begin_resync();
    assert!(!state.take_resync_request(), "a resync started since");
}
