//! The consumer module against a real bridge: stored messages read back with their meaning,
//! durable consumers and their filters, and the typed errors of request/reply.

use std::time::Duration;

use ami_bridge::consumer::{self, ConsumerError, Delivered, Start, Tracker, Verdict};
use ami_bridge::publish::Kind;
use ami_sim::SimConfig;
use futures_util::StreamExt;
use serde_json::json;

use crate::nats::NatsServer;
use crate::publish::{logged_in_bridge, wait_for};

#[tokio::test]
async fn a_consumer_reads_every_stored_message_in_order_and_knows_each_one() {
    // `_nats` (not `_`): the server lives until the end of the test.
    let (_nats, sim, bridge, js) = logged_in_bridge(SimConfig::default(), "").await;
    sim.emit_events(50);
    let stored = wait_for(&js, "the events", |all| {
        all.iter().filter(|m| m.get("Ami-Kind") == "event").count() >= 50
    })
    .await;

    let reader = consumer::open(&js, "AMI", Some("pbx.1"), Some("audit"), Start::First)
        .await
        .expect("a durable consumer");
    let mut batch = reader
        .batch()
        .max_messages(stored.len())
        .expires(Duration::from_secs(5))
        .messages()
        .await
        .expect("a pull");
    let mut tracker = Tracker::new();
    let mut read = Vec::new();
    while let Some(message) = batch.next().await {
        let message = message.expect("a message");
        let delivered = Delivered::parse(message.headers.as_ref(), &message.payload)
            .expect("a bridge's message");
        assert_eq!(tracker.handle(&delivered), Verdict::Fresh);
        // Seen again (a redelivery): skipped.
        assert_eq!(tracker.handle(&delivered), Verdict::Duplicate);
        message.ack().await.expect("ack");
        read.push(delivered);
    }
    assert_eq!(read.len(), stored.len());
    assert_eq!(read[0].kind, Kind::Connection);
    for (delivered, stored) in read.iter().zip(&stored) {
        assert_eq!(delivered.server, "pbx.1");
        assert_eq!(delivered.seq, stored.num("Ami-Seq"));
        assert_eq!(delivered.body, stored.body);
    }

    // The same durable name for another server's messages is refused, not reused.
    let error = consumer::open(&js, "AMI", Some("pbx.2"), Some("audit"), Start::First)
        .await
        .expect_err("another filter");
    assert!(
        matches!(error, ConsumerError::DurableMismatch { .. }),
        "{error}"
    );

    bridge.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn an_action_without_a_bridge_is_a_no_responder_error() {
    let nats = NatsServer::start();
    let client = nats.client().await;
    let error =
        consumer::request_action(&client, "pbx.9", "Ping", &json!({}), Duration::from_secs(5))
            .await
            .expect_err("nobody serves pbx.9");
    match error {
        ConsumerError::NoResponder { server, subject } => {
            assert_eq!(server, "pbx.9");
            assert_eq!(subject, "ami.pbx_9.action.Ping");
        }
        other => panic!("not NoResponder: {other}"),
    }
}
