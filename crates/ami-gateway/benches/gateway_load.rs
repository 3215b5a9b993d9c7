//! Load benchmark of the gateway, in three processes: the simulator (the PBX), the gateway,
//! and this driver with the clients. Bounded: it stops by itself.
//!
//! ```sh
//! cargo bench -p ami-gateway --bench gateway_load -- --clients 1000 --rate 50000 --seconds 10
//! ```
//!
//! Other options: `--http-connections 64`, `--http-seconds 5`, `--driver-threads 1` (the
//! driver's tokio workers, which run the load clients), `--shared-probes` (the latency probe
//! clients in the driver's runtime with the load clients instead of on a thread of their own).
//!
//! 1. HTTP actions: `--http-connections` keep-alive connections send `Ping` through the gateway
//!    to its one AMI connection for `--http-seconds`; requests/s and latency percentiles.
//! 2. Events: `--clients` WebSocket clients, each with a filter (an event name and a header
//!    value) that matches one event of the simulator's cycle of two calls, about 1% of the
//!    stream, while the simulator sends `--rate` events/s for `--seconds`. What each filter
//!    should have received comes from witnesses: one client per event name takes every event
//!    of that name, its count is checked against the gateway's own per-name counter, and it
//!    applies the header filters itself. Every load client must have received exactly that (every
//!    matching event delivered, no lag). Latency: probe `UserEvent`s carrying the send time go
//!    PBX -> gateway -> probe clients, so the figure is an upper bound on what the gateway adds
//!    (it includes the simulator and two loopback hops); the p99 of each second shows whether
//!    it grows during the run. Memory: the gateway process's peak RSS. CPU: each process's
//!    share of the two cores, and the machine's idle time, since all three share them.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ROLE: &str = "AMI_GW_BENCH_ROLE";
const TOKEN: &str = "bench-token";
/// Filters of the load clients, `(event, header, value)`. The simulator's cycle is two calls
/// that end in extensions 100 and 110; each filter matches one event of the cycle (about 1% of
/// the stream) and its event name alone would match more (eight Hangups and eight Cdrs per
/// cycle; UserEvents include the latency probes).
const FILTERS: [(&str, &str, &str); 4] = [
    ("Hangup", "Exten", "100"),
    ("Hangup", "Exten", "110"),
    ("Cdr", "Destination", "110"),
    ("UserEvent", "UserEvent", "DemoStart"),
];
const PROBE_CLIENTS: usize = 20;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("sim") => role_sim(),
        Ok("gateway") => role_gateway(),
        _ => driver(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Exits when the driver closes our stdin (or dies), so no process outlives the benchmark.
fn exit_on_stdin_eof(on_line: impl Fn(String) + Send + 'static) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(line) => on_line(line),
                Err(_) => break,
            }
        }
        std::process::exit(0);
    });
}

fn role_sim() {
    let rt = runtime();
    rt.block_on(async {
        let sim = ami_sim::spawn(ami_sim::SimConfig::default())
            .await
            .expect("simulator");
        println!("ADDR {}", sim.addr());
        let (start_tx, mut start_rx) = tokio::sync::mpsc::unbounded_channel::<(u64, u64)>();
        exit_on_stdin_eof(move |line| {
            let mut words = line.split_whitespace();
            if words.next() == Some("start") {
                let rate = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                let seconds = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                let _ = start_tx.send((rate, seconds));
            }
        });
        while let Some((rate, seconds)) = start_rx.recv().await {
            // Paced in 10 ms steps: rate/100 events per step.
            let per_tick = rate / 100;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            for _ in 0..seconds * 100 {
                tick.tick().await;
                sim.emit_events(per_tick);
            }
            println!("DONE");
        }
    });
}

fn role_gateway() {
    let sim = std::env::var("AMI_GW_BENCH_SIM").expect("sim address");
    let (host, port) = sim.rsplit_once(':').expect("host:port");
    let text = format!(
        // Every load client is one token on one address: lift the per-token and per-address
        // limits along with the global one.
        "[streams]\nmax_clients = 100000\nmax_clients_per_token = 100000\n\
         [connections]\nmax_per_ip = 100000\nmax_in_flight_per_token = 100000\n\
         [[servers]]\nname = \"sim\"\nhost = \"{host}\"\nport = {port}\nusername = \"admin\"\nsecret = \"amp111\"\n\
         [[tokens]]\nname = \"bench\"\nsha256 = \"{}\"\nservers = [\"*\"]\nactions = {{ allow = [\"*\"] }}\nevents = [\"*\"]\nrate_per_second = 0\n",
        ami_gateway::auth::hash_token_hex(TOKEN)
    );
    let config = ami_gateway::Config::parse(&text).expect("config");
    let rt = runtime();
    rt.block_on(async {
        let state = ami_gateway::AppState::start(&config).expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("ADDR {}", listener.local_addr().expect("addr"));
        exit_on_stdin_eof(|_| {});
        ami_gateway::serve(listener, None, state, std::future::pending())
            .await
            .expect("serve");
    });
}

struct Child2 {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Child2 {
    fn spawn(role: &str, env: &[(&str, String)]) -> (Self, String) {
        let mut command = Command::new(std::env::current_exe().expect("exe"));
        command
            .env(ROLE, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("child");
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = loop {
            let line = lines.next().expect("child output").expect("line");
            if let Some(addr) = line.strip_prefix("ADDR ") {
                break addr.to_owned();
            }
        };
        (
            Self {
                child,
                stdin,
                lines,
            },
            addr,
        )
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("write");
        stdin.flush().expect("flush");
    }

    fn wait_line(&mut self, wanted: &str) {
        for line in self.lines.by_ref() {
            if line.expect("line") == wanted {
                return;
            }
        }
    }
}

impl Drop for Child2 {
    fn drop(&mut self) {
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn driver() {
    let clients = arg("--clients", 1000) as usize;
    let rate = arg("--rate", 50_000);
    let seconds = arg("--seconds", 10);
    let http_connections = arg("--http-connections", 64) as usize;
    let http_seconds = arg("--http-seconds", 5);
    // Bounded whatever happens: the children exit when our stdin pipes close with us.
    let limit = Duration::from_secs(seconds + http_seconds + 120);
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("gateway_load: still running after {limit:?}; giving up");
        std::process::exit(2);
    });
    let (mut sim, sim_addr) = Child2::spawn("sim", &[]);
    let (gateway, gateway_addr) =
        Child2::spawn("gateway", &[("AMI_GW_BENCH_SIM", sim_addr.clone())]);
    let gateway_pid = gateway.child.id();
    println!("simulator {sim_addr}, gateway {gateway_addr} (pid {gateway_pid})");
    let rt = tokio::runtime::Builder::new_multi_thread()
        // One worker: the load clients only read and count, and a second worker cost more CPU
        // (thread wakeups) on the machine the gateway shares than it gave back.
        .worker_threads(arg("--driver-threads", 1) as usize)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        wait_ready(&gateway_addr).await;
        http_phase(&gateway_addr, http_connections, http_seconds).await;
        event_phase(
            &gateway_addr,
            &sim_addr,
            &mut sim,
            gateway_pid,
            clients,
            rate,
            seconds,
        )
        .await;
    });
    drop(gateway);
    drop(sim);
}

async fn wait_ready(addr: &str) {
    for _ in 0..200 {
        if let Ok(mut stream) = TcpStream::connect(addr).await {
            let _ = stream
                .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            let mut out = Vec::new();
            let _ = stream.read_to_end(&mut out).await;
            if out.starts_with(b"HTTP/1.1 200") {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the gateway never became ready");
}

/// One request on a keep-alive connection; returns the status.
async fn keep_alive_request(stream: &mut TcpStream, buf: &mut Vec<u8>, request: &[u8]) -> u16 {
    stream.write_all(request).await.expect("write");
    buf.clear();
    loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await.expect("read");
                assert!(n > 0, "connection closed");
                buf.extend_from_slice(&chunk[..n]);
            }
            return head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
        }
    }
}

async fn http_phase(addr: &str, connections: usize, seconds: u64) {
    let request = format!(
        "POST /v1/servers/sim/actions/Ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\n\r\n"
    );
    let request: Arc<[u8]> = request.into_bytes().into();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (addr, request) = (addr.to_owned(), request.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(&addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut buf = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let status = keep_alive_request(&mut stream, &mut buf, &request).await;
                latencies.push(started.elapsed());
                if status != 200 {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.expect("task");
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "HTTP actions: {} Ping requests over {connections} keep-alive connections in {elapsed:.1} s = {:.0} requests/s, \
         {errors} errors; latency p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        latencies.last().copied().unwrap_or_default()
    );
}

async fn metric_sum(addr: &str, prefix: &str) -> u64 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    stream.read_to_string(&mut out).await.expect("read");
    out.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn proc_status(pid: u32, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| l[key.len()..].trim().to_owned())
        .unwrap_or_else(|| "?".into())
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A load client without a WebSocket library: the upgrade by hand, then server frames
/// (never masked) counted by their payload's first bytes. A thousand of these cost the driver
/// far less CPU than full message parsing, which matters when they share two cores with the
/// gateway and the PBX.
struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawWs {
    async fn open(addr: &str, query: &str) -> Self {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let request = format!(
            "GET /v1/events/ws?{query} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Authorization: Bearer {TOKEN}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut buf = Vec::with_capacity(16 * 1024);
        let mut chunk = [0u8; 4096];
        let end = loop {
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed during the upgrade");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
        };
        assert!(buf.starts_with(b"HTTP/1.1 101"), "no upgrade");
        buf.drain(..end);
        let mut ws = Self { stream, buf };
        // The first frame is hello: from then on nothing is missed.
        let mut kinds = (0, 0, 0);
        // The hello may have come with the 101 response.
        ws.count_frames(&mut kinds);
        while kinds.2 == 0 {
            assert!(ws.read_frames(&mut kinds).await, "closed before hello");
        }
        ws
    }

    /// Reads once and counts the whole frames now buffered: (events, lag messages, others).
    /// False once the connection ended.
    async fn read_frames(&mut self, counts: &mut (u64, u64, u64)) -> bool {
        // Straight into the buffer's spare room: no zeroed chunk and no copy per read.
        self.buf.reserve(16 * 1024);
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        self.count_frames(counts);
        true
    }

    fn count_frames(&mut self, counts: &mut (u64, u64, u64)) {
        let mut at = 0;
        loop {
            let rest = &self.buf[at..];
            if rest.len() < 2 {
                break;
            }
            let (len, header) = match rest[1] & 0x7f {
                126 if rest.len() >= 4 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
                127 if rest.len() >= 10 => (
                    u64::from_be_bytes(rest[2..10].try_into().expect("8 bytes")) as usize,
                    10,
                ),
                126 | 127 => break,
                short => (short as usize, 2),
            };
            if rest.len() < header + len {
                break;
            }
            let payload = &rest[header..header + len];
            if payload.starts_with(b"{\"type\":\"event\"") {
                counts.0 += 1;
            } else if payload.starts_with(b"{\"type\":\"lagged\"") {
                counts.1 += 1;
            } else {
                counts.2 += 1;
            }
            at += header + len;
        }
        self.buf.drain(..at);
    }
}

async fn open_ws(addr: &str, query: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/v1/events/ws?{query}")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {TOKEN}").parse().expect("header"),
    );
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("upgrade");
    // Wait for hello: from then on nothing is missed.
    while let Some(Ok(message)) = ws.next().await {
        if message.to_text().is_ok_and(|t| t.contains("\"hello\"")) {
            break;
        }
    }
    ws
}

/// Whether a stream message's event has `header` equal to `value`, as the gateway's filter means
/// it: the header's first value (repeated headers arrive as arrays), names and values compared
/// ignoring ASCII case. Written apart from the gateway's code on purpose: it checks it.
fn header_matches(event: &serde_json::Value, header: &str, value: &str) -> bool {
    let Some(object) = event.as_object() else {
        return false;
    };
    let Some((_, found)) = object.iter().find(|(k, _)| k.eq_ignore_ascii_case(header)) else {
        return false;
    };
    let first = match found {
        serde_json::Value::Array(values) => values.first(),
        other => Some(other),
    };
    first
        .and_then(serde_json::Value::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case(value))
}

/// The distinct event names of [`FILTERS`], in order.
fn filter_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = FILTERS.iter().map(|(name, _, _)| *name).collect();
    names.dedup();
    names.sort_unstable();
    names.dedup();
    names
}

/// Whole-machine CPU time so far: (idle, total), in ticks, from /proc/stat.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // idle and iowait are the 4th and 5th.
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    (idle, ticks.iter().sum())
}

/// The latency probe clients, on a thread and runtime of their own: in the driver's runtime
/// each probe's read waited in the queue behind the reads of up to a thousand load clients,
/// which is the driver's delay, not the gateway's. As a client in another process would, they
/// still share the machine with everything else. `--shared-probes` puts them back in the
/// driver's runtime, to compare.
struct ProbeClients {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProbeClients {
    /// Opens the probe clients (each has its hello when this returns) and records each probe's
    /// `(sent, latency)` into `latencies`.
    async fn start(
        gateway: &str,
        epoch: Instant,
        latencies: Arc<std::sync::Mutex<Vec<(u64, u64)>>>,
        own_thread: bool,
    ) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let run = run_probes(gateway.to_owned(), epoch, latencies, ready_tx, stopped);
        let thread = if own_thread {
            Some(std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("probe runtime")
                    .block_on(run);
            }))
        } else {
            tokio::spawn(run);
            None
        };
        ready_rx.await.expect("probe clients opened");
        Self {
            stop: Some(stop),
            thread,
        }
    }
}

async fn run_probes(
    gateway: String,
    epoch: Instant,
    latencies: Arc<std::sync::Mutex<Vec<(u64, u64)>>>,
    ready: tokio::sync::oneshot::Sender<()>,
    stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let mut readers = Vec::new();
    for _ in 0..PROBE_CLIENTS {
        let mut ws = open_ws(&gateway, "event=UserEvent&header=UserEvent:LatencyProbe").await;
        let latencies = latencies.clone();
        readers.push(tokio::spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                let Ok(text) = message.to_text() else {
                    continue;
                };
                let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
                    continue;
                };
                if let Some(sent) = value["event"]["SentUs"]
                    .as_str()
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    let now = epoch.elapsed().as_micros() as u64;
                    latencies
                        .lock()
                        .expect("lock")
                        .push((sent, now.saturating_sub(sent)));
                }
            }
        }));
    }
    let _ = ready.send(());
    let _ = stopped.await;
    for reader in readers {
        reader.abort();
    }
}

impl Drop for ProbeClients {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn event_phase(
    gateway: &str,
    sim_addr: &str,
    sim: &mut Child2,
    gateway_pid: u32,
    clients: usize,
    rate: u64,
    seconds: u64,
) {
    let epoch = Instant::now();
    let lagged = Arc::new(AtomicU64::new(0));
    let mut load = Vec::with_capacity(clients);
    let connect_started = Instant::now();
    for chunk in (0..clients).collect::<Vec<_>>().chunks(50) {
        let opened = futures_util::future::join_all(chunk.iter().map(|i| {
            let filter = i % FILTERS.len();
            let (name, header, value) = FILTERS[filter];
            let gateway = gateway.to_owned();
            async move {
                let query = format!("event={name}&header={header}:{value}");
                (filter, RawWs::open(&gateway, &query).await)
            }
        }))
        .await;
        load.extend(opened);
    }
    // (sent, latency) in microseconds since the epoch.
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let own_thread = !std::env::args().any(|a| a == "--shared-probes");
    let probes = ProbeClients::start(gateway, epoch, latencies.clone(), own_thread).await;
    // Witnesses: every event of each filtered name, to learn what each filter should match.
    let names = filter_names();
    let mut witnesses = Vec::new();
    for name in &names {
        witnesses.push(open_ws(gateway, &format!("event={name}")).await);
    }
    println!(
        "{clients} load clients + {PROBE_CLIENTS} probe clients ({}) + {} witnesses subscribed in {:.1} s",
        if own_thread {
            "own thread"
        } else {
            "in the driver's runtime"
        },
        names.len(),
        connect_started.elapsed().as_secs_f64()
    );
    let name_metric =
        |name: &str| format!("ami_gateway_events_total{{server=\"sim\",event=\"{name}\"}}");
    let mut before = Vec::new();
    for name in &names {
        before.push(metric_sum(gateway, &name_metric(name)).await);
    }
    let events_before = metric_sum(gateway, "ami_gateway_events_total").await;
    let sim_pid = sim.child.id();
    let driver_pid = std::process::id();
    let cpu_before = [gateway_pid, sim_pid, driver_pid].map(cpu_seconds);
    let machine_before = machine_ticks();
    // Load clients count their events; any lag message is a failure of the goal.
    let counters: Vec<(usize, Arc<AtomicU64>)> = load
        .iter()
        .map(|(filter, _)| (*filter, Arc::new(AtomicU64::new(0))))
        .collect();
    let mut tasks = Vec::new();
    for ((_, mut ws), (_, count)) in load.into_iter().zip(counters.iter()) {
        let (count, lagged) = (count.clone(), lagged.clone());
        tasks.push(tokio::spawn(async move {
            let mut counts = (0, 0, 0);
            loop {
                let (events, lags) = (counts.0, counts.1);
                let open = ws.read_frames(&mut counts).await;
                count.fetch_add(counts.0 - events, Ordering::Relaxed);
                lagged.fetch_add(counts.1 - lags, Ordering::Relaxed);
                if !open {
                    break;
                }
            }
        }));
    }
    // Per name: events seen; per filter: events that match it.
    let witnessed: Arc<Vec<AtomicU64>> =
        Arc::new(names.iter().map(|_| AtomicU64::new(0)).collect());
    let matched: Arc<Vec<AtomicU64>> =
        Arc::new(FILTERS.iter().map(|_| AtomicU64::new(0)).collect());
    for (index, mut ws) in witnesses.into_iter().enumerate() {
        let (witnessed, matched, lagged) = (witnessed.clone(), matched.clone(), lagged.clone());
        let name = names[index];
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                let Ok(text) = message.to_text() else {
                    continue;
                };
                let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
                    continue;
                };
                match value["type"].as_str() {
                    Some("event") => {}
                    Some("lagged") => {
                        lagged.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    _ => continue,
                }
                witnessed[index].fetch_add(1, Ordering::Relaxed);
                for (filter, (filter_name, header, wanted)) in FILTERS.iter().enumerate() {
                    if *filter_name == name && header_matches(&value["event"], header, wanted) {
                        matched[filter].fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    // (sent, latency) in microseconds since the epoch.
    // Probes go straight to the PBX on a connection of their own (no events on it).
    let (host, port) = sim_addr.rsplit_once(':').expect("host:port");
    let prober = ami_client::Client::connect(
        ami_client::Config::new(host, "admin", "amp111")
            .port(port.parse().expect("port"))
            .events(ami_client::Events::Off),
    )
    .await
    .expect("probe connection");
    let probe_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            let sent = epoch.elapsed().as_micros().to_string();
            let action = ami_client::Action::new("UserEvent")
                .header("UserEvent", "LatencyProbe")
                .header("SentUs", sent.as_str());
            if prober.send(action).await.is_err() {
                break;
            }
        }
    });
    let load_started = Instant::now();
    let load_started_us = epoch.elapsed().as_micros() as u64;
    sim.send(&format!("start {rate} {seconds}"));
    let mut peak_rss = String::new();
    let sampler = {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut max_rss_kb = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                let rss = proc_status(gateway_pid, "VmRSS:");
                let kb: u64 = rss
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                max_rss_kb = max_rss_kb.max(kb);
                std::thread::sleep(Duration::from_millis(100));
            }
            max_rss_kb
        });
        (stop, handle)
    };
    tokio::task::block_in_place(|| sim.wait_line("DONE"));
    let sent_for = load_started.elapsed();
    // Probes measure the load; the ones of the quiet tail would only dilute the figure. Stopped
    // before the tail drains, so no probe is in flight when the counters are read.
    probe_task.abort();
    // Let the tail drain.
    tokio::time::sleep(Duration::from_secs(2)).await;
    sampler.0.store(true, Ordering::Relaxed);
    let max_rss_kb = sampler.1.join().unwrap_or(0);
    peak_rss.push_str(&proc_status(gateway_pid, "VmHWM:"));
    let cpu_after = [gateway_pid, sim_pid, driver_pid].map(cpu_seconds);
    let machine_after = machine_ticks();
    let events = metric_sum(gateway, "ami_gateway_events_total").await - events_before;
    // Deliveries still in flight after the drain are late, not lost: wait (up to 20 s more)
    // until the witnesses have every event the gateway counted and each load client what its
    // filter matched, and say how long that took.
    let drain_started = Instant::now();
    let (witnesses_complete, expected, complete, expected_total, delivered_total) = loop {
        // The witnesses must have seen every event of their name that the gateway counted.
        let mut witnesses_complete = true;
        let mut missing = Vec::new();
        for (index, name) in names.iter().enumerate() {
            let counted = metric_sum(gateway, &name_metric(name)).await - before[index];
            let seen = witnessed[index].load(Ordering::Relaxed);
            if seen != counted {
                witnesses_complete = false;
                missing.push(format!(
                    "witness of {name}: saw {seen} events, the gateway counted {counted}"
                ));
            }
        }
        let expected: Vec<u64> = matched.iter().map(|m| m.load(Ordering::Relaxed)).collect();
        let mut complete = 0;
        let mut expected_total = 0;
        let mut delivered_total = 0;
        for (filter, count) in &counters {
            let got = count.load(Ordering::Relaxed);
            expected_total += expected[*filter];
            delivered_total += got;
            if got == expected[*filter] && witnesses_complete {
                complete += 1;
            }
        }
        let settled = complete == clients;
        if settled || drain_started.elapsed() > Duration::from_secs(20) {
            for line in missing {
                println!("{line}");
            }
            break (
                witnesses_complete,
                expected,
                complete,
                expected_total,
                delivered_total,
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let late = drain_started.elapsed();
    let upstream_lagged = metric_sum(gateway, "ami_gateway_upstream_events_lagged_total").await;
    let dropped = metric_sum(gateway, "ami_gateway_stream_dropped_events_total").await;
    drop(probes);
    for task in tasks {
        task.abort();
    }
    let mut latencies = latencies.lock().expect("lock").clone();
    let percentile = |sorted: &[u64], p: f64| {
        sorted
            .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
            .map_or(f64::NAN, |us| *us as f64 / 1000.0)
    };
    // The p99 of each second of the run, by send time.
    let mut per_second = Vec::new();
    for second in 0..seconds {
        let from = load_started_us + second * 1_000_000;
        let mut window: Vec<u64> = latencies
            .iter()
            .filter(|(sent, _)| (from..from + 1_000_000).contains(sent))
            .map(|(_, latency)| *latency)
            .collect();
        window.sort_unstable();
        per_second.push(format!("{:.0}", percentile(&window, 0.99)));
    }
    let mut all: Vec<u64> = latencies.drain(..).map(|(_, latency)| latency).collect();
    all.sort_unstable();
    let secs = sent_for.as_secs_f64();
    let window = secs + 2.0;
    let cores = |i: usize| (cpu_after[i] - cpu_before[i]) / window;
    let (idle, total) = (
        machine_after.0 - machine_before.0,
        machine_after.1 - machine_before.1,
    );
    println!(
        "events: {events} received by the gateway in {secs:.1} s = {:.0} events/s (asked {rate}/s)",
        events as f64 / secs,
    );
    println!(
        "CPU over the {window:.0} s of load and drain: gateway {:.2} cores, simulator {:.2}, driver {:.2}; machine idle {:.0}%",
        cores(0),
        cores(1),
        cores(2),
        100.0 * idle as f64 / total.max(1) as f64
    );
    let shares: Vec<String> = FILTERS
        .iter()
        .zip(&expected)
        .map(|((name, header, value), n)| {
            format!(
                "{name}+{header}:{value} {n} ({:.2}%)",
                100.0 * *n as f64 / events.max(1) as f64
            )
        })
        .collect();
    println!(
        "filters (matching events, share of all events): {}",
        shares.join(", ")
    );
    println!(
        "delivery: {complete}/{clients} clients got every matching event ({delivered_total} of {expected_total} \
         deliveries, settled {:.1} s after the 2 s drain); witnesses {}; lag messages {}, events dropped for clients \
         {dropped}, upstream lag {upstream_lagged}",
        late.as_secs_f64(),
        if witnesses_complete {
            "complete"
        } else {
            "INCOMPLETE"
        },
        lagged.load(Ordering::Relaxed)
    );
    println!(
        "latency PBX -> gateway -> client ({} probes, {PROBE_CLIENTS} probe clients): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
         p99 of each second (ms): {}",
        all.len(),
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        all.last().map_or(f64::NAN, |us| *us as f64 / 1000.0),
        per_second.join(" ")
    );
    println!(
        "gateway memory: peak RSS {peak_rss} (sampled max {:.1} MB)",
        max_rss_kb as f64 / 1024.0
    );
}
