//! Event fan-out: per-subscriber bounded queues that the socket reader fills without ever
//! waiting. A full queue drops the newest events and counts them; the subscriber then reads an
//! explicit [`EventItem::Lagged`] exactly where the gap is.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};

use ami_proto::Message;
use tokio::sync::Notify;

/// One event as received, shared between subscribers without copying.
#[derive(Clone, PartialEq, Eq)]
pub struct Event(Arc<Message>);

impl Event {
    pub(crate) fn new(message: Message) -> Self {
        Self(Arc::new(message))
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
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventItem {
    /// An event that passed the subscriber's filters.
    Event(Event),
    /// The subscriber fell behind: this many events were dropped here, in this position.
    Lagged(u64),
    /// The connection went down or came back up.
    Connection(ConnectionState),
}

/// Connection state changes, told to every subscriber in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
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
pub enum Buffer {
    /// At most this many events.
    Events(usize),
    /// At most this many bytes of event data: for a subscriber that must see everything
    /// (billing, recording), bounded by memory rather than by count.
    Bytes(usize),
}

impl Default for Buffer {
    fn default() -> Self {
        Self::Events(4096)
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
    /// Every event, default buffer (4096 events).
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

struct QueueState {
    items: VecDeque<EventItem>,
    events: usize,
    bytes: usize,
    missed: u64,
    closed: bool,
}

pub(crate) struct Queue {
    state: Mutex<QueueState>,
    notify: Notify,
    buffer: Buffer,
    lagged_total: AtomicU64,
}

impl Queue {
    fn new(buffer: Buffer) -> Self {
        Self {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                events: 0,
                bytes: 0,
                missed: 0,
                closed: false,
            }),
            notify: Notify::new(),
            buffer,
            lagged_total: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // A panic while holding this lock cannot leave the queue inconsistent.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Pushes under an already-held lock; returns true when dropped for lack of room.
    fn push_locked(&self, state: &mut QueueState, event: &Event) -> bool {
        let size = event.raw().len();
        let full = match self.buffer {
            Buffer::Events(max) => state.events >= max,
            // One event always fits, however large.
            Buffer::Bytes(max) => state.events > 0 && state.bytes + size > max,
        };
        if full {
            state.missed += 1;
            return true;
        }
        if state.missed > 0 {
            let missed = std::mem::take(&mut state.missed);
            state.items.push_back(EventItem::Lagged(missed));
        }
        state.events += 1;
        state.bytes += size;
        state.items.push_back(EventItem::Event(event.clone()));
        false
    }

    fn push_state(&self, item: EventItem) {
        let mut state = self.lock();
        if state.missed > 0 {
            let missed = std::mem::take(&mut state.missed);
            state.items.push_back(EventItem::Lagged(missed));
        }
        state.items.push_back(item);
        drop(state);
        self.notify.notify_one();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_one();
    }

    fn pop(&self) -> Option<Option<EventItem>> {
        let mut state = self.lock();
        if let Some(item) = state.items.pop_front() {
            if let EventItem::Event(event) = &item {
                state.events -= 1;
                state.bytes -= event.raw().len();
            }
            return Some(Some(item));
        }
        if state.missed > 0 {
            return Some(Some(EventItem::Lagged(std::mem::take(&mut state.missed))));
        }
        if state.closed {
            return Some(None);
        }
        None
    }
}

/// A stream of [`EventItem`]s for one subscription. Dropping it unsubscribes.
pub struct Subscriber {
    queue: Arc<Queue>,
    hub: Weak<Hub>,
    id: u64,
    follows: Option<Box<[u8]>>,
    /// The wake-up that `poll_recv` (the `Stream` impl) waits on between polls.
    waiting: Option<Waiting>,
}

type Waiting = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber").field("id", &self.id).finish()
    }
}

impl Subscriber {
    /// The next item; `None` once the client has shut down and everything was read.
    pub async fn recv(&mut self) -> Option<EventItem> {
        // A wake-up left registered by `poll_recv` must not take this one's notification.
        self.waiting = None;
        loop {
            if let Some(item) = self.queue.pop() {
                return item;
            }
            self.queue.notify.notified().await;
        }
    }

    /// The next item if one is ready now (`Ok(None)` once closed and drained).
    pub fn try_recv(&mut self) -> Result<Option<EventItem>, Empty> {
        self.queue.pop().ok_or(Empty)
    }

    /// Up to `max` ready items appended to `out` under one lock; waits only when none is ready.
    /// Returns how many were appended (0 once closed and drained).
    pub async fn recv_many(&mut self, out: &mut Vec<EventItem>, max: usize) -> usize {
        self.waiting = None;
        loop {
            {
                let mut guard = self.queue.lock();
                let state = &mut *guard;
                let take = state.items.len().min(max);
                if take > 0 {
                    for item in state.items.drain(..take) {
                        if let EventItem::Event(event) = &item {
                            state.events -= 1;
                            state.bytes -= event.raw().len();
                        }
                        out.push(item);
                    }
                    return take;
                }
                if state.missed > 0 {
                    out.push(EventItem::Lagged(std::mem::take(&mut state.missed)));
                    return 1;
                }
                if state.closed {
                    return 0;
                }
            }
            self.queue.notify.notified().await;
        }
    }

    /// [`Subscriber::recv`] as a poll, for the `Stream` impl. An item pushed between the look
    /// at the queue and the registration is not missed: its notification waits as the
    /// `Notify` permit, which the registration's first poll takes.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<EventItem>> {
        loop {
            if let Some(item) = self.queue.pop() {
                self.waiting = None;
                return Poll::Ready(item);
            }
            let queue = &self.queue;
            let waiting = self.waiting.get_or_insert_with(|| {
                let queue = queue.clone();
                Box::pin(async move { queue.notify.notified().await })
            });
            match waiting.as_mut().poll(cx) {
                // Woken (or a permit was stored): look again with a fresh registration.
                Poll::Ready(()) => self.waiting = None,
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Events this subscriber has missed so far (also told in [`EventItem::Lagged`] items).
    pub fn lagged(&self) -> u64 {
        self.queue.lagged_total.load(Ordering::Relaxed)
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
    queue: Arc<Queue>,
}

#[derive(Default)]
struct Subscribers {
    entries: Vec<Entry>,
    /// ActionID -> queue of the caller following that action's events.
    followers: HashMap<Box<[u8]>, Arc<Queue>>,
    next_id: u64,
    closed: bool,
}

/// Shared between the client handle and its connection task(s).
#[derive(Default)]
pub(crate) struct Hub {
    subscribers: Mutex<Subscribers>,
    pub(crate) events_received: AtomicU64,
    pub(crate) events_lagged: AtomicU64,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, Subscribers> {
        self.subscribers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub(crate) fn subscribe(self: &Arc<Self>, subscription: Subscription) -> Subscriber {
        let queue = Arc::new(Queue::new(subscription.buffer));
        let mut subscribers = self.lock();
        if subscribers.closed {
            queue.close();
        }
        let id = subscribers.next_id;
        subscribers.next_id += 1;
        subscribers.entries.push(Entry {
            id,
            subscription,
            queue: queue.clone(),
        });
        Subscriber {
            queue,
            hub: Arc::downgrade(self),
            id,
            follows: None,
            waiting: None,
        }
    }

    /// Registers a follower for events carrying `action_id` (before the action is sent, so
    /// nothing can slip past).
    pub(crate) fn follow(self: &Arc<Self>, action_id: &str, buffer: Buffer) -> Subscriber {
        let queue = Arc::new(Queue::new(buffer));
        let mut subscribers = self.lock();
        if subscribers.closed {
            queue.close();
        }
        let id = subscribers.next_id;
        subscribers.next_id += 1;
        subscribers
            .followers
            .insert(action_id.as_bytes().into(), queue.clone());
        drop(subscribers);
        Subscriber {
            queue,
            hub: Arc::downgrade(self),
            id,
            waiting: None,
            follows: Some(action_id.as_bytes().into()),
        }
    }

    fn remove(&self, id: u64) {
        self.lock().entries.retain(|entry| entry.id != id);
    }

    fn unfollow(&self, action_id: &[u8]) {
        self.lock().followers.remove(action_id);
    }

    /// Hands a batch of events to every interested subscriber: one lock per subscriber per
    /// batch, never a wait.
    pub(crate) fn dispatch(&self, batch: &mut Vec<ami_proto::Message>) {
        if batch.is_empty() {
            return;
        }
        self.events_received
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let events: Vec<Event> = batch.drain(..).map(Event::new).collect();
        let subscribers = self.lock();
        let mut lagged = 0;
        for entry in &subscribers.entries {
            let mut state = entry.queue.lock();
            let mut pushed = false;
            let mut missed = 0;
            for event in &events {
                if entry.subscription.matches(event) {
                    if entry.queue.push_locked(&mut state, event) {
                        missed += 1;
                    } else {
                        pushed = true;
                    }
                }
            }
            drop(state);
            if missed > 0 {
                entry
                    .queue
                    .lagged_total
                    .fetch_add(missed, Ordering::Relaxed);
                lagged += missed;
            }
            if pushed || missed > 0 {
                entry.queue.notify.notify_one();
            }
        }
        if !subscribers.followers.is_empty() {
            for event in &events {
                let Some(queue) = event
                    .get_bytes("ActionID")
                    .and_then(|id| subscribers.followers.get(id))
                else {
                    continue;
                };
                let dropped = queue.push_locked(&mut queue.lock(), event);
                if dropped {
                    queue.lagged_total.fetch_add(1, Ordering::Relaxed);
                    lagged += 1;
                }
                queue.notify.notify_one();
            }
        }
        if lagged > 0 {
            self.events_lagged.fetch_add(lagged, Ordering::Relaxed);
        }
    }

    pub(crate) fn connection_state(&self, state: ConnectionState) {
        let subscribers = self.lock();
        for entry in &subscribers.entries {
            entry.queue.push_state(EventItem::Connection(state.clone()));
        }
    }

    /// No more events will come: subscribers drain what they hold, then read `None`.
    pub(crate) fn close(&self) {
        let mut subscribers = self.lock();
        subscribers.closed = true;
        for entry in &subscribers.entries {
            entry.queue.close();
        }
        for queue in subscribers.followers.values() {
            queue.close();
        }
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
                EventItem::Connection(_) => "state".into(),
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

    #[tokio::test]
    async fn close_ends_subscribers_after_draining() {
        let hub = Arc::new(Hub::default());
        let mut sub = hub.subscribe(Subscription::all());
        hub.dispatch(&mut vec![event("A", &[])]);
        hub.close();
        assert!(matches!(sub.recv().await, Some(EventItem::Event(_))));
        assert_eq!(sub.recv().await, None);
    }
}
