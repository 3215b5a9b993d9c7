//! Agents, parking, transfers, Local optimisation, device and extension states and bridges,
//! over TCP, in each profile's vocabulary.

use std::time::Duration;

use ami_proto::Message;
use ami_sim::{Profile, SimConfig};
use tokio::net::TcpStream;

use crate::conn::{Conn, WAIT};

async fn start(profile: Profile) -> (ami_sim::SimHandle, Conn<TcpStream>) {
    let sim = ami_sim::spawn(SimConfig {
        profile,
        time_scale: 10.0,
        auth_fail_delay: Duration::from_millis(10),
        ..SimConfig::default()
    })
    .await
    .expect("spawn");
    let mut c = Conn::connect(sim.addr()).await;
    c.login("admin", "amp111").await;
    (sim, c)
}

fn named(name: &'static str) -> impl Fn(&Message) -> bool {
    move |m: &Message| m.event_name().as_deref() == Some(name)
}

fn get(m: &Message, name: &str) -> String {
    m.get(name).map(|v| v.into_owned()).unwrap_or_default()
}

/// Sends a list action and returns its items (the Complete event last).
async fn list(c: &mut Conn<TcpStream>, action: &str, complete: &'static str) -> Vec<Message> {
    let id = format!("list-{action}");
    c.send(&format!("Action: {action}\nActionID: {id}")).await;
    let (reply, _) = c.response(&id).await;
    assert_eq!(reply.response().as_deref(), Some("Success"), "{action}");
    let mut items = Vec::new();
    loop {
        let m = c.next(WAIT).await.expect("list item");
        if m.action_id().as_deref() != Some(id.as_str()) {
            continue;
        }
        let done = m.event_name().as_deref() == Some(complete);
        items.push(m);
        if done {
            return items;
        }
    }
}

async fn originate(c: &mut Conn<TcpStream>, id: &str, channel: &str, seconds: u32) {
    c.send(&format!(
        "Action: Originate\nActionID: {id}\nChannel: {channel}\nApplication: Wait\nData: {seconds}\nAsync: true"
    ))
    .await;
    c.response(id).await;
}

#[tokio::test]
async fn agents_log_in_take_a_queue_call_and_log_off_in_each_era() {
    for profile in Profile::ALL {
        let modern = profile.modern_events();
        let (sim, mut c) = start(profile).await;
        let agents = list(&mut c, "Agents", "AgentsComplete").await;
        assert_eq!(agents.len(), 4, "{profile}: three agents and the Complete");
        assert!(
            agents[..3]
                .iter()
                .all(|a| get(a, "Status") == "AGENT_LOGGEDOFF")
        );

        originate(&mut c, "login", "Local/1001@features", 60).await;
        let login_event = if modern { "AgentLogin" } else { "Agentlogin" };
        let (login, _) = c.until(WAIT, named(login_event)).await;
        assert_eq!(get(&login, "Agent"), "1001", "{profile}");
        let agent_channel = get(&login, "Channel");
        assert!(
            agent_channel.starts_with("Local/1001@features-"),
            "{agent_channel}"
        );
        let agents = list(&mut c, "Agents", "AgentsComplete").await;
        let one = &agents[0];
        assert_eq!(get(one, "Status"), "AGENT_IDLE", "{profile}");
        let chan_field = if modern { "Channel" } else { "LoggedInChan" };
        assert_eq!(get(one, chan_field), agent_channel, "{profile}");
        assert_ne!(get(one, "LoggedInTime"), "0", "{profile}");

        originate(&mut c, "caller", "Local/600@demo", 30).await;
        let (_, seen) = if modern {
            c.until(WAIT, named("AgentConnect")).await
        } else {
            c.until(WAIT, |m| {
                m.event_name().as_deref() == Some("Bridge") && get(m, "Channel2") == agent_channel
            })
            .await
        };
        if modern {
            assert!(seen.iter().any(named("AgentCalled")), "{profile}");
            c.until(WAIT, |m| {
                named("BridgeEnter")(m) && get(m, "Channel") == agent_channel
            })
            .await;
        }
        let agents = list(&mut c, "Agents", "AgentsComplete").await;
        assert_eq!(get(&agents[0], "Status"), "AGENT_ONCALL", "{profile}");
        assert!(
            get(&agents[0], "TalkingToChan").starts_with("Local/600@demo-"),
            "{profile}: {:?}",
            agents[0]
        );
        let members = list(&mut c, "QueueStatus", "QueueStatusComplete").await;
        let member = members
            .iter()
            .find(|m| get(m, "Location") == "Agent/1001")
            .expect("the logged-in agent is a member of support");
        assert_eq!(get(member, "Queue"), "support");
        assert_eq!(get(member, "Status"), "2", "{profile}: in use");
        if profile != Profile::V18 {
            // 1.8's QueueMember has no StateInterface.
            assert_eq!(get(member, "StateInterface"), "Agent:1001", "{profile}");
        }

        c.send("Action: AgentLogoff\nActionID: off\nAgent: 1001")
            .await;
        let (reply, _) = c.response("off").await;
        assert_eq!(get(&reply, "Message"), "Agent logged out", "{profile}");
        let logoff_event = if modern { "AgentLogoff" } else { "Agentlogoff" };
        let (logoff, before) = c.until(WAIT, named(logoff_event)).await;
        assert_eq!(get(&logoff, "Agent"), "1001");
        if modern {
            let complete = before
                .iter()
                .find(|m| named("AgentComplete")(m))
                .expect("AgentComplete before the logoff");
            assert_eq!(get(complete, "Reason"), "agent");
        }
        let agents = list(&mut c, "Agents", "AgentsComplete").await;
        assert_eq!(get(&agents[0], "Status"), "AGENT_LOGGEDOFF", "{profile}");
        let members = list(&mut c, "QueueStatus", "QueueStatusComplete").await;
        assert!(
            !members.iter().any(|m| get(m, "Location") == "Agent/1001"),
            "{profile}: a logged-off agent leaves the queue"
        );
        c.send("Action: AgentLogoff\nActionID: again\nAgent: 1001")
            .await;
        let (reply, _) = c.response("again").await;
        assert_eq!(get(&reply, "Message"), "No such agent", "{profile}");
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn calls_park_are_listed_retrieved_time_out_and_give_up_in_each_era() {
    for profile in Profile::ALL {
        let modern = profile.modern_events();
        let (sim, mut c) = start(profile).await;
        let space_field = if modern { "ParkingSpace" } else { "Exten" };
        let chan_field = if modern { "ParkeeChannel" } else { "Channel" };

        // The dialplan way: 700@features runs Park().
        originate(&mut c, "p1", "Local/700@features", 60).await;
        let (parked, _) = c.until(WAIT, named("ParkedCall")).await;
        assert_eq!(get(&parked, space_field), "701", "{profile}");
        let parkee = get(&parked, chan_field);
        assert!(
            parkee.starts_with("Local/700@features-"),
            "{profile}: {parkee}"
        );
        let calls = list(&mut c, "ParkedCalls", "ParkedCallsComplete").await;
        assert_eq!(calls.len(), 2, "{profile}: one parked call");
        assert_eq!(get(&calls[0], chan_field), parkee, "{profile}");
        if modern {
            assert_eq!(get(&calls[1], "ListItems"), "1");
        } else {
            assert_eq!(get(&calls[1], "Total"), "1");
        }

        // Retrieval from 701 bridges the retriever with the parked call.
        originate(&mut c, "r1", "Local/701@features", 30).await;
        let (unparked, _) = c.until(WAIT, named("UnParkedCall")).await;
        assert_eq!(get(&unparked, chan_field), parkee, "{profile}");
        if modern {
            assert!(get(&unparked, "RetrieverChannel").starts_with("Local/701@features-"));
            c.until(WAIT, |m| {
                named("BridgeEnter")(m) && get(m, "Channel") == parkee
            })
            .await;
        } else {
            assert!(get(&unparked, "From").starts_with("Local/701@features-"));
        }
        let calls = list(&mut c, "ParkedCalls", "ParkedCallsComplete").await;
        assert_eq!(calls.len(), 1, "{profile}: nothing parked any more");

        // The Park action on a bridged channel, with a short timeout.
        originate(&mut c, "b", "Local/900@demo", 60).await;
        let link = |m: &Message| {
            if modern {
                named("BridgeEnter")(m) && get(m, "Channel").starts_with("Local/800@demo-")
            } else {
                named("Bridge")(m) && get(m, "Bridgestate") == "Link"
            }
        };
        let (linked, _) = c.until(WAIT, link).await;
        let callee = if modern {
            get(&linked, "Channel")
        } else {
            get(&linked, "Channel2")
        };
        if !modern {
            c.send(&format!("Action: Park\nActionID: bad\nChannel: {callee}"))
                .await;
            let (reply, _) = c.response("bad").await;
            assert_eq!(get(&reply, "Message"), "Channel2 not specified");
        }
        let other = if modern { "TimeoutChannel" } else { "Channel2" };
        c.send(&format!(
            "Action: Park\nActionID: park\nChannel: {callee}\n{other}: {callee}\nTimeout: 2000"
        ))
        .await;
        let (reply, _) = c.response("park").await;
        assert_eq!(get(&reply, "Message"), "Park successful", "{profile}");
        let (parked, _) = c.until(WAIT, named("ParkedCall")).await;
        assert_eq!(get(&parked, chan_field), callee, "{profile}");
        let (timeout, _) = c.until(WAIT, named("ParkedCallTimeOut")).await;
        assert_eq!(get(&timeout, chan_field), callee, "{profile}");

        // A parked call that hangs up gives up.
        originate(&mut c, "p2", "Local/700@features", 60).await;
        let (parked, _) = c.until(WAIT, named("ParkedCall")).await;
        let parkee = get(&parked, chan_field);
        c.send(&format!("Action: Hangup\nActionID: h\nChannel: {parkee}"))
            .await;
        let (gave_up, _) = c.until(WAIT, named("ParkedCallGiveUp")).await;
        assert_eq!(get(&gave_up, chan_field), parkee, "{profile}");
        let calls = list(&mut c, "ParkedCalls", "ParkedCallsComplete").await;
        assert_eq!(calls.len(), 1, "{profile}: the lot is empty");
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn bridge_list_answers_the_live_bridges_where_asterisk_has_it() {
    for profile in [Profile::V22, Profile::V13] {
        let (sim, mut c) = start(profile).await;
        let empty = list(&mut c, "BridgeList", "BridgeListComplete").await;
        assert_eq!(empty.len(), 1, "{profile}: no bridge yet");
        originate(&mut c, "b", "Local/900@demo", 60).await;
        let (enter, _) = c
            .until(WAIT, |m| {
                named("BridgeEnter")(m) && get(m, "BridgeNumChannels") == "2"
            })
            .await;
        let bridge = get(&enter, "BridgeUniqueid");
        originate(&mut c, "p", "Local/700@features", 60).await;
        c.until(WAIT, named("ParkedCall")).await;
        let items = list(&mut c, "BridgeList", "BridgeListComplete").await;
        assert_eq!(items.len(), 3, "{profile}: the call's bridge and the lot's");
        let basic = items
            .iter()
            .find(|m| get(m, "BridgeUniqueid") == bridge)
            .expect("the call's bridge");
        assert_eq!(get(basic, "BridgeType"), "basic");
        assert_eq!(get(basic, "BridgeNumChannels"), "2");
        assert!(items.iter().any(|m| get(m, "BridgeType") == "parking"));
        assert_eq!(get(&items[2], "ListItems"), "2");
        c.send("Action: BridgeList\nActionID: bt\nBridgeType: parking")
            .await;
        c.response("bt").await;
        let (done, seen) = c.until(WAIT, named("BridgeListComplete")).await;
        assert_eq!(get(&done, "ListItems"), "1", "{profile}: {seen:?}");
        sim.shutdown().await;
    }
    for profile in [Profile::V11, Profile::V18] {
        let (sim, mut c) = start(profile).await;
        for action in [
            "BridgeList",
            "DeviceStateList",
            "ExtensionStateList",
            "BlindTransfer",
        ] {
            c.send(&format!("Action: {action}\nActionID: x")).await;
            let (reply, _) = c.response("x").await;
            assert_eq!(reply.response().as_deref(), Some("Error"), "{profile}");
            assert!(
                get(&reply, "Message").starts_with("Invalid/unknown command"),
                "{profile}: {reply:?}"
            );
        }
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn device_and_extension_states_follow_the_calls() {
    for profile in Profile::ALL {
        let modern = profile.modern_events();
        let (sim, mut c) = start(profile).await;
        originate(&mut c, "o", "Local/800@demo", 2).await;
        let busy = |m: &Message| {
            named("ExtensionStatus")(m) && get(m, "Exten") == "800" && get(m, "Status") == "1"
        };
        let (status, before) = c.until(WAIT, busy).await;
        assert_eq!(get(&status, "Context"), "demo");
        assert_eq!(get(&status, "Hint"), "Local/800@demo");
        assert_eq!(
            get(&status, "StatusText"),
            if modern { "InUse" } else { "" },
            "{profile}"
        );
        let changed = before.iter().any(|m| {
            named("DeviceStateChange")(m)
                && get(m, "Device") == "Local/800@demo"
                && get(m, "State") == "INUSE"
        });
        assert_eq!(changed, modern, "{profile}: DeviceStateChange from 12 on");
        c.send("Action: ExtensionState\nActionID: es\nExten: 800\nContext: demo")
            .await;
        let (reply, _) = c.response("es").await;
        assert_eq!(get(&reply, "Status"), "1", "{profile}");
        assert_eq!(get(&reply, "Hint"), "Local/800@demo", "{profile}");
        if modern {
            let devices = list(&mut c, "DeviceStateList", "DeviceStateListComplete").await;
            let state = |device: &str| {
                devices
                    .iter()
                    .find(|m| get(m, "Device") == device)
                    .map(|m| get(m, "State"))
            };
            assert_eq!(state("Local/800@demo").as_deref(), Some("INUSE"));
            assert_eq!(state("Agent:1001").as_deref(), Some("UNAVAILABLE"));
            let hints = list(&mut c, "ExtensionStateList", "ExtensionStateListComplete").await;
            let hint = hints
                .iter()
                .find(|m| get(m, "Exten") == "800")
                .expect("hint 800");
            assert_eq!(get(hint, "StatusText"), "InUse");
            assert!(hints.iter().any(|m| get(m, "Hint") == "Agent:1001"));
        }
        let (idle, _) = c
            .until(WAIT, |m| {
                named("ExtensionStatus")(m) && get(m, "Exten") == "800" && get(m, "Status") == "0"
            })
            .await;
        if modern {
            assert_eq!(get(&idle, "StatusText"), "Idle");
        }
        sim.shutdown().await;
    }
}

/// Originates `Local/900@demo` (which dials 800) and returns the caller (`900;2`) and the
/// callee (`800;1`) once they are bridged.
async fn bridged_call(c: &mut Conn<TcpStream>, modern: bool) -> (String, String) {
    originate(c, "call", "Local/900@demo", 60).await;
    if modern {
        // BridgeCreate, then the caller enters first and the callee second.
        let (first, _) = c
            .until(WAIT, |m| {
                named("BridgeEnter")(m) && get(m, "Channel").starts_with("Local/900@demo-")
            })
            .await;
        let bridge = get(&first, "BridgeUniqueid");
        let (second, _) = c
            .until(WAIT, |m| {
                named("BridgeEnter")(m) && get(m, "BridgeUniqueid") == bridge
            })
            .await;
        (get(&first, "Channel"), get(&second, "Channel"))
    } else {
        let (link, _) = c
            .until(WAIT, |m| {
                named("Bridge")(m) && get(m, "Bridgestate") == "Link"
            })
            .await;
        (get(&link, "Channel1"), get(&link, "Channel2"))
    }
}

#[tokio::test]
async fn blind_and_attended_transfers_in_each_era() {
    for profile in Profile::ALL {
        let modern = profile.modern_events();
        let (sim, mut c) = start(profile).await;
        if modern {
            let (caller, callee) = bridged_call(&mut c, true).await;
            assert!(caller.starts_with("Local/900@demo-"), "{caller}");
            c.send(&format!(
                "Action: BlindTransfer\nActionID: bt\nChannel: {caller}\nExten: 100\nContext: demo"
            ))
            .await;
            let (reply, seen) = c.response("bt").await;
            assert_eq!(get(&reply, "Message"), "Transfer succeeded", "{profile}");
            let (event, _) = match seen.iter().find(|m| named("BlindTransfer")(m)) {
                Some(m) => (m.clone(), Vec::new()),
                None => c.until(WAIT, named("BlindTransfer")).await,
            };
            assert_eq!(get(&event, "TransfererChannel"), caller);
            assert_eq!(get(&event, "TransfereeChannel"), callee);
            assert_eq!(get(&event, "Extension"), "100");
            assert_eq!(get(&event, "IsExternal"), "Yes");
            // The transferee runs 100@demo: its UserEvent comes from it.
            c.until(WAIT, |m| {
                named("UserEvent")(m) && get(m, "Channel") == callee
            })
            .await;
        }

        let (caller, callee) = bridged_call(&mut c, modern).await;
        c.send(&format!(
            "Action: Atxfer\nActionID: ax\nChannel: {caller}\nExten: 500\nContext: demo"
        ))
        .await;
        let (reply, _) = c.response("ax").await;
        assert_eq!(
            get(&reply, "Message"),
            "Atxfer successfully queued",
            "{profile}"
        );
        if modern {
            let (event, _) = c.until(WAIT, named("AttendedTransfer")).await;
            assert_eq!(get(&event, "OrigTransfererChannel"), caller);
            assert_eq!(get(&event, "TransfereeChannel"), callee);
            assert_eq!(get(&event, "DestType"), "Bridge");
            let target = c
                .until(WAIT, |m| {
                    named("BridgeEnter")(m)
                        && get(m, "BridgeUniqueid") == get(&event, "DestBridgeUniqueid")
                })
                .await
                .0;
            assert!(get(&target, "Channel").starts_with("Local/500@demo-"));
        } else {
            let (masq, _) = c.until(WAIT, named("Masquerade")).await;
            assert_eq!(get(&masq, "Clone"), callee, "{profile}");
            assert_eq!(get(&masq, "Original"), format!("Transfered/{callee}"));
            let (link, _) = c
                .until(WAIT, |m| {
                    named("Bridge")(m) && get(m, "Bridgestate") == "Link"
                })
                .await;
            assert_eq!(get(&link, "Channel1"), callee, "{profile}");
            assert!(get(&link, "Channel2").starts_with("Local/500@demo-"));
        }
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn a_local_pair_bridged_on_both_sides_optimises_itself_away_on_13_and_later() {
    for profile in [Profile::V22, Profile::V13] {
        let (sim, mut c) = start(profile).await;
        originate(&mut c, "o", "Local/410@features", 3).await;
        let (begin, _) = c.until(WAIT, named("LocalOptimizationBegin")).await;
        assert!(get(&begin, "LocalOneChannel").starts_with("Local/420@features-"));
        assert!(get(&begin, "SourceChannel").starts_with("Local/800@demo-"));
        let (end, _) = c.until(WAIT, named("LocalOptimizationEnd")).await;
        assert_eq!(get(&end, "Success"), "Yes");
        assert_eq!(get(&end, "Id"), get(&begin, "Id"));
        let bridges = list(&mut c, "BridgeList", "BridgeListComplete").await;
        assert_eq!(bridges.len(), 2, "{profile}: one bridge left");
        assert_eq!(get(&bridges[0], "BridgeNumChannels"), "2");
        let channels = list(&mut c, "CoreShowChannels", "CoreShowChannelsComplete").await;
        assert!(
            !channels
                .iter()
                .any(|m| get(m, "Channel").starts_with("Local/420@features-")),
            "{profile}: the optimised pair is gone"
        );
        // When the originated call ends, everything goes.
        c.until(WAIT, |m| {
            named("Hangup")(m) && get(m, "Channel").starts_with("Local/800@demo-")
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let channels = list(&mut c, "CoreShowChannels", "CoreShowChannelsComplete").await;
        assert_eq!(channels.len(), 1, "{profile}: {channels:?}");
        sim.shutdown().await;
    }
}
