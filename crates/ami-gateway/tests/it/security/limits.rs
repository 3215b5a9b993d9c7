//! Size limits: an action over Asterisk's input limits is answered 413 at once and never
//! reaches the PBX (Asterisk would drop lines or answer without the ActionID, and the request
//! would hang until the action timeout); the body is bounded by what a valid action can take;
//! ActionID goes second on the wire; stream queries count each server, event and header match
//! once and are capped; an `Action` key in a body is refused.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::security::proxy::RecordingProxy;
use crate::support::{ADMIN, Gateway, Reply, next_json, websocket};

/// Well under the gateway's 10 s action timeout: a refusal must not wait for the PBX.
const FAST: Duration = Duration::from_secs(3);

/// Posts `body` as the headers of `action` on `sim`, timing the answer.
async fn post_action(gateway: &Gateway, action: &str, body: &str) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = gateway
        .post(
            &format!("/v1/servers/sim/actions/{action}"),
            Some(ADMIN),
            body,
        )
        .await;
    (reply, started.elapsed())
}

/// A refusal: `status` with `code`, fast, and no trace of `marker` upstream (every refused body
/// carries a header value of its own, so gateway keepalives cannot be mistaken for it).
fn assert_refused(
    reply: &Reply,
    took: Duration,
    status: u16,
    code: &str,
    proxy: &RecordingProxy,
    marker: &str,
) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.code(), code, "{}", reply.body);
    assert!(took < FAST, "answered after {took:?}");
    assert!(
        !proxy.upstream_text().contains(marker),
        "{marker} reached the PBX"
    );
}

#[tokio::test]
async fn a_190000_element_array_is_413_at_once_and_never_reaches_the_pbx() {
    let (gateway, proxy) = Gateway::start_proxied("").await;
    // 190,000 elements: over the body limit (no valid action is that large).
    let body = format!(
        "{{\"Marker\": \"huge-array\", \"V\": [{}]}}",
        vec!["\"a\""; 190_000].join(",")
    );
    let (reply, took) = post_action(&gateway, "Ping", &body).await;
    assert_refused(&reply, took, 413, "payload_too_large", &proxy, "huge-array");
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("KiB")
    );
    // Within the body limit, the element count is refused as the body is read.
    let body = format!(
        "{{\"Marker\": \"long-array\", \"V\": [{}]}}",
        vec!["0"; 100_000].join(",")
    );
    assert!(body.len() < 256 * 1024);
    let (reply, took) = post_action(&gateway, "Ping", &body).await;
    assert_refused(&reply, took, 413, "payload_too_large", &proxy, "long-array");
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("too many lines") && message.contains("127"),
        "{message}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn one_hundred_twenty_seven_headers_are_413() {
    let (gateway, proxy) = Gateway::start_proxied("").await;
    // With Action: and the gateway's ActionID, 129 lines: Asterisk reads 127.
    let mut headers = Map::new();
    headers.insert("Marker".into(), json!("many-headers"));
    for i in 1..127 {
        headers.insert(format!("X{i}"), json!("v"));
    }
    let (reply, took) = post_action(&gateway, "Ping", &Value::Object(headers).to_string()).await;
    assert_refused(
        &reply,
        took,
        413,
        "payload_too_large",
        &proxy,
        "many-headers",
    );
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("at most 127"), "{message}");
    gateway.stop().await;
}

#[tokio::test]
async fn a_1023_byte_line_is_413() {
    let (gateway, proxy) = Gateway::start_proxied("").await;
    // "X: " and 1,020 bytes: 1,023 bytes, which with CRLF overflow Asterisk's 1024-byte buffer.
    let body = json!({"Marker": "long-line", "X": "v".repeat(1020)}).to_string();
    let (reply, took) = post_action(&gateway, "Ping", &body).await;
    assert_refused(&reply, took, 413, "payload_too_large", &proxy, "long-line");
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("\"X\"") && message.contains("1023") && message.contains("1022"),
        "{message}"
    );
    assert!(
        !message.contains("vvvv"),
        "the value is never echoed: {message}"
    );
    gateway.stop().await;
}

/// The lines of the packet that starts with `Action: {action}` and holds `marker`.
fn packet_with(proxy: &RecordingProxy, action: &str, marker: &str) -> Vec<String> {
    let text = proxy.upstream_text();
    let packet = text
        .split("\r\n\r\n")
        .find(|packet| {
            packet.starts_with(&format!("Action: {action}\r\n")) && packet.contains(marker)
        })
        .unwrap_or_else(|| panic!("no {action} packet with {marker} upstream:\n{text}"));
    packet.split("\r\n").map(str::to_owned).collect()
}

#[tokio::test]
async fn the_largest_valid_action_works_end_to_end_with_action_id_second() {
    let (gateway, proxy) = Gateway::start_proxied("").await;
    // 125 headers (127 lines with Action: and ActionID:), each line 1,022 bytes.
    let mut headers = Map::new();
    for i in 0..125 {
        let name = format!("X{i:03}");
        let value = format!("{i:03}{}", "v".repeat(1022 - name.len() - 2 - 3));
        headers.insert(name, json!(value));
    }
    let body = Value::Object(headers).to_string();
    let (reply, _) = post_action(&gateway, "Ping", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["response"]["Ping"], "Pong", "{}", reply.body);
    let lines = packet_with(&proxy, "Ping", "X124: 124");
    assert_eq!(lines.len(), 127, "every line reached the PBX");
    assert!(lines.iter().all(|line| line.len() <= 1022));
    assert!(lines[1].starts_with("ActionID: "), "{:?}", &lines[..3]);
    assert!(lines[2].starts_with("X000: 000"), "{:?}", &lines[..3]);
    gateway.stop().await;
}

#[tokio::test]
async fn action_id_is_the_second_line_on_the_wire() {
    let (gateway, proxy) = Gateway::start_proxied("").await;
    let (reply, _) = post_action(
        &gateway,
        "Ping",
        r#"{"Marker": "second-line", "Y": ["1", "2"]}"#,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let lines = packet_with(&proxy, "Ping", "second-line");
    assert_eq!(lines[0], "Action: Ping");
    assert!(lines[1].starts_with("ActionID: "), "{lines:?}");
    assert_eq!(lines[2..], ["Marker: second-line", "Y: 1", "Y: 2"]);
    gateway.stop().await;
}

#[tokio::test]
async fn an_action_key_in_the_body_is_400_and_nothing_goes_upstream() {
    let (gateway, proxy) = Gateway::start_proxied("").await;
    let (reply, took) = post_action(
        &gateway,
        "Ping",
        r#"{"Action": "Command", "Command": "core stop now", "Marker": "action-key"}"#,
    )
    .await;
    assert_refused(&reply, took, 400, "bad_request", &proxy, "action-key");
    // The gateway runs Command itself (core show uptime): look for this one's text.
    assert!(
        !proxy.upstream_text().contains("core stop now"),
        "{}",
        proxy.upstream_text()
    );
    gateway.stop().await;
}

/// Events of one stream between the `UserEvent`s `start` and `end` (both excluded), in order;
/// each marker must come exactly once.
async fn events_between(ws: &mut crate::support::Ws, start: &str, end: &str) -> Vec<Value> {
    let mut between = Vec::new();
    let mut started = false;
    loop {
        let message = next_json(ws, Duration::from_secs(10))
            .await
            .expect("stream open");
        if message["type"] != "event" {
            continue;
        }
        let event = &message["event"];
        if event["Event"] == "UserEvent" && event["UserEvent"] == start {
            assert!(!started, "{start} delivered twice");
            started = true;
        } else if event["Event"] == "UserEvent" && event["UserEvent"] == end {
            assert!(started, "{end} before {start}");
            return between;
        } else if started {
            between.push(message);
        }
    }
}

#[tokio::test]
async fn a_server_named_three_times_delivers_each_event_once() {
    let gateway = Gateway::start("").await;
    let mut once = websocket(gateway.addr, "server=sim", ADMIN).await;
    let mut thrice = websocket(gateway.addr, "server=sim,sim&server=sim", ADMIN).await;
    let mut hellos = Vec::new();
    for ws in [&mut once, &mut thrice] {
        hellos.push(next_json(ws, Duration::from_secs(5)).await.expect("hello"));
    }
    let user_event = |name: &'static str| {
        let gateway = &gateway;
        async move {
            let (reply, _) = post_action(
                gateway,
                "UserEvent",
                &json!({"UserEvent": name}).to_string(),
            )
            .await;
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
    };
    user_event("dedup-start").await;
    gateway.sim.emit_events(200);
    // The simulator pushes its burst without waiting; give it a moment before the end marker.
    tokio::time::sleep(Duration::from_millis(300)).await;
    user_event("dedup-end").await;
    let expected = events_between(&mut once, "dedup-start", "dedup-end").await;
    let got = events_between(&mut thrice, "dedup-start", "dedup-end").await;
    assert!(expected.len() >= 200, "only {} events", expected.len());
    assert_eq!(got.len(), expected.len(), "each event once");
    assert_eq!(got, expected);
    // And the server is listed once.
    assert_eq!(hellos[1]["servers"], json!(["sim"]), "{}", hellos[1]);
    gateway.stop().await;
}

#[tokio::test]
async fn an_over_long_stream_query_list_is_400() {
    let gateway = Gateway::start("").await;
    let names = |name: &str, n: usize| vec![name; n].join(",");
    for query in [
        format!("server={}", names("sim", 65)),
        format!("event={}", names("Hangup", 257)),
        vec!["header=Context:demo"; 65].join("&"),
    ] {
        let reply = gateway
            .get(&format!("/v1/events?{query}"), Some(ADMIN))
            .await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert_eq!(reply.code(), "bad_request");
        assert!(
            reply.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("at most")),
            "{}",
            reply.body
        );
    }
    gateway.stop().await;
}
