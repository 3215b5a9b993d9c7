//! The allocation-count test of the event path: a scripted server streams events, the client
//! decodes them and hands them to a subscriber, which reads them all. Its own test binary,
//! because it installs a counting global allocator. Allocations are counted per thread, and a
//! current-thread runtime runs the connection task, the subscriber and the server on this one,
//! so the count is the whole path's and nothing else's. A deterministic count, not a timing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use ami_client::{Buffer, Client, Config, EventItem, Subscription};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting allocations (and reallocations) made by the current thread.
struct Counting;

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

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const EVENTS: usize = 20_000;

/// Call events of 300 to 400 bytes, rendered before anything is counted.
fn stream() -> Vec<u8> {
    let mut bytes = Vec::new();
    for n in 0..EVENTS {
        bytes.extend_from_slice(
            format!(
                "Event: Newstate\r\nPrivilege: call,all\r\nChannel: PJSIP/100-{n:08x}\r\n\
                 ChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: 100\r\n\
                 CallerIDName: Alice\r\nConnectedLineNum: 200\r\nConnectedLineName: Bob\r\n\
                 Language: en\r\nAccountCode: \r\nContext: from-internal\r\nExten: 200\r\n\
                 Priority: {}\r\nUniqueid: 1700000000.{n}\r\nLinkedid: 1700000000.{n}\r\n\r\n",
                n % 7 + 1
            )
            .as_bytes(),
        );
    }
    bytes
}

/// Receiving an event allocates nothing of its own: what the path allocates comes per read
/// (the read buffer, and its shared handle once messages hold parts of it), so 20,000 events
/// of ~350 bytes (about 7 MB, read in pieces of up to 64 KiB) cost far fewer allocations than
/// events: 546 when this was written, 21,350 with an allocation per event.
#[test]
fn receiving_events_allocates_per_read_not_per_event() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let events = stream();
        let (go, went) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            socket
                .write_all(b"Asterisk Call Manager/5.0.1\r\n")
                .await
                .expect("banner");
            let mut login = Vec::new();
            while !login.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                socket.read_exact(&mut byte).await.expect("login");
                login.push(byte[0]);
            }
            let login = String::from_utf8(login).expect("text");
            let id = login
                .lines()
                .find_map(|line| line.strip_prefix("ActionID: "))
                .expect("ActionID");
            socket
                .write_all(
                    format!(
                        "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await
                .expect("login response");
            let _ = went.await;
            socket.write_all(&events).await.expect("events");
            // Held open until the test ends.
            let mut rest = [0u8; 64];
            let _ = socket.read(&mut rest).await;
        });
        let config = Config::new("127.0.0.1", "admin", "amp111")
            .port(port)
            .keepalive(None);
        let client = Client::connect(config).await.expect("connect");
        // Room for every event: what is counted is the path, not a lagging queue.
        let mut subscriber =
            client.subscribe(Subscription::all().buffer(Buffer::Events(EVENTS + 16)));
        let mut batch = Vec::with_capacity(256);
        tokio::time::sleep(Duration::from_millis(50)).await;

        let before = allocations();
        go.send(()).expect("server waiting");
        let mut received = 0;
        while received < EVENTS {
            batch.clear();
            if subscriber.recv_many(&mut batch, 256).await == 0 {
                break;
            }
            received += batch
                .iter()
                .filter(|item| matches!(item, EventItem::Event(_)))
                .count();
        }
        let allocated = allocations() - before;

        assert_eq!(received, EVENTS);
        assert!(
            allocated * 20 < EVENTS as u64,
            "{allocated} allocations for {EVENTS} events: more than one per twenty events"
        );
        client.close().await;
        server.abort();
    });
}
