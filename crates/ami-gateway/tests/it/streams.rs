//! Event streams: filters, classes, SSE, connection messages, lag and slow-client eviction.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::support::{
    ADMIN, Gateway, LIMITED, metric, next_json, wait_for, websocket, websocket_small_buffer,
};

async fn user_event(gateway: &Gateway, name: &str, tag: &str) {
    let reply = gateway
        .post(
            "/v1/servers/sim/actions/UserEvent",
            Some(ADMIN),
            &json!({"UserEvent": name, "Tag": tag}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn websocket_filters_by_name_header_and_token_class() {
    let gateway = Gateway::start("").await;
    let mut wanted = websocket(gateway.addr, "event=UserEvent&header=Tag:blue", ADMIN).await;
    let hello = next_json(&mut wanted, Duration::from_secs(5))
        .await
        .expect("hello");
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["servers"], json!(["sim"]));
    // The limited token only receives `call` events: a UserEvent is class `user`.
    let mut limited = websocket(gateway.addr, "event=UserEvent", LIMITED).await;
    assert_eq!(
        next_json(&mut limited, Duration::from_secs(5))
            .await
            .expect("hello")["type"],
        "hello"
    );

    user_event(&gateway, "Test", "red").await;
    user_event(&gateway, "Test", "blue").await;
    let event = wait_for(&mut wanted, "event", |_| true).await;
    assert_eq!(event["server"], "sim");
    assert_eq!(event["event"]["Event"], "UserEvent");
    assert_eq!(
        event["event"]["Tag"], "blue",
        "the red one was filtered out: {event}"
    );

    // The limited client sees call events (a call starts) but never the UserEvents.
    let mut calls = websocket(gateway.addr, "event=Newchannel", LIMITED).await;
    next_json(&mut calls, Duration::from_secs(5))
        .await
        .expect("hello");
    let originate = gateway
        .post(
            "/v1/servers/sim/actions/Originate",
            Some(ADMIN),
            r#"{"Channel": "Local/100@demo", "Context": "demo", "Exten": "200", "Priority": "1", "Async": "true"}"#,
        )
        .await;
    assert_eq!(originate.status, 200, "{}", originate.body);
    let newchannel = wait_for(&mut calls, "event", |_| true).await;
    assert_eq!(newchannel["event"]["Event"], "Newchannel");
    let nothing = tokio::time::timeout(Duration::from_millis(300), limited.next()).await;
    assert!(
        nothing.is_err(),
        "the limited token got a user-class event: {nothing:?}"
    );
    gateway.stop().await;
}

/// Clients with the same filter are checked as one group: each still gets every matching
/// event once, a name given twice does not double events, another token's classes are its
/// own, and a client leaving (closing or dropping its connection) leaves the others' events
/// alone.
#[tokio::test]
async fn clients_sharing_a_filter_each_get_its_events_and_leave_alone() {
    let gateway = Gateway::start("").await;
    let mut blue = Vec::new();
    for _ in 0..3 {
        blue.push(websocket(gateway.addr, "event=UserEvent&header=Tag:blue", ADMIN).await);
    }
    let mut red = websocket(
        gateway.addr,
        "event=UserEvent,userevent&header=Tag:red",
        ADMIN,
    )
    .await;
    // A UserEvent is class `user`, which the limited token may not receive.
    let mut limited = websocket(gateway.addr, "event=UserEvent&header=Tag:blue", LIMITED).await;
    for ws in blue.iter_mut().chain([&mut red, &mut limited]) {
        assert_eq!(
            next_json(ws, Duration::from_secs(5)).await.expect("hello")["type"],
            "hello"
        );
    }
    user_event(&gateway, "Test", "red").await;
    user_event(&gateway, "Test", "blue").await;
    for ws in &mut blue {
        let event = wait_for(ws, "event", |_| true).await;
        assert_eq!(event["event"]["Tag"], "blue");
    }
    assert_eq!(
        wait_for(&mut red, "event", |_| true).await["event"]["Tag"],
        "red"
    );
    // One client closes, another just goes away.
    let mut closed = blue.remove(0);
    closed.close(None).await.expect("close");
    drop(blue.remove(0));
    let clients = "ami_gateway_stream_clients{server=\"sim\"}";
    let mut left = f64::NAN;
    for _ in 0..100 {
        left = metric(&gateway, clients).await;
        if left == 3.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left, 3.0, "the two clients that left are unregistered");
    user_event(&gateway, "Test", "blue").await;
    let event = wait_for(&mut blue[0], "event", |_| true).await;
    assert_eq!(event["event"]["Tag"], "blue");
    // Nothing more: no second copy of red, nothing for the limited token.
    for ws in [&mut red, &mut limited, &mut blue[0]] {
        let more = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
        assert!(more.is_err(), "an unexpected message: {more:?}");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn stream_access_is_checked_before_upgrading() {
    let gateway = Gateway::start("").await;
    let none = gateway.get("/v1/events/ws", None).await;
    assert_eq!(none.status, 401);
    let not_ws = gateway.get("/v1/events/ws", Some(ADMIN)).await;
    assert_eq!(
        (not_ws.status, not_ws.code().as_str()),
        (400, "bad_request")
    );
    let unknown = gateway.get("/v1/events?server=nope", Some(ADMIN)).await;
    assert_eq!(unknown.status, 404);
    let bad = gateway.get("/v1/events?colour=red", Some(ADMIN)).await;
    assert_eq!(bad.status, 400);
    gateway.stop().await;
}

#[tokio::test]
async fn sse_stream_carries_hello_events_and_connection_changes() {
    let gateway = Gateway::start("").await;
    let mut stream = tokio::net::TcpStream::connect(gateway.addr)
        .await
        .expect("connect");
    stream
        .write_all(
            format!(
                "GET /v1/events?event=UserEvent HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\nAccept: text/event-stream\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    let mut lines = BufReader::new(stream).lines();
    let mut data = Vec::<Value>::new();
    let mut status_line = None;
    let mut content_type = None;
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if status_line.is_none() {
                status_line = Some(line.clone());
            }
            if line.to_ascii_lowercase().starts_with("content-type:") {
                content_type = Some(line.clone());
            }
            if let Some(json) = line.strip_prefix("data: ") {
                data.push(serde_json::from_str(json).expect("JSON data"));
                match data.len() {
                    1 => user_event(&gateway, "Sse", "x").await,
                    2 => gateway.sim.restart(),
                    _ => {}
                }
                let reconnected = data
                    .iter()
                    .any(|d| d["type"] == "connection" && d["state"] == "connected");
                if reconnected {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), read)
        .await
        .expect("stream in time");
    assert!(status_line.is_some_and(|l| l.contains(" 200 ")));
    assert!(content_type.is_some_and(|c| c.contains("text/event-stream")));
    assert_eq!(data[0]["type"], "hello");
    assert_eq!(data[1]["event"]["UserEvent"], "Sse");
    let states: Vec<&str> = data
        .iter()
        .filter(|d| d["type"] == "connection")
        .filter_map(|d| d["state"].as_str())
        .collect();
    assert_eq!(states, ["disconnected", "connected"], "{data:?}");
    gateway.stop().await;
}

/// A client that stops reading falls behind: it later finds a `lagged` message where events
/// were dropped, and every event the gateway received is either delivered or counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_slow_reader_is_told_exactly_what_it_missed() {
    let gateway = Gateway::start("[streams]\nqueue = 64\nmax_lagged = 100000000\n").await;
    let mut ws = websocket(gateway.addr, "", ADMIN).await;
    next_json(&mut ws, Duration::from_secs(5))
        .await
        .expect("hello");
    let before = metric(&gateway, "ami_gateway_events_total").await;
    gateway.sim.emit_events(30_000);
    // Not reading: the socket buffers and the 64-message queue fill up.
    let mut received = 0u64;
    let mut missed = 0u64;
    let mut lag_messages = 0;
    let started = tokio::time::Instant::now();
    loop {
        match tokio::time::timeout(Duration::from_millis(3000), ws.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) => {
                let message: Value = serde_json::from_str(&text).expect("JSON");
                match message["type"].as_str() {
                    Some("event") => received += 1,
                    Some("lagged") if message["upstream"] != true => {
                        lag_messages += 1;
                        missed += message["missed"].as_u64().expect("missed");
                    }
                    _ => {}
                }
                if received == 1 {
                    // Stall once, long enough for the burst to overflow everything.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
            Ok(other) => panic!("stream ended: {other:?}"),
            Err(_) => break,
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the stream never went quiet"
        );
    }
    let after = metric(&gateway, "ami_gateway_events_total").await;
    assert!(lag_messages >= 1, "no lag message (received {received})");
    assert!(missed > 0);
    assert_eq!(
        received + missed,
        (after - before) as u64,
        "every event is delivered or counted as missed"
    );
    assert!(metric(&gateway, "ami_gateway_stream_dropped_events_total").await >= missed as f64);
    gateway.stop().await;
}

/// A client that reads nothing is disconnected past the bound, while another client on the
/// same server gets every event it asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_stuck_client_is_disconnected_and_others_keep_everything() {
    // The write timeout is long, so it is the lag bound that ends the stuck client.
    let gateway =
        Gateway::start("[streams]\nqueue = 4096\nmax_lagged = 1000\nwrite_timeout_ms = 60000\n")
            .await;
    let mut stuck = websocket_small_buffer(gateway.addr, "", ADMIN).await;
    next_json(&mut stuck, Duration::from_secs(5))
        .await
        .expect("hello");
    let mut fast = websocket(gateway.addr, "event=Hangup", ADMIN).await;
    next_json(&mut fast, Duration::from_secs(5))
        .await
        .expect("hello");
    let hangups_before = metric(
        &gateway,
        "ami_gateway_events_total{server=\"sim\",event=\"Hangup\"}",
    )
    .await;
    gateway.sim.emit_events(30_000);
    let mut hangups = 0u64;
    // Read until the fast client has every Hangup the gateway counted and the count stopped
    // moving (a loaded machine may pause the flood for seconds; a fixed silence was flaky).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut counted = f64::NAN;
    loop {
        match tokio::time::timeout(Duration::from_millis(1000), fast.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) => {
                let message: Value = serde_json::from_str(&text).expect("JSON");
                assert_ne!(
                    message["type"], "lagged",
                    "the fast client lagged: {message}"
                );
                if message["type"] == "event" {
                    hangups += 1;
                }
            }
            Ok(other) => panic!("fast stream ended after {hangups} events: {other:?}"),
            Err(_) => {
                let now = metric(
                    &gateway,
                    "ami_gateway_events_total{server=\"sim\",event=\"Hangup\"}",
                )
                .await;
                if now == counted && hangups == (now - hangups_before) as u64 {
                    break;
                }
                counted = now;
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{hangups} Hangups read, {} counted",
                    now - hangups_before
                );
            }
        }
    }
    let hangups_after = metric(
        &gateway,
        "ami_gateway_events_total{server=\"sim\",event=\"Hangup\"}",
    )
    .await;
    assert!(hangups > 0);
    assert_eq!(hangups, (hangups_after - hangups_before) as u64);
    assert_eq!(
        metric(&gateway, "ami_gateway_stream_disconnected_total").await,
        1.0
    );
    // The stuck client, reading at last, finds its stream ended.
    let ended = async { while let Some(Ok(_)) = stuck.next().await {} };
    tokio::time::timeout(Duration::from_secs(20), ended)
        .await
        .expect("the stuck client's stream ends");
    gateway.stop().await;
}

/// An SSE client that reads nothing is cut off as well: its socket stalls, the connection is
/// dropped after the write timeout, and its registration goes with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_stuck_sse_client_is_disconnected() {
    use tokio::io::AsyncReadExt;
    let gateway =
        Gateway::start("[streams]\nqueue = 64\nmax_lagged = 1000\nwrite_timeout_ms = 1000\n").await;
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("buffer size");
    let mut stream = socket.connect(gateway.addr).await.expect("connect");
    stream
        .write_all(
            format!("GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("write");
    let clients = "ami_gateway_stream_clients{server=\"sim\"}";
    for _ in 0..100 {
        if metric(&gateway, clients).await == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metric(&gateway, clients).await, 1.0);
    gateway.sim.emit_events(30_000);
    let mut gone = false;
    for _ in 0..300 {
        if metric(&gateway, clients).await == 0.0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the stuck SSE client is still registered");
    // Reading at last: what was buffered, then either the end of the response (the stream
    // ended with `closing`; the idle keep-alive connection may stay) or of the connection (the
    // write timeout cut it while the socket was full).
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let ended = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    received.extend_from_slice(&chunk[..n]);
                    if received.ends_with(b"\r\n0\r\n\r\n") {
                        return;
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), ended)
        .await
        .expect("the stream ended");
    let text = String::from_utf8_lossy(&received);
    if text.ends_with("\r\n0\r\n\r\n") {
        assert!(text.contains("\"reason\":\"slow_consumer\""), "told why");
    }
    assert!(metric(&gateway, "ami_gateway_stream_disconnected_total").await >= 1.0);
    gateway.stop().await;
}

#[tokio::test]
async fn backlog_replays_recent_matching_events_before_live_ones() {
    let gateway = Gateway::start("").await;
    for tag in ["one", "two", "three"] {
        user_event(&gateway, "Backlog", tag).await;
    }
    // The pump has seen them once they are counted.
    for _ in 0..100 {
        if metric(
            &gateway,
            "ami_gateway_events_total{server=\"sim\",event=\"UserEvent\"}",
        )
        .await
            >= 3.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut ws = websocket(gateway.addr, "event=UserEvent&backlog=2", ADMIN).await;
    assert_eq!(
        next_json(&mut ws, Duration::from_secs(5))
            .await
            .expect("hello")["type"],
        "hello"
    );
    let first = wait_for(&mut ws, "event", |_| true).await;
    let second = wait_for(&mut ws, "event", |_| true).await;
    assert_eq!(first["event"]["Tag"], "two", "the last two, oldest first");
    assert_eq!(second["event"]["Tag"], "three");
    user_event(&gateway, "Backlog", "live").await;
    let live = wait_for(&mut ws, "event", |_| true).await;
    assert_eq!(live["event"]["Tag"], "live");
    gateway.stop().await;
}
