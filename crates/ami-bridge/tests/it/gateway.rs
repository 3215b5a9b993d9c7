//! A gateway whose server is served through NATS: a simulator, a bridge logged in to it, and
//! a gateway with `[nats]` that never logs in to the simulator itself.

use std::net::SocketAddr;
use std::time::Duration;

use ami_bridge::Bridge;
use ami_bridge::gateway_upstream::{self, GatewayNats};
use ami_gateway::AppState;
use ami_sim::SimConfig;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::nats::NatsServer;
use crate::publish::{config_for, wait_for};

const TOKEN: &str = "gateway-over-nats";

/// The gateway's file: `[nats]`, the server by name only, a token that may run Originate (so
/// that the bridge's rules, not the token's, refuse it).
fn gateway_config(nats: &NatsServer) -> ami_gateway::Config {
    let text = format!(
        "[nats]\nurl = \"{}\"\n\n[[servers]]\nname = \"pbx.1\"\n\n[[tokens]]\nname = \"ops\"\nsha256 = \"{}\"\nservers = [\"*\"]\nevents = [\"*\"]\nactions = {{ allow = [\"*\", \"Originate\"] }}\nrate_per_second = 1000.0\n",
        nats.url(),
        ami_gateway::auth::hash_token_hex(TOKEN)
    );
    ami_gateway::Config::parse(&text).expect("valid gateway config")
}

/// Starts the gateway on a free loopback port, as `ami gateway` does with `[nats]`.
async fn start_gateway(config: &ami_gateway::Config) -> (SocketAddr, AppState) {
    let nats = GatewayNats::from_table(config.nats.as_ref().expect("[nats]")).expect("[nats]");
    let client = nats.connect().await.expect("NATS");
    let remote = gateway_upstream::open(client, &nats, "pbx.1");
    let state =
        AppState::start_with_remotes(config, vec![("pbx.1".into(), remote)]).expect("started");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let serving = state.clone();
    let mut stop = state.shutdown_signal();
    tokio::spawn(async move {
        let _ = ami_gateway::serve(listener, None, serving, async move {
            let _ = stop.wait_for(|stop| *stop).await;
        })
        .await;
    });
    (addr, state)
}

/// One request, read to the end: the status and the JSON body.
async fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("a response in time")
        .expect("read");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    // Small JSON bodies come whole; a chunked one is one chunk here.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body.split_once("\r\n").map_or(body, |(_, rest)| rest)
    } else {
        body
    };
    let end = body.rfind('}').map_or(0, |i| i + 1);
    let value = serde_json::from_str(&body[..end]).unwrap_or(Value::Null);
    (status, value)
}

/// Waits (at most 20 s) until the gateway shows the server connected.
async fn wait_connected(addr: SocketAddr) {
    for _ in 0..200 {
        let (_, servers) = request(addr, "GET", "/v1/servers", "").await;
        if servers["servers"][0]["state"] == "connected" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gateway never showed pbx.1 connected");
}

/// An SSE stream's `data:` messages (the write half is kept: closing it would end the
/// request).
struct Sse {
    lines: Lines<BufReader<OwnedReadHalf>>,
    _write: OwnedWriteHalf,
}

impl Sse {
    async fn open(addr: SocketAddr, query: &str) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (read, mut write) = stream.into_split();
        write
            .write_all(
                format!("GET /v1/events?{query} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n").as_bytes(),
            )
            .await
            .expect("write");
        Self {
            lines: BufReader::new(read).lines(),
            _write: write,
        }
    }

    /// The next message, within 20 s.
    async fn next(&mut self) -> Value {
        let read = async {
            loop {
                let line = self
                    .lines
                    .next_line()
                    .await
                    .expect("read")
                    .expect("open stream");
                if let Some(json) = line.strip_prefix("data: ") {
                    return serde_json::from_str(json).expect("JSON data");
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .expect("a message in time")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_with_nats_serves_events_and_actions_without_logging_in() {
    let nats = NatsServer::start();
    let sim = ami_sim::spawn(SimConfig::default())
        .await
        .expect("simulator");
    let bridge_config = config_for(&[&sim], "[actions]\nallow = [\"*\"]\n");
    let bridge = Bridge::start(&bridge_config, nats.client().await)
        .await
        .expect("bridge");
    let js = async_nats::jetstream::new(nats.client().await);
    wait_for(&js, "the bridge's login", |all| !all.is_empty()).await;
    let sessions_before = sim.open_connections();

    let (addr, state) = start_gateway(&gateway_config(&nats)).await;
    wait_connected(addr).await;
    let server = state.server("pbx.1").expect("configured");
    assert!(server.is_remote());
    assert!(server.client().is_none());

    // Events: the simulator's, named after the gateway's server.
    // The live state, resynced over request/reply (the bridge allows the list actions).
    let (status, live) = request(addr, "GET", "/v1/servers/pbx.1/state", "").await;
    assert_eq!(status, 200, "{live}");
    assert!(live["channels"].is_object(), "{live}");
    let mut sse = Sse::open(addr, "server=pbx.1").await;
    assert_eq!(sse.next().await["type"], "hello");
    sim.emit_events(5);
    let mut events = Vec::new();
    while events.len() < 5 {
        let message = sse.next().await;
        if message["type"] == "event" {
            events.push(message);
        }
    }
    for event in &events {
        assert_eq!(event["server"], "pbx.1", "{event}");
        assert!(event["event"]["Event"].is_string(), "{event}");
    }

    // Actions: through NATS request/reply, the bridge's rules second.
    let (status, pong) = request(addr, "POST", "/v1/servers/pbx.1/actions/Ping", "{}").await;
    assert_eq!(status, 200, "{pong}");
    assert_eq!(pong["response"]["Ping"], "Pong", "{pong}");
    let (status, refused) = request(
        addr,
        "POST",
        "/v1/servers/pbx.1/actions/Originate",
        r#"{"Channel": "Local/100@demo", "Application": "Wait", "Data": "1"}"#,
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "forbidden", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("does not grant Originate")),
        "{refused}"
    );

    // The gateway never opened an AMI session of its own.
    assert_eq!(sim.open_connections(), sessions_before);

    // A bridge restart is a gap the SSE client sees: disconnected, then connected again.
    bridge.stop().await;
    let bridge = Bridge::start(&bridge_config, nats.client().await)
        .await
        .expect("bridge again");
    let mut states = Vec::new();
    while states.last().map(String::as_str) != Some("connected") {
        let message = sse.next().await;
        if message["type"] == "connection" {
            assert_eq!(message["server"], "pbx.1", "{message}");
            states.push(message["state"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(states, ["disconnected", "connected"]);
    // And events flow again after it.
    sim.emit_events(1);
    loop {
        if sse.next().await["type"] == "event" {
            break;
        }
    }

    state.shutdown().await;
    bridge.stop().await;
}

#[tokio::test]
async fn without_a_bridge_actions_are_unavailable_with_a_reason() {
    let nats = NatsServer::start();
    // The stream exists (a bridge ran once), but nobody serves the server now.
    let sim = ami_sim::spawn(SimConfig::default())
        .await
        .expect("simulator");
    let bridge = Bridge::start(&config_for(&[&sim], ""), nats.client().await)
        .await
        .expect("bridge");
    let js = async_nats::jetstream::new(nats.client().await);
    wait_for(&js, "the bridge's login", |all| !all.is_empty()).await;
    bridge.stop().await;

    let (addr, state) = start_gateway(&gateway_config(&nats)).await;
    // The last marker says the bridge stopped: the server shows disconnected, with why.
    let mut shown = Value::Null;
    for _ in 0..100 {
        let (_, servers) = request(addr, "GET", "/v1/servers", "").await;
        shown = servers["servers"][0].clone();
        if shown["last_error"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(shown["state"], "disconnected", "{shown}");
    assert!(
        shown["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("stopping")),
        "{shown}"
    );
    let (status, error) = request(addr, "POST", "/v1/servers/pbx.1/actions/Ping", "{}").await;
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["error"]["code"], "upstream_unavailable", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no bridge")),
        "{error}"
    );
    state.shutdown().await;
}
