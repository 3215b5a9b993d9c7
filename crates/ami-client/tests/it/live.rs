//! `LiveState` against the simulator: attached state, a call placed and hung up through it,
//! a restart (reconnect and resync), and verify() on the 12+ and 1.x families.

use std::time::Duration;

use ami_client::live::LiveState;
use ami_client::{Action, Backoff, Client, Config};
use ami_sim::{Profile, SimConfig};

async fn wait_until(live: &LiveState, what: &str, check: impl Fn(&LiveState) -> bool) {
    let mut generation = live.generation();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check(live) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), generation.changed()).await;
    }
}

async fn follows_calls_restarts_and_verifies(profile: Profile) {
    let sim = ami_sim::spawn(SimConfig {
        profile,
        demo_calls: true,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let config = Config::new("127.0.0.1", "admin", "amp111")
        .port(sim.addr().port())
        .reconnect(Some(Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(100),
        }));
    let client = Client::connect(config).await.expect("connect");
    let live = LiveState::attach(&client).await.expect("attach");
    let snapshot = live.snapshot();
    assert!(
        snapshot.channels.len() >= 4,
        "{profile:?}: demo calls: {snapshot:?}"
    );
    assert_eq!(snapshot.queues["support"].members.len(), 2);
    let mut changes = live.changes();

    client
        .send(
            Action::new("Originate")
                .header("Channel", "Local/701@demo")
                .header("Application", "Wait")
                .header("Data", "30")
                .header("Async", "true"),
        )
        .await
        .expect("originate");
    let ringing = |live: &LiveState| {
        live.with(|state| {
            state
                .channels()
                .values()
                .find(|c| c.name.starts_with("Local/701@demo-") && c.application == "Wait")
                .map(|c| c.uniqueid.clone())
        })
    };
    wait_until(&live, "the originated call", |live| ringing(live).is_some()).await;
    assert!(changes.try_recv().is_ok(), "changes are published");
    let uniqueid = ringing(&live).expect("up");
    assert!(live.hangup(&uniqueid).await.expect("hangup"));
    wait_until(&live, "the hangup", |live| {
        live.with(|s| s.channel(&uniqueid).is_none())
    })
    .await;
    assert!(!live.hangup(&uniqueid).await.expect("gone"), "no longer up");

    // A restart drops every call and the connection: the state follows after the reconnect.
    sim.restart();
    wait_until(&live, "the resync after the restart", |live| {
        live.is_connected() && live.with(|s| !s.channels().values().any(|c| c.uniqueid == uniqueid))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let differences = live.verify().await.expect("verify");
    assert!(differences.is_empty(), "{profile:?}: {differences:?}");
    client.close().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn live_state_on_22() {
    follows_calls_restarts_and_verifies(Profile::V22).await;
}

#[tokio::test]
async fn live_state_on_1_8() {
    follows_calls_restarts_and_verifies(Profile::V18).await;
}
