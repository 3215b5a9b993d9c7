//! Behaviour beyond single recordings: a consistent PBX, permissions, filters, restart,
//! streaming, slow readers.

use std::time::Duration;

use ami_sim::{Perms, Profile, SimConfig, User};

use crate::conn::{Conn, WAIT};

async fn sim(config: SimConfig) -> ami_sim::SimHandle {
    ami_sim::spawn(config).await.expect("spawn")
}

fn fast(profile: Profile) -> SimConfig {
    SimConfig {
        profile,
        time_scale: 10.0,
        auth_fail_delay: Duration::from_millis(10),
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn originated_call_is_listed_consistently_then_hung_up() {
    for profile in Profile::ALL {
        let sim = sim(SimConfig {
            time_scale: 1.0,
            ..fast(profile)
        })
        .await;
        let mut c = Conn::connect(sim.addr()).await;
        c.login("admin", "amp111").await;
        c.send("Action: Originate\nActionID: o1\nChannel: Local/800@demo\nApplication: Wait\nData: 60\nAsync: true").await;
        let (reply, _) = c.response("o1").await;
        assert_eq!(
            reply.get("Message").as_deref(),
            Some("Originate successfully queued")
        );
        let (response, _) = c
            .until(WAIT, |m| {
                m.event_name().as_deref() == Some("OriginateResponse")
            })
            .await;
        assert_eq!(
            response.get("Response").as_deref(),
            Some("Success"),
            "{profile}"
        );
        let channel = response.get("Channel").expect("channel").into_owned();
        let uniqueid = response.get("Uniqueid").expect("uniqueid").into_owned();

        c.send("Action: CoreShowChannels\nActionID: csc").await;
        let (_, _) = c.response("csc").await;
        let (done, items) = c
            .until(WAIT, |m| {
                m.event_name().as_deref() == Some("CoreShowChannelsComplete")
            })
            .await;
        let listed: Vec<_> = items
            .iter()
            .filter(|m| m.event_name().as_deref() == Some("CoreShowChannel"))
            .collect();
        assert_eq!(listed.len(), 2, "{profile}: a Local pair");
        assert_eq!(done.get("ListItems").as_deref(), Some("2"), "{profile}");
        assert!(
            listed
                .iter()
                .any(|m| m.get("Channel").as_deref() == Some(channel.as_str()))
        );
        let unique_header = if profile.modern_events() {
            "Uniqueid"
        } else {
            "UniqueID"
        };
        assert!(
            listed
                .iter()
                .any(|m| m.get(unique_header).as_deref() == Some(uniqueid.as_str())),
            "{profile}"
        );

        // The `;2` side runs 800@demo, which sets MYVAR.
        c.until(WAIT, |m| {
            m.event_name().as_deref() == Some("VarSet")
                && m.get("Variable").as_deref() == Some("MYVAR")
        })
        .await;
        c.send(&format!(
            "Action: Getvar\nActionID: g\nChannel: {}\nVariable: MYVAR",
            channel.replace(";1", ";2")
        ))
        .await;
        let (value, _) = c.response("g").await;
        assert_eq!(value.get("Value").as_deref(), Some("hello"), "{profile}");

        c.send(&format!("Action: Hangup\nActionID: h\nChannel: {channel}"))
            .await;
        let (hung, _) = c.response("h").await;
        assert_eq!(hung.get("Message").as_deref(), Some("Channel Hungup"));
        c.until(WAIT, |m| {
            m.event_name().as_deref() == Some("Hangup")
                && m.get("Channel").as_deref() == Some(channel.as_str())
        })
        .await;
        c.send("Action: CoreShowChannels\nActionID: csc2").await;
        let (done, _) = c
            .until(WAIT, |m| {
                m.event_name().as_deref() == Some("CoreShowChannelsComplete")
            })
            .await;
        assert_eq!(done.get("ListItems").as_deref(), Some("0"), "{profile}");
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn queue_call_reaches_an_agent_with_consistent_linkedid() {
    let sim = sim(fast(Profile::V22)).await;
    let mut c = Conn::connect(sim.addr()).await;
    c.login("admin", "amp111").await;
    c.send("Action: Originate\nActionID: q\nChannel: Local/600@demo\nApplication: Wait\nData: 30\nAsync: true").await;
    let (join, _) = c
        .until(WAIT, |m| {
            m.event_name().as_deref() == Some("QueueCallerJoin")
        })
        .await;
    let linkedid = join.get("Linkedid").expect("linkedid").into_owned();
    let (called, _) = c
        .until(WAIT, |m| m.event_name().as_deref() == Some("AgentCalled"))
        .await;
    assert_eq!(called.get("Linkedid").as_deref(), Some(linkedid.as_str()));
    assert_eq!(
        called.get("DestLinkedid").as_deref(),
        Some(linkedid.as_str())
    );
    let (connect, before) = c
        .until(WAIT, |m| m.event_name().as_deref() == Some("AgentConnect"))
        .await;
    assert_eq!(connect.get("MemberName").as_deref(), Some("Agent One"));
    assert!(
        before
            .iter()
            .any(|m| m.event_name().as_deref() == Some("QueueCallerLeave"))
    );
    c.until(WAIT, |m| m.event_name().as_deref() == Some("BridgeEnter"))
        .await;
    c.send("Action: QueueStatus\nActionID: qs").await;
    let (_, items) = c
        .until(WAIT, |m| {
            m.event_name().as_deref() == Some("QueueStatusComplete")
        })
        .await;
    let busy = items
        .iter()
        .find(|m| {
            m.event_name().as_deref() == Some("QueueMember")
                && m.get("Name").as_deref() == Some("Agent One")
        })
        .expect("member listed");
    assert_eq!(busy.get("InCall").as_deref(), Some("1"));
    sim.shutdown().await;
}

#[tokio::test]
async fn queue_member_actions_change_what_queue_status_reports() {
    let sim = sim(fast(Profile::V13)).await;
    let mut c = Conn::connect(sim.addr()).await;
    c.login("admin", "amp111").await;
    c.send("Action: QueueAdd\nActionID: a\nQueue: support\nInterface: Local/702@demo/n\nMemberName: Agent Three").await;
    assert_eq!(
        c.response("a").await.0.get("Message").as_deref(),
        Some("Added interface to queue")
    );
    c.send("Action: QueueAdd\nActionID: a2\nQueue: support\nInterface: Local/702@demo/n")
        .await;
    assert_eq!(
        c.response("a2").await.0.response().as_deref(),
        Some("Error")
    );
    c.send(
        "Action: QueuePause\nActionID: p\nInterface: Local/702@demo/n\nPaused: true\nReason: lunch",
    )
    .await;
    assert_eq!(
        c.response("p").await.0.get("Message").as_deref(),
        Some("Interface paused successfully")
    );
    c.send("Action: QueueStatus\nActionID: s\nQueue: support")
        .await;
    let (_, items) = c
        .until(WAIT, |m| {
            m.event_name().as_deref() == Some("QueueStatusComplete")
        })
        .await;
    let three = items
        .iter()
        .find(|m| m.get("Name").as_deref() == Some("Agent Three"))
        .expect("new member listed");
    assert_eq!(three.get("Paused").as_deref(), Some("1"));
    assert_eq!(three.get("PausedReason").as_deref(), Some("lunch"));
    assert_eq!(three.get("Membership").as_deref(), Some("dynamic"));
    c.send("Action: QueueRemove\nActionID: r\nQueue: support\nInterface: Local/702@demo/n")
        .await;
    assert_eq!(
        c.response("r").await.0.get("Message").as_deref(),
        Some("Removed interface from queue")
    );
    c.send("Action: QueueRemove\nActionID: r2\nQueue: support\nInterface: Local/702@demo/n")
        .await;
    assert_eq!(
        c.response("r2").await.0.get("Message").as_deref(),
        Some("Unable to remove interface: Not there")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn read_classes_limit_the_events_a_session_gets() {
    let users = vec![
        User::new("admin", "amp111", Perms::ALL, Perms::ALL),
        User::new(
            "calls",
            "calls",
            "call".parse().expect("class"),
            Perms::NONE,
        ),
    ];
    let sim = sim(SimConfig {
        users,
        ..fast(Profile::V22)
    })
    .await;
    let mut admin = Conn::connect(sim.addr()).await;
    admin.login("admin", "amp111").await;
    let mut calls = Conn::connect(sim.addr()).await;
    calls.login("calls", "calls").await;
    calls
        .send("Action: UserEvent\nActionID: u\nUserEvent: X")
        .await;
    assert_eq!(
        calls.response("u").await.0.get("Message").as_deref(),
        Some("Permission denied")
    );
    admin
        .send("Action: UserEvent\nActionID: u\nUserEvent: NotForCalls")
        .await;
    admin
        .until(WAIT, |m| m.event_name().as_deref() == Some("UserEvent"))
        .await;
    admin.send("Action: Originate\nActionID: o\nChannel: Local/500@demo\nApplication: Wait\nData: 1\nAsync: true").await;
    let (_, seen) = calls
        .until(WAIT, |m| m.event_name().as_deref() == Some("Hangup"))
        .await;
    for message in &seen {
        let privilege = message.get("Privilege").unwrap_or_default().into_owned();
        assert!(
            !message.is_event() || privilege == "call,all",
            "read=call session got {:?} ({privilege})",
            message.event_name()
        );
    }
    assert!(
        seen.iter()
            .any(|m| m.event_name().as_deref() == Some("Newchannel"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn restart_drops_sessions_with_a_shutdown_event_and_greets_anew() {
    let sim = sim(fast(Profile::V11)).await;
    let mut c = Conn::connect(sim.addr()).await;
    c.login("admin", "amp111").await;
    sim.restart();
    let (shutdown, _) = c
        .until(WAIT, |m| m.event_name().as_deref() == Some("Shutdown"))
        .await;
    assert_eq!(shutdown.get("Restart").as_deref(), Some("True"));
    assert!(c.next(WAIT).await.is_none() && c.closed);
    let mut again = Conn::connect(sim.addr()).await;
    again.login("admin", "amp111").await;
    assert_eq!(again.banner.as_deref(), Some("Asterisk Call Manager/1.3"));
    sim.shutdown().await;
}

#[tokio::test]
async fn emit_events_streams_exactly_n_events_to_each_session() {
    let sim = sim(fast(Profile::V22)).await;
    let mut a = Conn::connect(sim.addr()).await;
    a.login("admin", "amp111").await;
    let mut b = Conn::connect(sim.addr()).await;
    b.login("admin", "amp111").await;
    // Let the login events (FullyBooted, SuccessfulAuth x2) arrive first.
    while a.next(Duration::from_millis(200)).await.is_some() {}
    while b.next(Duration::from_millis(200)).await.is_some() {}
    sim.emit_events(5_000);
    for conn in [&mut a, &mut b] {
        let mut count = 0;
        while let Some(message) = conn.next(Duration::from_millis(500)).await {
            assert!(message.is_event());
            count += 1;
        }
        assert_eq!(count, 5_000);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_connection_that_never_logs_in_is_closed_after_the_auth_timeout() {
    let sim = sim(SimConfig {
        auth_timeout: Duration::from_millis(200),
        ..fast(Profile::V22)
    })
    .await;
    let mut idle = Conn::connect(sim.addr()).await;
    let mut user = Conn::connect(sim.addr()).await;
    user.login("admin", "amp111").await;
    assert!(idle.next(Duration::from_secs(5)).await.is_none());
    assert!(idle.closed, "closed by the server");
    assert_eq!(idle.banner.as_deref(), Some("Asterisk Call Manager/11.0.0"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    user.send("Action: Ping\nActionID: p").await;
    assert_eq!(
        user.response("p").await.0.get("Ping").as_deref(),
        Some("Pong")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn events_on_login_streams_to_each_new_session() {
    let sim = sim(SimConfig {
        events_on_login: Some(1_000),
        ..fast(Profile::V13)
    })
    .await;
    let mut c = Conn::connect(sim.addr()).await;
    c.send("Action: Login\nActionID: l\nUsername: admin\nSecret: amp111\nEvents: call,dialplan,cdr,user").await;
    let (reply, _) = c.response("l").await;
    assert_eq!(
        reply.get("Message").as_deref(),
        Some("Authentication accepted")
    );
    let mut count = 0;
    while let Some(message) = c.next(Duration::from_millis(500)).await {
        assert!(message.is_event());
        count += 1;
    }
    assert_eq!(count, 1_000);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_slow_reader_is_dropped_and_the_fast_one_gets_everything() {
    let sim = sim(SimConfig {
        write_timeout: Duration::from_millis(200),
        ..fast(Profile::V22)
    })
    .await;
    let mut slow = Conn::connect(sim.addr()).await;
    slow.login("admin", "amp111").await;
    let mut quick = Conn::connect(sim.addr()).await;
    quick.login("admin", "amp111").await;
    while quick.next(Duration::from_millis(200)).await.is_some() {}
    // 100,000 events (tens of MB) cannot all sit in socket buffers: the slow side fills up.
    sim.emit_events(100_000);
    // A loaded machine may pause the flood for a while: the long wait only bounds a failure.
    let mut count = 0u64;
    while count < 100_000 && quick.next(Duration::from_secs(10)).await.is_some() {
        count += 1;
    }
    while quick.next(Duration::from_millis(300)).await.is_some() {
        count += 1;
    }
    assert_eq!(count, 100_000);
    // The drop is counted when the slow side's write times out, which may be just after the
    // fast side finished.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while sim.slow_reader_drops() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sim.slow_reader_drops(), 1);
    drop(slow);
    sim.shutdown().await;
}

#[tokio::test]
async fn generated_traffic_keeps_calls_up() {
    let sim = sim(SimConfig {
        calls_per_second: Some(20.0),
        ..fast(Profile::V18)
    })
    .await;
    let mut c = Conn::connect(sim.addr()).await;
    c.login("admin", "amp111").await;
    let (_, seen) = c
        .until(WAIT, |m| m.event_name().as_deref() == Some("Hangup"))
        .await;
    assert!(
        seen.iter()
            .any(|m| m.event_name().as_deref() == Some("Newchannel"))
    );
    c.send("Action: CoreStatus\nActionID: cs").await;
    let (status, _) = c.response("cs").await;
    let current: u64 = status
        .get("CoreCurrentCalls")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(current > 0, "{status:?}");
    sim.shutdown().await;
}

/// A filter that does not compile gets Asterisk's own error and changes nothing; groups and
/// alternation work, `!` excludes.
#[tokio::test]
async fn filters_use_posix_syntax_and_refuse_what_does_not_compile() {
    for profile in Profile::ALL.into_iter().filter(|p| p.has_filter()) {
        let sim = sim(fast(profile)).await;
        let mut c = Conn::connect(sim.addr()).await;
        c.login("admin", "amp111").await;
        c.send("Action: Filter\nActionID: bad\nOperation: Add\nFilter: UserEvent: (Pass")
            .await;
        let (reply, _) = c.response("bad").await;
        assert_eq!(reply.response().as_deref(), Some("Error"), "{profile}");
        assert_eq!(
            reply.get("Message").as_deref(),
            Some("Filter did not compile.  Check the syntax of the filter given."),
            "{profile}"
        );
        for (id, filter) in [
            ("in", "UserEvent: (Pass|Also)"),
            ("out", "!UserEvent: Also"),
        ] {
            c.send(&format!(
                "Action: Filter\nActionID: {id}\nOperation: Add\nFilter: {filter}"
            ))
            .await;
            let (reply, _) = c.response(id).await;
            assert_eq!(
                reply.response().as_deref(),
                Some("Success"),
                "{profile} {id}"
            );
        }
        for name in ["Blocked", "Also", "Pass"] {
            c.send(&format!(
                "Action: UserEvent\nActionID: u-{name}\nUserEvent: {name}"
            ))
            .await;
        }
        // Events are published in order: once `Pass` is here, the other two were dropped.
        let (_, seen) = c
            .until(WAIT, |m| {
                m.is_event() && m.get("UserEvent").as_deref() == Some("Pass")
            })
            .await;
        let events: Vec<String> = seen
            .iter()
            .filter(|m| m.is_event())
            .map(|m| m.get("UserEvent").unwrap_or_default().into_owned())
            .collect();
        assert!(events.is_empty(), "{profile}: {events:?}");
    }
}
