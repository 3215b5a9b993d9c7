//! Event fan-out: per-subscriber bounded queues that the socket reader fills without ever
//! waiting. A full queue drops the newest events and counts them; the subscriber then reads an
//! explicit [`EventItem::Lagged`] exactly where the gap is.

use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use ami_proto::Message;
use tracing::warn;

use crate::queue::{self, Bound, Receiver, Sender, TrySendError, Weighed};

/// One event as received. Its bytes are shared with the read they came in (and between
/// subscribers) without copying; the event itself is held inline, not behind an allocation of
/// its own, so receiving one allocates nothing (a subscriber that takes every event used to
/// pay a `malloc` per event, freed on another thread on a multi-thread runtime).
#[derive(Clone, PartialEq, Eq)]
pub struct Event(Message);

impl Event {
    pub(crate) fn new(message: Message) -> Self {
        Self(message)
    }

    /// The message, every header kept (unknown ones included).
    pub fn message(&self) -> &Message {
        &self.0
    }

    /// The `Event:` name (empty for an unmatched response or an unknown block).
    pub fn name(&self) -> std::borrow::Cow<'_, str> {
        self.0.event_name().unwrap_or_default()
    }
}

impl Deref for Event {
    type Target = Message;
    fn deref(&self) -> &Message {
        &self.0
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventItem {
    /// An event that passed the subscriber's filters.
    Event(Event),
    /// The subscriber fell behind: this many events were dropped here, in this position.
    Lagged(u64),
    /// The connection went down or came back up.
    Connection(ConnectionState),
    /// This subscription's [`Subscription::filter`] predicate panicked (the panic's message):
    /// the subscription has ended, and the next read is the end. Other subscribers and the
    /// connection carry on.
    FilterPanicked(String),
    /// A packet broke the decoder's limits ([`crate::Config::decode_limits`]) and was
    /// skipped; the stream carries on at the next packet. Told to every subscriber, whatever
    /// its filters, near where the packet was (what was decoded just before it may follow).
    Skipped(ami_proto::DecodeError),
}

/// Connection state changes, told to every subscriber in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Logged in (again); event settings and filters are restored.
    Connected {
        /// The banner's AMI version (`11.0.0`, `2.10.6`, `1.1` ...), empty if none.
        ami_version: String,
    },
    /// The connection dropped; events in between are not seen by anyone.
    Disconnected {
        /// Why, in words.
        reason: String,
    },
}

/// How much a subscriber may hold before events are dropped (and counted as lagged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Buffer {
    /// At most this many events.
    Events(usize),
    /// At most this many bytes of event data: for a subscriber that must see everything
    /// (billing, recording), bounded by memory rather than by count.
    Bytes(usize),
}

/// The default: 8 MiB of events, about 17,000 call events of ~485 bytes. Sized by bytes so
/// that memory is bounded whatever the events' size, and large enough that a subscriber that
/// keeps up on average loses nothing to scheduling jitter: on a multi-thread runtime, with the
/// subscriber on another worker descheduled for a moment, 4,096 events dropped 0.5-2.3% of a
/// 2 M event flood from the load server; 16,384 dropped none.
pub const DEFAULT_BUFFER_BYTES: usize = 8 * 1024 * 1024;

impl Default for Buffer {
    fn default() -> Self {
        Self::Bytes(DEFAULT_BUFFER_BYTES)
    }
}

type Predicate = Arc<dyn Fn(&Message) -> bool + Send + Sync>;

/// Which events a subscriber wants, and how many it may hold. All conditions must hold.
#[derive(Clone, Default)]
pub struct Subscription {
    names: Vec<String>,
    headers: Vec<(String, String)>,
    predicates: Vec<Predicate>,
    buffer: Buffer,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("names", &self.names)
            .field("headers", &self.headers)
            .field("predicates", &self.predicates.len())
            .field("buffer", &self.buffer)
            .finish()
    }
}

impl Subscription {
    /// Every event, default buffer (8 MiB of events: [`DEFAULT_BUFFER_BYTES`]).
    pub fn all() -> Self {
        Self::default()
    }

    /// Only events with one of these names (case-insensitive); may be called repeatedly.
    pub fn events<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.names.extend(names.into_iter().map(Into::into));
        self
    }

    /// Only events where header `name` equals `value` (both case-insensitive).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Only events for which `predicate` is true. It runs on the socket reader: keep it quick.
    /// It runs outside the client's locks (it may subscribe, or use the client); if it
    /// panics, this subscription alone ends, with [`EventItem::FilterPanicked`].
    pub fn filter(mut self, predicate: impl Fn(&Message) -> bool + Send + Sync + 'static) -> Self {
        self.predicates.push(Arc::new(predicate));
        self
    }

    /// The buffer bound.
    pub fn buffer(mut self, buffer: Buffer) -> Self {
        self.buffer = buffer;
        self
    }

    fn matches(&self, message: &Message) -> bool {
        if !self.names.is_empty() {
            let Some(name) = message.get_bytes("Event").filter(|_| message.is_event()) else {
                return false;
            };
            if !self
                .names
                .iter()
                .any(|wanted| wanted.as_bytes().eq_ignore_ascii_case(name))
            {
                return false;
            }
        }
        self.headers
            .iter()
            .all(|(name, value)| message.value_is(name, value))
            && self.predicates.iter().all(|predicate| predicate(message))
    }
}

impl Weighed for EventItem {
    fn weight(&self) -> Option<usize> {
        match self {
            // Events count by their size (for `Buffer::Bytes`); everything else always fits.
            Self::Event(event) => Some(event.raw().len()),
            _ => None,
        }
    }
}

fn bound(buffer: Buffer) -> Bound {
    match buffer {
        Buffer::Events(max) => Bound::Items(max),
        Buffer::Bytes(max) => Bound::Bytes(max),
    }
}

fn subscriber_queue(buffer: Buffer) -> (Sender<EventItem>, Receiver<EventItem>) {
    queue::bounded(bound(buffer), EventItem::Lagged)
}

/// A stream of [`EventItem`]s for one subscription. Dropping it unsubscribes.
pub struct Subscriber {
    rx: Receiver<EventItem>,
    hub: Weak<Hub>,
    id: u64,
    follows: Option<Box<[u8]>>,
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber").field("id", &self.id).finish()
    }
}

impl Subscriber {
    /// The next item; `None` once the client has shut down (or its connection task is gone,
    /// or this subscription ended) and everything was read.
    pub async fn recv(&mut self) -> Option<EventItem> {
        self.rx.recv().await
    }

    /// [`Subscriber::recv`] as a poll, for the `Stream` impl.
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<EventItem>> {
        self.rx.poll_recv(cx)
    }

    /// The next item if one is ready now (`Ok(None)` once ended and drained).
    pub fn try_recv(&mut self) -> Result<Option<EventItem>, Empty> {
        self.rx.try_recv().map_err(|_| Empty)
    }

    /// Up to `max` ready items appended to `out` under one lock; waits only when none is ready.
    /// Returns how many were appended (0 once ended and drained).
    pub async fn recv_many(&mut self, out: &mut Vec<EventItem>, max: usize) -> usize {
        self.rx.recv_many(out, max).await
    }

    /// Events this subscriber has missed so far (also told in [`EventItem::Lagged`] items).
    pub fn lagged(&self) -> u64 {
        self.rx.dropped()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            match self.follows.take() {
                Some(action_id) => hub.unfollow(&action_id),
                None => hub.remove(self.id),
            }
        }
    }
}

/// Nothing ready yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no event ready")]
pub struct Empty;

struct Entry {
    id: u64,
    subscription: Subscription,
    tx: Sender<EventItem>,
    /// Its filter panicked: it takes nothing more, and is removed after the batch.
    ended: AtomicBool,
}

#[derive(Default)]
struct Subscribers {
    entries: Vec<Arc<Entry>>,
    /// The entries as the dispatcher reads them: taken under the lock, read without it, so
    /// user predicates never run under the hub's lock. Rebuilt on every (rare) change.
    snapshot: Arc<[Arc<Entry>]>,
    /// ActionID -> queue of the caller following that action's events.
    followers: HashMap<Box<[u8]>, Sender<EventItem>>,
    next_id: u64,
    closed: bool,
}

impl Subscribers {
    fn changed(&mut self) {
        self.snapshot = self.entries.iter().cloned().collect();
    }
}

/// Shared between the client handle and its connection task(s). Dropping it (or
/// [`Hub::close`]) drops every subscriber queue's sender, which ends every subscriber.
/// The hand-off's working lists, kept between batches so that a batch allocates nothing.
#[derive(Default)]
struct Scratch {
    /// Which events each subscriber takes: `matched[ranges[n]]` for the n-th entry.
    matched: Vec<u32>,
    ranges: Vec<std::ops::Range<usize>>,
    /// The last entry to take each event (it gets the event moved, the others a clone).
    last_taker: Vec<u32>,
    events: Vec<Option<ami_proto::Message>>,
}

#[derive(Default)]
pub(crate) struct Hub {
    subscribers: Mutex<Subscribers>,
    /// Only the connection task dispatches, so this lock is never contended.
    scratch: Mutex<Scratch>,
    pub(crate) events_received: AtomicU64,
    pub(crate) events_lagged: AtomicU64,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, Subscribers> {
        // No user code runs under this lock, and nothing done under it leaves it half-changed.
        self.subscribers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub(crate) fn subscribe(self: &Arc<Self>, subscription: Subscription) -> Subscriber {
        let (tx, rx) = subscriber_queue(subscription.buffer);
        let mut subscribers = self.lock();
        let id = subscribers.next_id;
        subscribers.next_id += 1;
        if subscribers.closed {
            // The sender goes now: the subscriber reads its end at once.
            drop(tx);
        } else {
            subscribers.entries.push(Arc::new(Entry {
                id,
                subscription,
                tx,
                ended: AtomicBool::new(false),
            }));
            subscribers.changed();
        }
        Subscriber {
            rx,
            hub: Arc::downgrade(self),
            id,
            follows: None,
        }
    }

    /// Registers a follower for events carrying `action_id` (before the action is sent, so
    /// nothing can slip past).
    pub(crate) fn follow(self: &Arc<Self>, action_id: &str, buffer: Buffer) -> Subscriber {
        let (tx, rx) = subscriber_queue(buffer);
        let mut subscribers = self.lock();
        let id = subscribers.next_id;
        subscribers.next_id += 1;
        if !subscribers.closed {
            subscribers
                .followers
                .insert(action_id.as_bytes().into(), tx);
        }
        drop(subscribers);
        Subscriber {
            rx,
            hub: Arc::downgrade(self),
            id,
            follows: Some(action_id.as_bytes().into()),
        }
    }

    fn remove(&self, id: u64) {
        let mut subscribers = self.lock();
        subscribers.entries.retain(|entry| entry.id != id);
        subscribers.changed();
    }

    fn unfollow(&self, action_id: &[u8]) {
        self.lock().followers.remove(action_id);
    }

    /// Hands a batch of events to every interested subscriber: one queue lock per subscriber
    /// per batch, never a wait. Filters run outside every lock, each under `catch_unwind`: a
    /// filter that subscribes cannot deadlock, and one that panics ends only its own
    /// subscription (its subscriber reads [`EventItem::FilterPanicked`], then the end).
    pub(crate) fn dispatch(&self, batch: &mut Vec<ami_proto::Message>) {
        if batch.is_empty() {
            return;
        }
        self.events_received
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let (snapshot, following) = {
            let subscribers = self.lock();
            (
                subscribers.snapshot.clone(),
                !subscribers.followers.is_empty(),
            )
        };
        let mut lagged = 0;
        // Followers first: the events then go to the subscribers, the last taker of each
        // getting it moved rather than cloned.
        if following {
            let subscribers = self.lock();
            for message in batch.iter() {
                let Some(tx) = message
                    .get_bytes("ActionID")
                    .and_then(|id| subscribers.followers.get(id))
                else {
                    continue;
                };
                if let Err(TrySendError::Full { .. }) =
                    tx.try_send(EventItem::Event(Event::new(message.clone())))
                {
                    lagged += 1;
                }
            }
        }
        let mut scratch = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        let Scratch {
            matched,
            ranges,
            last_taker,
            events,
        } = &mut *scratch;
        matched.clear();
        ranges.clear();
        last_taker.clear();
        last_taker.resize(batch.len(), u32::MAX);
        let mut panicked = Vec::new();
        for (position, entry) in snapshot.iter().enumerate() {
            let start = matched.len();
            if !entry.ended.load(Ordering::Relaxed) {
                let matching = catch_unwind(AssertUnwindSafe(|| {
                    for (index, message) in batch.iter().enumerate() {
                        if entry.subscription.matches(message) {
                            matched.push(index as u32);
                        }
                    }
                }));
                if let Err(payload) = matching {
                    matched.truncate(start);
                    entry.ended.store(true, Ordering::Relaxed);
                    let message = panic_message(payload.as_ref());
                    warn!(%message, "a subscription's filter panicked; that subscription ends");
                    // A marker: it always fits.
                    let _ = entry.tx.try_send(EventItem::FilterPanicked(message));
                    panicked.push(entry.id);
                }
            }
            for &index in &matched[start..] {
                last_taker[index as usize] = position as u32;
            }
            ranges.push(start..matched.len());
        }
        events.clear();
        events.extend(batch.drain(..).map(Some));
        for ((position, entry), range) in snapshot.iter().enumerate().zip(ranges.drain(..)) {
            if range.is_empty() {
                continue;
            }
            let mut queue = entry.tx.batch();
            for &index in &matched[range] {
                let slot = &mut events[index as usize];
                let message = if last_taker[index as usize] == position as u32 {
                    slot.take()
                } else {
                    slot.clone()
                };
                let Some(message) = message else { continue };
                if let Err(TrySendError::Full { .. }) =
                    queue.try_send(EventItem::Event(Event::new(message)))
                {
                    lagged += 1;
                }
            }
        }
        // Events nobody took are dropped now, not held until the next batch.
        events.clear();
        drop(scratch);
        drop(snapshot);
        if !panicked.is_empty() {
            let mut subscribers = self.lock();
            subscribers
                .entries
                .retain(|entry| !panicked.contains(&entry.id));
            subscribers.changed();
        }
        if lagged > 0 {
            self.events_lagged.fetch_add(lagged, Ordering::Relaxed);
        }
    }

    /// Tells every subscriber an item that is no event (a state change, a notice), in
    /// stream order; such items always fit.
    pub(crate) fn broadcast(&self, item: &EventItem) {
        let snapshot = self.lock().snapshot.clone();
        for entry in snapshot.iter() {
            let _ = entry.tx.try_send(item.clone());
        }
    }

    pub(crate) fn connection_state(&self, state: ConnectionState) {
        self.broadcast(&EventItem::Connection(state));
    }

    /// No more events will come: subscribers drain what they hold, then read `None`.
    pub(crate) fn close(&self) {
        let mut subscribers = self.lock();
        subscribers.closed = true;
        subscribers.entries.clear();
        subscribers.changed();
        subscribers.followers.clear();
    }
}

/// Closes the hub when dropped: put in a connection task's future, it ends every subscriber
/// however that future ends (finished, dropped unpolled, aborted, or unwound by a panic).
pub(crate) struct CloseOnDrop(pub(crate) Arc<Hub>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, extra: &[(&str, &str)]) -> Message {
        let mut builder = Message::builder().header("Event", name);
        for (k, v) in extra {
            builder = builder.header(k, v);
        }
        builder.build().expect("valid")
    }

    #[test]
    fn full_queue_counts_and_reports_the_gap_in_place() {
        let hub = Arc::new(Hub::default());
        let mut sub = hub.subscribe(Subscription::all().buffer(Buffer::Events(2)));
        let mut batch: Vec<Message> = (0..5).map(|i| event(&format!("E{i}"), &[])).collect();
        hub.dispatch(&mut batch);
        let mut batch = vec![event("E5", &[])];
        let names: Vec<String> = std::iter::from_fn(|| sub.try_recv().ok().flatten())
            .map(|item| match item {
                EventItem::Event(e) => e.name().into_owned(),
                EventItem::Lagged(n) => format!("lagged {n}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(names, ["E0", "E1", "lagged 3"]);
        hub.dispatch(&mut batch);
        assert!(matches!(sub.try_recv(), Ok(Some(EventItem::Event(e))) if e.name() == "E5"));
        assert_eq!(sub.lagged(), 3);
        assert_eq!(hub.events_lagged.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn byte_bounded_queue_holds_by_size() {
        let hub = Arc::new(Hub::default());
        let mut sub = hub.subscribe(Subscription::all().buffer(Buffer::Bytes(100)));
        let mut batch: Vec<Message> = (0..10).map(|i| event(&format!("E{i}"), &[])).collect();
        let each = batch[0].raw().len();
        hub.dispatch(&mut batch);
        let mut got = 0;
        while let Ok(Some(EventItem::Event(_))) = sub.try_recv() {
            got += 1;
        }
        assert_eq!(got, 100 / each);
    }

    #[test]
    fn filters_by_name_header_and_predicate_and_followers_by_action_id() {
        let hub = Arc::new(Hub::default());
        let mut by_name = hub.subscribe(Subscription::all().events(["hangup"]));
        let mut by_header = hub.subscribe(Subscription::all().header("Context", "DEMO"));
        let mut by_fn = hub.subscribe(Subscription::all().filter(|m| m.contains("Cause")));
        let mut follower = hub.follow("a-7", Buffer::default());
        let mut batch = vec![
            event("Hangup", &[("Cause", "16")]),
            event("Newexten", &[("Context", "demo")]),
            event("OriginateResponse", &[("ActionID", "a-7")]),
        ];
        hub.dispatch(&mut batch);
        let name = |s: &mut Subscriber| match s.try_recv() {
            Ok(Some(EventItem::Event(e))) => e.name().into_owned(),
            other => format!("{other:?}"),
        };
        assert_eq!(name(&mut by_name), "Hangup");
        assert_eq!(name(&mut by_header), "Newexten");
        assert_eq!(name(&mut by_fn), "Hangup");
        assert_eq!(name(&mut follower), "OriginateResponse");
        assert!(by_name.try_recv().is_err());
        drop(follower);
        assert!(hub.lock().followers.is_empty());
        drop(by_fn);
        assert_eq!(hub.lock().entries.len(), 2);
    }

    #[test]
    fn every_taker_gets_each_event_in_order_whether_moved_or_cloned() {
        let hub = Arc::new(Hub::default());
        let mut every = hub.subscribe(Subscription::all());
        let mut none = hub.subscribe(Subscription::all().events(["Nothing"]));
        let mut hangups = hub.subscribe(Subscription::all().events(["Hangup"]));
        let mut follower = hub.follow("a-1", Buffer::default());
        let mut batch = vec![
            event("Newchannel", &[("ActionID", "a-1")]),
            event("Hangup", &[("Cause", "16")]),
            event("Hangup", &[("Cause", "17"), ("ActionID", "a-1")]),
        ];
        let sent = batch.clone();
        hub.dispatch(&mut batch);
        let drain = |s: &mut Subscriber| {
            let mut got = Vec::new();
            while let Ok(Some(EventItem::Event(e))) = s.try_recv() {
                got.push(e.message().clone());
            }
            got
        };
        assert_eq!(drain(&mut every), sent);
        assert_eq!(drain(&mut hangups), sent[1..]);
        assert_eq!(drain(&mut follower), [sent[0].clone(), sent[2].clone()]);
        assert!(none.try_recv().is_err());
    }

    #[tokio::test]
    async fn close_ends_subscribers_after_draining() {
        let hub = Arc::new(Hub::default());
        let mut sub = hub.subscribe(Subscription::all());
        hub.dispatch(&mut vec![event("A", &[])]);
        hub.close();
        assert!(matches!(sub.recv().await, Some(EventItem::Event(_))));
        assert_eq!(sub.recv().await, None);
    }

    #[tokio::test]
    async fn a_panicking_filter_ends_only_its_own_subscription() {
        let hub = Arc::new(Hub::default());
        let mut bad = hub.subscribe(Subscription::all().filter(|m| {
            if m.value_is("Event", "Boom") {
                panic!("filter bug");
            }
            true
        }));
        let mut good = hub.subscribe(Subscription::all());
        hub.dispatch(&mut vec![event("A", &[])]);
        hub.dispatch(&mut vec![event("Boom", &[]), event("B", &[])]);
        hub.dispatch(&mut vec![event("C", &[])]);
        assert!(matches!(bad.recv().await, Some(EventItem::Event(e)) if e.name() == "A"));
        assert_eq!(
            bad.recv().await,
            Some(EventItem::FilterPanicked("filter bug".into()))
        );
        let end = tokio::time::timeout(std::time::Duration::from_secs(5), bad.recv()).await;
        assert_eq!(end, Ok(None), "the broken subscription ends");
        let names: Vec<String> = std::iter::from_fn(|| good.try_recv().ok().flatten())
            .map(|item| match item {
                EventItem::Event(e) => e.name().into_owned(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(names, ["A", "Boom", "B", "C"]);
        assert_eq!(hub.lock().entries.len(), 1);
    }

    #[tokio::test]
    async fn a_filter_may_subscribe_without_deadlocking() {
        let hub = Arc::new(Hub::default());
        let made: Arc<Mutex<Vec<Subscriber>>> = Arc::default();
        let weak = Arc::downgrade(&hub);
        let keep = made.clone();
        let mut sub = hub.subscribe(Subscription::all().filter(move |_| {
            if let Some(hub) = weak.upgrade() {
                let inner = hub.subscribe(Subscription::all().events(["Later"]));
                keep.lock().unwrap_or_else(|p| p.into_inner()).push(inner);
            }
            true
        }));
        let hub_for_dispatch = hub.clone();
        let dispatched = tokio::task::spawn_blocking(move || {
            hub_for_dispatch.dispatch(&mut vec![event("A", &[])]);
            hub_for_dispatch.dispatch(&mut vec![event("Later", &[])]);
        });
        tokio::time::timeout(std::time::Duration::from_secs(10), dispatched)
            .await
            .expect("dispatch finished: no deadlock")
            .expect("no panic");
        assert!(matches!(sub.try_recv(), Ok(Some(EventItem::Event(e))) if e.name() == "A"));
        let mut made = std::mem::take(&mut *made.lock().unwrap_or_else(|p| p.into_inner()));
        assert_eq!(made.len(), 2);
        // The subscriber made during the first batch got the second one.
        assert!(matches!(made[0].try_recv(), Ok(Some(EventItem::Event(e))) if e.name() == "Later"));
    }

    #[tokio::test]
    async fn dropping_the_hub_or_its_guard_ends_every_subscriber() {
        let hub = Arc::new(Hub::default());
        let mut sub = hub.subscribe(Subscription::all());
        let mut follower = hub.follow("x-1", Buffer::default());
        drop(hub);
        let within = std::time::Duration::from_secs(5);
        assert_eq!(tokio::time::timeout(within, sub.recv()).await, Ok(None));
        assert_eq!(
            tokio::time::timeout(within, follower.recv()).await,
            Ok(None)
        );

        let hub = Arc::new(Hub::default());
        let mut sub = hub.subscribe(Subscription::all());
        let guard = CloseOnDrop(hub.clone());
        drop(guard);
        assert_eq!(tokio::time::timeout(within, sub.recv()).await, Ok(None));
        // Later subscribers end at once too.
        let mut late = hub.subscribe(Subscription::all());
        assert_eq!(late.try_recv(), Ok(None));
    }
}
