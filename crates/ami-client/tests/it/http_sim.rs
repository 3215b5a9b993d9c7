//! AMI over HTTP against the simulator's `/rawman`, every test for every profile: logins,
//! Ping, a list, Command output, a refused action, events through WaitEvent after an
//! Originate, session expiry with a transparent new login, TLS.

use std::time::Duration;

use ami_client::typed::{EventView, Originate, OriginateResponse};
use ami_client::{
    Action, Auth, Backoff, Client, Config, ConnectionState, EventItem, Events, Reply, Subscriber,
    Subscription, Tls, TlsTrust,
};
use ami_sim::{Profile, SimConfig, SimHandle};

async fn spawn(profile: Profile, tweak: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut config = SimConfig {
        profile,
        auth_fail_delay: Duration::from_millis(10),
        http_listen: Some(([127, 0, 0, 1], 0).into()),
        ..SimConfig::default()
    };
    tweak(&mut config);
    ami_sim::spawn(config).await.expect("simulator")
}

fn url(sim: &SimHandle, scheme: &str) -> String {
    let port = sim.http_addr().expect("the HTTP listener").port();
    format!("{scheme}://127.0.0.1:{port}")
}

fn config(sim: &SimHandle, secret: &str) -> Config {
    Config::from_url(&url(sim, "http"), "admin", secret)
        .expect("url")
        .action_timeout(Duration::from_secs(10))
        .keepalive(Some(Duration::from_secs(5)))
        .reconnect(Some(Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(100),
        }))
}

fn ami_version(profile: Profile) -> &'static str {
    match profile {
        Profile::V22 => "11.0.0",
        Profile::V13 => "2.10.6",
        Profile::V11 => "1.3",
        Profile::V18 => "1.1",
    }
}

async fn next_item(subscriber: &mut Subscriber) -> EventItem {
    tokio::time::timeout(Duration::from_secs(10), subscriber.recv())
        .await
        .expect("an item within 10 s")
        .expect("subscriber open")
}

async fn logins_actions_and_refusals(profile: Profile) {
    let sim = spawn(profile, |_| {}).await;
    let client = Client::connect(config(&sim, "amp111").events(Events::Off))
        .await
        .expect("plain login");
    assert_eq!(client.ami_version(), ami_version(profile));
    assert!(client.ping().await.expect("ping").value_is("Ping", "Pong"));
    let channels = client.core_show_channels().await.expect("a list completes");
    assert!(channels.complete.event_name().is_some());
    let Reply::Command(output) = client
        .send(Action::new("Command").header("Command", "core show uptime"))
        .await
        .expect("command")
    else {
        panic!("not a Command reply")
    };
    assert!(
        output.output.contains("System uptime"),
        "{:?}",
        output.output
    );
    let refused = client
        .send(Action::new("NoSuchAction"))
        .await
        .expect_err("an unknown action is refused");
    assert_eq!(refused.kind(), ami_client::ErrorKind::Server, "{refused}");
    // Concurrent actions each get their own answer.
    let calls = (0..8).map(|i| {
        let client = client.clone();
        async move {
            let name = format!("HTTPVAR{i}");
            client
                .send(
                    Action::new("Setvar")
                        .header("Variable", name.as_str())
                        .header("Value", i.to_string()),
                )
                .await
                .expect("setvar");
            let got = client
                .send(Action::new("Getvar").header("Variable", name.as_str()))
                .await
                .expect("getvar");
            assert_eq!(
                got.response().and_then(|r| r.get("Value")).as_deref(),
                Some(i.to_string().as_str())
            );
        }
    });
    futures_util::future::join_all(calls).await;
    client.close().await;

    let md5 = Client::connect(config(&sim, "amp111").events(Events::Off).auth(Auth::Md5))
        .await
        .expect("MD5 login");
    md5.ping().await.expect("ping after MD5 login");
    md5.close().await;

    for auth in [Auth::Plain, Auth::Md5] {
        let error = Client::connect(config(&sim, "wrong").auth(auth))
            .await
            .expect_err("a wrong secret is refused");
        assert!(error.is_auth_failed(), "{auth:?}: {error}");
    }
    sim.shutdown().await;
}

async fn events_through_waitevent(profile: Profile) {
    let sim = spawn(profile, |_| {}).await;
    let client = Client::connect(config(&sim, "amp111"))
        .await
        .expect("connect");
    let mut subscriber = client.subscribe(Subscription::all().events(["Newchannel"]));
    // The async Originate's result comes through WaitEvent to the caller who asked for it.
    let (response, mut follow) = client
        .originate_following(
            Originate::to_application("Local/100@demo", "Playback", "demo-congrats").asynchronous(),
        )
        .await
        .expect("originate");
    assert!(response.value_is("Response", "Success"));
    loop {
        if let EventItem::Event(event) = next_item(&mut follow).await {
            let outcome =
                OriginateResponse::from_message(event.message()).expect("OriginateResponse");
            assert!(outcome.is_success(), "{:?}", event.message());
            break;
        }
    }
    loop {
        match next_item(&mut subscriber).await {
            EventItem::Event(event) => {
                assert_eq!(event.name(), "Newchannel");
                break;
            }
            EventItem::Connection(ConnectionState::Connected { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    client.close().await;
    sim.shutdown().await;
}

async fn session_expiry_logs_in_again(profile: Profile) {
    let sim = spawn(profile, |config| {
        config.http_timeout = Duration::from_secs(1)
    })
    .await;
    let client = Client::connect(config(&sim, "amp111").events(Events::Off).keepalive(None))
        .await
        .expect("connect");
    let mut states = client.subscribe(Subscription::all());
    client.ping().await.expect("ping");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let pong = client.ping().await.expect("ping on a new session");
    assert!(pong.value_is("Ping", "Pong"));
    assert!(matches!(
        next_item(&mut states).await,
        EventItem::Connection(ConnectionState::Disconnected { .. })
    ));
    assert!(matches!(
        next_item(&mut states).await,
        EventItem::Connection(ConnectionState::Connected { .. })
    ));
    assert_eq!(client.metrics().reconnects, 1);
    client.close().await;
    sim.shutdown().await;
}

async fn keepalive_outlives_the_session_timeout(profile: Profile) {
    let sim = spawn(profile, |config| {
        config.http_timeout = Duration::from_secs(2)
    })
    .await;
    // Keepalive every 5 s asked; the cookie's Max-Age of 2 s brings it down to 1 s.
    let client = Client::connect(config(&sim, "amp111").events(Events::Off))
        .await
        .expect("connect");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    client.ping().await.expect("ping");
    assert_eq!(client.metrics().reconnects, 0, "the session never expired");
    client.close().await;
    sim.shutdown().await;
}

async fn https_trust_modes(profile: Profile) {
    let sim = spawn(profile, |config| {
        config.tls = Some(ami_sim::TlsConfig::SelfSigned);
        config.http_tls = true;
    })
    .await;
    let pem = sim.tls_cert_pem().expect("certificate").to_owned();
    let dir = std::env::temp_dir().join(format!(
        "amikit-client-https-{}-{}",
        std::process::id(),
        sim.addr().port()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, pem).expect("write ca");
    let https = |trust| {
        Config::from_url(&url(&sim, "https"), "admin", "amp111")
            .expect("url")
            .events(Events::Off)
            .tls(Tls {
                trust,
                server_name: Some("localhost".into()),
            })
    };
    let client = Client::connect(https(TlsTrust::CaFile(ca.clone())))
        .await
        .expect("HTTPS with the CA file");
    client.ping().await.expect("ping over HTTPS");
    client.close().await;
    let insecure = Client::connect(https(TlsTrust::InsecureAcceptAny))
        .await
        .expect("HTTPS insecure mode");
    insecure.ping().await.expect("ping");
    insecure.close().await;
    let error = Client::connect(https(TlsTrust::SystemRoots))
        .await
        .expect_err("a self-signed certificate is not trusted by default");
    assert!(error.is_io(), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
    sim.shutdown().await;
}

macro_rules! every_profile {
    ($($module:ident => $profile:expr),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[tokio::test]
            async fn logins_actions_and_refusals() {
                super::logins_actions_and_refusals($profile).await
            }
            #[tokio::test]
            async fn events_through_waitevent() {
                super::events_through_waitevent($profile).await
            }
            #[tokio::test]
            async fn session_expiry_logs_in_again() {
                super::session_expiry_logs_in_again($profile).await
            }
            #[tokio::test]
            async fn keepalive_outlives_the_session_timeout() {
                super::keepalive_outlives_the_session_timeout($profile).await
            }
            #[tokio::test]
            async fn https_trust_modes() {
                super::https_trust_modes($profile).await
            }
        }
    )*};
}

every_profile!(v22 => Profile::V22, v13 => Profile::V13, v11 => Profile::V11, v1_8 => Profile::V18);
