//! The PBX's live state in the gateway, against the simulator: the PBX gauges equal what the
//! PBX itself lists after lost events and after a restart.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ami_sim::{Profile, SimConfig};
use serde_json::{Map, Value};

use crate::support::{ADMIN, Gateway, Ws, metric, next_json, websocket};

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

/// Applies one `state` message to a client's copy of the state, as the console does: a
/// snapshot replaces it; an update replaces the entries it names in object values (`null`
/// removes one) and other values whole.
fn apply(copy: &mut Map<String, Value>, message: &Value) {
    if let Some(Value::Object(snapshot)) = message.get("snapshot") {
        *copy = snapshot.clone();
        return;
    }
    let Some(Value::Object(update)) = message.get("update") else {
        panic!("a state message with neither snapshot nor update: {message}");
    };
    for (key, value) in update {
        match (copy.get_mut(key), value) {
            (Some(Value::Object(held)), Value::Object(entries)) => {
                for (id, entry) in entries {
                    if entry.is_null() {
                        held.remove(id);
                    } else {
                        held.insert(id.clone(), entry.clone());
                    }
                }
            }
            (_, Value::Null) => {
                copy.remove(key);
            }
            (_, value) => {
                copy.insert(key.clone(), value.clone());
            }
        }
    }
}

async fn state_now(gateway: &Gateway) -> Map<String, Value> {
    let reply = gateway.get("/v1/servers/sim/state", Some(ADMIN)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    match reply.json() {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// Reads state messages into `copy` until it equals the gateway's state and `done` holds.
async fn follow_until(
    gateway: &Gateway,
    ws: &mut Ws,
    copy: &mut Map<String, Value>,
    seen: &mut Vec<Value>,
    what: &str,
    done: impl Fn(&Map<String, Value>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // Until the stream is quiet for a moment (a timeout here is no failure).
        while let Ok(Some(message)) = tokio::time::timeout(
            Duration::from_millis(200),
            next_json(ws, Duration::from_secs(60)),
        )
        .await
        {
            if message["type"] == "state" {
                apply(copy, &message);
            }
            seen.push(message);
        }
        if done(copy) && *copy == state_now(gateway).await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the client's copy never matched the state"
        );
    }
}

fn channel_count(state: &Map<String, Value>) -> usize {
    state["channels"].as_object().map_or(0, |c| c.len())
}

/// `state=only` over WebSocket: the whole state first, then updates that keep a client's
/// copy equal to the gateway's state as calls come and go; no events.
#[tokio::test]
async fn websocket_state_messages_keep_a_copy_of_the_state() {
    let gateway = Gateway::start("").await;
    let mut ws = websocket(gateway.addr, "state=only", ADMIN).await;
    let hello = next_json(&mut ws, Duration::from_secs(5))
        .await
        .expect("hello");
    assert_eq!(hello["type"], "hello", "{hello}");
    assert_eq!(hello["state"], true, "{hello}");
    let first = next_json(&mut ws, Duration::from_secs(5))
        .await
        .expect("snapshot");
    assert_eq!(
        (&first["type"], &first["server"]),
        (&Value::from("state"), &Value::from("sim")),
        "{first}"
    );
    let mut copy = Map::new();
    apply(&mut copy, &first);
    let start = channel_count(&copy);
    assert!(start >= 4, "demo calls: {first}");

    originate_burst(&gateway, 4).await;
    let mut seen = Vec::new();
    follow_until(
        &gateway,
        &mut ws,
        &mut copy,
        &mut seen,
        "calls placed",
        |copy| channel_count(copy) >= start + 4,
    )
    .await;
    assert!(
        seen.iter()
            .any(|m| m["type"] == "state" && m.get("update").is_some()),
        "updates, not snapshots: {seen:?}"
    );
    assert!(
        seen.iter().all(|m| m["type"] != "event"),
        "state=only carries no events"
    );
    // A restart drops the calls; the resync after the reconnect reaches the copy too.
    gateway.sim.restart();
    follow_until(
        &gateway,
        &mut ws,
        &mut copy,
        &mut seen,
        "after a restart",
        |copy| channel_count(copy) < start + 4,
    )
    .await;

    // Only a token that may read the events the state is made of.
    let refused = gateway
        .get("/v1/events?state=1", Some(crate::support::LIMITED))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    gateway.stop().await;
}

/// With a backlog too, the snapshot comes right after `hello` and before the recent events:
/// a console draws its panels from it at once (the backlog only fills its log).
#[tokio::test]
async fn the_snapshot_comes_before_the_backlog() {
    let gateway = Gateway::start("").await;
    // The demo's calls came before the gateway logged in (its resync found them): calls placed
    // now put events in the recent ones.
    let before = wait_state(&gateway, "the demo's channels", |_| true).await["channels"]
        .as_object()
        .map_or(0, Map::len);
    originate_burst(&gateway, 2).await;
    wait_state(&gateway, "the new calls' channels", |state| {
        state["channels"]
            .as_object()
            .is_some_and(|c| c.len() >= before + 4)
    })
    .await;
    let mut ws = websocket(gateway.addr, "state=1&backlog=50", ADMIN).await;
    let mut kinds = Vec::new();
    for _ in 0..4 {
        let message = next_json(&mut ws, Duration::from_secs(5))
            .await
            .expect("a message");
        kinds.push(message["type"].as_str().unwrap_or_default().to_owned());
        if message["type"] == "state" {
            assert!(message.get("snapshot").is_some(), "{message}");
        }
    }
    assert_eq!(kinds, ["hello", "state", "event", "event"]);
    gateway.stop().await;
}

/// A state client that fell behind finds a `lagged` message, then a whole snapshot, and its
/// copy ends equal to the state.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_lagged_state_client_gets_a_fresh_snapshot_after_the_lag_marker() {
    let gateway = Gateway::start("[streams]\nqueue = 8\nmax_lagged = 100000000\n").await;
    let mut ws = websocket(gateway.addr, "state=1", ADMIN).await;
    let mut copy = Map::new();
    for _ in 0..2 {
        let message = next_json(&mut ws, Duration::from_secs(5))
            .await
            .expect("open");
        if message["type"] == "state" {
            apply(&mut copy, &message);
        }
    }
    assert!(!copy.is_empty(), "the first snapshot");
    // Call events (they move the state) faster than a stalled client reads.
    gateway.sim.emit_events(20_000);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut seen = Vec::new();
    follow_until(
        &gateway,
        &mut ws,
        &mut copy,
        &mut seen,
        "after the lag",
        |_| true,
    )
    .await;
    let lag = seen
        .iter()
        .position(|m| m["type"] == "lagged" && m["upstream"] != true)
        .expect("a lag marker");
    let snapshot = seen[lag..]
        .iter()
        .position(|m| m["type"] == "state" && m.get("snapshot").is_some());
    assert!(snapshot.is_some(), "no snapshot after the lag marker");
    gateway.stop().await;
}

/// `state=1` over SSE: hello, the whole state as an SSE `state` event, and updates as calls
/// are placed, beside the events.
#[tokio::test]
async fn sse_carries_state_messages_beside_events() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let gateway = Gateway::start("").await;
    let mut stream = tokio::net::TcpStream::connect(gateway.addr)
        .await
        .expect("connect");
    stream
        .write_all(
            format!(
                "GET /v1/events?state=1&event=Newchannel HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\nAccept: text/event-stream\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    let mut lines = BufReader::new(stream).lines();
    let mut kinds = Vec::<String>::new();
    let mut messages = Vec::<Value>::new();
    let read = async {
        let mut kind = String::new();
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(name) = line.strip_prefix("event: ") {
                kind = name.to_owned();
            }
            let Some(json) = line.strip_prefix("data: ") else {
                continue;
            };
            let message: Value = serde_json::from_str(json).expect("JSON data");
            assert_eq!(message["type"], kind.as_str(), "the SSE event is the type");
            if messages.iter().all(|m| m["type"] != "state") && message["type"] == "state" {
                originate_burst(&gateway, 2).await;
            }
            kinds.push(kind.clone());
            messages.push(message);
            let updated = messages.iter().any(|m| m.get("update").is_some());
            let evented = messages.iter().any(|m| m["type"] == "event");
            if updated && evented {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap_or_else(|_| panic!("no state update and event: {kinds:?}"));
    assert_eq!(kinds[0], "hello");
    assert_eq!(messages[0]["state"], true);
    assert_eq!(
        kinds[1], "state",
        "the snapshot comes right after hello: {kinds:?}"
    );
    assert!(
        messages[1]["snapshot"]["channels"].is_object(),
        "{}",
        messages[1]
    );
    gateway.stop().await;
}
