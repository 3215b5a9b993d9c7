//! `ami bench events|ping`: throughput and latency against any AMI server, like
//! redis-benchmark. Without `--host`, the simulator is started and used.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ami_client::{Action, Buffer, Client, Config, EventItem, Events, Subscription};
use anyhow::{Context, bail};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::conn::ConnArgs;

/// Arguments of `ami bench`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    ami bench events --count 1000000\n  \
    ami bench ping --count 200000 --in-flight 100 --json\n  \
    AMI_HOST=pbx AMI_SECRET=... ami bench ping --count 10000 --in-flight 1\n\n\
    Without --host (or AMI_HOST) the simulator is started as a separate `ami sim` process\n\
    (--in-process: on a thread of this one), and the output says so. Against a real PBX,\n\
    `events` generates its own load with UserEvent actions on a second connection (the user\n\
    needs write=user).")]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Options every benchmark takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Client runtime threads (1: everything on one thread; 2: the connection task and the
    /// consumer may run on different cores).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Asterisk version the simulator imitates when no host is given: 22, 13, 11 or 1.8
    /// (`--sim-profile` is an old spelling).
    #[arg(
        long = "asterisk",
        alias = "sim-profile",
        value_name = "VERSION",
        default_value = "22"
    )]
    pub asterisk: String,
    /// Run the simulator inside this process (own thread) rather than as `ami sim`.
    #[arg(long)]
    pub in_process: bool,
}

/// What to measure.
#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Events delivered to one subscriber: events/s and lost/lagged counts.
    Events {
        /// Events to receive.
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        /// Subscriber buffer, in events (the default is large enough for zero loss).
        #[arg(long, default_value_t = 65_536)]
        buffer: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Ping round trips: rate and latency percentiles.
    Ping {
        /// Pings to send in total.
        #[arg(long, default_value_t = 100_000)]
        count: u64,
        /// Pings outstanding at once.
        #[arg(long, default_value_t = 1)]
        in_flight: u64,
        /// Also time the same Pings over a bare socket (no client), for comparison.
        #[arg(long)]
        compare_bare: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Memory per idle logged-in connection (RSS growth over many clients).
    Idle {
        /// Clients to open.
        #[arg(long, default_value_t = 200)]
        connections: usize,
        #[command(flatten)]
        common: Common,
    },
}

/// Resident memory per idle connection: RSS growth over `connections` logged-in clients.
async fn bench_idle(config: Config, connections: usize) -> anyhow::Result<Report> {
    // Warm the runtime and allocator with one connection first, so the figure is per client.
    let first = Client::connect(config.clone()).await?;
    first.ping().await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = current_rss_kib().unwrap_or_default();
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        let client = Client::connect(config.clone()).await?;
        client.ping().await?;
        clients.push(client);
    }
    // Let the login events drain and the tasks settle into their idle state.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = current_rss_kib().unwrap_or_default();
    let per = (after.saturating_sub(before) as f64 * 1024.0) / connections as f64;
    for client in clients {
        client.close().await;
    }
    first.close().await;
    Ok(Report {
        json: json!({
            "connections": connections,
            "rss_before_kib": before,
            "rss_after_kib": after,
            "bytes_per_connection": per.round(),
        }),
        text: vec![
            format!("idle connections: {connections}"),
            format!("RSS before: {before} KiB, after: {after} KiB"),
            format!("per idle connection: {:.1} KiB", per / 1024.0),
        ],
    })
}

fn current_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

impl What {
    fn common(&self) -> &Common {
        match self {
            What::Events { common, .. } | What::Ping { common, .. } | What::Idle { common, .. } => {
                common
            }
        }
    }
}

/// Where the server comes from.
enum Server {
    External,
    /// `ami sim` started from this binary, in its own process.
    Process {
        child: std::process::Child,
        port: u16,
    },
    InProcess {
        addr: SocketAddr,
        handle: ami_sim::SimHandle,
        runtime: tokio::runtime::Runtime,
    },
}

impl Server {
    fn describe(&self) -> String {
        match self {
            Server::External => "external server".into(),
            Server::Process { port, child } => format!(
                "simulator in a separate process (ami sim, pid {}) at 127.0.0.1:{port}",
                child.id()
            ),
            Server::InProcess { addr, .. } => {
                format!("simulator in this process (own thread) at {addr}")
            }
        }
    }

    fn config(&self, conn: &ConnArgs) -> anyhow::Result<Config> {
        match self {
            Server::External => conn.config(None),
            Server::InProcess { addr, .. } => simulator_config(conn, addr.port()),
            Server::Process { port, .. } => simulator_config(conn, *port),
        }
    }

    fn secret(&self, conn: &ConnArgs) -> anyhow::Result<String> {
        match self {
            Server::External => conn.secret(),
            Server::InProcess { .. } | Server::Process { .. } => Ok("amp111".into()),
        }
    }

    fn stop(self) {
        match self {
            Server::InProcess {
                handle, runtime, ..
            } => {
                runtime.block_on(handle.shutdown());
                runtime.shutdown_timeout(Duration::from_secs(1));
            }
            Server::Process { mut child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Server::External => {}
        }
    }
}

fn simulator_config(conn: &ConnArgs, port: u16) -> anyhow::Result<Config> {
    let mut local = conn.clone();
    local.username = Some("admin".into());
    local.secret = Some("amp111".into());
    local.secret_file = None;
    local.config(Some(("127.0.0.1", port)))
}

/// Starts `ami sim` (this same binary) on a free loopback port and waits until it accepts.
fn start_process(profile: &str, extra: &[String]) -> anyhow::Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let exe = std::env::current_exe().context("locating the ami binary")?;
    let child = std::process::Command::new(exe)
        .args([
            "sim",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--asterisk",
            profile,
        ])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting `ami sim`")?;
    let mut server = Server::Process { child, port };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(server);
        }
        if let Server::Process { child, .. } = &mut server
            && let Ok(Some(status)) = child.try_wait()
        {
            bail!("`ami sim` exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    server.stop();
    bail!("`ami sim` did not start listening on 127.0.0.1:{port}")
}

fn start_server(args: &Args) -> anyhow::Result<Server> {
    if !args.conn.is_unset() {
        return Ok(Server::External);
    }
    // A separate `ami sim` process; for the events run it streams from login on. The in-process
    // simulator (own thread) is the fallback, or chosen with --in-process.
    let common = args.what.common();
    let extra = match &args.what {
        What::Events { count, .. } => vec!["--events-on-login".to_owned(), count.to_string()],
        _ => Vec::new(),
    };
    if !common.in_process {
        match start_process(&common.asterisk, &extra) {
            Ok(server) => return Ok(server),
            Err(error) => {
                eprintln!("ami bench: {error:#}; using the simulator in this process instead")
            }
        }
    }
    let profile: ami_sim::Profile = args.what.common().asterisk.parse()?;
    // The simulator gets its own single-threaded runtime on its own OS thread, so it competes
    // with the client as a separate process would (one core each on a 2-core machine).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ami-sim")
        .enable_all()
        .build()
        .context("simulator runtime")?;
    let handle = runtime.block_on(ami_sim::spawn(ami_sim::SimConfig {
        profile,
        ..ami_sim::SimConfig::default()
    }))?;
    Ok(Server::InProcess {
        addr: handle.addr(),
        handle,
        runtime,
    })
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let server = start_server(&args)?;
    let config = server.config(&args.conn)?.keepalive(None).reconnect(None);
    let common = args.what.common().clone();
    let runtime = if common.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(common.threads)
            .enable_all()
            .build()
    }
    .context("client runtime")?;
    let result = match &args.what {
        What::Events { count, buffer, .. } => {
            runtime.block_on(bench_events(&server, config, *count, *buffer))
        }
        What::Ping {
            count,
            in_flight,
            compare_bare,
            ..
        } => {
            let secret = server.secret(&args.conn)?;
            runtime.block_on(bench_ping(
                config,
                secret,
                *count,
                *in_flight,
                *compare_bare,
            ))
        }
        What::Idle { connections, .. } => {
            runtime.block_on(bench_idle(config, (*connections).max(1)))
        }
    };
    let where_ = server.describe();
    server.stop();
    let mut report = result?;
    let peak_kib = peak_rss_kib();
    if common.json {
        println!("{}", serde_json::to_string(&report.json)?);
    } else {
        report.text.push(format!("server: {where_}"));
        if let Some(peak) = peak_kib {
            report
                .text
                .push(format!("peak RSS of this process: {peak} KiB"));
        }
        for line in report.text {
            println!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

struct Report {
    json: serde_json::Value,
    text: Vec<String>,
}

async fn bench_events(
    server: &Server,
    config: Config,
    count: u64,
    buffer: usize,
) -> anyhow::Result<Report> {
    let name = "amikit-bench";
    let buffer = Buffer::Events(buffer);
    let (client, mut subscriber, generator) = match server {
        Server::Process { .. } => {
            // That simulator streams `count` call events from login on: the subscriber must
            // exist before the connection. Login events (system, security) are not counted.
            let streamed = |message: &ami_client::Message| {
                !message
                    .get_bytes("Privilege")
                    .is_some_and(|p| p.starts_with(b"system") || p.starts_with(b"security"))
            };
            let subscription = Subscription::all().filter(streamed).buffer(buffer);
            let (client, subscriber) = Client::connect_subscribed(config, subscription).await?;
            (client, subscriber, None)
        }
        Server::InProcess { handle, .. } => {
            let client = Client::connect(config).await?;
            let subscriber = client.subscribe(Subscription::all().buffer(buffer));
            handle.emit_events(count);
            (client, subscriber, None)
        }
        Server::External => {
            // A real PBX: generate UserEvents from a second connection and count only those.
            let client = Client::connect(config.clone()).await?;
            let subscription = Subscription::all().header("UserEvent", name);
            let subscriber = client.subscribe(subscription.buffer(buffer));
            let sender = Client::connect(config.events(Events::Off)).await?;
            let generator = tokio::spawn(async move {
                let window = Arc::new(tokio::sync::Semaphore::new(256));
                for _ in 0..count {
                    let Ok(permit) = window.clone().acquire_owned().await else {
                        break;
                    };
                    let sender = sender.clone();
                    tokio::spawn(async move {
                        let _ = sender
                            .send(Action::new("UserEvent").header("UserEvent", name))
                            .await;
                        drop(permit);
                    });
                }
                sender
            });
            (client, subscriber, Some(generator))
        }
    };
    let mut received = 0u64;
    let mut lagged = 0u64;
    let mut first: Option<Instant> = None;
    let mut items = Vec::with_capacity(4096);
    let idle = Duration::from_secs(5);
    let rss_before = current_rss_kib();
    let start = Instant::now();
    let cpu_start = thread_cpu_seconds();
    while received + lagged < count {
        items.clear();
        let got = match tokio::time::timeout(idle, subscriber.recv_many(&mut items, 4096)).await {
            Ok(got) => got,
            Err(_) => break,
        };
        if got == 0 {
            break;
        }
        for item in &items {
            match item {
                EventItem::Event(_) => {
                    received += 1;
                    if first.is_none() {
                        first = Some(Instant::now());
                    }
                }
                EventItem::Lagged(n) => lagged += n,
                _ => {}
            }
        }
    }
    let end = Instant::now();
    let cpu = cpu_per_op(cpu_start, received);
    let seconds = end.duration_since(first.unwrap_or(start)).as_secs_f64();
    let per_sec = if seconds > 0.0 {
        received as f64 / seconds
    } else {
        0.0
    };
    if let Some(generator) = generator {
        if let Ok(sender) = generator.await {
            sender.close().await;
        }
    }
    let metrics = client.metrics();
    client.close().await;
    let lost = count.saturating_sub(received + lagged);
    Ok(Report {
        json: json!({
            "events": received,
            "seconds": seconds,
            "events_per_sec": per_sec.round(),
            "lagged": lagged,
        }),
        text: vec![
            format!("events received: {received} of {count}"),
            format!("seconds: {seconds:.3}"),
            format!("events/s: {per_sec:.0}"),
            cpu,
            format!("lagged (dropped for the slow subscriber): {lagged}"),
            format!("lost (never arrived): {lost}"),
            match (rss_before, peak_rss_kib()) {
                (Some(before), Some(peak)) => format!(
                    "memory: RSS {before} KiB when the run started, peak {peak} KiB (+{} KiB)",
                    peak.saturating_sub(before)
                ),
                _ => "memory: n/a".into(),
            },
            format!(
                "client metrics: received {} lagged {} decode errors {}",
                metrics.events_received, metrics.events_lagged, metrics.decode_errors
            ),
        ],
    })
}

async fn bench_ping(
    config: Config,
    secret: String,
    count: u64,
    in_flight: u64,
    compare_bare: bool,
) -> anyhow::Result<Report> {
    if in_flight == 0 || count == 0 {
        bail!("--count and --in-flight must be at least 1");
    }
    let client = Client::connect(config.clone().events(Events::Off)).await?;
    // Warm up the connection and allocator.
    for _ in 0..1000.min(count) {
        client.ping().await?;
    }
    let remaining = Arc::new(AtomicU64::new(count));
    let start = Instant::now();
    let cpu_start = thread_cpu_seconds();
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let client = client.clone();
            let remaining = remaining.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                // One clock read per Ping: a reply's arrival time is the next Ping's send time
                // (nothing but a counter update happens in between).
                let mut sent = Instant::now();
                while remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    client.ping().await?;
                    let answered = Instant::now();
                    latencies.push((answered - sent).as_micros() as u32);
                    sent = answered;
                }
                Ok::<_, ami_client::Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(count as usize);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_per_op(cpu_start, count);
    client.close().await;
    latencies.sort_unstable();
    let percentile = |p: f64| -> u32 {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(index).copied().unwrap_or_default()
    };
    let (p50, p99) = (percentile(0.50), percentile(0.99));
    let per_sec = count as f64 / seconds;
    let mut json = json!({
        "count": count,
        "in_flight": in_flight,
        "seconds": seconds,
        "per_sec": per_sec.round(),
        "p50_us": p50,
        "p99_us": p99,
    });
    let mut text = vec![
        format!("pings: {count}, {in_flight} in flight"),
        format!("seconds: {seconds:.3}"),
        format!("round trips/s: {per_sec:.0}"),
        cpu,
        format!("latency p50: {p50} us, p99: {p99} us"),
    ];
    if compare_bare && config.is_http() {
        // The bare socket speaks the TCP manager protocol: an HTTP port has nothing to compare.
        text.push(
            "bare socket comparison: skipped (AMI over HTTP has no bare manager socket)".into(),
        );
    } else if compare_bare {
        let comparison = compare_with_bare(&config, &secret, count.min(100_000)).await?;
        let (client_p50, client_p99) = comparison.client;
        let (bare_p50, bare_p99) = comparison.bare;
        let above = (f64::from(client_p50) / f64::from(bare_p50.max(1)) - 1.0) * 100.0;
        text.push(format!(
            "one at a time, alternating in {COMPARE_BLOCKS} blocks: client p50 {client_p50} us, \
             p99 {client_p99} us; bare socket p50 {bare_p50} us, p99 {bare_p99} us, {:.0}/s \
             (client {above:+.0}% at p50)",
            comparison.bare_per_sec
        ));
        json["one_at_a_time_p50_us"] = json!(client_p50);
        json["one_at_a_time_p99_us"] = json!(client_p99);
        json["bare_p50_us"] = json!(bare_p50);
        json["bare_p99_us"] = json!(bare_p99);
        json["bare_per_sec"] = json!(comparison.bare_per_sec.round());
    }
    Ok(Report { json, text })
}

const COMPARE_BLOCKS: u64 = 10;

/// One-at-a-time latency through the client and over a bare socket, (p50, p99) in us each.
struct Comparison {
    client: (u32, u32),
    bare: (u32, u32),
    bare_per_sec: f64,
}

/// One Ping at a time through the client and over a bare socket, alternating in blocks so that
/// both see the same machine: an idle VM's wake-up latency drifts between runs by more than
/// the difference being measured.
async fn compare_with_bare(
    config: &Config,
    secret: &str,
    count: u64,
) -> anyhow::Result<Comparison> {
    let client = Client::connect(config.clone().events(Events::Off)).await?;
    let mut bare = BareSocket::login(config, secret).await?;
    let per_block = (count / COMPARE_BLOCKS).max(1);
    let mut through_client = Vec::with_capacity((per_block * COMPARE_BLOCKS) as usize);
    let mut through_bare = Vec::with_capacity(through_client.capacity());
    let mut bare_time = Duration::ZERO;
    for _ in 0..COMPARE_BLOCKS {
        for _ in 0..per_block {
            let sent = Instant::now();
            client.ping().await?;
            through_client.push(sent.elapsed().as_micros() as u32);
        }
        let started = Instant::now();
        for _ in 0..per_block {
            through_bare.push(bare.ping().await?);
        }
        bare_time += started.elapsed();
    }
    client.close().await;
    let bare_per_sec = through_bare.len() as f64 / bare_time.as_secs_f64().max(1e-9);
    Ok(Comparison {
        client: p50_p99(&mut through_client),
        bare: p50_p99(&mut through_bare),
        bare_per_sec,
    })
}

fn p50_p99(latencies: &mut [u32]) -> (u32, u32) {
    latencies.sort_unstable();
    let at = |p: f64| {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(index).copied().unwrap_or_default()
    };
    (at(0.50), at(0.99))
}

/// A logged-in plain socket that sends one Ping at a time: the floor any client can reach.
struct BareSocket {
    stream: tokio::net::TcpStream,
    decoder: ami_proto::Decoder,
    buf: bytes::BytesMut,
    sent: u64,
}

impl BareSocket {
    async fn login(config: &Config, secret: &str) -> anyhow::Result<Self> {
        let mut stream = tokio::net::TcpStream::connect(&config.address()).await?;
        stream.set_nodelay(true)?;
        let login = Action::new("Login")
            .header("ActionID", "bare-login")
            .header("Username", config.username())
            .header("Secret", secret)
            .header("Events", "off");
        let mut out = bytes::BytesMut::new();
        ami_proto::encode_action(&login, &mut out)?;
        stream.write_all(&out).await?;
        let mut bare = Self {
            stream,
            decoder: ami_proto::Decoder::new(),
            buf: bytes::BytesMut::with_capacity(8192),
            sent: 0,
        };
        let reply = bare.next_response().await?;
        if !reply.value_is("Response", "Success") {
            bail!("bare login refused");
        }
        Ok(bare)
    }

    /// One round trip, in microseconds.
    async fn ping(&mut self) -> anyhow::Result<u32> {
        let sent = Instant::now();
        self.sent += 1;
        let action = format!("Action: Ping\r\nActionID: b{}\r\n\r\n", self.sent);
        self.stream.write_all(action.as_bytes()).await?;
        self.next_response().await?;
        Ok(sent.elapsed().as_micros() as u32)
    }

    async fn next_response(&mut self) -> anyhow::Result<ami_client::Message> {
        loop {
            while let Some(packet) = self.decoder.decode(&mut self.buf)? {
                if let ami_proto::Packet::Message(message) = packet
                    && message.is_response()
                {
                    return Ok(message);
                }
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                bail!("server closed the bare connection");
            }
        }
    }
}

/// CPU time (user + system) of the calling thread so far, in seconds (Linux). On the default
/// single-threaded client runtime this is the whole client: connection task and consumers.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    // The kernel reports these in USER_HZ ticks, 100 per second on Linux.
    Some((utime + stime) / 100.0)
}

fn cpu_per_op(start: Option<f64>, ops: u64) -> String {
    match (start, thread_cpu_seconds()) {
        (Some(start), Some(end)) if ops > 0 => {
            let cpu = end - start;
            format!(
                "client thread CPU: {cpu:.2} s, {:.2} us per operation (one core: ~{:.0}/s)",
                cpu * 1e6 / ops as f64,
                if cpu > 0.0 { ops as f64 / cpu } else { 0.0 }
            )
        }
        _ => "client thread CPU: n/a".into(),
    }
}

/// Peak resident set size of this process (Linux), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        what: What,
    }

    fn sim_server() -> Server {
        let sim_runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let handle = sim_runtime
            .block_on(ami_sim::spawn(ami_sim::SimConfig::default()))
            .expect("simulator");
        Server::InProcess {
            addr: handle.addr(),
            handle,
            runtime: sim_runtime,
        }
    }

    fn conn() -> ConnArgs {
        #[derive(Debug, Parser)]
        struct Only {
            #[command(flatten)]
            conn: ConnArgs,
        }
        Only::parse_from(["x"]).conn
    }

    #[test]
    fn events_report_has_the_documented_json_shape_and_counts_everything() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let server = sim_server();
        let config = server.config(&conn()).expect("config");
        let report = runtime
            .block_on(bench_events(&server, config, 5_000, 65_536))
            .expect("bench");
        server.stop();
        let object = report.json.as_object().expect("object");
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(keys, ["events", "seconds", "events_per_sec", "lagged"]);
        assert_eq!(object["events"], 5_000);
        assert_eq!(object["lagged"], 0);
    }

    #[test]
    fn ping_report_has_the_documented_json_shape() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let server = sim_server();
        let config = server.config(&conn()).expect("config");
        let report = runtime
            .block_on(bench_ping(config, "amp111".into(), 200, 8, true))
            .expect("bench");
        server.stop();
        let object = report.json.as_object().expect("object");
        for key in [
            "count",
            "in_flight",
            "seconds",
            "per_sec",
            "p50_us",
            "p99_us",
        ] {
            assert!(object.contains_key(key), "{key}");
        }
        assert_eq!(object["count"], 200);
        assert_eq!(object["in_flight"], 8);
        for key in [
            "bare_p50_us",
            "bare_p99_us",
            "one_at_a_time_p50_us",
            "one_at_a_time_p99_us",
        ] {
            assert!(object[key].as_u64().is_some_and(|us| us > 0), "{key}");
        }
    }

    #[test]
    fn subcommands_parse_with_their_own_options() {
        let cli = Cli::parse_from(["x", "ping", "--count", "5", "--in-flight", "2", "--json"]);
        let What::Ping {
            count,
            in_flight,
            common,
            ..
        } = cli.what
        else {
            panic!("not ping")
        };
        assert_eq!((count, in_flight, common.json), (5, 2, true));
        let cli = Cli::parse_from(["x", "events", "--count", "9", "--sim-profile", "13"]);
        assert_eq!(cli.what.common().asterisk, "13");
        let cli = Cli::parse_from(["x", "events", "--asterisk", "1.8"]);
        assert_eq!(cli.what.common().asterisk, "1.8");
        // Connection flags before or after the subcommand.
        #[derive(Debug, Parser)]
        struct Bench {
            #[command(flatten)]
            args: Args,
        }
        for argv in [
            ["x", "ping", "--host", "pbx", "--port", "5039"],
            ["x", "--host", "pbx", "--port", "5039", "ping"],
        ] {
            let bench = Bench::parse_from(argv);
            assert_eq!(bench.args.conn.host.as_deref(), Some("pbx"), "{argv:?}");
            assert_eq!(bench.args.conn.port, Some(5039), "{argv:?}");
        }
    }
}
