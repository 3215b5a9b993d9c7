//! Event delivery on a multi-thread runtime: a subscriber with the default buffer that keeps
//! up on average loses nothing when it is held back for a while.

use std::time::Duration;

use ami_client::{Client, Config, EventItem, Subscription};
use ami_sim::{Profile, SimConfig};

/// The burst: more events than the old default buffer held (4,096 events), well within the
/// default byte budget (the simulator's call events are about 400 bytes: ~4 MB of 8 MiB).
const BURST: u64 = 10_000;

/// A small pseudo-random pause now and then (xorshift: no dependency, same run every time).
fn pause(state: &mut u64) -> Option<Duration> {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state % 64 == 0).then(|| Duration::from_micros(*state % 500))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_keeps_up_on_average_loses_nothing_with_the_default_buffer() {
    let sim = ami_sim::spawn(SimConfig {
        profile: Profile::V22,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let config = Config::new("127.0.0.1", "admin", "amp111").port(sim.addr().port());
    let client = Client::connect(config).await.expect("connect");
    let mut subscriber = client.subscribe(Subscription::all());
    let before = client.metrics().events_received;
    sim.emit_events(BURST);
    let watcher = client.clone();
    let reader = tokio::spawn(async move {
        let mut seen = 0u64;
        let mut random = 0x2545_f491_4f6c_dd1d_u64;
        let mut stalled = false;
        while seen < BURST {
            match subscriber.recv().await {
                Some(EventItem::Event(_)) => seen += 1,
                Some(EventItem::Lagged(n)) => panic!("lagged {n} after {seen} events"),
                Some(EventItem::Connection(_)) => {}
                other => panic!("after {seen} events: {other:?}"),
            }
            if let Some(pause) = pause(&mut random) {
                tokio::time::sleep(pause).await;
            }
            if !stalled && seen == 500 {
                // A long hold-up (the scheduler, a slow disk): the rest of the burst arrives
                // meanwhile and waits in the subscriber's buffer.
                stalled = true;
                while watcher.metrics().events_received < before + BURST {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        (seen, subscriber.lagged())
    });
    let (seen, lagged) = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the burst is read within a minute")
        .expect("reader");
    assert_eq!((seen, lagged), (BURST, 0));
    assert_eq!(client.metrics().events_lagged, 0);
    client.close().await;
    sim.shutdown().await;
}
