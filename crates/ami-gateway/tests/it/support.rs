//! A gateway in front of a simulator, a minimal HTTP/1.1 client and a WebSocket client.

use std::net::SocketAddr;
use std::time::Duration;

use ami_gateway::{AppState, Config};
use ami_sim::{SimConfig, SimHandle};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Token with `"*"` plus Command, Originate and an action no PBX knows (Frobnicate).
pub const ADMIN: &str = "admin-token";
/// Token that may only Ping and list channels on `sim`, and only receive `call` events.
pub const LIMITED: &str = "limited-token";
/// Token with a tight rate limit (burst 3, then 1/s).
pub const SLOW: &str = "slow-token";

pub fn sha(token: &str) -> String {
    ami_gateway::auth::hash_token_hex(token)
}

pub struct Gateway {
    pub addr: SocketAddr,
    pub sim: SimHandle,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The configuration used by the tests: one server `sim` plus `extra` TOML (stream limits...).
pub fn config_text(sim: SocketAddr, extra: &str) -> String {
    format!(
        r#"
{extra}
[[servers]]
name = "sim"
host = "127.0.0.1"
port = {port}
username = "admin"
secret = "amp111"

[[tokens]]
name = "admin"
sha256 = "{admin}"
servers = ["*"]
actions = {{ allow = ["*", "Command", "Originate", "Frobnicate"] }}
events = ["*"]
rate_per_second = 0

[[tokens]]
name = "limited"
sha256 = "{limited}"
servers = ["sim"]
actions = {{ allow = ["Ping", "CoreShowChannels"] }}
events = ["call"]

[[tokens]]
name = "slow"
sha256 = "{slow}"
servers = ["sim"]
actions = {{ allow = ["*"] }}
events = ["*"]
rate_per_second = 1
burst = 3
"#,
        port = sim.port(),
        admin = sha(ADMIN),
        limited = sha(LIMITED),
        slow = sha(SLOW),
    )
}

impl Gateway {
    /// A simulator (demo calls up) and a gateway in front of it, connected.
    pub async fn start(extra: &str) -> Self {
        Self::start_with(
            SimConfig {
                demo_calls: true,
                ..SimConfig::default()
            },
            extra,
            None,
        )
        .await
    }

    pub async fn start_with(
        sim_config: SimConfig,
        extra: &str,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) -> Self {
        let sim = ami_sim::spawn(sim_config).await.expect("simulator");
        let upstream = sim.addr();
        Self::serve(sim, upstream, extra, tls).await
    }

    /// A simulator (demo calls up) and a gateway reaching it through a recording proxy, so a
    /// test can check what the gateway sent upstream.
    pub async fn start_proxied(extra: &str) -> (Self, crate::security::proxy::RecordingProxy) {
        Self::start_proxied_with(
            SimConfig {
                demo_calls: true,
                ..SimConfig::default()
            },
            extra,
        )
        .await
    }

    /// [`Gateway::start_proxied`] with a simulator of one's choosing (another profile ...).
    pub async fn start_proxied_with(
        sim_config: SimConfig,
        extra: &str,
    ) -> (Self, crate::security::proxy::RecordingProxy) {
        let sim = ami_sim::spawn(sim_config).await.expect("simulator");
        let proxy = crate::security::proxy::RecordingProxy::start(sim.addr()).await;
        let gateway = Self::serve(sim, proxy.addr(), extra, None).await;
        (gateway, proxy)
    }

    /// A gateway whose server `sim` is another AMI server at `upstream` (a scripted one); the
    /// simulator it also starts stays idle.
    pub async fn start_at(upstream: SocketAddr, extra: &str) -> Self {
        let sim = ami_sim::spawn(SimConfig::default())
            .await
            .expect("simulator");
        Self::serve(sim, upstream, extra, None).await
    }

    /// A simulator serving AMI over HTTP too, and a gateway whose server `sim` is reached
    /// through it (`url = "http://..."`), connected.
    pub async fn start_over_http(profile: ami_sim::Profile) -> Self {
        let sim = ami_sim::spawn(SimConfig {
            profile,
            demo_calls: true,
            http_listen: Some(([127, 0, 0, 1], 0).into()),
            ..SimConfig::default()
        })
        .await
        .expect("simulator");
        let http = sim.http_addr().expect("the HTTP listener");
        let text = config_text(sim.addr(), "").replace(
            &format!("host = \"127.0.0.1\"\nport = {}", sim.addr().port()),
            &format!("url = \"http://{http}\""),
        );
        assert!(text.contains("url = "), "the server entry names the URL");
        Self::serve_config(sim, &text, None).await
    }

    /// A gateway whose server `sim` is reached at `upstream` (the simulator or a proxy).
    async fn serve(
        sim: SimHandle,
        upstream: SocketAddr,
        extra: &str,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) -> Self {
        Self::serve_config(sim, &config_text(upstream, extra), tls).await
    }

    async fn serve_config(
        sim: SimHandle,
        text: &str,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) -> Self {
        let config = Config::parse(text).expect("config");
        let state = AppState::start(&config).expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(ami_gateway::serve(
            listener,
            tls,
            state.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        let gateway = Self {
            addr,
            sim,
            state,
            stop: Some(stop),
            task: Some(task),
        };
        gateway.wait_connected().await;
        gateway
    }

    /// Waits until `sim` reports connected (after a start or a restart).
    pub async fn wait_connected(&self) {
        let server = self.state.server("sim").expect("server");
        for _ in 0..200 {
            if server.is_connected() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the gateway never connected to the simulator");
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        request(self.addr, "GET", path, token, None, &[]).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &str) -> Reply {
        request(self.addr, "POST", path, token, Some(body), &[]).await
    }

    /// Stops serving (gracefully) and returns how long it took.
    pub async fn stop(mut self) -> Duration {
        let started = std::time::Instant::now();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .expect("graceful shutdown in time")
                .expect("join")
                .expect("serve");
        }
        started.elapsed()
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The stable error code of an error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {}", self.body))
            .to_owned()
    }
}

fn head(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    extra: &[(&str, &str)],
) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    if let Some(body) = body {
        head.push_str(body);
    }
    head
}

/// One request on a fresh connection, read to the end.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    extra: &[(&str, &str)],
) -> Reply {
    let stream = TcpStream::connect(addr).await.expect("connect");
    request_on(stream, method, path, token, body, extra).await
}

/// One request on any stream (plain or TLS).
pub async fn request_on<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    extra: &[(&str, &str)],
) -> Reply {
    stream
        .write_all(head(method, path, token, body, extra).as_bytes())
        .await
        .expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("response in time")
        .expect("read");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// A WebSocket client on `/v1/events/ws?query`.
pub type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

pub async fn websocket(addr: SocketAddr, query: &str, token: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/v1/events/ws?{query}")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("upgrade");
    ws
}

/// Like [`websocket`], with a 4 KiB receive buffer so a client that stops reading is seen as
/// stuck after little data rather than after megabytes of kernel buffering.
pub async fn websocket_small_buffer(addr: SocketAddr, query: &str, token: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/v1/events/ws?{query}")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("buffer size");
    let stream = socket.connect(addr).await.expect("connect");
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("upgrade");
    ws
}

/// The next text message as JSON, within `timeout`; None when the stream ended.
pub async fn next_json(ws: &mut Ws, timeout: Duration) -> Option<Value> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let message = tokio::time::timeout(timeout, ws.next())
            .await
            .expect("a message in time");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Some(serde_json::from_str(&text).expect("JSON message"));
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Waits for the first message whose `type` is `kind` and that satisfies `pred`.
pub async fn wait_for(ws: &mut Ws, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let message = next_json(ws, left).await.expect("stream open");
        if message["type"] == kind && pred(&message) {
            return message;
        }
    }
}

/// A metric's value from `/metrics` (the sum over lines starting with `prefix`).
pub async fn metric(gateway: &Gateway, prefix: &str) -> f64 {
    let reply = gateway.get("/metrics", None).await;
    reply
        .body
        .lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
