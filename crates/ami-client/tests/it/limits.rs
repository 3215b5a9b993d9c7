//! Caps where input accumulates: a list that never ends, a packet over the decoder's limits.

use std::time::{Duration, Instant};

use ami_client::{Action, Client, EventItem, Subscription};
use ami_proto::{DecodeError, Limits};

use crate::peer::{Listener, id};

/// A server that streams `CoreShowChannel` items without ever completing the list: the
/// caller gets the typed error as soon as the cap is passed, not at its action timeout, and
/// the rest of the items are discarded as they arrive.
#[tokio::test]
async fn an_endless_list_fails_fast_with_a_typed_error() {
    let listener = Listener::bind().await;
    let config = listener
        .config()
        .max_list_items(5_000)
        .action_timeout(Duration::from_secs(120));
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.greet("11.0.0").await;
        let action = peer.expect("CoreShowChannels").await;
        let id = id(&action);
        peer.send(format!(
            "Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n"
        ))
        .await;
        let mut chunk = String::new();
        for n in 0..500 {
            chunk.push_str(&format!(
                "Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: PJSIP/{n}-00000001\r\nChannelState: 6\r\n\r\n"
            ));
        }
        // Forever as far as the client can tell; bounded here so the script always ends
        // (it also ends when the client goes and the write fails).
        let started = Instant::now();
        let mut sent = 0u64;
        while started.elapsed() < Duration::from_secs(30) {
            use tokio::io::AsyncWriteExt;
            if peer.stream.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
            sent += 500;
        }
        sent
    });
    let client = Client::connect(config).await.expect("connect");
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        client.send(Action::new("CoreShowChannels")),
    )
    .await
    .expect("the cap ends the wait, not the action timeout");
    let error = result.expect_err("a list past the cap fails");
    assert!(error.is_too_large(), "{error}");
    assert!(!error.is_timeout());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    drop(client);
    let sent = server.await.expect("script");
    assert!(sent > 5_000, "the server kept streaming: {sent}");
}

/// A packet over the decoder's limit is skipped, and every subscriber is told where the
/// stream carried on, instead of silently seeing one event fewer.
#[tokio::test]
async fn a_skipped_packet_reaches_subscribers() {
    let listener = Listener::bind().await;
    let limits = Limits {
        max_packet_bytes: 1024,
        ..Limits::default()
    };
    let config = listener.config().decode_limits(limits);
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.greet("11.0.0").await;
        let big = "x".repeat(4096);
        peer.send(format!(
            "Event: UserEvent\r\nUserEvent: Big\r\nData: {big}\r\n\r\n\
             Event: UserEvent\r\nUserEvent: After\r\n\r\n"
        ))
        .await;
        // Until the client logs off (or goes).
        while let Some(action) = peer.next().await {
            if action.value_is("Action", "Logoff") {
                peer.send(format!(
                    "Response: Goodbye\r\nActionID: {}\r\nMessage: Bye\r\n\r\n",
                    id(&action)
                ))
                .await;
                break;
            }
        }
    });
    let (client, mut events) = Client::connect_subscribed(config, Subscription::all())
        .await
        .expect("connect");
    let mut seen = Vec::new();
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("items arrive")
            .expect("not ended");
        match item {
            EventItem::Skipped(error) => {
                assert!(
                    matches!(error, DecodeError::PacketTooLarge { limit: 1024, .. }),
                    "{error:?}"
                );
                seen.push("skipped".to_owned());
            }
            EventItem::Event(event) => {
                let name = event
                    .get("UserEvent")
                    .map(|n| n.into_owned())
                    .unwrap_or_else(|| event.name().into_owned());
                let after = name == "After";
                seen.push(name);
                if after {
                    break;
                }
            }
            _ => {}
        }
    }
    assert_eq!(seen, ["FullyBooted", "skipped", "After"]);
    assert_eq!(client.metrics().decode_errors, 1);
    client.close().await;
    server.await.expect("script");
}
