//! Load benchmark: how many authenticated sessions the simulator holds, and how many events per
//! second it pushes to fast readers. Run with `cargo bench -p ami-sim --bench sim_load`
//! (optional arguments: sessions, events per session). Bounded: it stops by itself.
//!
//! The simulator and the readers each get one worker thread, as two processes would on a
//! 2-core machine. Events are counted by their blank-line terminators.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ami_sim::{SimConfig, SimHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LOGIN: &[u8] = b"Action: Login\r\nActionID: l\r\nUsername: admin\r\nSecret: amp111\r\nEvents: call,dialplan,cdr,agent,user\r\n\r\n";

/// Counts `\r\n\r\n` across reads (a terminator may straddle two reads).
#[derive(Default)]
struct Counter {
    tail: [u8; 3],
    tail_len: usize,
    packets: u64,
}

impl Counter {
    fn feed(&mut self, data: &[u8]) {
        let mut joined = Vec::with_capacity(self.tail_len + data.len().min(3));
        joined.extend_from_slice(&self.tail[..self.tail_len]);
        joined.extend_from_slice(&data[..data.len().min(3)]);
        self.packets += count(&joined) as u64;
        self.packets += count(data) as u64;
        let keep = data.len().min(3);
        self.tail[..keep].copy_from_slice(&data[data.len() - keep..]);
        self.tail_len = keep;
    }
}

fn count(data: &[u8]) -> usize {
    data.windows(4).filter(|w| *w == b"\r\n\r\n").count()
}

async fn login(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(LOGIN).await.expect("login");
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    // Banner, response and FullyBooted-free login (Events mask leaves system out).
    while !seen.windows(23).any(|w| w == b"Authentication accepted") {
        let n = stream.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed during login");
        seen.extend_from_slice(&buf[..n]);
    }
    stream
}

/// Reads until `expected` events arrived; returns the events and bytes read.
async fn drain(mut stream: TcpStream, expected: u64) -> (u64, u64) {
    let mut counter = Counter::default();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    while counter.packets < expected {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                bytes += n as u64;
                counter.feed(&buf[..n]);
            }
        }
    }
    (counter.packets, bytes)
}

fn runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("runtime")
}

fn round(sim: &SimHandle, clients: &tokio::runtime::Runtime, sessions: usize, per_session: u64) {
    let addr = sim.addr();
    let started = Instant::now();
    let streams = clients.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..sessions {
            tasks.push(tokio::spawn(login(addr)));
        }
        let mut streams = Vec::new();
        for task in tasks {
            streams.push(task.await.expect("login task"));
        }
        streams
    });
    let login_time = started.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    println!(
        "{sessions:>5} sessions logged in in {:.2?}; simulator reports {} open connections",
        login_time,
        sim.open_connections()
    );
    let total = clients.block_on(async {
        let mut tasks = Vec::new();
        for stream in streams {
            tasks.push(tokio::spawn(drain(stream, per_session)));
        }
        let started = Instant::now();
        sim.emit_events(per_session);
        let (mut total, mut bytes) = (0, 0);
        for task in tasks {
            let (events, read) = task.await.expect("drain task");
            total += events;
            bytes += read;
        }
        let elapsed = started.elapsed();
        println!(
            "{sessions:>5} sessions x {per_session} events: {total} events in {:.2?} = {:.0} events/s ({:.0} MB/s)",
            elapsed,
            total as f64 / elapsed.as_secs_f64(),
            bytes as f64 / 1e6 / elapsed.as_secs_f64()
        );
        total
    });
    assert_eq!(total, per_session * sessions as u64, "every event arrived");
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let sessions: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let per_session: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let sim_rt = runtime("ami-sim");
    let clients = runtime("readers");
    let sim = sim_rt
        .block_on(ami_sim::spawn(SimConfig {
            write_timeout: Duration::from_secs(10),
            ..SimConfig::default()
        }))
        .expect("simulator");
    round(&sim, &clients, 4, 250_000);
    round(&sim, &clients, sessions, per_session);
    sim_rt.block_on(sim.shutdown());
}
