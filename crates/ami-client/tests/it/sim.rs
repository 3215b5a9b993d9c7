//! Against the simulator (an independent peer), every test for every profile.

use std::time::Duration;

use ami_client::typed::{EventView, Originate, OriginateResponse};
use ami_client::{
    Action, Auth, Backoff, Buffer, Client, Config, ConnectionState, EventItem, Events, Reply,
    Subscriber, Subscription, Tls, TlsTrust,
};
use ami_sim::{Faults, Profile, SimConfig, SimHandle, Stall};

async fn spawn(profile: Profile, tweak: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut config = SimConfig {
        profile,
        auth_fail_delay: Duration::from_millis(10),
        ..SimConfig::default()
    };
    tweak(&mut config);
    ami_sim::spawn(config).await.expect("simulator")
}

fn config(sim: &SimHandle) -> Config {
    Config::new("127.0.0.1", "admin", "amp111")
        .port(sim.addr().port())
        .action_timeout(Duration::from_secs(10))
        .keepalive(Some(Duration::from_secs(5)))
        .reconnect(Some(Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(100),
        }))
}

async fn connect(sim: &SimHandle) -> Client {
    Client::connect(config(sim)).await.expect("connect")
}

fn banner_version(profile: Profile) -> &'static str {
    match profile {
        Profile::V22 => "11.0.0",
        Profile::V13 => "2.10.6",
        Profile::V11 => "1.3",
        Profile::V18 => "1.1",
    }
}

/// Reads until `want` events arrived; panics on a lag or after 10 s of silence.
async fn take_events(subscriber: &mut Subscriber, want: usize) -> Vec<ami_client::Event> {
    let mut events = Vec::with_capacity(want);
    while events.len() < want {
        match tokio::time::timeout(Duration::from_secs(10), subscriber.recv()).await {
            Ok(Some(EventItem::Event(event))) => events.push(event),
            Ok(Some(EventItem::Connection(_))) => {}
            Ok(Some(EventItem::Lagged(n))) => panic!("lagged {n} after {}", events.len()),
            Ok(Some(other)) => panic!("unexpected {other:?} after {}", events.len()),
            Ok(None) => panic!("closed after {} events", events.len()),
            Err(_) => panic!("only {} of {want} events", events.len()),
        }
    }
    events
}

async fn next_state(subscriber: &mut Subscriber) -> ConnectionState {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), subscriber.recv()).await {
            Ok(Some(EventItem::Connection(state))) => return state,
            Ok(Some(_)) => {}
            other => panic!("no connection state: {other:?}"),
        }
    }
}

/// Concurrent Setvar/Getvar pairs whose answers name their own variable: any misrouted
/// response shows up as a wrong value.
async fn check_routing(client: &Client, tag: &str, n: usize) {
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let client = client.clone();
            let name = format!("AMIKIT_{tag}_{i}");
            tokio::spawn(async move {
                client
                    .setvar(None, &name, &format!("value-{i}"))
                    .await
                    .expect("setvar");
                let value = client.getvar(None, &name).await.expect("getvar");
                assert_eq!(value, format!("value-{i}"), "{name}");
            })
        })
        .collect();
    for call in calls {
        call.await.expect("caller");
    }
}

async fn connect_login_and_banner(profile: Profile) {
    let sim = spawn(profile, |_| {}).await;
    let client = connect(&sim).await;
    assert_eq!(client.ami_version(), banner_version(profile));
    assert!(client.ping().await.expect("ping").value_is("Ping", "Pong"));
    let md5 = Client::connect(config(&sim).auth(Auth::Md5))
        .await
        .expect("md5 login");
    assert!(md5.ping().await.is_ok());
    let error = Client::connect(Config::new("127.0.0.1", "admin", "wrong").port(sim.addr().port()))
        .await
        .expect_err("bad secret");
    assert!(error.is_auth_failed(), "{error}");
    assert!(!error.is_timeout());
    let error = Client::connect(
        Config::new("127.0.0.1", "admin", "wrong")
            .port(sim.addr().port())
            .auth(Auth::Md5),
    )
    .await
    .expect_err("bad md5 key");
    assert!(error.is_auth_failed(), "{error}");
    md5.close().await;
    client.close().await;
    sim.shutdown().await;
}

async fn actions_routed_under_an_event_flood(profile: Profile) {
    let sim = spawn(profile, |_| {}).await;
    let client = connect(&sim).await;
    let mut all = client.subscribe(Subscription::all().buffer(Buffer::Bytes(64 << 20)));
    sim.emit_events(20_000);
    check_routing(&client, "flood", 200).await;
    // The flood finishes; every event the client received reached the subscriber.
    let pong = client.ping().await.expect("ping");
    assert!(pong.value_is("Ping", "Pong"));
    let mut seen = 0u64;
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen < 20_000 {
        match tokio::time::timeout_at(deadline, all.recv()).await {
            Ok(Some(EventItem::Event(_))) => seen += 1,
            Ok(Some(EventItem::Lagged(n))) => panic!("lagged {n}"),
            Ok(Some(EventItem::Connection(_))) => {}
            other => panic!("after {seen}: {other:?}"),
        }
        if seen % 1000 == 0 {
            deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        }
    }
    let metrics = client.metrics();
    assert_eq!(metrics.events_lagged, 0);
    assert!(metrics.events_received >= 20_000);
    client.close().await;
    sim.shutdown().await;
}

async fn lists_command_and_errors(profile: Profile) {
    let sim = spawn(profile, |config| config.demo_calls = true).await;
    let client = connect(&sim).await;
    for list in [
        client.core_show_channels().await.expect("CoreShowChannels"),
        client.status(None).await.expect("Status"),
        client.queue_status(None).await.expect("QueueStatus"),
        client.queue_summary(None).await.expect("QueueSummary"),
    ] {
        let name = list.complete.event_name().unwrap_or_default().into_owned();
        assert!(name.ends_with("Complete"), "{name}");
        if let Some(n) = list.complete.get("ListItems") {
            assert_eq!(n.parse::<usize>().ok(), Some(list.items.len()), "{name}");
        }
        // Pre-13 servers send no EventList for these; the Complete event still ends the list.
        let has_event_list = list.response.contains("EventList");
        if profile == Profile::V22 || profile == Profile::V13 {
            assert!(has_event_list, "{name}");
        }
    }
    assert!(
        !client
            .core_show_channels()
            .await
            .expect("csc")
            .items
            .is_empty(),
        "demo calls are up"
    );
    match client.send(Action::new("Queues")).await {
        Ok(Reply::Text(text)) => {
            assert_ne!(profile, Profile::V22);
            assert!(text.contains("support"), "{text}");
            assert!(!text.contains('\x1b'));
        }
        Err(error) => {
            assert_eq!(profile, Profile::V22, "{error}");
            assert!(
                error
                    .server_message()
                    .is_some_and(|m| m.contains("Invalid/unknown"))
            );
        }
        Ok(other) => panic!("{other:?}"),
    }
    let uptime = client.command("core show uptime").await.expect("command");
    assert!(uptime.contains("uptime"), "{uptime:?}");
    let error = client
        .command("frobnicate the widgets")
        .await
        .expect_err("unknown CLI command");
    assert!(
        error
            .command_output()
            .is_some_and(|o| o.contains("No such command")),
        "{error}"
    );
    let error = client
        .getvar(Some("PJSIP/none-0000"), "X")
        .await
        .expect_err("no channel");
    assert_eq!(error.server_message(), Some("No such channel"));
    client.db_put("amikit", "k", "v1").await.expect("dbput");
    assert_eq!(
        client
            .db_get("amikit", "k")
            .await
            .expect("dbget")
            .as_deref(),
        Some("v1")
    );
    assert_eq!(
        client.db_get("amikit", "missing").await.expect("dbget"),
        None
    );
    client.close().await;
    sim.shutdown().await;
}

async fn subscriptions_lag_and_followers(profile: Profile) {
    let sim = spawn(profile, |_| {}).await;
    let client = connect(&sim).await;
    let mut hangups = client.subscribe(Subscription::all().events(["Hangup"]));
    let mut tiny = client.subscribe(Subscription::all().buffer(Buffer::Events(16)));
    let mut users = client.subscribe(
        Subscription::all()
            .events(["UserEvent"])
            .header("UserEvent", "AmikitTest")
            .filter(|m| m.value_is("Marker", "42")),
    );
    sim.emit_events(5_000);
    client
        .user_event("AmikitTest", &[("Marker", "42")])
        .await
        .expect("userevent");
    let got = take_events(&mut users, 1).await;
    assert_eq!(got[0].get("Marker").as_deref(), Some("42"));
    let hangup = take_events(&mut hangups, 1).await;
    assert_eq!(hangup[0].name(), "Hangup");
    // The tiny subscriber was not read while 5,000 events passed: it is told what it missed.
    let mut delivered = 0u64;
    let mut missed = 0u64;
    while let Ok(Some(item)) = tiny.try_recv() {
        match item {
            EventItem::Event(_) => delivered += 1,
            EventItem::Lagged(n) => missed += n,
            EventItem::Connection(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(delivered, 16);
    assert!(missed > 0);
    assert_eq!(tiny.lagged(), missed);
    // An async Originate's result reaches the caller who asked for it.
    let (response, mut follow) = client
        .originate_following(
            Originate::to_application("Local/100@demo", "Playback", "demo-congrats").asynchronous(),
        )
        .await
        .expect("originate");
    assert!(response.value_is("Response", "Success"));
    let events = take_events(&mut follow, 1).await;
    let outcome = OriginateResponse::from_message(&events[0]).expect("OriginateResponse");
    assert!(outcome.is_success(), "{:?}", events[0]);
    client.close().await;
    sim.shutdown().await;
}

async fn events_off_at_login(profile: Profile) {
    let sim = spawn(profile, |_| {}).await;
    let client = Client::connect(config(&sim).events(Events::Off))
        .await
        .expect("connect");
    let mut all = client.subscribe(Subscription::all());
    client
        .user_event("AmikitQuiet", &[])
        .await
        .expect("userevent");
    client.ping().await.expect("ping");
    assert!(all.try_recv().is_err(), "no event with Events: off");
    client.set_events(Events::On).await.expect("events on");
    client
        .user_event("AmikitLoud", &[])
        .await
        .expect("userevent");
    let got = take_events(&mut all, 1).await;
    assert_eq!(got[0].get("UserEvent").as_deref(), Some("AmikitLoud"));
    client.close().await;
    sim.shutdown().await;
}

async fn event_mask_at_login(profile: Profile) {
    let sim = spawn(profile, |_| {}).await;
    let client = Client::connect(config(&sim).events(Events::Mask("user".into())))
        .await
        .expect("connect");
    let mut all = client.subscribe(Subscription::all().buffer(Buffer::Bytes(16 << 20)));
    let mut ours = client.subscribe(Subscription::all().header("UserEvent", "AmikitMasked"));
    // The stream's call events are outside the mask; its dialplan UserEvents and ours are in.
    sim.emit_events(200);
    client.ping().await.expect("ping");
    client
        .user_event("AmikitMasked", &[])
        .await
        .expect("userevent");
    take_events(&mut ours, 1).await;
    let mut seen = 0;
    while let Ok(Some(item)) = all.try_recv() {
        if let EventItem::Event(event) = item {
            assert!(
                event
                    .get("Privilege")
                    .is_some_and(|p| p.starts_with("user")),
                "{event:?}"
            );
            seen += 1;
        }
    }
    assert!(seen >= 1);
    client.close().await;
    sim.shutdown().await;
}

async fn split_connections(profile: Profile) {
    let sim = spawn(profile, |_| {}).await;
    let client = Client::connect(config(&sim).split_connections(true))
        .await
        .expect("connect");
    let mut users = client.subscribe(Subscription::all().events(["UserEvent"]));
    check_routing(&client, "split", 20).await;
    client
        .user_event("AmikitSplit", &[])
        .await
        .expect("userevent");
    let got = take_events(&mut users, 1).await;
    assert_eq!(got[0].get("UserEvent").as_deref(), Some("AmikitSplit"));
    assert_eq!(sim.open_connections(), 2);
    client.close().await;
    sim.shutdown().await;
}

async fn restart_reconnects_and_restores_filters(profile: Profile) {
    let sim = spawn(profile, |_| {}).await;
    let client = connect(&sim).await;
    let mut states = client.subscribe(Subscription::all().header("UserEvent", "AmikitAfter"));
    let filtered = match client.add_filter("Event: UserEvent").await {
        Ok(_) => true,
        Err(error) => {
            // Asterisk 1.8 has no Filter action.
            assert_eq!(profile, Profile::V18, "{error}");
            false
        }
    };
    sim.restart();
    assert!(matches!(
        next_state(&mut states).await,
        ConnectionState::Disconnected { .. }
    ));
    assert_eq!(
        next_state(&mut states).await,
        ConnectionState::Connected {
            ami_version: banner_version(profile).into()
        }
    );
    let mut all = client.subscribe(Subscription::all());
    check_routing(&client, "restart", 10).await;
    sim.emit_events(50);
    client
        .user_event("AmikitAfter", &[])
        .await
        .expect("userevent");
    let got = take_events(&mut states, 1).await;
    assert_eq!(got[0].get("UserEvent").as_deref(), Some("AmikitAfter"));
    if filtered {
        // The restored server-side filter lets only UserEvents through.
        while let Ok(Some(item)) = all.try_recv() {
            if let EventItem::Event(event) = item {
                assert_eq!(event.name(), "UserEvent", "{event:?}");
            }
        }
    }
    assert!(client.metrics().reconnects >= 1);
    client.close().await;
    sim.shutdown().await;
}

async fn faults_split_writes_and_garbage(profile: Profile) {
    let sim = spawn(profile, |config| {
        config.faults = Faults {
            seed: 7,
            split_writes: true,
            garbage_every: Some(5),
            ..Faults::default()
        };
    })
    .await;
    let client = connect(&sim).await;
    let mut all = client.subscribe(Subscription::all().buffer(Buffer::Bytes(16 << 20)));
    sim.emit_events(300);
    check_routing(&client, "split", 50).await;
    let list = client.core_show_channels().await.expect("csc");
    assert!(list.complete.event_name().is_some());
    let mut events = 0;
    while events < 300 {
        match tokio::time::timeout(Duration::from_secs(10), all.recv()).await {
            Ok(Some(EventItem::Event(event))) => {
                if !event.is_response() {
                    events += 1;
                }
            }
            Ok(Some(EventItem::Lagged(n))) => panic!("lagged {n}"),
            Ok(Some(EventItem::Connection(state))) => panic!("{state:?}"),
            other => panic!("after {events}: {other:?}"),
        }
    }
    client.close().await;
    sim.shutdown().await;
}

async fn faults_drop_mid_packet(profile: Profile) {
    let sim = spawn(profile, |config| {
        config.faults = Faults {
            seed: 3,
            drop_mid_packet_after: Some(12),
            ..Faults::default()
        };
    })
    .await;
    let client = connect(&sim).await;
    let mut states = client.subscribe(Subscription::all());
    // Keep actions flowing until the connection drops under some of them.
    let mut lost = 0;
    let mut ok = 0;
    for round in 0..40 {
        match client.getvar(None, &format!("NOPE_{round}")).await {
            Ok(_) => ok += 1,
            Err(error) if error.is_connection_lost() => lost += 1,
            Err(error) => panic!("{error}"),
        }
        if lost > 0 && ok > 0 && round > 20 {
            break;
        }
    }
    assert!(
        lost >= 1,
        "the fault dropped the connection under an action"
    );
    let mut saw_down = false;
    while let Ok(Some(item)) = states.try_recv() {
        if let EventItem::Connection(ConnectionState::Disconnected { .. }) = item {
            saw_down = true;
        }
    }
    assert!(saw_down);
    assert!(client.metrics().connection_lost >= 1);
    client.close().await;
    sim.shutdown().await;
}

async fn faults_stall_times_out_then_recovers(profile: Profile) {
    let sim = spawn(profile, |config| {
        config.faults = Faults {
            seed: 1,
            stall: Some(Stall {
                after_packets: 4,
                duration: Duration::from_millis(400),
            }),
            ..Faults::default()
        };
    })
    .await;
    let client = connect(&sim).await;
    let mut timed_out = 0;
    for _ in 0..4 {
        match client
            .send_with_timeout(Action::new("Ping"), Duration::from_millis(100))
            .await
        {
            Ok(_) => {}
            Err(error) if error.is_timeout() => timed_out += 1,
            Err(error) => panic!("{error}"),
        }
    }
    assert!(timed_out >= 1, "the stall outlasted a 100 ms timeout");
    tokio::time::sleep(Duration::from_millis(500)).await;
    check_routing(&client, "stall", 10).await;
    client.close().await;
    sim.shutdown().await;
}

async fn close_ends_everything(profile: Profile) {
    let sim = spawn(profile, |_| {}).await;
    let client = connect(&sim).await;
    let mut all = client.subscribe(Subscription::all());
    let other = client.clone();
    client.close().await;
    let error = other.ping().await.expect_err("closed");
    assert!(error.is_closed(), "{error}");
    loop {
        match tokio::time::timeout(Duration::from_secs(5), all.recv()).await {
            Ok(None) => break,
            Ok(Some(_)) => {}
            Err(_) => panic!("subscriber not ended"),
        }
    }
    for _ in 0..100 {
        if sim.open_connections() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sim.open_connections(), 0);
    sim.shutdown().await;
}

async fn tls_trust_modes(profile: Profile) {
    let sim = spawn(profile, |config| {
        config.tls = Some(ami_sim::TlsConfig::SelfSigned);
    })
    .await;
    let pem = sim.tls_cert_pem().expect("certificate").to_owned();
    let dir = std::env::temp_dir().join(format!(
        "amikit-client-{}-{}",
        std::process::id(),
        sim.addr().port()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, pem).expect("write ca");
    let tls = |trust| Tls {
        trust,
        server_name: Some("localhost".into()),
    };
    let client = Client::connect(config(&sim).tls(tls(TlsTrust::CaFile(ca.clone()))))
        .await
        .expect("TLS with the CA file");
    assert_eq!(client.ami_version(), banner_version(profile));
    check_routing(&client, "tls", 10).await;
    client.close().await;
    let insecure = Client::connect(config(&sim).tls(tls(TlsTrust::InsecureAcceptAny)))
        .await
        .expect("TLS insecure mode");
    insecure.ping().await.expect("ping");
    insecure.close().await;
    let error = Client::connect(config(&sim).tls(tls(TlsTrust::SystemRoots)))
        .await
        .expect_err("a self-signed certificate is not trusted by default");
    assert!(error.is_io(), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
    sim.shutdown().await;
}

/// A self-signed certificate as `openssl req -x509` makes it: marked as a CA, which strict
/// verification refuses as a server's own certificate. Trusting that very file works, and so
/// does pinning its SHA-256; another pin is refused.
#[tokio::test]
async fn a_self_signed_ca_certificate_is_trusted_exactly_or_by_pin() {
    use sha2::Digest;
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("certificate");
    let dir = std::env::temp_dir().join(format!("amikit-client-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    let sim = spawn(Profile::V22, |config| {
        config.tls = Some(ami_sim::TlsConfig::Files {
            cert: cert_path.clone(),
            key: key_path.clone(),
        });
    })
    .await;
    let tls = |trust| Tls {
        trust,
        server_name: Some("localhost".into()),
    };
    let exact = Client::connect(config(&sim).tls(tls(TlsTrust::CaFile(cert_path.clone()))))
        .await
        .expect("the very certificate given as the CA file");
    exact.ping().await.expect("ping");
    exact.close().await;
    let fingerprint: [u8; 32] = sha2::Sha256::digest(cert.der()).into();
    let text: Vec<String> = fingerprint.iter().map(|b| format!("{b:02X}")).collect();
    let pin = ami_client::parse_sha256_pin(&text.join(":")).expect("openssl's form parses");
    assert_eq!(pin, fingerprint);
    let pinned = Client::connect(config(&sim).tls(tls(TlsTrust::Sha256Pins(vec![pin]))))
        .await
        .expect("pinned");
    pinned.ping().await.expect("ping");
    pinned.close().await;
    let wrong = Client::connect(config(&sim).tls(tls(TlsTrust::Sha256Pins(vec![[7; 32]]))))
        .await
        .expect_err("another pin is refused");
    assert!(wrong.is_io(), "{wrong}");
    let _ = std::fs::remove_dir_all(&dir);
    sim.shutdown().await;
}

macro_rules! every_profile {
    ($($module:ident => $profile:expr),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[tokio::test]
            async fn connect_login_and_banner() {
                super::connect_login_and_banner($profile).await
            }
            #[tokio::test]
            async fn actions_routed_under_an_event_flood() {
                super::actions_routed_under_an_event_flood($profile).await
            }
            #[tokio::test]
            async fn lists_command_and_errors() {
                super::lists_command_and_errors($profile).await
            }
            #[tokio::test]
            async fn subscriptions_lag_and_followers() {
                super::subscriptions_lag_and_followers($profile).await
            }
            #[tokio::test]
            async fn events_off_at_login() {
                super::events_off_at_login($profile).await
            }
            #[tokio::test]
            async fn event_mask_at_login() {
                super::event_mask_at_login($profile).await
            }
            #[tokio::test]
            async fn split_connections() {
                super::split_connections($profile).await
            }
            #[tokio::test]
            async fn restart_reconnects_and_restores_filters() {
                super::restart_reconnects_and_restores_filters($profile).await
            }
            #[tokio::test]
            async fn faults_split_writes_and_garbage() {
                super::faults_split_writes_and_garbage($profile).await
            }
            #[tokio::test]
            async fn faults_drop_mid_packet() {
                super::faults_drop_mid_packet($profile).await
            }
            #[tokio::test]
            async fn faults_stall_times_out_then_recovers() {
                super::faults_stall_times_out_then_recovers($profile).await
            }
            #[tokio::test]
            async fn close_ends_everything() {
                super::close_ends_everything($profile).await
            }
            #[tokio::test]
            async fn tls_trust_modes() {
                super::tls_trust_modes($profile).await
            }
        }
    )*};
}

every_profile!(v22 => Profile::V22, v13 => Profile::V13, v11 => Profile::V11, v1_8 => Profile::V18);

/// On a single-threaded runtime a subscriber that keeps reading must keep up with a flood: the
/// connection task lets it drain its queue before reading more, so a small buffer never lags.
#[tokio::test]
async fn a_reading_subscriber_keeps_up_with_a_flood_on_one_thread() {
    let sim = spawn(Profile::V22, |_| {}).await;
    let client = connect(&sim).await;
    let mut subscriber = client.subscribe(Subscription::all().buffer(Buffer::Events(256)));
    sim.emit_events(100_000);
    // `take_events` panics on a lag.
    assert_eq!(take_events(&mut subscriber, 100_000).await.len(), 100_000);
    client.close().await;
    sim.shutdown().await;
}

/// An action over Asterisk's input limits would be cut or refused by the server without its
/// ActionID, and the caller would wait out the action timeout: it fails at once instead, and
/// the connection carries on.
#[tokio::test]
async fn an_action_over_asterisks_limits_fails_at_once() {
    let sim = spawn(Profile::V22, |_| {}).await;
    let client = connect(&sim).await;
    // Action: + 125 headers + the client's ActionID = 127 lines: the most that fits.
    let fits = (0..125).fold(Action::new("Ping"), |a, i| a.header(format!("X{i}"), "v"));
    client.send(fits).await.expect("127 lines fit");
    let cases = [
        (0..126).fold(Action::new("Ping"), |a, i| a.header(format!("X{i}"), "v")),
        Action::new("Ping").header("X", "v".repeat(ami_proto::MAX_LINE_BYTES - 2)),
    ];
    for action in cases {
        let started = std::time::Instant::now();
        let error = client.send(action).await.expect_err("over the limits");
        assert!(error.is_too_large(), "{error}");
        assert!(!error.is_timeout(), "{error}");
        assert!(started.elapsed() < Duration::from_secs(1), "{error}");
        assert!(
            error.to_string().contains("Asterisk reads at most"),
            "{error}"
        );
    }
    client.ping().await.expect("the connection goes on");
    client.close().await;
    sim.shutdown().await;
}

/// The TLS settings (the CA file read, the rustls config built) are made once per `Config`:
/// a reconnect reuses them, so it works even after the CA file is gone, and no connect reads a
/// file on the async runtime.
#[tokio::test]
async fn tls_settings_are_built_once_and_reused_by_reconnects() {
    let sim = spawn(Profile::V22, |config| {
        config.tls = Some(ami_sim::TlsConfig::SelfSigned);
    })
    .await;
    let pem = sim.tls_cert_pem().expect("certificate").to_owned();
    let dir = std::env::temp_dir().join(format!(
        "amikit-client-once-{}-{}",
        std::process::id(),
        sim.addr().port()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, pem).expect("write ca");
    let tls = Tls {
        trust: TlsTrust::CaFile(ca.clone()),
        server_name: Some("localhost".into()),
    };
    let (client, mut events) =
        Client::connect_subscribed(config(&sim).tls(tls), Subscription::all().events(["none"]))
            .await
            .expect("TLS with the CA file");
    assert!(matches!(
        next_state(&mut events).await,
        ConnectionState::Connected { .. }
    ));
    std::fs::remove_file(&ca).expect("remove the CA file");
    sim.restart();
    assert!(matches!(
        next_state(&mut events).await,
        ConnectionState::Disconnected { .. }
    ));
    assert!(
        matches!(
            next_state(&mut events).await,
            ConnectionState::Connected { .. }
        ),
        "reconnected with the settings built at the first connect"
    );
    client.ping().await.expect("ping after the reconnect");
    client.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    sim.shutdown().await;
}

/// The queue helpers take the queue first, every one of them.
#[tokio::test]
async fn queue_helpers_take_the_queue_first() {
    let sim = spawn(Profile::V22, |_| {}).await;
    let client = connect(&sim).await;
    let member = "PJSIP/7777";
    client
        .queue_add("support", member, false)
        .await
        .expect("QueueAdd");
    client
        .queue_pause(Some("support"), member, true)
        .await
        .expect("QueuePause");
    let status = client
        .queue_status(Some("support"))
        .await
        .expect("QueueStatus");
    let paused: Vec<_> = status
        .items
        .iter()
        .filter(|item| item.value_is("Location", member))
        .map(|item| item.get("Paused").map(|p| p.into_owned()))
        .collect();
    assert_eq!(paused, [Some("1".to_owned())], "{:?}", status.items);
    client
        .queue_remove("support", member)
        .await
        .expect("QueueRemove");
    client.close().await;
    sim.shutdown().await;
}
