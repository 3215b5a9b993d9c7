//! Connection-level abuse: one token filling every stream place or request slot, idle and
//! half-sent connections held open, one address opening connection after connection, and
//! stuck stream clients cut off without a trace in the metrics.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{
    ADMIN, Gateway, LIMITED, Reply, next_json, request_on, sha, wait_for, websocket,
    websocket_small_buffer,
};

/// A token allowed one stream and one request in flight, whatever the global defaults.
const ONE: &str = "one-token";

fn one_token() -> String {
    format!(
        "[[tokens]]\nname = \"one\"\nsha256 = \"{}\"\nservers = [\"*\"]\nactions = {{ allow = [\"Ping\"] }}\nevents = [\"*\"]\nmax_streams = 1\nmax_in_flight = 1\n",
        sha(ONE)
    )
}

/// A TCP connection to the gateway from `source` (any 127.x.y.z address works on loopback).
async fn connect_from(source: IpAddr, gateway: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(source, 0))
        .expect("bind the source address");
    socket.connect(gateway).await.expect("connect")
}

/// `/metrics` fetched from 127.0.0.2, so the per-address cap of 127.0.0.1 does not apply.
async fn metric_from_other(gateway: &Gateway, prefix: &str) -> f64 {
    let stream = connect_from([127, 0, 0, 2].into(), gateway.addr).await;
    let reply = request_on(stream, "GET", "/metrics", None, None, &[]).await;
    reply
        .body
        .lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Polls `/metrics` (from 127.0.0.2) until `prefix` sums to `wanted`, for at most `within`.
async fn wait_metric(gateway: &Gateway, prefix: &str, wanted: f64, within: Duration) -> f64 {
    let deadline = Instant::now() + within;
    loop {
        let value = metric_from_other(gateway, prefix).await;
        if value == wanted || Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Reads until the peer closes (or resets) the connection; Err if it is still open after
/// `within`. Returns what was read and when the close was seen.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Result<Vec<u8>, Vec<u8>> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    };
    match tokio::time::timeout(within, read).await {
        Ok(()) => Ok(received),
        Err(_) => Err(received),
    }
}

/// An SSE request on `stream`; returns its lines once the `hello` data line arrived.
async fn open_sse(
    mut stream: TcpStream,
    query: &str,
    token: &str,
) -> tokio::io::Lines<BufReader<TcpStream>> {
    stream
        .write_all(
            format!("GET /v1/events?{query} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("write");
    let mut lines = BufReader::new(stream).lines();
    let hello = async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if line.starts_with("data: ") {
                assert!(line.contains("\"hello\""), "{line}");
                return;
            }
            assert!(!line.starts_with("HTTP/1.1 4"), "refused: {line}");
        }
        panic!("the stream ended before hello");
    };
    tokio::time::timeout(Duration::from_secs(5), hello)
        .await
        .expect("hello in time");
    lines
}

async fn user_event(gateway: &Gateway, tag: &str) {
    let reply = gateway
        .post(
            "/v1/servers/sim/actions/UserEvent",
            Some(ADMIN),
            &json!({"UserEvent": "Quiet", "Tag": tag}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// Item 4: with the global stream limit far from reached, a token at its own limit gets 429
/// `token_stream_limit` while another token still opens streams; a per-token `max_streams`
/// overrides the global `max_clients_per_token`, and a closed stream gives its place back.
#[tokio::test]
async fn one_token_at_its_stream_limit_leaves_room_for_others() {
    let extra = format!(
        "[streams]\nmax_clients = 20\nmax_clients_per_token = 2\n{}",
        one_token()
    );
    let gateway = Gateway::start(&extra).await;
    let mut first = websocket(gateway.addr, "", LIMITED).await;
    let mut second = websocket(gateway.addr, "", LIMITED).await;
    for ws in [&mut first, &mut second] {
        assert_eq!(
            next_json(ws, Duration::from_secs(5)).await.expect("hello")["type"],
            "hello"
        );
    }
    let refused = gateway.get("/v1/events", Some(LIMITED)).await;
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (429, "token_stream_limit"),
        "{}",
        refused.body
    );
    // Another token is not affected (before the fix: 503 too_many_streams for everyone once
    // one token held all the places).
    let mut admin = websocket(gateway.addr, "", ADMIN).await;
    assert_eq!(
        next_json(&mut admin, Duration::from_secs(5))
            .await
            .expect("hello")["type"],
        "hello"
    );
    // The per-token override: one stream, then 429.
    let mut only = websocket(gateway.addr, "", ONE).await;
    next_json(&mut only, Duration::from_secs(5))
        .await
        .expect("hello");
    let refused = gateway.get("/v1/events", Some(ONE)).await;
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (429, "token_stream_limit")
    );
    // A stream that ends gives its token's place back.
    first.close(None).await.expect("close");
    let streams = "ami_gateway_token_streams{token=\"limited\"}";
    assert_eq!(
        wait_metric(&gateway, streams, 1.0, Duration::from_secs(5)).await,
        1.0
    );
    let mut again = websocket(gateway.addr, "", LIMITED).await;
    assert_eq!(
        next_json(&mut again, Duration::from_secs(5))
            .await
            .expect("hello")["type"],
        "hello"
    );
    assert_eq!(
        metric_from_other(
            &gateway,
            "ami_gateway_denied_requests_total{reason=\"token_stream_limit\"}"
        )
        .await,
        2.0
    );
    gateway.stop().await;
}

/// Item 4: a token whose actions wait on a PBX that does not answer reaches its in-flight
/// limit and gets 429 `token_request_limit`; another token's actions still go through, and
/// every waiting action completes once the PBX answers again.
#[tokio::test]
async fn one_token_at_its_in_flight_limit_leaves_room_for_others() {
    let (gateway, proxy) =
        Gateway::start_proxied("[connections]\nmax_in_flight_per_token = 2\n").await;
    proxy.hold(true);
    let addr = gateway.addr;
    let ping = |token: &'static str| {
        tokio::spawn(async move {
            crate::support::request(
                addr,
                "POST",
                "/v1/servers/sim/actions/Ping",
                Some(token),
                Some("{}"),
                &[],
            )
            .await
        })
    };
    let waiting = [ping(LIMITED), ping(LIMITED)];
    let in_flight = "ami_gateway_token_requests_in_flight{token=\"limited\"}";
    assert_eq!(
        wait_metric(&gateway, in_flight, 2.0, Duration::from_secs(5)).await,
        2.0
    );
    let refused = gateway
        .post("/v1/servers/sim/actions/Ping", Some(LIMITED), "{}")
        .await;
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (429, "token_request_limit"),
        "{}",
        refused.body
    );
    assert!(refused.header("retry-after").is_some());
    let admin = ping(ADMIN);
    let admin_in_flight = "ami_gateway_token_requests_in_flight{token=\"admin\"}";
    assert_eq!(
        wait_metric(&gateway, admin_in_flight, 1.0, Duration::from_secs(5)).await,
        1.0,
        "the admin's action waits on the PBX instead of being refused"
    );
    proxy.hold(false);
    for task in waiting.into_iter().chain([admin]) {
        let reply: Reply = task.await.expect("task");
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    assert_eq!(metric_from_other(&gateway, in_flight).await, 0.0);
    gateway.stop().await;
}

/// Item 5a: a connection that sends nothing, one that sends half a request head and a
/// keep-alive connection idle after its response are all closed once the header timeout
/// passes; SSE and WebSocket streams that carry nothing for several times that stay open.
#[tokio::test]
async fn idle_connections_are_closed_but_quiet_streams_are_not() {
    let timeout = Duration::from_millis(300);
    let gateway = Gateway::start("[connections]\nheader_timeout_ms = 300\n").await;
    let mut sse = open_sse(
        TcpStream::connect(gateway.addr).await.expect("connect"),
        "event=UserEvent",
        ADMIN,
    )
    .await;
    let mut ws = websocket(gateway.addr, "event=UserEvent", ADMIN).await;
    next_json(&mut ws, Duration::from_secs(5))
        .await
        .expect("hello");
    let opened = Instant::now();

    let mut silent = TcpStream::connect(gateway.addr).await.expect("connect");
    let mut half = TcpStream::connect(gateway.addr).await.expect("connect");
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut kept = TcpStream::connect(gateway.addr).await.expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    while !answer.ends_with(b"}") {
        let n = tokio::time::timeout(Duration::from_secs(5), kept.read(&mut chunk))
            .await
            .expect("answer in time")
            .expect("read");
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&chunk[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    let started = Instant::now();
    for (name, stream) in [
        ("silent", &mut silent),
        ("half a request", &mut half),
        ("idle keep-alive", &mut kept),
    ] {
        let seen = closed_within(stream, Duration::from_secs(5)).await;
        assert!(seen.is_ok(), "the {name} connection is still open");
    }
    assert!(
        started.elapsed() >= timeout - Duration::from_millis(50),
        "closed before the timeout: {:?}",
        started.elapsed()
    );
    // Both streams have been quiet for well over the timeout and still carry events.
    let quiet = timeout * 3;
    if let Some(left) = quiet.checked_sub(opened.elapsed()) {
        tokio::time::sleep(left).await;
    }
    user_event(&gateway, "after-quiet").await;
    let event = wait_for(&mut ws, "event", |_| true).await;
    assert_eq!(event["event"]["Tag"], "after-quiet");
    let sse_event = async {
        while let Some(line) = sse.next_line().await.expect("SSE read") {
            if line.starts_with("data: ") && line.contains("after-quiet") {
                return;
            }
        }
        panic!("the SSE stream ended");
    };
    tokio::time::timeout(Duration::from_secs(5), sse_event)
        .await
        .expect("the SSE stream still carries events");
    assert!(
        metric_from_other(&gateway, "ami_gateway_connections_header_timeouts_total").await >= 2.0,
        "the silent and half-sent connections are counted"
    );
    gateway.stop().await;
}

/// Item 5b: past `max_per_ip` open connections from one address, further connections from
/// it are closed at accept (no HTTP answer) and counted, while other addresses are served;
/// a connection that closes gives its place back.
#[tokio::test]
async fn connections_beyond_the_per_address_cap_are_refused() {
    let gateway = Gateway::start("[connections]\nmax_per_ip = 3\n").await;
    let local: IpAddr = [127, 0, 0, 1].into();
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = connect_from(local, gateway.addr).await;
        // Served: proves the gateway accepted it (and it stays open, keep-alive).
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut chunk = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("answer in time")
            .expect("read");
        assert!(chunk[..n].starts_with(b"HTTP/1.1 200"));
        held.push(stream);
    }
    let mut over = connect_from(local, gateway.addr).await;
    let _ = over
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let seen = closed_within(&mut over, Duration::from_secs(5))
        .await
        .expect("the fourth connection is closed");
    assert!(
        seen.is_empty(),
        "no HTTP answer past the cap: {}",
        String::from_utf8_lossy(&seen)
    );
    // Another address is served meanwhile (metric_from_other connects from 127.0.0.2).
    assert_eq!(
        metric_from_other(
            &gateway,
            "ami_gateway_connections_refused_total{reason=\"per_ip\"}"
        )
        .await,
        1.0
    );
    // A connection that goes frees its place.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = connect_from(local, gateway.addr).await;
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let seen = closed_within(&mut stream, Duration::from_secs(5))
            .await
            .unwrap_or_default();
        if seen.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "the freed place never came back");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    gateway.stop().await;
}

/// Item 6: a WebSocket client and an SSE client that never read are cut off by the write
/// timeout, whichever layer notices first, and both show up as `write_timeout` (and in the
/// old `ami_gateway_stream_write_timeouts_total`); a client that closes is `client_closed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn stuck_stream_clients_are_counted_with_their_reason() {
    let gateway =
        Gateway::start("[streams]\nqueue = 64\nmax_lagged = 100000000\nwrite_timeout_ms = 500\n")
            .await;
    let mut stuck_ws = websocket_small_buffer(gateway.addr, "", ADMIN).await;
    next_json(&mut stuck_ws, Duration::from_secs(5))
        .await
        .expect("hello");
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("buffer size");
    let stream = socket.connect(gateway.addr).await.expect("connect");
    let stuck_sse = open_sse(stream, "", ADMIN).await;
    let mut leaving = websocket(gateway.addr, "", ADMIN).await;
    next_json(&mut leaving, Duration::from_secs(5))
        .await
        .expect("hello");
    leaving.close(None).await.expect("close");
    let clients = "ami_gateway_stream_clients{server=\"sim\"}";
    assert_eq!(
        wait_metric(&gateway, clients, 2.0, Duration::from_secs(5)).await,
        2.0
    );
    gateway.sim.emit_events(30_000);
    assert_eq!(
        wait_metric(&gateway, clients, 0.0, Duration::from_secs(20)).await,
        0.0,
        "the stuck clients were dropped"
    );
    let reasons = "ami_gateway_stream_disconnects_total{reason=";
    assert_eq!(
        metric_from_other(&gateway, &format!("{reasons}\"write_timeout\"}}")).await,
        2.0
    );
    assert_eq!(
        metric_from_other(&gateway, &format!("{reasons}\"client_closed\"}}")).await,
        1.0
    );
    assert_eq!(
        metric_from_other(&gateway, "ami_gateway_stream_write_timeouts_total").await,
        2.0
    );
    drop((stuck_ws, stuck_sse));
    gateway.stop().await;
}
