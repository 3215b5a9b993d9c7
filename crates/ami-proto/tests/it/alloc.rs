//! A counting global allocator and the allocation-count test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ami_proto::{Decoder, Packet};
use bytes::BytesMut;

use crate::stream::{CHUNK, corpus_stream};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting allocations (and reallocations) made by the current thread.
pub struct Counting;

fn count() {
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations made by the current thread so far.
pub fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Decoding the corpus stream in socket-sized reads costs at most one allocation per packet on
/// average (the message's field list; the bytes are shared with the read buffer), buffer
/// growth included. A deterministic count, not a timing.
#[test]
fn at_most_one_allocation_per_packet() {
    let input = corpus_stream(4 << 20);
    let mut decoder = Decoder::new();
    let before = allocations();
    let mut buf = BytesMut::with_capacity(2 * CHUNK);
    let (mut packets, mut messages) = (0u64, 0u64);
    for chunk in input.chunks(CHUNK) {
        buf.extend_from_slice(chunk);
        while let Some(packet) = decoder.decode(&mut buf).unwrap() {
            packets += 1;
            messages += u64::from(matches!(packet, Packet::Message(_)));
        }
    }
    while decoder.decode_eof(&mut buf).unwrap().is_some() {
        packets += 1;
    }
    let allocations = allocations() - before;
    eprintln!(
        "{allocations} allocations for {packets} packets ({messages} messages, {} bytes): {:.3} per packet",
        input.len(),
        allocations as f64 / packets as f64
    );
    assert!(packets > 10_000, "{packets} packets");
    assert!(
        allocations <= packets,
        "{allocations} allocations for {packets} packets"
    );
    // One per message (its field list), and buffer growth no more than once per read.
    let reads = input.len().div_ceil(CHUNK) as u64;
    assert!(
        allocations <= messages + reads,
        "{allocations} allocations for {messages} messages and {reads} reads"
    );
}

/// Consumers that read the event name and a header allocate nothing per message: the
/// decoder hands out views into the read buffer, and lookups scan without building an index.
/// What is left is the read buffer itself: at most two allocations per 64 KiB read (a new
/// buffer when the old one is still shared with live messages, and its shared handle),
/// however many messages each read holds. A deterministic count, not a timing.
#[test]
fn allocations_are_bounded_by_reads_not_messages() {
    let input = corpus_stream(4 << 20);
    let mut decoder = Decoder::new();
    let before = allocations();
    let mut buf = BytesMut::with_capacity(2 * CHUNK);
    let (mut messages, mut seen) = (0u64, 0usize);
    // Messages are kept alive a while, as a subscriber's queue would, so the read buffer is
    // still shared when the next read arrives.
    let mut queue = std::collections::VecDeque::new();
    for chunk in input.chunks(CHUNK) {
        buf.extend_from_slice(chunk);
        while let Some(packet) = decoder.decode(&mut buf).unwrap() {
            if let Packet::Message(message) = packet {
                messages += 1;
                seen += message.event_name().map_or(0, |name| name.len());
                seen += message.get_bytes("ActionID").map_or(0, <[u8]>::len);
                seen += message.fields().count();
                if queue.len() == 1024 {
                    queue.pop_front();
                }
                queue.push_back(message);
            }
        }
    }
    drop(queue);
    while decoder.decode_eof(&mut buf).unwrap().is_some() {}
    let allocations = allocations() - before;
    let reads = input.len().div_ceil(CHUNK) as u64;
    eprintln!(
        "{allocations} allocations for {messages} messages in {reads} reads (checksum {seen})"
    );
    assert!(
        messages > 50 * reads,
        "{messages} messages for {reads} reads"
    );
    // The queue's own growth to 1,024 entries is a dozen allocations.
    assert!(
        allocations <= 2 * reads + 16,
        "{allocations} allocations for {messages} messages and {reads} reads"
    );
}

/// A consumer reading many headers of each message pays one index per message, no more.
#[test]
fn many_lookups_cost_one_index_per_message() {
    let input = corpus_stream(1 << 20);
    let mut decoder = Decoder::new();
    let before = allocations();
    let mut buf = BytesMut::with_capacity(2 * CHUNK);
    let mut messages = 0u64;
    for chunk in input.chunks(CHUNK) {
        buf.extend_from_slice(chunk);
        while let Some(packet) = decoder.decode(&mut buf).unwrap() {
            if let Packet::Message(message) = packet {
                messages += 1;
                for name in [
                    "ActionID",
                    "Uniqueid",
                    "Channel",
                    "Privilege",
                    "Message",
                    "X",
                ] {
                    std::hint::black_box(message.get_bytes(name));
                }
            }
        }
    }
    let allocations = allocations() - before;
    let reads = input.len().div_ceil(CHUNK) as u64;
    assert!(
        allocations <= messages + 2 * reads,
        "{allocations} allocations for {messages} messages and {reads} reads"
    );
}

/// A caller's payload that never goes away (the async client keeps its reply channel here).
struct Label;

impl ami_proto::connection::Caller for Label {
    fn is_gone(&self) -> bool {
        false
    }
}

/// The action path of a logged-in connection: a `Ping` in, its bytes out, its reply decoded,
/// paired and handed back. It allocates the action itself (its name, its header list, the
/// generated ActionID and that header's name, which the session keeps as the pending key and
/// hands back as the completion's ActionID) and nothing per reply: the session reads the
/// reply's ActionID, status and list markers without building its field index. A
/// deterministic count, not a timing.
#[test]
fn an_action_costs_its_own_allocations_and_its_reply_none() {
    use std::time::{Duration, Instant};

    use ami_proto::Action;
    use ami_proto::connection::{Connection, ConnectionConfig};

    let now = Instant::now();
    let mut config = ConnectionConfig::new("admin", "amp111");
    config.action_id_prefix = "c-".into();
    config.keepalive = None;
    let mut conn: Connection<Label> = Connection::new(config, now);
    let mut input = BytesMut::from(&b"Asterisk Call Manager/11.0.0\r\n"[..]);
    conn.handle_input(&mut input, now);
    let written = conn.poll_transmit().map_or(0, <[u8]>::len);
    conn.handle_written(written);
    input.extend_from_slice(
        b"Response: Success\r\nActionID: c-1\r\nMessage: Authentication accepted\r\n\r\n",
    );
    conn.handle_input(&mut input, now);
    assert!(conn.is_established());

    const BATCH: u64 = 100;
    const ROUNDS: u64 = 50;
    let mut replies = BytesMut::with_capacity(64 * 1024);
    let mut round = |conn: &mut Connection<Label>, first_id: u64| {
        for _ in 0..BATCH {
            conn.send_action(Action::new("Ping"), Label, Duration::from_secs(5), now)
                .ok()
                .expect("taken");
        }
        let written = conn.poll_transmit().map_or(0, <[u8]>::len);
        conn.handle_written(written);
        replies.clear();
        for id in first_id..first_id + BATCH {
            // Built with `extend_from_slice` only: `format!` would count.
            replies.extend_from_slice(b"Response: Success\r\nActionID: c-");
            let mut digits = [0u8; 20];
            let mut at = digits.len();
            let mut n = id;
            loop {
                at -= 1;
                digits[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            replies.extend_from_slice(&digits[at..]);
            replies.extend_from_slice(b"\r\nPing: Pong\r\nTimestamp: 1700000000.123456\r\n\r\n");
        }
        conn.handle_input(&mut replies, now);
        let mut done = 0;
        while let Some(finished) = conn.poll_completion() {
            let reply = finished.result.expect("a Pong");
            assert!(
                reply
                    .response()
                    .is_some_and(|pong| pong.value_is("Ping", "Pong"))
            );
            done += 1;
        }
        assert_eq!(done, BATCH);
    };
    // Warm-up: the pending map, the output buffer and the completion queue reach their size.
    round(&mut conn, 2);
    let before = allocations();
    for r in 1..=ROUNDS {
        round(&mut conn, 2 + r * BATCH);
    }
    let allocations = allocations() - before;
    let actions = BATCH * ROUNDS;
    eprintln!(
        "{allocations} allocations for {actions} actions: {:.2} per action",
        allocations as f64 / actions as f64
    );
    // Four per action: `Action::new`'s name, the header list, the ActionID value and the
    // `ActionID` header name. The reply's `value_is` above is the consumer's first lookup, a
    // scan: the session's own lookups left the reply unindexed.
    assert!(
        allocations <= 4 * actions + ROUNDS,
        "{allocations} allocations for {actions} actions"
    );
}
