//! A server that stops reading: the client's output stays capped and no caller waits forever,
//! even with keepalive off.

use std::time::{Duration, Instant};

use ami_client::{Action, Client};

use crate::peer::Listener;

#[tokio::test]
async fn a_peer_that_never_reads_leaves_every_caller_answered_in_time() {
    let listener = Listener::bind().await;
    // Keepalive is off in `Listener::config`: nothing but the cap stops the buffer growing.
    let config = listener.config().max_output_bytes(64 * 1024);
    let (finished, finish) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let mut peer = listener.accept().await;
        peer.greet("11.0.0").await;
        // Never reads again; the connection stays open until the test is over.
        let _ = finish.await;
        peer
    });
    let client = Client::connect(config).await.expect("connect");
    // 400 actions of 32 headers of 1,000 bytes (within Asterisk's line limits): 12.8 MB, far
    // past the loopback socket buffers (4 MiB to send, the receiver's initial window) and the
    // 64 KiB cap.
    let value = "x".repeat(1000);
    let started = Instant::now();
    let mut calls = Vec::new();
    for n in 0..400 {
        let client = client.clone();
        let action = (0..32).fold(
            Action::new("UserEvent").header("UserEvent", format!("load{n}")),
            |action, i| action.header(format!("Body{i}"), value.as_str()),
        );
        calls.push(tokio::spawn(async move {
            client
                .send_with_timeout(action, Duration::from_secs(1))
                .await
        }));
    }
    let (mut overloaded, mut timed_out) = (0, 0);
    for call in calls {
        match call.await.expect("task") {
            Ok(reply) => panic!("nobody answers, yet {reply:?}"),
            Err(error) if error.is_overloaded() => overloaded += 1,
            Err(error) if error.is_timeout() => timed_out += 1,
            Err(error) => panic!("unexpected {error}"),
        }
    }
    let waited = started.elapsed();
    assert!(timed_out > 0, "the actions taken wait for their timeout");
    assert!(
        overloaded > 0,
        "beyond the cap and its line, actions are refused at once"
    );
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    let _ = finished.send(());
    let _peer = server.await.expect("script");
}
