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

/// A simulator, and a client that reconnects to it quickly after a restart.
async fn start(config: SimConfig) -> (ami_sim::SimHandle, Client) {
    let sim = ami_sim::spawn(config).await.expect("simulator");
    let config = Config::new("127.0.0.1", "admin", "amp111")
        .port(sim.addr().port())
        .reconnect(Some(Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(100),
        }));
    let client = Client::connect(config).await.expect("connect");
    (sim, client)
}

async fn follows_calls_restarts_and_verifies(profile: Profile) {
    let (sim, client) = start(SimConfig {
        profile,
        demo_calls: true,
        ..SimConfig::default()
    })
    .await;
    let live = LiveState::attach(&client).await.expect("attach");
    let snapshot = live.snapshot();
    assert!(
        snapshot.channels.len() >= 4,
        "{profile:?}: demo calls: {snapshot:?}"
    );
    assert_eq!(snapshot.queues["support"].members.len(), 2);
    // The plan of the server's version includes Agents: the simulator's one agent is there
    // (lists the simulator does not answer, such as ParkedCalls, leave the resync complete).
    let agent = live
        .agent("1001")
        .expect("the Agents list of the resync plan");
    assert_eq!(
        (
            agent.name.as_str(),
            agent.status.as_str(),
            agent.channel.clone()
        ),
        ("Agent One", "AGENT_LOGGEDOFF", None),
        "{profile:?}"
    );
    assert_eq!(live.agents().len(), ami_sim::AgentSpec::defaults().len());
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

/// Soak (short here): calls at a steady rate with queue calls, a consumer made slow on purpose
/// (the state's lock held while events pile up behind a 32-event buffer, so it lags and
/// resyncs), a restart; at every checkpoint the state equals the PBX's own lists.
async fn soak(profile: Profile) {
    let (sim, client) = start(SimConfig {
        profile,
        demo_calls: true,
        calls_per_second: Some(20.0),
        ..SimConfig::default()
    })
    .await;
    let live = LiveState::attach_with(
        &client,
        ami_client::Subscription::all().buffer(ami_client::Buffer::Events(32)),
    )
    .await
    .expect("attach");
    let resyncs = count_resyncs(&live);
    // What the generator made: transfers, Local optimisations, parking, queue calls.
    let mut counter = client
        .subscribe(ami_client::Subscription::all().buffer(ami_client::Buffer::Events(100_000)));
    let seen = tokio::spawn(async move {
        let mut seen = std::collections::BTreeSet::new();
        while let Some(item) = counter.recv().await {
            if let ami_client::EventItem::Event(event) = item {
                seen.insert(event.name().into_owned());
            }
        }
        seen
    });
    for checkpoint in 0..4 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        // The slow consumer: nothing is applied while the lock is held.
        live.with(|_| std::thread::sleep(Duration::from_millis(400)));
        if checkpoint == 2 {
            let reconnects = client.metrics().reconnects;
            sim.restart();
            reconnected(&client, reconnects).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let differences = live
            .verify_settled(3, Duration::from_millis(300))
            .await
            .expect("verify");
        assert!(
            differences.is_empty(),
            "{profile:?} checkpoint {checkpoint}: {differences:?}"
        );
    }
    let snapshot = live.snapshot();
    assert!(!snapshot.channels.is_empty(), "{profile:?}: calls are up");
    // The restart and the slow consumer's gaps each caused a resync.
    let resynced = resyncs.load(std::sync::atomic::Ordering::Relaxed);
    assert!(resynced >= 2, "{profile:?}: {resynced} resync(s)");
    client.close().await;
    sim.shutdown().await;
    let seen = seen.await.expect("counter");
    // (An attended transfer completes after a 2 s consultation: the restart may cut it;
    // the long soak, `examples/state_soak.rs`, counts them.)
    let expected: &[&str] = if profile == Profile::V22 {
        &[
            "BlindTransfer",
            "LocalOptimizationEnd",
            "ParkedCall",
            "QueueCallerJoin",
        ]
    } else {
        &["Masquerade", "Rename", "ParkedCall", "Join"]
    };
    for name in expected {
        assert!(seen.contains(*name), "{profile:?}: no {name} in {seen:?}");
    }
}

/// Waits until the client is logged in again after a restart: it has started a reconnect
/// since `reconnects` and an action succeeds. A fixed pause was not enough on a loaded
/// machine: the check's list actions then went out on the dropped connection
/// (`ConnectionLost`) or while it was down (`NotConnected`), before the comparison began.
async fn reconnected(client: &Client, reconnects: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if client.metrics().reconnects > reconnects
            && client.send(Action::new("Ping")).await.is_ok()
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for the reconnect"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counts the state's resyncs (`Change::Resynced`) from now on.
fn count_resyncs(live: &LiveState) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut changes = live.changes();
    let counted = count.clone();
    tokio::spawn(async move {
        loop {
            match changes.recv().await {
                Ok(ami_state::Change::Resynced) => {
                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_on_22() {
    soak(Profile::V22).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_on_1_8() {
    soak(Profile::V18).await;
}

/// 1.8 and 11 optimise a Local pair away with a masquerade (no LocalOptimization events):
/// `430` dials `Local/400`, which dials `Local/500`, which plays a beep. Afterwards the
/// model has the survivor (`;1`'s Uniqueid under the callee's name, still bridged with
/// `430`'s `;2`) and equals the PBX's lists.
async fn follows_a_1x_local_optimisation(profile: Profile) {
    let (sim, client) = start(SimConfig {
        profile,
        ..SimConfig::default()
    })
    .await;
    let live = LiveState::attach(&client).await.expect("attach");
    client
        .send(
            Action::new("Originate")
                .header("Channel", "Local/430@features")
                .header("Application", "Wait")
                .header("Data", "20")
                .header("Async", "true"),
        )
        .await
        .expect("originate");
    let original = |live: &LiveState| {
        live.with(|state| {
            state
                .channels()
                .values()
                .find(|c| c.name.starts_with("Local/400@demo-") && c.name.ends_with(";1"))
                .map(|c| c.uniqueid.clone())
        })
    };
    wait_until(&live, "the 400 pair", |live| original(live).is_some()).await;
    let uniqueid = original(&live).expect("the 400 pair's ;1");
    wait_until(&live, "the masquerade", |live| {
        live.with(|state| {
            state
                .channel(&uniqueid)
                .is_some_and(|c| c.name.starts_with("Local/500@demo-"))
        })
    })
    .await;
    wait_until(&live, "the 400 pair's ;2 gone", |live| {
        live.with(|state| {
            !state
                .channels()
                .values()
                .any(|c| c.name.starts_with("Local/400@demo-") || c.name.contains("<ZOMBIE>"))
        })
    })
    .await;
    let bridged_with_430 = live.with(|state| {
        let survivor = state.channel(&uniqueid).and_then(|c| c.bridge.clone());
        state.channels().values().any(|c| {
            c.name.starts_with("Local/430@features-") && c.bridge.is_some() && c.bridge == survivor
        })
    });
    assert!(bridged_with_430, "{profile:?}: the survivor stays bridged");
    let differences = live.verify().await.expect("verify");
    assert!(differences.is_empty(), "{profile:?}: {differences:?}");
    client.close().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn local_optimisation_on_1_8() {
    follows_a_1x_local_optimisation(Profile::V18).await;
}

#[tokio::test]
async fn local_optimisation_on_11() {
    follows_a_1x_local_optimisation(Profile::V11).await;
}

/// A scripted Asterisk 1.8 whose CoreShowChannels answer comes after 60 events paced over
/// 300 ms (a PBX under load while the list is built), one of them a `Newchannel` the list
/// does not hold; counts the CoreShowChannels it answered in `lists`.
async fn serve_busy_lists(
    listener: crate::peer::Listener,
    lists: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let mut peer = listener.accept().await;
    peer.greet("1.1").await;
    while let Some(action) = peer.next().await {
        let id = crate::peer::id(&action);
        let name = action
            .get("Action")
            .map(|n| n.into_owned())
            .unwrap_or_default();
        if name == "CoreShowChannels" {
            let round = lists.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            for n in 0..60 {
                if n == 30 {
                    peer.send(format!(
                        "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: SIP/100-{round:08}\r\n\
                         ChannelState: 4\r\nChannelStateDesc: Ring\r\nCallerIDNum: 100\r\n\
                         CallerIDName: \r\nAccountCode: \r\nExten: 200\r\nContext: default\r\n\
                         Uniqueid: 1700000000.{round}\r\n\r\n"
                    ))
                    .await;
                }
                peer.send(format!(
                    "Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: Load\r\nN: {n}\r\n\r\n"
                ))
                .await;
                if n % 2 == 1 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        let complete = match name.as_str() {
            "CoreShowChannels" | "QueueStatus" | "Agents" | "ParkedCalls" => {
                format!("{name}Complete")
            }
            _ => {
                peer.send(format!("Response: Success\r\nActionID: {id}\r\n\r\n"))
                    .await;
                continue;
            }
        };
        // The channel list holds one channel, which `attach` must return with.
        let item = if name == "CoreShowChannels" {
            format!(
                "Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: SIP/300-00000001\r\n\
                 UniqueID: 1600000000.1\r\nContext: default\r\nExtension: 400\r\n\
                 Priority: 1\r\nChannelState: 6\r\nChannelStateDesc: Up\r\n\
                 Application: Dial\r\nApplicationData: SIP/400\r\nCallerIDnum: 300\r\n\
                 Duration: 00:00:05\r\nAccountCode: \r\nBridgedChannel: \r\n\
                 BridgedUniqueID: \r\n\r\n"
            )
        } else {
            String::new()
        };
        let items = usize::from(!item.is_empty());
        peer.send(format!(
            "Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: follows\r\n\r\n\
             {item}Event: {complete}\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: {items}\r\n\r\n"
        ))
        .await;
    }
}

/// While a resync's lists are on the way the state goes on reading events: a PBX that sends
/// more events during a list than the subscription's buffer holds does not make it lag, so
/// one resync is enough (a state that stopped reading lagged at every resync and resynced
/// for ever), and an event sent during the list is in the state after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_events_while_its_lists_come() {
    let listener = crate::peer::Listener::bind().await;
    let config = listener.config();
    let lists = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let server = tokio::spawn(serve_busy_lists(listener, lists.clone()));
    let client = Client::connect(config).await.expect("connect");
    let live = LiveState::attach_with(
        &client,
        ami_client::Subscription::all().buffer(ami_client::Buffer::Events(32)),
    )
    .await
    .expect("attach");
    assert!(
        live.with(|state| state.channel("1600000000.1").is_some()),
        "attach returns once the lists are in the state"
    );
    assert!(
        live.with(|state| state.channel("1700000000.0").is_some()),
        "the Newchannel sent during the list is applied after it"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        lists.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one resync, no lag"
    );
    client.close().await;
    server.abort();
}
