//! Actions by NATS request/reply against a simulated PBX.

use std::time::Duration;

use ami_sim::SimConfig;
use serde_json::{Value, json};

use crate::publish::logged_in_bridge;

async fn request(nats: &async_nats::Client, subject: &str, body: Value) -> Value {
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        nats.request(
            subject.to_owned(),
            serde_json::to_vec(&body).expect("json").into(),
        ),
    )
    .await
    .expect("a reply in time")
    .expect("a reply");
    serde_json::from_slice(&reply.payload).expect("a JSON reply")
}

/// The reply to `{}` on `subject`, retried while nobody answers yet (the responder subscribes
/// right after the login, about when its marker is published).
async fn first_reply(nats: &async_nats::Client, subject: &str) -> Value {
    for _ in 0..50 {
        if let Ok(reply) = nats.request(subject.to_owned(), "{}".into()).await {
            return serde_json::from_slice(&reply.payload).expect("a JSON reply");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no responder on {subject} within 5 s");
}

#[tokio::test]
async fn allowed_actions_run_and_others_get_the_gateways_error_object() {
    let (nats, sim, bridge, js) = logged_in_bridge(
        SimConfig {
            demo_calls: true,
            ..SimConfig::default()
        },
        "[actions]\nallow = [\"*\", \"Command\", \"Hangup\"]\ndeny = [\"CoreStatus\"]\n",
    )
    .await;
    let client = nats.client().await;

    let pong = first_reply(&client, "ami.pbx_1.action.Ping").await;
    assert_eq!(pong["response"]["Response"], "Success", "{pong}");
    assert_eq!(pong["response"]["Ping"], "Pong", "{pong}");

    // A list action: its items collected, as the gateway gives them.
    let channels = request(&client, "ami.pbx_1.action.CoreShowChannels", json!({})).await;
    let items = channels["items"].as_array().expect("items");
    assert!(!items.is_empty(), "{channels}");
    assert!(items.iter().all(|item| item["Event"] == "CoreShowChannel"));
    assert_eq!(channels["complete"]["Event"], "CoreShowChannelsComplete");

    // Named in allow: Command runs, and its output comes back.
    let uptime = request(
        &client,
        "ami.pbx_1.action.Command",
        json!({"Command": "core show uptime"}),
    )
    .await;
    assert!(
        uptime["output"]
            .as_str()
            .is_some_and(|text| text.contains("uptime")),
        "{uptime}"
    );

    // "*" never grants Originate; a denied action is refused; neither reaches the PBX.
    let originate = request(
        &client,
        "ami.pbx_1.action.Originate",
        json!({"Channel": "Local/100@demo", "Application": "Wait", "Data": "1"}),
    )
    .await;
    assert_eq!(originate["error"]["code"], "forbidden", "{originate}");
    assert!(
        originate["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("does not grant")),
        "{originate}"
    );
    let status = request(&client, "ami.pbx_1.action.CoreStatus", json!({})).await;
    assert_eq!(status["error"]["code"], "forbidden", "{status}");

    // The PBX's own refusal is the gateway's `action_failed` with its response.
    let failed = request(
        &client,
        "ami.pbx_1.action.Hangup",
        json!({"Channel": "PJSIP/nobody-00000000"}),
    )
    .await;
    assert_eq!(failed["error"]["code"], "action_failed", "{failed}");
    assert_eq!(failed["error"]["response"]["Response"], "Error", "{failed}");
    let bad = request(
        &client,
        "ami.pbx_1.action.Ping",
        json!({"ActionID": "mine"}),
    )
    .await;
    assert_eq!(bad["error"]["code"], "bad_request", "{bad}");

    // Requests are not kept in the event stream.
    let stream = js.get_stream("AMI").await.expect("stream");
    let all = crate::publish::stored(&js).await;
    assert!(
        all.iter().all(|m| !m.subject.contains(".action.")),
        "{stream:?}"
    );

    bridge.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn with_no_actions_table_nothing_runs() {
    let (nats, sim, bridge, _js) = logged_in_bridge(SimConfig::default(), "").await;
    let client = nats.client().await;
    let answer = first_reply(&client, "ami.pbx_1.action.Ping").await;
    assert_eq!(answer["error"]["code"], "forbidden", "{answer}");
    bridge.stop().await;
    sim.shutdown().await;
}
