//! CPU per Ping inside one session, without sockets: what `ServerSession` costs per action.
//! Run with `cargo run --release -p ami-sim --example ping_cpu` (optional: batch size, Pings;
//! a small count under `valgrind --tool=cachegrind` gives instruction counts on a busy machine).

use std::time::{Instant, SystemTime};

use ami_sim::{Context, Output, Pbx, PeerInfo, Profile, ServerSession, User};

fn main() {
    let batch: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(32);
    let mut pbx = Pbx::new(Profile::V22, 1_795_408_000);
    let users = User::defaults();
    let mut session = ServerSession::new(1, Profile::V22, PeerInfo::default());
    session.set_coalesce_writes(true);
    let feed = |session: &mut ServerSession, pbx: &mut Pbx, bytes: &[u8]| -> usize {
        let mut ctx = Context::new(pbx, &users, SystemTime::now());
        session.handle_bytes(bytes, &mut ctx);
        let mut written = 0;
        while let Some(output) = session.poll_output() {
            if let Output::Write(bytes) = output {
                written += bytes.len();
            }
        }
        written
    };
    feed(
        &mut session,
        &mut pbx,
        b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\nEvents: off\r\n\r\n",
    );
    let mut input = Vec::new();
    for i in 0..batch {
        input.extend_from_slice(
            format!("Action: Ping\r\nActionID: {}\r\n\r\n", 100_000 + i).as_bytes(),
        );
    }
    let total: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let rounds = (total / batch).max(1);
    let mut written = 0;
    for _ in 0..rounds / 10 {
        written += feed(&mut session, &mut pbx, &input);
    }
    let start = Instant::now();
    for _ in 0..rounds {
        written += feed(&mut session, &mut pbx, &input);
    }
    let elapsed = start.elapsed();
    println!(
        "{:.1} ns per Ping (batches of {batch}, {} bytes out)",
        elapsed.as_nanos() as f64 / (rounds * batch) as f64,
        written
    );
}
