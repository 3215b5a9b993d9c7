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
