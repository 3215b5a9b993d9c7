//! The live state's cost: state updates per second on one core over a call centre's event
//! stream, and the memory the model holds per 1,000 live channels. `cargo bench -p ami-state`.
//!
//! The stream: each call is a caller's channel that joins a queue, rings an agent's channel,
//! is answered, bridged with it, talks and hangs up (Newchannel, Newstate, VarSet, Newexten,
//! QueueCallerJoin/Leave, AgentCalled, DialBegin/End, AgentConnect, BridgeCreate/Enter/Leave/
//! Destroy, AgentComplete, Hangup), with 100 calls in progress at any moment, as Asterisk 22
//! names the fields. The memory figure comes from a counting global allocator: the bytes
//! allocated and not freed by a state that holds 1,000 channels (500 bridged calls), printed
//! once before the timings.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};

use ami_proto::Message;
use ami_state::{State, Version};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counter is only
// arithmetic on the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's layout is passed on as given.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn event(fields: &[(&str, &str)]) -> Message {
    let mut builder = Message::builder();
    for (name, value) in fields {
        builder = builder.header(name, value);
    }
    builder.build().expect("a valid event")
}

/// One channel's snapshot fields, as the 12+ events carry them.
fn snapshot<'a>(
    name: &'a str,
    uniqueid: &'a str,
    linkedid: &'a str,
    state: (&'a str, &'a str),
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("Channel", name),
        ("ChannelState", state.0),
        ("ChannelStateDesc", state.1),
        ("CallerIDNum", "5551234"),
        ("CallerIDName", "Customer"),
        ("ConnectedLineNum", "<unknown>"),
        ("ConnectedLineName", "<unknown>"),
        ("Language", "en"),
        ("AccountCode", ""),
        ("Context", "from-pstn"),
        ("Exten", "600"),
        ("Priority", "3"),
        ("Uniqueid", uniqueid),
        ("Linkedid", linkedid),
    ]
}

fn with(event_name: &str, base: Vec<(&str, &str)>, extra: &[(&str, &str)]) -> Message {
    let mut fields = vec![("Event", event_name), ("Privilege", "call,all")];
    fields.extend(base);
    fields.extend_from_slice(extra);
    event(&fields)
}

/// The events that start call `n` (up to its bridge) and those that end it.
fn call(n: usize) -> (Vec<Message>, Vec<Message>) {
    let caller_id = format!("1700000000.{}", 2 * n);
    let agent_id = format!("1700000000.{}", 2 * n + 1);
    let bridge = format!("bridge-{n}");
    let caller = format!("PJSIP/trunk-{n:08x}");
    let agent = format!("PJSIP/agent{}-{n:08x}", n % 50);
    let interface = format!("Agent/{}", 1000 + n % 50);
    let position = (n % 10 + 1).to_string();
    let ring = ("0", "Down");
    let up = ("6", "Up");
    let c = |state| snapshot(&caller, &caller_id, &caller_id, state);
    let a = |state| snapshot(&agent, &agent_id, &caller_id, state);
    let dest = [
        ("DestChannel", agent.as_str()),
        ("DestChannelState", "6"),
        ("DestChannelStateDesc", "Up"),
        ("DestUniqueid", agent_id.as_str()),
        ("Queue", "support"),
        ("MemberName", "Agent"),
        ("Interface", interface.as_str()),
    ];
    let bridge_fields = [
        ("BridgeUniqueid", bridge.as_str()),
        ("BridgeType", "basic"),
        ("BridgeTechnology", "simple_bridge"),
        ("BridgeCreator", "<unknown>"),
        ("BridgeName", "<unknown>"),
        ("BridgeNumChannels", "1"),
    ];
    let start = vec![
        with("Newchannel", c(ring), &[]),
        with(
            "VarSet",
            c(ring),
            &[("Variable", "CALLERID"), ("Value", "5551234")],
        ),
        with("Newstate", c(up), &[]),
        // The dialplan steps before Queue(): Asterisk reports each one.
        with(
            "Newexten",
            c(up),
            &[
                ("Extension", "600"),
                ("Application", "Answer"),
                ("AppData", ""),
            ],
        ),
        with(
            "Newexten",
            c(up),
            &[
                ("Extension", "600"),
                ("Application", "Queue"),
                ("AppData", "support,,,,30"),
            ],
        ),
        with(
            "QueueCallerJoin",
            c(up),
            &[
                ("Queue", "support"),
                ("Position", &position),
                ("Count", &position),
            ],
        ),
        with("Newchannel", a(ring), &[]),
        with("AgentCalled", c(up), &dest),
        with(
            "DialBegin",
            c(up),
            &[("DestUniqueid", &agent_id), ("DialString", "agent")],
        ),
        with("Newstate", a(up), &[]),
        with(
            "DialEnd",
            c(up),
            &[("DestUniqueid", &agent_id), ("DialStatus", "ANSWER")],
        ),
        with(
            "QueueCallerLeave",
            c(up),
            &[("Queue", "support"), ("Count", "0")],
        ),
        with("AgentConnect", c(up), &dest),
        event(&[
            ("Event", "BridgeCreate"),
            ("BridgeUniqueid", &bridge),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
        ]),
        with("BridgeEnter", c(up), &bridge_fields),
        with("BridgeEnter", a(up), &bridge_fields),
    ];
    let end = vec![
        with("BridgeLeave", c(up), &bridge_fields),
        with("BridgeLeave", a(up), &bridge_fields),
        event(&[("Event", "BridgeDestroy"), ("BridgeUniqueid", &bridge)]),
        with("AgentComplete", c(up), &dest),
        with(
            "Hangup",
            c(up),
            &[("Cause", "16"), ("Cause-txt", "Normal Clearing")],
        ),
        with(
            "Hangup",
            a(up),
            &[("Cause", "16"), ("Cause-txt", "Normal Clearing")],
        ),
    ];
    (start, end)
}

/// `calls` calls, each ending 100 calls after it starts: a steady 100 calls in progress.
fn stream(calls: usize) -> Vec<Message> {
    let parts: Vec<(Vec<Message>, Vec<Message>)> = (0..calls).map(call).collect();
    let mut events = Vec::new();
    for n in 0..calls + 100 {
        if let Some((start, _)) = parts.get(n) {
            events.extend(start.iter().cloned());
        }
        if let Some(ended) = n.checked_sub(100).and_then(|m| parts.get(m)) {
            events.extend(ended.1.iter().cloned());
        }
    }
    events
}

/// Bytes held by a state with 1,000 live channels (500 answered, bridged calls).
fn memory_per_thousand_channels() -> isize {
    let starts: Vec<Vec<Message>> = (0..500).map(|n| call(n).0).collect();
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let mut state = State::for_version(Version::V22);
    for event in starts.iter().flatten() {
        state.handle_event(event);
    }
    // Changes are for consumers; a state nobody reads keeps only a bounded queue of them.
    while state.poll_change().is_some() {}
    assert_eq!(state.channels().len(), 1000);
    let held = LIVE_BYTES.load(Ordering::Relaxed) - before;
    black_box(&state);
    held
}

fn bench_updates(c: &mut Criterion) {
    let bytes = memory_per_thousand_channels();
    println!(
        "ami-state memory: {bytes} bytes for 1,000 live channels in 500 bridged calls ({} bytes per channel)",
        bytes / 1000
    );
    let events = stream(2000);
    let mut group = c.benchmark_group("state");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("call_centre_updates", |b| {
        b.iter_batched(
            || State::for_version(Version::V22),
            |mut state| {
                for event in &events {
                    state.handle_event(event);
                }
                while state.poll_change().is_some() {}
                state
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_updates);
criterion_main!(benches);
