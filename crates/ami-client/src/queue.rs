//! A lossy bounded queue: the one between a producer that must never wait (the socket reader,
//! a gateway's fan-out) and a consumer that may fall behind (a subscriber, a stream client).
//!
//! A full queue drops the **newest** item and counts it; the consumer then reads a lag marker
//! (built by the sender, e.g. [`crate::EventItem::Lagged`]) exactly where the gap is: before
//! that sender's next item, or at the end once everything queued has been read. The queue ends
//! when every [`Sender`] is gone and everything was read.
//!
//! It is built for fan-out at a high rate: an offer is one uncontended lock and a push, and
//! the receiver is woken only when its queue turns non-empty, not once per item (at a thousand
//! consumers and half a million deliveries a second, a `tokio::sync::mpsc` channel's per-item
//! semaphore and wake were about a tenth of a gateway's CPU).
//!
//! ```
//! use ami_client::queue::{self, Bound, Weighed};
//!
//! #[derive(Debug, PartialEq)]
//! enum Item { Data(u32), Lagged(u64) }
//! impl Weighed for Item {
//!     fn weight(&self) -> Option<usize> {
//!         match self { Item::Data(_) => Some(4), Item::Lagged(_) => None }
//!     }
//! }
//!
//! let (tx, mut rx) = queue::bounded(Bound::Items(2), Item::Lagged);
//! for n in 0..5 {
//!     let _ = tx.try_send(Item::Data(n)); // the last three are dropped
//! }
//! let mut out = Vec::new();
//! while let Ok(Some(item)) = rx.try_recv() {
//!     out.push(item);
//! }
//! assert_eq!(out, [Item::Data(0), Item::Data(1), Item::Lagged(3)]);
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

/// What an item costs in a queue.
pub trait Weighed {
    /// `Some(bytes)` for an item that counts against the [`Bound`] (and may be dropped when
    /// the queue is full); `None` for a marker (a state change, a notice) that always goes in
    /// and is never dropped. It must give the same answer every time it is asked.
    fn weight(&self) -> Option<usize>;
}

/// How much a queue may hold, in items that have a weight; markers are not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// At most this many items (at least one).
    Items(usize),
    /// At most this many bytes of items; one item always fits, however large.
    Bytes(usize),
}

/// Why an item was not queued (it is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrySendError {
    /// The queue is full: this sender has now missed `missed` items in a row, which the
    /// receiver will be told in one lag marker.
    #[error("queue full ({missed} dropped in a row)")]
    Full {
        /// Items dropped since this sender's last one went in, this one included.
        missed: u64,
    },
    /// The receiver is gone.
    #[error("receiver gone")]
    Closed,
}

/// What [`Receiver::recv_many_or_alert`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// This many items were moved out.
    Items(usize),
    /// Every sender is gone and the queue is empty.
    Ended,
    /// An alert was raised (it comes before any item still queued).
    Alerted,
}

/// Nothing ready yet (see [`Receiver::try_recv`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("nothing ready")]
pub struct Empty;

type Lagged<T> = Arc<dyn Fn(u64) -> T + Send + Sync>;

/// A drained queue keeps at most this much room (a burst's worth of room is not held for good).
const KEPT_ROOM: usize = 64;

/// Items one sender dropped since its last one went in.
struct Gap<T> {
    sender: u64,
    missed: u64,
    lagged: Lagged<T>,
}

struct State<T> {
    items: VecDeque<T>,
    /// Weighed items held, and their bytes.
    held: usize,
    bytes: usize,
    /// Gaps not yet told, oldest first (one per sender at most).
    gaps: Vec<Gap<T>>,
    dropped: u64,
    senders: usize,
    next_sender: u64,
    receiver: bool,
    /// Something other than an item wants the receiver's attention (see [`Alerter`]).
    alerted: bool,
    /// The receiver's waker, while it waits on an empty queue.
    waker: Option<Waker>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    bound: Bound,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing done under the lock can leave the state half-changed.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T> State<T> {
    /// Queues the gap marker of `sender`, if it has one, where its next item goes.
    fn tell_gap(&mut self, sender: u64) {
        if self.gaps.is_empty() {
            return;
        }
        if let Some(at) = self.gaps.iter().position(|gap| gap.sender == sender) {
            let gap = self.gaps.remove(at);
            self.items.push_back((gap.lagged)(gap.missed));
        }
    }

    /// Moves up to `limit` items (or, with none queued, one gap marker) into `out`.
    fn take(&mut self, out: &mut Vec<T>, limit: usize) -> usize
    where
        T: Weighed,
    {
        let n = self.items.len().min(limit.max(1));
        if n > 0 {
            for item in self.items.drain(..n) {
                if let Some(weight) = item.weight() {
                    self.held -= 1;
                    self.bytes -= weight;
                }
                out.push(item);
            }
            if self.items.is_empty() && self.items.capacity() > KEPT_ROOM {
                self.items.shrink_to(KEPT_ROOM);
            }
            return n;
        }
        if !self.gaps.is_empty() {
            let gap = self.gaps.remove(0);
            out.push((gap.lagged)(gap.missed));
            return 1;
        }
        0
    }

    fn register(&mut self, waker: &Waker) {
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            self.waker = Some(waker.clone());
        }
    }
}

/// A queue bounded by `bound`; each sender tells its gaps with `lagged(missed)` (see
/// [`Sender::with_lagged`] for senders that need their own marker).
pub fn bounded<T: Weighed>(
    bound: Bound,
    lagged: impl Fn(u64) -> T + Send + Sync + 'static,
) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            held: 0,
            bytes: 0,
            gaps: Vec::new(),
            dropped: 0,
            senders: 1,
            next_sender: 1,
            receiver: true,
            alerted: false,
            waker: None,
        }),
        bound,
    });
    let sender = Sender {
        shared: shared.clone(),
        id: 0,
        lagged: Arc::new(lagged),
    };
    (sender, Receiver { shared })
}

/// The producer's end; never waits. Each clone is a sender of its own: its gaps are counted
/// and told apart from the others'.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
    id: u64,
    lagged: Lagged<T>,
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("id", &self.id).finish()
    }
}

impl<T: Weighed> Sender<T> {
    /// Queues `item` unless the queue is full (the item is dropped and counted, and the gap
    /// told later) or the receiver is gone.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError> {
        let (result, waker) = {
            let mut state = self.shared.lock();
            let was_empty = state.items.is_empty();
            let result = self.push(&mut state, item);
            // The receiver only waits after finding the queue empty, so only the item that
            // ends the emptiness needs to wake it.
            let waker = if was_empty && !state.items.is_empty() {
                state.waker.take()
            } else {
                None
            };
            (result, waker)
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        result
    }

    /// Locks the queue once for several items (a batch of events): the receiver is woken
    /// once, when the batch is done, if the queue turned non-empty.
    pub fn batch(&self) -> Batch<'_, T> {
        let state = self.shared.lock();
        let was_empty = state.items.is_empty();
        Batch {
            sender: self,
            state: Some(state),
            was_empty,
        }
    }

    fn push(&self, state: &mut State<T>, item: T) -> Result<(), TrySendError> {
        if !state.receiver {
            return Err(TrySendError::Closed);
        }
        let Some(weight) = item.weight() else {
            state.tell_gap(self.id);
            state.items.push_back(item);
            return Ok(());
        };
        let full = match self.shared.bound {
            Bound::Items(max) => state.held >= max.max(1),
            Bound::Bytes(max) => state.held > 0 && state.bytes + weight > max,
        };
        if full {
            state.dropped += 1;
            let missed = match state.gaps.iter_mut().find(|gap| gap.sender == self.id) {
                Some(gap) => {
                    gap.missed += 1;
                    gap.missed
                }
                None => {
                    state.gaps.push(Gap {
                        sender: self.id,
                        missed: 1,
                        lagged: self.lagged.clone(),
                    });
                    1
                }
            };
            return Err(TrySendError::Full { missed });
        }
        state.tell_gap(self.id);
        state.held += 1;
        state.bytes += weight;
        state.items.push_back(item);
        Ok(())
    }
}

impl<T> Sender<T> {
    /// A new sender on the same queue whose gaps are told with `lagged(missed)` (a gateway's
    /// fan-out names its server in the marker).
    pub fn with_lagged(&self, lagged: impl Fn(u64) -> T + Send + Sync + 'static) -> Self {
        let mut sender = self.clone();
        sender.lagged = Arc::new(lagged);
        sender
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        !self.shared.lock().receiver
    }

    /// Raises an alert (see [`Alerter::raise`]).
    pub fn alert(&self) {
        raise(&self.shared);
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        let id = {
            let mut state = self.shared.lock();
            state.senders += 1;
            state.next_sender += 1;
            state.next_sender - 1
        };
        Self {
            shared: self.shared.clone(),
            id,
            lagged: self.lagged.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.shared.lock();
            state.senders -= 1;
            if state.senders == 0 {
                state.waker.take()
            } else {
                None
            }
        };
        // The receiver may be waiting for an item that will never come.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Several items offered under one lock (see [`Sender::batch`]).
pub struct Batch<'a, T: Weighed> {
    sender: &'a Sender<T>,
    state: Option<MutexGuard<'a, State<T>>>,
    was_empty: bool,
}

impl<T: Weighed> Batch<'_, T> {
    /// As [`Sender::try_send`].
    pub fn try_send(&mut self, item: T) -> Result<(), TrySendError> {
        match self.state.as_mut() {
            Some(state) => self.sender.push(state, item),
            None => Err(TrySendError::Closed),
        }
    }
}

impl<T: Weighed> Drop for Batch<'_, T> {
    fn drop(&mut self) {
        let waker = self.state.take().and_then(|mut state| {
            if self.was_empty && !state.items.is_empty() {
                state.waker.take()
            } else {
                None
            }
        });
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

fn raise<T>(shared: &Shared<T>) {
    let waker = {
        let mut state = shared.lock();
        state.alerted = true;
        state.waker.take()
    };
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// Wakes the receiver for something other than an item, without counting as a sender: the
/// one thing a consumer waits on then also tells it when to look at why it should stop,
/// instead of a wait per reason.
pub struct Alerter<T>(Arc<Shared<T>>);

impl<T> Alerter<T> {
    /// Makes the receiver's next (or current) [`Receiver::recv_many_or_alert`] return
    /// [`Received::Alerted`].
    pub fn raise(&self) {
        raise(&self.0);
    }
}

impl<T> fmt::Debug for Alerter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alerter").finish_non_exhaustive()
    }
}

/// The consumer's end.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

impl<T: Weighed> Receiver<T> {
    /// Waits for items and moves up to `limit` of them into `out`; 0 once every sender is
    /// gone and everything was read.
    pub async fn recv_many(&mut self, out: &mut Vec<T>, limit: usize) -> usize {
        poll_fn(|cx| {
            let mut state = self.shared.lock();
            let n = state.take(out, limit);
            if n > 0 {
                return Poll::Ready(n);
            }
            if state.senders == 0 {
                return Poll::Ready(0);
            }
            // Registered under the lock: a sender's push, and so its wake, comes after.
            state.register(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Like [`Receiver::recv_many`], but an alert raised since the last call comes first.
    pub async fn recv_many_or_alert(&mut self, out: &mut Vec<T>, limit: usize) -> Received {
        poll_fn(|cx| {
            let mut state = self.shared.lock();
            if std::mem::take(&mut state.alerted) {
                return Poll::Ready(Received::Alerted);
            }
            let n = state.take(out, limit);
            if n > 0 {
                return Poll::Ready(Received::Items(n));
            }
            if state.senders == 0 {
                return Poll::Ready(Received::Ended);
            }
            state.register(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// [`Receiver::recv`] as a poll (for a `Stream`): the next item, `Ready(None)` once
    /// every sender is gone and everything was read, or `Pending` with `cx`'s waker registered.
    pub fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<T>> {
        let mut state = self.shared.lock();
        let mut one = Vec::with_capacity(1);
        if state.take(&mut one, 1) > 0 {
            return Poll::Ready(one.pop());
        }
        if state.senders == 0 {
            return Poll::Ready(None);
        }
        state.register(cx.waker());
        Poll::Pending
    }

    /// Waits for the next item; `None` once every sender is gone and everything was read.
    pub async fn recv(&mut self) -> Option<T> {
        let mut one = Vec::with_capacity(1);
        self.recv_many(&mut one, 1).await;
        one.pop()
    }

    /// The next item if one is ready now; `Ok(None)` once ended.
    pub fn try_recv(&mut self) -> Result<Option<T>, Empty> {
        let mut state = self.shared.lock();
        let mut one = Vec::with_capacity(1);
        if state.take(&mut one, 1) > 0 {
            return Ok(one.pop());
        }
        if state.senders == 0 {
            return Ok(None);
        }
        Err(Empty)
    }
}

impl<T> Receiver<T> {
    /// A handle that raises alerts for this receiver.
    pub fn alerter(&self) -> Alerter<T> {
        Alerter(self.shared.clone())
    }

    /// Items dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.lock().dropped
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver = false;
        // Nobody will read them: free the shared payloads now.
        state.items = VecDeque::new();
        state.gaps = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Item {
        Data(String),
        Marker(&'static str),
        Lagged(u64),
    }

    impl Weighed for Item {
        fn weight(&self) -> Option<usize> {
            match self {
                Self::Data(text) => Some(text.len()),
                Self::Marker(_) | Self::Lagged(_) => None,
            }
        }
    }

    fn item(n: usize) -> Item {
        Item::Data(n.to_string())
    }

    fn items(bound: Bound) -> (Sender<Item>, Receiver<Item>) {
        bounded(bound, Item::Lagged)
    }

    fn texts(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .map(|item| match item {
                Item::Data(text) => text.clone(),
                Item::Marker(text) => format!("marker {text}"),
                Item::Lagged(n) => format!("lagged {n}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn items_come_out_in_order_up_to_the_limit() {
        let (tx, mut rx) = items(Bound::Items(8));
        for n in 0..5 {
            tx.try_send(item(n)).expect("room");
        }
        let mut out = Vec::new();
        assert_eq!(rx.recv_many(&mut out, 3).await, 3);
        assert_eq!(texts(&out), ["0", "1", "2"]);
        out.clear();
        assert_eq!(rx.recv_many(&mut out, 64).await, 2);
        assert_eq!(texts(&out), ["3", "4"]);
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_newest_and_a_gone_receiver_closes() {
        let (tx, rx) = items(Bound::Items(2));
        tx.try_send(item(0)).expect("room");
        tx.try_send(item(1)).expect("room");
        assert_eq!(tx.try_send(item(2)), Err(TrySendError::Full { missed: 1 }));
        assert_eq!(tx.try_send(item(3)), Err(TrySendError::Full { missed: 2 }));
        assert_eq!(rx.dropped(), 2);
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.try_send(item(4)), Err(TrySendError::Closed));
    }

    #[test]
    fn the_gap_is_told_in_place_once_per_sender() {
        let (tx, mut rx) = items(Bound::Items(2));
        let other = tx.with_lagged(|n| Item::Lagged(n * 1000));
        for n in 0..5 {
            let _ = tx.try_send(item(n));
        }
        let _ = other.try_send(item(9));
        let mut out = Vec::new();
        // Room again: the next item of `tx` carries its gap in front of it.
        assert_eq!(rx.try_recv(), Ok(Some(item(0))));
        tx.try_send(item(5)).expect("room");
        while let Ok(Some(item)) = rx.try_recv() {
            out.push(item);
        }
        // `other`'s gap had no item to ride on: told once the queue is drained.
        assert_eq!(texts(&out), ["1", "lagged 3", "5", "lagged 1000"]);
        assert_eq!(rx.dropped(), 4);
    }

    #[test]
    fn markers_always_fit_and_come_after_the_gap_before_them() {
        let (tx, mut rx) = items(Bound::Items(1));
        tx.try_send(item(0)).expect("room");
        let _ = tx.try_send(item(1));
        tx.try_send(Item::Marker("state"))
            .expect("markers always fit");
        let got: Vec<Item> = std::iter::from_fn(|| rx.try_recv().ok().flatten()).collect();
        assert_eq!(texts(&got), ["0", "lagged 1", "marker state"]);
    }

    #[test]
    fn a_byte_bound_holds_by_size_and_always_fits_one() {
        let (tx, mut rx) = items(Bound::Bytes(10));
        tx.try_send(Item::Data("x".repeat(50)))
            .expect("one always fits");
        assert!(tx.try_send(Item::Data("y".into())).is_err());
        assert!(matches!(rx.try_recv(), Ok(Some(Item::Data(text))) if text.len() == 50));
        for _ in 0..5 {
            tx.try_send(Item::Data("ab".into())).expect("room");
        }
        assert!(tx.try_send(Item::Data("c".into())).is_err());
    }

    #[test]
    fn a_batch_takes_one_lock_and_counts_like_single_sends() {
        let (tx, mut rx) = items(Bound::Items(3));
        {
            let mut batch = tx.batch();
            for n in 0..5 {
                let _ = batch.try_send(item(n));
            }
        }
        let got: Vec<Item> = std::iter::from_fn(|| rx.try_recv().ok().flatten()).collect();
        assert_eq!(texts(&got), ["0", "1", "2", "lagged 2"]);
        assert_eq!(rx.try_recv(), Err(Empty));
    }

    #[tokio::test]
    async fn the_receiver_sees_the_rest_then_the_end_when_senders_go() {
        let (tx, mut rx) = items(Bound::Items(4));
        let other = tx.clone();
        tx.try_send(item(0)).expect("room");
        drop(tx);
        let mut out = Vec::new();
        assert_eq!(rx.recv_many(&mut out, 8).await, 1);
        other.try_send(item(1)).expect("one sender left");
        drop(other);
        assert_eq!(rx.recv().await, Some(item(1)));
        assert_eq!(rx.recv().await, None);
        assert_eq!(rx.try_recv(), Ok(None));
    }

    #[tokio::test]
    async fn a_gone_sender_s_gap_is_still_told_before_the_end() {
        let (tx, mut rx) = items(Bound::Items(1));
        tx.try_send(item(0)).expect("room");
        let _ = tx.try_send(item(1));
        drop(tx);
        assert_eq!(rx.recv().await, Some(item(0)));
        assert_eq!(rx.recv().await, Some(Item::Lagged(1)));
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn an_alert_comes_before_items_once_and_does_not_hold_the_end_back() {
        let (tx, mut rx) = items(Bound::Items(4));
        let alerter = rx.alerter();
        tx.try_send(item(0)).expect("room");
        alerter.raise();
        let mut out = Vec::new();
        assert_eq!(rx.recv_many_or_alert(&mut out, 8).await, Received::Alerted);
        assert_eq!(rx.recv_many_or_alert(&mut out, 8).await, Received::Items(1));
        tx.alert();
        assert_eq!(rx.recv_many_or_alert(&mut out, 8).await, Received::Alerted);
        // The alerter is no sender: with the senders gone, the queue ends.
        drop(tx);
        assert_eq!(rx.recv_many_or_alert(&mut out, 8).await, Received::Ended);
        // A waiting receiver is woken by an alert.
        let (_tx, mut rx) = items(Bound::Items(4));
        let alerter = rx.alerter();
        let waiting = tokio::spawn(async move {
            let mut out = Vec::new();
            rx.recv_many_or_alert(&mut out, 8).await
        });
        tokio::task::yield_now().await;
        alerter.raise();
        assert_eq!(waiting.await.expect("task"), Received::Alerted);
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_when_the_last_sender_goes() {
        let (tx, mut rx) = items(Bound::Items(4));
        let waiting = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        drop(tx);
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .expect("woken by the end")
            .expect("task");
        assert_eq!(got, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_receiver_is_woken_by_the_first_item_and_by_the_end() {
        let (tx, mut rx) = items(Bound::Items(1024));
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut out = Vec::new();
            while rx.recv_many(&mut out, 64).await > 0 {
                got.extend(
                    out.drain(..)
                        .filter(|item| !matches!(item, Item::Lagged(_)))
                        .map(|item| texts(&[item]).remove(0)),
                );
            }
            got
        });
        for n in 0..10_000 {
            loop {
                match tx.try_send(item(n)) {
                    Ok(()) => break,
                    // Dropped: offered again, so nothing is lost (the gap marker is ignored).
                    Err(TrySendError::Full { .. }) => tokio::task::yield_now().await,
                    Err(TrySendError::Closed) => panic!("receiver gone"),
                }
            }
            if n % 100 == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
        drop(tx);
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), reader)
            .await
            .expect("the reader ends")
            .expect("reader");
        let wanted: Vec<String> = (0..10_000).map(|n| n.to_string()).collect();
        assert_eq!(got, wanted);
    }
}
