//! Exact-quirk tests against a scripted server.

use std::time::Duration;

use ami_client::{
    Action, Auth, Backoff, Buffer, Client, ConnectionState, EventItem, Events, Reply, Subscription,
};

use crate::peer::{Listener, id};

fn name(item: &EventItem) -> String {
    match item {
        EventItem::Event(event) => event.name().into_owned(),
        EventItem::Lagged(n) => format!("lagged {n}"),
        EventItem::Connection(ConnectionState::Connected { .. }) => "connected".into(),
        EventItem::Connection(ConnectionState::Disconnected { .. }) => "disconnected".into(),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn banner_login_and_ping() {
    let listener = Listener::bind().await;
    let config = listener.config();
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.greet("2.10.6").await;
        let ping = peer.expect("Ping").await;
        assert!(id(&ping).starts_with("t-"));
        peer.send(format!(
            "Response: Success\r\nActionID: {}\r\nPing: Pong\r\n\r\n",
            id(&ping)
        ))
        .await;
        let logoff = peer.expect("Logoff").await;
        peer.send(format!(
            "Response: Goodbye\r\nActionID: {}\r\nMessage: Thanks for all the fish.\r\n\r\n",
            id(&logoff)
        ))
        .await;
    });
    let client = Client::connect(config).await.expect("connect");
    assert_eq!(client.ami_version(), "2.10.6");
    let pong = client.ping().await.expect("ping");
    assert!(pong.value_is("Ping", "Pong"));
    client.close().await;
    let error = client.ping().await.expect_err("closed");
    assert!(error.is_closed(), "{error}");
    server.await.expect("script");
}

#[tokio::test]
async fn failed_login_is_a_typed_error_not_a_timeout() {
    let listener = Listener::bind().await;
    let config = listener.config().login_timeout(Duration::from_secs(5));
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.send("Asterisk Call Manager/11.0.0\r\n").await;
        let login = peer.expect("Login").await;
        peer.send(format!(
            "Response: Error\r\nActionID: {}\r\nMessage: Authentication failed\r\n\r\n",
            id(&login)
        ))
        .await;
    });
    let error = Client::connect(config).await.expect_err("refused");
    assert!(error.is_auth_failed(), "{error}");
    assert!(!error.is_timeout());
    assert_eq!(error.server_message(), Some("Authentication failed"));
    server.await.expect("script");
}

#[tokio::test]
async fn md5_login_never_sends_the_secret() {
    let listener = Listener::bind().await;
    let config = listener.config().auth(Auth::Md5).events(Events::Off);
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.send("Asterisk Call Manager/1.1\r\n").await;
        let challenge = peer.expect("Challenge").await;
        assert!(challenge.value_is("AuthType", "MD5"));
        peer.send(format!(
            "Response: Success\r\nActionID: {}\r\nChallenge: 840415273\r\n\r\n",
            id(&challenge)
        ))
        .await;
        let login = peer.expect("Login").await;
        assert!(!login.contains("Secret"));
        assert!(login.value_is("Events", "off"));
        // md5("840415273amp111")
        let key = login.get("Key").expect("Key").into_owned();
        assert_eq!(key.len(), 32);
        peer.send(format!(
            "Response: Success\r\nActionID: {}\r\nMessage: Authentication accepted\r\n\r\n",
            id(&login)
        ))
        .await;
        key
    });
    let client = Client::connect(config).await.expect("connect");
    let key = server.await.expect("script");
    assert_eq!(key, md5_hex("840415273amp111"));
    assert_eq!(client.ami_version(), "1.1");
}

fn md5_hex(text: &str) -> String {
    // Independent check of the key: the classic RFC 1321 test vectors pin the algorithm,
    // the rest is the client's concatenation order (challenge, then secret).
    let output = std::process::Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("md5sum available");
    String::from_utf8_lossy(&output.stdout)[..32].to_owned()
}

#[tokio::test]
async fn every_caller_gets_its_own_response_whatever_the_interleaving() {
    let listener = Listener::bind().await;
    let config = listener.config();
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.greet("11.0.0").await;
        let mut actions = Vec::new();
        for _ in 0..50 {
            actions.push(peer.next().await.expect("action"));
        }
        // Reverse order, events between, the last one split in 1-byte writes.
        for (i, action) in actions.iter().enumerate().rev() {
            peer.send(format!("Event: Newexten\r\nN: {i}\r\n\r\n"))
                .await;
            let reply = format!(
                "Response: Success\r\nActionID: {}\r\nValue: {}\r\n\r\n",
                id(action),
                action.get("Variable").expect("Variable")
            );
            if i == 0 {
                for byte in reply.as_bytes() {
                    peer.send([*byte]).await;
                }
            } else {
                peer.send(reply).await;
            }
        }
        peer
    });
    let client = Client::connect(config).await.expect("connect");
    let mut events = client.subscribe(Subscription::all().events(["Newexten"]));
    let calls: Vec<_> = (0..50)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let value = client.getvar(None, &format!("V{i}")).await.expect("getvar");
                assert_eq!(value, format!("V{i}"));
            })
        })
        .collect();
    for call in calls {
        call.await.expect("caller");
    }
    let _peer = server.await.expect("script");
    let mut seen = 0;
    while seen < 50 {
        match events.recv().await.expect("event") {
            EventItem::Event(_) => seen += 1,
            EventItem::Connection(_) => {}
            other => panic!("{other:?}"),
        }
    }
}

/// Many replies in one read are handed out in slices (so callers can send their next actions
/// meanwhile); none may be lost, misrouted, or reordered against the events between them.
#[tokio::test]
async fn a_single_read_holding_many_replies_and_events_loses_nothing() {
    let listener = Listener::bind().await;
    let config = listener.config();
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.greet("11.0.0").await;
        let mut actions = Vec::new();
        for _ in 0..100 {
            actions.push(peer.next().await.expect("action"));
        }
        let mut burst = String::new();
        for (i, action) in actions.iter().enumerate() {
            burst.push_str(&format!("Event: Newexten\r\nN: {i}\r\n\r\n"));
            burst.push_str(&format!(
                "Response: Success\r\nActionID: {}\r\nValue: {}\r\n\r\n",
                id(action),
                action.get("Variable").expect("Variable")
            ));
        }
        peer.send(burst).await;
        peer
    });
    let client = Client::connect(config).await.expect("connect");
    let mut events = client.subscribe(Subscription::all().events(["Newexten"]));
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let value = client.getvar(None, &format!("V{i}")).await.expect("getvar");
                assert_eq!(value, format!("V{i}"));
            })
        })
        .collect();
    for call in calls {
        call.await.expect("caller");
    }
    let _peer = server.await.expect("script");
    let mut next = 0;
    while next < 100 {
        match events.recv().await.expect("event") {
            EventItem::Event(event) => {
                assert_eq!(
                    event.message().get("N").as_deref(),
                    Some(next.to_string().as_str())
                );
                next += 1;
            }
            EventItem::Connection(_) => {}
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn asterisk_11_parkinglots_items_are_gathered_though_they_carry_no_action_id() {
    let listener = Listener::bind().await;
    let config = listener.config();
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.greet("11.25.3").await;
        let lots = peer.expect("Parkinglots").await;
        let lid = id(&lots);
        peer.send(format!(
            "Response: Success\r\nActionID: {lid}\r\nMessage: Parking lots will follow\r\n\r\n\
             Event: Parkinglot\r\nName: default\r\nStartExten: 701\r\nStopExten: 750\r\nTimeout: 45\r\n\r\n\
             Event: ParkinglotsComplete\r\nActionID: {lid}\r\n\r\n"
        ))
        .await;
        peer
    });
    let client = Client::connect(config).await.expect("connect");
    let reply = client
        .send_with_timeout(Action::new("Parkinglots"), Duration::from_secs(5))
        .await
        .expect("gathered, not timed out");
    let Reply::List(list) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(list.items.len(), 1);
    assert!(list.items[0].value_is("Name", "default"));
    let _peer = server.await.expect("script");
}

#[tokio::test]
async fn lists_errors_and_command_in_both_framings() {
    let listener = Listener::bind().await;
    let config = listener.config();
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.greet("1.3").await;
        let status = peer.expect("Status").await;
        let sid = id(&status);
        peer.send(format!(
            "Response: Success\r\nActionID: {sid}\r\nMessage: Channel status will follow\r\n\r\n\
             Event: Status\r\nChannel: A\r\nActionID: {sid}\r\n\r\n\
             Event: Newexten\r\nChannel: A\r\n\r\n\
             Event: Status\r\nChannel: B\r\nActionID: {sid}\r\n\r\n\
             Event: StatusComplete\r\nActionID: {sid}\r\nItems: 2\r\n\r\n"
        ))
        .await;
        let command = peer.expect("Command").await;
        peer.send(format!(
            "Response: Follows\r\nPrivilege: Command\r\nActionID: {}\r\nSystem uptime: 53 seconds\n--END COMMAND--\r\n\r\n",
            id(&command)
        ))
        .await;
        let command = peer.expect("Command").await;
        peer.send(format!(
            "Response: Error\r\nActionID: {}\r\nMessage: Command output follows\r\nOutput: No such command 'x'\r\n\r\n",
            id(&command)
        ))
        .await;
        let hangup = peer.expect("Hangup").await;
        peer.send(format!(
            "Response: Error\r\nActionID: {}\r\nMessage: No such channel\r\n\r\n",
            id(&hangup)
        ))
        .await;
        let queues = peer.expect("Queues").await;
        let barrier = peer.expect("Ping").await;
        assert!(queues.action_id().is_some());
        peer.send(format!(
            "support has 0 calls\r\n   Members: \r\n\r\n\r\n\r\n\
             Response: Success\r\nActionID: {}\r\nPing: Pong\r\n\r\n",
            id(&barrier)
        ))
        .await;
    });
    let client = Client::connect(config).await.expect("connect");
    let list = client.status(None).await.expect("status");
    assert_eq!(list.items.len(), 2);
    assert_eq!(
        list.complete.event_name().as_deref(),
        Some("StatusComplete")
    );
    assert_eq!(
        client.command("core show uptime").await.expect("command"),
        "System uptime: 53 seconds\n"
    );
    let error = client.command("x").await.expect_err("unknown command");
    assert_eq!(error.command_output(), Some("No such command 'x'\n"));
    let error = client.hangup("nope", None).await.expect_err("no channel");
    assert_eq!(error.server_message(), Some("No such channel"));
    match client.send(Action::new("Queues")).await.expect("queues") {
        Reply::Text(text) => assert_eq!(text, "support has 0 calls\n   Members: \n"),
        other => panic!("{other:?}"),
    }
    server.await.expect("script");
}

#[tokio::test]
async fn a_slow_subscriber_is_told_how_many_it_missed_and_never_stalls_the_reader() {
    let listener = Listener::bind().await;
    let config = listener.config();
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.greet("11.0.0").await;
        let ping = peer.expect("Ping").await;
        let mut burst = String::new();
        for i in 0..100 {
            burst.push_str(&format!("Event: UserEvent\r\nN: {i}\r\n\r\n"));
        }
        burst.push_str(&format!(
            "Response: Success\r\nActionID: {}\r\nPing: Pong\r\n\r\n",
            id(&ping)
        ));
        peer.send(burst).await;
        peer
    });
    let client = Client::connect(config).await.expect("connect");
    let mut slow = client.subscribe(Subscription::all().buffer(Buffer::Events(10)));
    let mut roomy = client.subscribe(Subscription::all().buffer(Buffer::Bytes(1 << 20)));
    // The reply comes after the burst: the reader got past the full subscriber.
    client.ping().await.expect("ping");
    let mut items = Vec::new();
    while let Ok(Some(item)) = slow.try_recv() {
        items.push(name(&item));
    }
    let mut expected = vec!["UserEvent".to_owned(); 10];
    expected.push("lagged 90".into());
    assert_eq!(items, expected);
    assert_eq!(slow.lagged(), 90);
    let mut all = 0;
    while let Ok(Some(item)) = roomy.try_recv() {
        if let EventItem::Event(_) = item {
            all += 1;
        }
    }
    assert_eq!(all, 100);
    assert_eq!(client.metrics().events_lagged, 90);
    let _peer = server.await.expect("script");
}

#[tokio::test]
async fn events_carrying_an_action_id_reach_its_caller_when_asked() {
    let listener = Listener::bind().await;
    let config = listener.config();
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.greet("11.0.0").await;
        let originate = peer.expect("Originate").await;
        let oid = id(&originate);
        peer.send(format!(
            "Response: Success\r\nActionID: {oid}\r\nMessage: Originate successfully queued\r\n\r\n\
             Event: Newchannel\r\nChannel: Local/100@demo-1;1\r\n\r\n\
             Event: OriginateResponse\r\nActionID: {oid}\r\nResponse: Success\r\nChannel: Local/100@demo-1;1\r\nReason: 4\r\n\r\n"
        ))
        .await;
        peer
    });
    let client = Client::connect(config).await.expect("connect");
    let (response, mut follow) = client
        .originate_following(
            ami_client::typed::Originate::to_application("Local/100@demo", "Playback", "beep")
                .asynchronous(),
        )
        .await
        .expect("originate");
    assert!(response.value_is("Response", "Success"));
    let Some(EventItem::Event(event)) = follow.recv().await else {
        panic!("no OriginateResponse")
    };
    use ami_client::typed::{EventView, OriginateResponse};
    let outcome = OriginateResponse::from_message(&event).expect("view");
    assert!(outcome.is_success());
    assert_eq!(outcome.reason().as_deref(), Some("4"));
    let _peer = server.await.expect("script");
}

#[tokio::test]
async fn a_drop_fails_in_flight_actions_delivers_earlier_events_and_reconnects_with_settings() {
    let listener = Listener::bind().await;
    let config = listener.config().reconnect(Some(Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
    }));
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.greet("11.0.0").await;
        let filter = peer.expect("Filter").await;
        peer.send(format!(
            "Response: Success\r\nActionID: {}\r\nMessage: Success\r\n\r\n",
            id(&filter)
        ))
        .await;
        let _originate = peer.expect("Originate").await;
        // One whole event, then half of the response, then the connection dies.
        peer.send("Event: Newchannel\r\nChannel: A\r\n\r\nResponse: Succ")
            .await;
        drop(peer);
        let mut peer = listener.accept().await;
        peer.greet("11.0.0").await;
        let filter = peer.expect("Filter").await;
        assert_eq!(filter.get("Filter").as_deref(), Some("Event: Newchannel"));
        peer.send(format!(
            "Response: Success\r\nActionID: {}\r\nMessage: Success\r\n\r\n",
            id(&filter)
        ))
        .await;
        let ping = peer.expect("Ping").await;
        peer.send(format!(
            "Response: Success\r\nActionID: {}\r\nPing: Pong\r\n\r\n",
            id(&ping)
        ))
        .await;
        peer
    });
    let client = Client::connect(config).await.expect("connect");
    let mut events = client.subscribe(Subscription::all());
    client
        .add_filter("Event: Newchannel")
        .await
        .expect("filter");
    let error = client
        .send(Action::new("Originate").header("Channel", "Local/1@demo"))
        .await
        .expect_err("dropped");
    assert!(error.is_connection_lost(), "{error}");
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let item = events.recv().await.expect("item");
        seen.push(name(&item));
    }
    assert_eq!(
        seen,
        ["Newchannel", "disconnected", "connected", "FullyBooted"]
    );
    // Wait for the restored filter to be confirmed, then the connection is usable again.
    let mut pong = client.ping().await;
    for _ in 0..100 {
        if pong.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        pong = client.ping().await;
    }
    assert!(pong.expect("ping after reconnect").value_is("Ping", "Pong"));
    assert_eq!(client.metrics().connection_lost, 1);
    let _peer = server.await.expect("script");
}

#[tokio::test]
async fn per_action_timeout_is_typed() {
    let listener = Listener::bind().await;
    let config = listener.config();
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.greet("11.0.0").await;
        let _ignored = peer.expect("Ping").await;
        peer
    });
    let client = Client::connect(config).await.expect("connect");
    tokio::time::pause();
    let error = client
        .send_with_timeout(Action::new("Ping"), Duration::from_secs(3))
        .await
        .expect_err("no reply");
    assert!(error.is_timeout(), "{error}");
    let _peer = server.await.expect("script");
}

#[tokio::test]
async fn each_action_times_out_on_its_own_deadline_and_a_late_reply_is_unmatched() {
    let listener = Listener::bind().await;
    let config = listener.config();
    let (timed_out, wait_for_timeout) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.greet("11.0.0").await;
        let _first = peer.expect("Ping").await;
        let _second = peer.expect("Ping").await;
        wait_for_timeout.await.expect("signal");
        peer.send(
            "Response: Success\r\nActionID: short\r\nPing: Pong\r\n\r\n\
             Response: Success\r\nActionID: long\r\nPing: Pong\r\n\r\n",
        )
        .await;
        peer
    });
    let client = Client::connect(config).await.expect("connect");
    // The long one goes first, so the short one's earlier deadline must move the timer.
    let long = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .send_with_timeout(
                    Action::new("Ping").header("ActionID", "long"),
                    Duration::from_secs(30),
                )
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    let error = client
        .send_with_timeout(
            Action::new("Ping").header("ActionID", "short"),
            Duration::from_millis(300),
        )
        .await
        .expect_err("no reply in time");
    let waited = started.elapsed();
    assert!(error.is_timeout(), "{error}");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    timed_out.send(()).expect("peer waiting");
    let reply = long
        .await
        .expect("task")
        .expect("the long one still gets its reply");
    assert!(reply.response().is_some_and(|r| r.value_is("Ping", "Pong")));
    assert_eq!(client.metrics().unmatched_responses, 1);
    let _peer = server.await.expect("script");
}

#[tokio::test]
async fn missed_keepalive_reconnects() {
    let listener = Listener::bind().await;
    let config = listener
        .config()
        .keepalive(Some(Duration::from_millis(50)))
        .reconnect(Some(Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(20),
        }));
    let server = tokio::spawn(async move {
        let mut silent = listener.accept().await;
        silent.greet("11.0.0").await;
        // Never answers the keepalive Ping.
        let mut peer = listener.accept().await;
        peer.greet("11.0.0").await;
        (silent, peer)
    });
    let client = Client::connect(config).await.expect("connect");
    let mut events = client.subscribe(Subscription::all().events(["none"]));
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(name(&events.recv().await.expect("state")));
    }
    assert_eq!(seen, ["disconnected", "connected"]);
    let _peers = server.await.expect("script");
}

#[tokio::test]
async fn split_mode_uses_an_action_connection_without_events() {
    let listener = Listener::bind().await;
    let config = listener.config().split_connections(true);
    let server = tokio::spawn(async move {
        let mut actions = listener.accept().await;
        let login = actions.greet("11.0.0").await;
        assert!(login.value_is("Events", "off"));
        let mut events = listener.accept().await;
        let login = events.greet("11.0.0").await;
        assert!(!login.contains("Events"));
        let ping = actions.expect("Ping").await;
        events
            .send("Event: Hangup\r\nChannel: A\r\nCause: 16\r\n\r\n")
            .await;
        actions
            .send(format!(
                "Response: Success\r\nActionID: {}\r\nPing: Pong\r\n\r\n",
                id(&ping)
            ))
            .await;
        (actions, events)
    });
    let client = Client::connect(config).await.expect("connect");
    let mut hangups = client.subscribe(Subscription::all().events(["Hangup"]));
    client.ping().await.expect("ping");
    loop {
        match hangups.recv().await.expect("event") {
            EventItem::Event(event) => {
                assert_eq!(event.get("Cause").as_deref(), Some("16"));
                break;
            }
            EventItem::Connection(_) => {}
            other => panic!("{other:?}"),
        }
    }
    let _peers = server.await.expect("script");
}

#[tokio::test]
async fn connect_and_login_timeouts_are_typed() {
    let listener = Listener::bind().await;
    let silent = listener
        .config()
        .connect_timeout(Duration::from_millis(200));
    let no_login = listener.config().login_timeout(Duration::from_millis(200));
    let server = tokio::spawn(async move {
        // First: accepts but never greets.
        let quiet = listener.accept().await;
        // Second: greets but never answers the Login.
        let mut mute = listener.accept().await;
        mute.send("Asterisk Call Manager/11.0.0\r\n").await;
        let _login = mute.expect("Login").await;
        (quiet, mute)
    });
    let error = Client::connect(silent).await.expect_err("no banner");
    assert!(error.is_timeout(), "{error}");
    assert!(error.to_string().contains("connect"), "{error}");
    let error = Client::connect(no_login).await.expect_err("no login reply");
    assert!(error.is_timeout(), "{error}");
    assert!(error.to_string().contains("login"), "{error}");
    let _peers = server.await.expect("script");
}

#[tokio::test]
async fn close_lets_actions_in_flight_finish_and_dropping_every_handle_logs_off() {
    let listener = Listener::bind().await;
    let config = listener.config();
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.greet("11.0.0").await;
        let ping = peer.expect("Ping").await;
        let logoff = peer.expect("Logoff").await;
        // The in-flight Ping is answered before the Goodbye, as Asterisk does in order.
        peer.send(format!(
            "Response: Success\r\nActionID: {}\r\nPing: Pong\r\n\r\n\
             Response: Goodbye\r\nActionID: {}\r\nMessage: Thanks for all the fish.\r\n\r\n",
            id(&ping),
            id(&logoff)
        ))
        .await;
        assert!(
            peer.next().await.is_none(),
            "connection closed after Goodbye"
        );
        let mut second = listener.accept().await;
        second.greet("11.0.0").await;
        let logoff = second.expect("Logoff").await;
        second
            .send(format!(
                "Response: Goodbye\r\nActionID: {}\r\n\r\n",
                id(&logoff)
            ))
            .await;
        assert!(
            second.next().await.is_none(),
            "task ended when the handles went away"
        );
    });
    let client = Client::connect(config.clone()).await.expect("connect");
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move { client.ping().await })
    };
    // Let the Ping reach the wire before closing.
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.close().await;
    let pong = in_flight
        .await
        .expect("task")
        .expect("answered before the Goodbye");
    assert!(pong.value_is("Ping", "Pong"));

    let client = Client::connect(config).await.expect("connect again");
    let mut events = client.subscribe(Subscription::all());
    drop(client);
    assert_eq!(events.recv().await, None, "subscribers end with the task");
    server.await.expect("script");
}

#[tokio::test]
async fn a_subscriber_made_before_connecting_sees_the_login_events() {
    let listener = Listener::bind().await;
    let config = listener.config();
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.greet("11.0.0").await;
        peer.send("Event: Newchannel\r\nChannel: A\r\n\r\n").await;
        peer
    });
    let (client, mut events) = Client::connect_subscribed(config, Subscription::all())
        .await
        .expect("connect");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(name(&events.recv().await.expect("item")));
    }
    assert_eq!(seen, ["connected", "FullyBooted", "Newchannel"]);
    drop(client);
    let _peer = server.await.expect("script");
}
