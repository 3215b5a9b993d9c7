//! The PBX's live state in the gateway, against the simulator: the PBX gauges equal what the
//! PBX itself lists after lost events and after a restart.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ami_sim::{Profile, SimConfig};
use serde_json::Value;

use crate::support::{ADMIN, Gateway, metric};

/// What the PBX gauges count, as numbers to compare.
#[derive(Debug, PartialEq, Default)]
struct Counts {
    channels: usize,
    /// Bridges with channels in them (the simulator has no BridgeList: counted from the
    /// channels' BridgeId); `None` on 1.x, whose CoreShowChannel has no BridgeId.
    bridges: Option<usize>,
    /// Per queue: callers waiting, members, paused members.
    queues: BTreeMap<String, (usize, usize, usize)>,
}

/// The items of a list action, sent through the gateway (the PBX's own answer).
async fn list(gateway: &Gateway, action: &str) -> Vec<Value> {
    let reply = gateway
        .post(
            &format!("/v1/servers/sim/actions/{action}"),
            Some(ADMIN),
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{action}: {}", reply.body);
    reply.json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// What the PBX lists now.
async fn truth(gateway: &Gateway, bridges: bool) -> Counts {
    let channels = list(gateway, "CoreShowChannels").await;
    let bridge_ids: std::collections::BTreeSet<&str> = channels
        .iter()
        .filter_map(|c| c["BridgeId"].as_str())
        .filter(|id| !id.is_empty())
        .collect();
    let mut counts = Counts {
        channels: channels.len(),
        bridges: bridges.then_some(bridge_ids.len()),
        ..Counts::default()
    };
    for item in list(gateway, "QueueStatus").await {
        let queue = item["Queue"].as_str().unwrap_or_default().to_owned();
        let entry = counts.queues.entry(queue).or_default();
        match item["Event"].as_str() {
            Some("QueueEntry") => entry.0 += 1,
            Some("QueueMember") => {
                entry.1 += 1;
                if item["Paused"] == "1" {
                    entry.2 += 1;
                }
            }
            _ => {}
        }
    }
    counts
}

/// The value of each sample of `name` for server `sim`, by its `queue` label (empty without).
fn samples(text: &str, name: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        // The name exactly: `..._members` is not `..._members_paused`.
        let Some(rest) = line
            .strip_prefix(name)
            .filter(|r| r.starts_with(['{', ' ']))
        else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once(' ') else {
            continue;
        };
        if !labels.starts_with("{server=\"sim\"") {
            continue;
        }
        let queue = labels
            .split_once("queue=\"")
            .and_then(|(_, q)| q.split_once('"'))
            .map(|(q, _)| q.to_owned())
            .unwrap_or_default();
        out.insert(queue, value.parse::<f64>().expect("a number") as usize);
    }
    out
}

/// What the gateway's PBX gauges say now.
async fn gauges(gateway: &Gateway, bridges: bool) -> Counts {
    let text = gateway.get("/metrics", None).await.body;
    let one = |name: &str| samples(&text, name).get("").copied().unwrap_or(usize::MAX);
    let waiting = samples(&text, "ami_gateway_pbx_queue_calls_waiting");
    let members = samples(&text, "ami_gateway_pbx_queue_members");
    let paused = samples(&text, "ami_gateway_pbx_queue_members_paused");
    let queues = members
        .iter()
        .map(|(queue, &n)| {
            let get = |m: &BTreeMap<String, usize>| m.get(queue).copied().unwrap_or(usize::MAX);
            (queue.clone(), (get(&waiting), n, get(&paused)))
        })
        .collect();
    Counts {
        channels: one("ami_gateway_pbx_active_channels"),
        bridges: bridges.then(|| one("ami_gateway_pbx_bridges")),
        queues,
    }
}

/// Waits until the gauges equal what the PBX lists (a resync may still be on the way), or
/// fails with both.
async fn wait_exact(gateway: &Gateway, bridges: bool, when: &str) -> Counts {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let truth = truth(gateway, bridges).await;
        let gauges = gauges(gateway, bridges).await;
        if gauges == truth {
            return truth;
        }
        assert!(
            Instant::now() < deadline,
            "{when}: the gauges {gauges:?} are not the PBX's {truth:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts calls that stay up for half a minute or more, all at once: each is a burst of
/// events. Half dial `800` (a bridged call of two Local pairs), half wait in queue `support`.
async fn originate_burst(gateway: &Gateway, n: usize) {
    let calls = (0..n).map(|i| {
        let exten = if i % 2 == 0 { "900" } else { "600" };
        let body = format!(
            r#"{{"Channel": "Local/{exten}@demo", "Application": "Wait", "Data": "60", "Async": true}}"#
        );
        async move {
            let reply = gateway
                .post("/v1/servers/sim/actions/Originate", Some(ADMIN), &body)
                .await;
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
    });
    futures_util::future::join_all(calls).await;
}

async fn gauges_stay_exact_after_lag_and_restart(profile: Profile) {
    let bridges = matches!(profile, Profile::V22 | Profile::V13);
    let gateway = Gateway::start_with(
        SimConfig {
            profile,
            demo_calls: true,
            ..SimConfig::default()
        },
        // A tiny buffer for the gateway's own subscription: bursts of call events overflow it.
        "[streams]\nupstream_buffer = 4\n",
        None,
    )
    .await;
    let start = wait_exact(&gateway, bridges, "at connect").await;
    assert!(start.channels >= 4, "{profile:?}: demo calls: {start:?}");
    assert!(start.queues.contains_key("support"), "{start:?}");

    let lagged = "ami_gateway_upstream_events_lagged_total{server=\"sim\"}";
    for _ in 0..10 {
        originate_burst(&gateway, 10).await;
        if metric(&gateway, lagged).await > 0.0 {
            break;
        }
    }
    assert!(
        metric(&gateway, lagged).await > 0.0,
        "{profile:?}: the gateway's subscription never lost events"
    );
    let after_lag = wait_exact(&gateway, bridges, "after lost events").await;
    assert!(
        after_lag.channels >= start.channels + 10,
        "{profile:?}: the calls are counted: {after_lag:?}"
    );

    gateway.sim.restart();
    tokio::time::sleep(Duration::from_millis(200)).await;
    gateway.wait_connected().await;
    let after_restart = wait_exact(&gateway, bridges, "after a restart").await;
    assert!(
        after_restart.channels < after_lag.channels,
        "{profile:?}: the restart dropped the calls: {after_restart:?}"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pbx_gauges_are_exact_after_lag_and_restart_on_22() {
    gauges_stay_exact_after_lag_and_restart(Profile::V22).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pbx_gauges_are_exact_after_lag_and_restart_on_1_8() {
    gauges_stay_exact_after_lag_and_restart(Profile::V18).await;
}

/// Waits until `check` holds for the gateway's `/state`, or fails with the last one.
async fn wait_state(gateway: &Gateway, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = gateway.get("/v1/servers/sim/state", Some(ADMIN)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let state = reply.json();
        if check(&state) {
            return state;
        }
        assert!(Instant::now() < deadline, "{what}: {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Uniqueids the PBX lists.
async fn listed_uniqueids(gateway: &Gateway) -> Vec<String> {
    let mut ids: Vec<String> = list(gateway, "CoreShowChannels")
        .await
        .iter()
        .filter_map(|c| c["Uniqueid"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// The state API serves the model: the whole snapshot and its parts, equal to what the PBX
/// lists; the token rules of reading events apply; an unknown server is the gateway's 404.
#[tokio::test]
async fn the_state_api_serves_the_live_state_to_tokens_that_may_read_its_events() {
    let gateway = Gateway::start("").await;
    let truth = listed_uniqueids(&gateway).await;
    assert!(truth.len() >= 4, "demo calls: {truth:?}");
    let state = wait_state(&gateway, "the channels the PBX lists", |state| {
        let mut ids: Vec<String> = state["channels"]
            .as_object()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        ids.sort();
        ids == truth
    })
    .await;
    for field in ["channels", "calls", "bridges", "queues"] {
        assert!(state.get(field).is_some(), "{field}: {state}");
    }
    let channel = state["channels"]
        .as_object()
        .and_then(|c| c.values().next())
        .expect("a channel");
    assert!(
        channel["name"].as_str().is_some_and(|n| n.contains('/')),
        "{channel}"
    );

    // Calls name channels by Uniqueid; the channels come along to resolve them.
    let calls = gateway.get("/v1/servers/sim/calls", Some(ADMIN)).await;
    assert_eq!(calls.status, 200, "{}", calls.body);
    let calls = calls.json();
    let list = calls["calls"].as_array().expect("calls");
    assert!(!list.is_empty(), "{calls}");
    for call in list {
        for id in call["channels"].as_array().expect("channel ids") {
            let id = id.as_str().expect("a Uniqueid");
            assert!(calls["channels"].get(id).is_some(), "{id} in {calls}");
        }
    }

    let queues = gateway.get("/v1/servers/sim/queues", Some(ADMIN)).await;
    assert_eq!(queues.status, 200, "{}", queues.body);
    let queues = queues.json();
    assert_eq!(
        queues["queues"]["support"]["members"]
            .as_object()
            .map(|m| m.len()),
        Some(2),
        "{queues}"
    );
    assert_eq!(queues.as_object().map(|o| o.len()), Some(1), "{queues}");

    // Agents: whatever the model keeps, the same as in the whole state; none kept, a 404.
    let agents = gateway.get("/v1/servers/sim/agents", Some(ADMIN)).await;
    match state.get("agents") {
        Some(_) => assert_eq!(agents.status, 200, "{}", agents.body),
        None => {
            assert_eq!(agents.status, 404, "{}", agents.body);
            assert_eq!(agents.code(), "not_found");
        }
    }

    // The limited token reads `call` events only: calls yes, queues and the whole state no.
    let limited = crate::support::LIMITED;
    assert_eq!(
        gateway
            .get("/v1/servers/sim/calls", Some(limited))
            .await
            .status,
        200
    );
    for path in ["state", "queues", "agents"] {
        let denied = gateway
            .get(&format!("/v1/servers/sim/{path}"), Some(limited))
            .await;
        assert_eq!(denied.status, 403, "{path}: {}", denied.body);
        assert_eq!(denied.code(), "forbidden");
        assert!(
            denied.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("agent"))
        );
    }
    let unknown = gateway.get("/v1/servers/nope/state", Some(ADMIN)).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert_eq!(unknown.code(), "not_found");
    let anonymous = gateway.get("/v1/servers/sim/state", None).await;
    assert_eq!(anonymous.status, 401);
    gateway.stop().await;
}
