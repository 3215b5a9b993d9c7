//! Agents on both eras: the `Agents` list, login and logoff, and app_queue's member call
//! events about `Agent/…` members; the resync plan per version; verify.

use ami_proto::Message;
use ami_state::{Change, ListKind, State, Version, resync_plan_for};

use crate::sequences::event;

fn changes(state: &mut State) -> Vec<Change> {
    std::iter::from_fn(|| state.poll_change()).collect()
}

#[test]
fn a_modern_agent_logs_in_takes_a_call_and_logs_off() {
    let mut state = State::for_version(Version::V22);
    assert!(state.resync_plan().contains(&ListKind::Agents));
    // The Agents list of app_agent_pool: a logged-off agent has no channel snapshot.
    state.handle_list(
        ListKind::Agents,
        &[event(&[
            ("Event", "Agents"),
            ("Agent", "1001"),
            ("Name", "Agent One"),
            ("Status", "AGENT_LOGGEDOFF"),
        ])],
    );
    assert_eq!(
        state.agent("1001").map(|a| a.name.as_str()),
        Some("Agent One")
    );
    state.handle_event(&event(&[
        ("Event", "AgentLogin"),
        ("Channel", "PJSIP/1001-00000001"),
        ("ChannelState", "6"),
        ("ChannelStateDesc", "Up"),
        ("Uniqueid", "5.1"),
        ("Linkedid", "5.1"),
        ("Agent", "1001"),
    ]));
    let agent = state.agent("Agent/1001").expect("by interface too");
    assert_eq!(agent.status, "AGENT_IDLE");
    assert_eq!(agent.channel.as_deref(), Some("PJSIP/1001-00000001"));
    // AgentConnect: the unprefixed fields are the caller's, Dest… the member's channel.
    state.handle_event(&event(&[
        ("Event", "AgentConnect"),
        ("Channel", "PJSIP/300-00000002"),
        ("ChannelState", "6"),
        ("ChannelStateDesc", "Up"),
        ("Uniqueid", "5.2"),
        ("Linkedid", "5.2"),
        ("DestChannel", "Agent/1001-00000003"),
        ("DestUniqueid", "5.3"),
        ("Queue", "support"),
        ("MemberName", "Agent One"),
        ("Interface", "Agent/1001"),
        ("RingTime", "2"),
        ("HoldTime", "5"),
    ]));
    let agent = state.agent("1001").expect("agent");
    assert_eq!(agent.status, "AGENT_ONCALL");
    assert_eq!(agent.talking_to.as_deref(), Some("PJSIP/300-00000002"));
    assert!(
        state.channel("5.2").is_some(),
        "the caller's snapshot made the channel"
    );
    state.handle_event(&event(&[
        ("Event", "AgentComplete"),
        ("Channel", "PJSIP/300-00000002"),
        ("ChannelState", "6"),
        ("ChannelStateDesc", "Up"),
        ("Uniqueid", "5.2"),
        ("Queue", "support"),
        ("Interface", "Agent/1001"),
        ("HoldTime", "5"),
        ("TalkTime", "30"),
        ("Reason", "caller"),
    ]));
    let agent = state.agent("1001").expect("agent");
    assert_eq!(
        (
            agent.status.as_str(),
            agent.talking_to.as_deref(),
            agent.last_call.as_deref()
        ),
        ("AGENT_IDLE", None, Some("5.2"))
    );
    state.handle_event(&event(&[
        ("Event", "AgentLogoff"),
        ("Agent", "1001"),
        ("Logintime", "60"),
    ]));
    let agent = state.agent("1001").expect("agent");
    assert_eq!(
        (agent.status.as_str(), agent.channel.as_deref()),
        ("AGENT_LOGGEDOFF", None)
    );
    assert!(changes(&mut state).contains(&Change::AgentChanged("1001".into())));
}

#[test]
fn a_legacy_agent_list_and_login_events() {
    let mut state = State::for_version(Version::V1_8);
    let item = |status: &str, channel: &str, time: &str| -> Message {
        event(&[
            ("Event", "Agents"),
            ("Agent", "1001"),
            ("Name", "Agent One"),
            ("Status", status),
            ("LoggedInChan", channel),
            ("LoggedInTime", time),
            ("TalkingTo", "n/a"),
            ("TalkingToChan", "n/a"),
        ])
    };
    state.handle_list(ListKind::Agents, &[item("AGENT_LOGGEDOFF", "n/a", "0")]);
    let agent = state.agent("1001").expect("listed");
    assert_eq!(
        (agent.channel.as_deref(), agent.logged_in_at.as_deref()),
        (None, None)
    );
    state.handle_event(&event(&[
        ("Event", "Agentlogin"),
        ("Agent", "1001"),
        ("Channel", "SIP/1001-0000000a"),
        ("Uniqueid", "7.1"),
    ]));
    assert_eq!(
        state.agent("1001").map(|a| a.status.as_str()),
        Some("AGENT_IDLE")
    );
    // 1.8's AgentConnect: `Member` is the interface, `BridgedChannel` the caller's Uniqueid.
    state.handle_event(&event(&[
        ("Event", "AgentConnect"),
        ("Queue", "support"),
        ("Uniqueid", "7.2"),
        ("Channel", "SIP/1001-0000000a"),
        ("Member", "Agent/1001"),
        ("MemberName", "Agent One"),
        ("Holdtime", "3"),
        ("BridgedChannel", "7.2"),
        ("Ringtime", "1"),
    ]));
    assert_eq!(
        state.agent("1001").map(|a| a.status.as_str()),
        Some("AGENT_ONCALL")
    );
    // The list agrees with the events: no difference about agents (the channels, not
    // listed here, are compared too and left out).
    let lists = State::from_lists(&[(
        ListKind::Agents,
        vec![event(&[
            ("Event", "Agents"),
            ("Agent", "1001"),
            ("Name", "Agent One"),
            ("Status", "AGENT_ONCALL"),
            ("LoggedInChan", "SIP/1001-0000000a"),
            ("LoggedInTime", "1700000000"),
            ("TalkingTo", "300"),
            ("TalkingToChan", "SIP/300-0000000b"),
        ])],
    )]);
    let about_agents = |state: &State| -> Vec<String> {
        state
            .verify(&lists)
            .iter()
            .map(ToString::to_string)
            .filter(|d| d.starts_with("agent"))
            .collect()
    };
    assert!(
        about_agents(&state).is_empty(),
        "{:?}",
        about_agents(&state)
    );
    state.handle_event(&event(&[
        ("Event", "Agentlogoff"),
        ("Agent", "1001"),
        ("Logintime", "60"),
        ("Uniqueid", "7.1"),
    ]));
    assert_eq!(
        about_agents(&state),
        vec![
            "agent 1001: AGENT_LOGGEDOFF in the model, AGENT_ONCALL on SIP/1001-0000000a on the PBX"
        ]
    );
}

#[test]
fn each_version_resyncs_with_the_lists_it_has() {
    assert!(!resync_plan_for(Version::V1_8).contains(&ListKind::Bridges));
    assert!(!resync_plan_for(Version::V11).contains(&ListKind::Devices));
    assert!(resync_plan_for(Version::V13).contains(&ListKind::Extensions));
    // A resync waits for every list of the plan; a refused list counts as answered.
    let mut state = State::for_version(Version::V11);
    state.begin_resync();
    state.handle_list(ListKind::Channels, &[]);
    state.handle_list(ListKind::Queues, &[]);
    state.handle_list(ListKind::Agents, &[]);
    assert!(state.is_resyncing(), "ParkedCalls is still awaited");
    state.handle_list_refused(ListKind::Parked);
    assert!(!state.is_resyncing());
}
