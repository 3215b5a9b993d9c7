//! `Client::connect_split`: the connection runs only where its future is polled.

use std::time::Duration;

use ami_client::Client;

use crate::peer::{Listener, id};

#[tokio::test]
async fn a_split_connection_works_only_once_its_future_runs_and_ends_with_the_client() {
    let listener = Listener::bind().await;
    let config = listener.config();
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.greet("11.0.0").await;
        // The Ping given up on while nothing ran still goes out once the connection runs.
        for _ in 0..2 {
            let ping = peer.expect("Ping").await;
            peer.send(format!(
                "Response: Success\r\nActionID: {}\r\nPing: Pong\r\n\r\n",
                id(&ping)
            ))
            .await;
        }
        let logoff = peer.expect("Logoff").await;
        peer.send(format!(
            "Response: Goodbye\r\nActionID: {}\r\nMessage: Thanks for all the fish.\r\n\r\n",
            id(&logoff)
        ))
        .await;
        peer
    });
    let (client, connection) = Client::connect_split(config).await.expect("connect");
    // Nothing drives the socket yet: the Ping waits in the queue.
    let early = tokio::time::timeout(Duration::from_millis(100), client.ping()).await;
    assert!(
        early.is_err(),
        "answered with no connection running: {early:?}"
    );
    let driver = tokio::spawn(connection);
    let pong = client.ping().await.expect("ping once the connection runs");
    assert!(pong.value_is("Ping", "Pong"));
    client.close().await;
    tokio::time::timeout(Duration::from_secs(5), driver)
        .await
        .expect("the connection future ends with the client")
        .expect("driver task");
    let _peer = server.await.expect("script");
}

/// A subscriber never waits for a connection task that is gone: dropping the connection
/// future (never run, or aborted while running) ends every subscriber.
#[tokio::test]
async fn subscribers_end_when_the_connection_task_is_gone() {
    let listener = Listener::bind().await;
    let config = listener.config();
    let server = tokio::spawn(async move {
        let mut peers = Vec::new();
        for _ in 0..2 {
            let mut peer = listener.accept().await;
            peer.greet("11.0.0").await;
            peers.push(peer);
        }
        peers
    });
    let within = Duration::from_secs(5);

    // Dropped before it ever ran.
    let (client, connection) = Client::connect_split(config.clone())
        .await
        .expect("connect");
    let mut sub = client.subscribe(ami_client::Subscription::all());
    drop(connection);
    assert_eq!(tokio::time::timeout(within, sub.recv()).await, Ok(None));

    // Aborted while running.
    let (client, connection) = Client::connect_split(config).await.expect("connect");
    let mut sub = client.subscribe(ami_client::Subscription::all());
    let driver = tokio::spawn(connection);
    tokio::task::yield_now().await;
    driver.abort();
    let _ = driver.await;
    assert_eq!(tokio::time::timeout(within, sub.recv()).await, Ok(None));
    let _peers = server.await.expect("script");
}
