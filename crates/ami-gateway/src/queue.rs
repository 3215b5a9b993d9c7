//! The bounded queue between the fan-out tasks (one per server) and one stream client.
//!
//! It does what a `tokio::sync::mpsc` channel did here, for less per item: an offer is one
//! uncontended lock and a push, and the client is woken only when its queue turns non-empty,
//! not once per item. At a thousand clients and half a million deliveries a second, the
//! channel's per-item semaphore, block list and wake were about a tenth of the gateway's CPU.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use futures_util::task::AtomicWaker;

use crate::item::StreamItem;

/// A drained queue keeps at most this much room (a burst's worth of room is not held for good).
const KEPT_ROOM: usize = 64;

struct Shared {
    state: Mutex<State>,
    /// The receiver's waker, registered while the queue is empty.
    waker: AtomicWaker,
    capacity: usize,
}

struct State {
    items: VecDeque<StreamItem>,
    senders: usize,
    receiver: bool,
    /// Something other than an item wants the receiver's attention (see [`Alerter`]).
    alerted: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing done under the lock can leave the state half-changed.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What [`QueueReceiver::recv_many_or_alert`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// This many items were moved out.
    Items(usize),
    /// Every sender is gone and the queue is empty.
    Ended,
    /// An alert was raised (before any item still queued).
    Alerted,
}

/// Why an item was not queued (it is dropped).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TrySendError {
    /// The queue holds `capacity` items.
    Full,
    /// The receiver is gone.
    Closed,
}

/// A queue of at most `capacity` items with any number of senders.
pub(crate) fn queue(capacity: usize) -> (QueueSender, QueueReceiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            senders: 1,
            receiver: true,
            alerted: false,
        }),
        waker: AtomicWaker::new(),
        capacity: capacity.max(1),
    });
    (QueueSender(shared.clone()), QueueReceiver(shared))
}

/// The fan-out's end.
pub(crate) struct QueueSender(Arc<Shared>);

impl QueueSender {
    /// Queues `item` unless the queue is full or the receiver gone; never waits.
    pub(crate) fn try_send(&self, item: StreamItem) -> Result<(), TrySendError> {
        let was_empty = {
            let mut state = self.0.lock();
            if !state.receiver {
                return Err(TrySendError::Closed);
            }
            if state.items.len() >= self.0.capacity {
                return Err(TrySendError::Full);
            }
            state.items.push_back(item);
            state.items.len() == 1
        };
        // The receiver only waits after finding the queue empty, so only the item that ends
        // the emptiness needs to wake it.
        if was_empty {
            self.0.waker.wake();
        }
        Ok(())
    }

    /// Whether the receiver is gone.
    pub(crate) fn is_closed(&self) -> bool {
        !self.0.lock().receiver
    }

    /// Raises an alert (see [`Alerter::raise`]).
    pub(crate) fn alert(&self) {
        raise(&self.0);
    }
}

fn raise(shared: &Shared) {
    shared.lock().alerted = true;
    shared.waker.wake();
}

/// Wakes the receiver for something other than an item, without counting as a sender: the
/// one thing a stream client waits on then also tells it when to look at why it should stop
/// (evicted, gateway stopping, client gone), instead of a wait per reason polled each batch.
pub(crate) struct Alerter(Arc<Shared>);

impl Alerter {
    /// Makes the receiver's next (or current) [`QueueReceiver::recv_many_or_alert`] return
    /// [`Received::Alerted`].
    pub(crate) fn raise(&self) {
        raise(&self.0);
    }
}

impl Clone for QueueSender {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        Self(self.0.clone())
    }
}

impl Drop for QueueSender {
    fn drop(&mut self) {
        let last = {
            let mut state = self.0.lock();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            // The receiver may be waiting for an item that will never come.
            self.0.waker.wake();
        }
    }
}

/// The client's end.
pub(crate) struct QueueReceiver(Arc<Shared>);

impl QueueReceiver {
    /// Waits for items and moves up to `limit` of them into `out`; 0 once every sender is gone
    /// and the queue is empty.
    pub(crate) async fn recv_many(&mut self, out: &mut Vec<StreamItem>, limit: usize) -> usize {
        let limit = limit.max(1);
        poll_fn(|cx| {
            let mut state = self.0.lock();
            if !state.items.is_empty() {
                let n = state.items.len().min(limit);
                out.extend(state.items.drain(..n));
                if state.items.is_empty() && state.items.capacity() > KEPT_ROOM {
                    state.items.shrink_to(KEPT_ROOM);
                }
                return Poll::Ready(n);
            }
            if state.senders == 0 {
                return Poll::Ready(0);
            }
            // Registered under the lock: a sender's push, and so its wake, comes after.
            self.0.waker.register(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Like [`QueueReceiver::recv_many`], but an alert raised since the last call comes first.
    pub(crate) async fn recv_many_or_alert(
        &mut self,
        out: &mut Vec<StreamItem>,
        limit: usize,
    ) -> Received {
        let limit = limit.max(1);
        poll_fn(|cx| {
            let mut state = self.0.lock();
            if std::mem::take(&mut state.alerted) {
                return Poll::Ready(Received::Alerted);
            }
            if !state.items.is_empty() {
                let n = state.items.len().min(limit);
                out.extend(state.items.drain(..n));
                if state.items.is_empty() && state.items.capacity() > KEPT_ROOM {
                    state.items.shrink_to(KEPT_ROOM);
                }
                return Poll::Ready(Received::Items(n));
            }
            if state.senders == 0 {
                return Poll::Ready(Received::Ended);
            }
            self.0.waker.register(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// A handle that raises alerts for this receiver.
    pub(crate) fn alerter(&self) -> Alerter {
        Alerter(self.0.clone())
    }

    /// Waits for the next item; None once every sender is gone and the queue is empty.
    pub(crate) async fn recv(&mut self) -> Option<StreamItem> {
        let mut one = Vec::with_capacity(1);
        self.recv_many(&mut one, 1).await;
        one.pop()
    }
}

impl Drop for QueueReceiver {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.receiver = false;
        // Nobody will read them: free the shared payloads now.
        state.items = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: usize) -> StreamItem {
        StreamItem {
            kind: "event",
            data: n.to_string().into(),
        }
    }

    fn texts(items: &[StreamItem]) -> Vec<&str> {
        items.iter().map(|i| i.data.as_str()).collect()
    }

    #[tokio::test]
    async fn items_come_out_in_order_up_to_the_limit() {
        let (tx, mut rx) = queue(8);
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
    async fn a_full_queue_refuses_and_a_gone_receiver_closes() {
        let (tx, rx) = queue(2);
        tx.try_send(item(0)).expect("room");
        tx.try_send(item(1)).expect("room");
        assert_eq!(tx.try_send(item(2)), Err(TrySendError::Full));
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.try_send(item(3)), Err(TrySendError::Closed));
    }

    #[tokio::test]
    async fn the_receiver_sees_the_rest_then_the_end_when_senders_go() {
        let (tx, mut rx) = queue(4);
        let other = tx.clone();
        tx.try_send(item(0)).expect("room");
        drop(tx);
        let mut out = Vec::new();
        assert_eq!(rx.recv_many(&mut out, 8).await, 1);
        other.try_send(item(1)).expect("one sender left");
        drop(other);
        assert_eq!(
            rx.recv().await.map(|i| i.data.to_string()),
            Some("1".into())
        );
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn an_alert_comes_before_items_once_and_does_not_hold_the_end_back() {
        let (tx, mut rx) = queue(4);
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
        let (_tx, mut rx) = queue(4);
        let alerter = rx.alerter();
        let waiting = tokio::spawn(async move {
            let mut out = Vec::new();
            rx.recv_many_or_alert(&mut out, 8).await
        });
        tokio::task::yield_now().await;
        alerter.raise();
        assert_eq!(waiting.await.expect("task"), Received::Alerted);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_receiver_is_woken_by_the_first_item_and_by_the_end() {
        let (tx, mut rx) = queue(1024);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut out = Vec::new();
            while rx.recv_many(&mut out, 64).await > 0 {
                got.extend(out.drain(..).map(|i| i.data.to_string()));
            }
            got
        });
        for n in 0..10_000 {
            loop {
                match tx.try_send(item(n)) {
                    Ok(()) => break,
                    Err(TrySendError::Full) => tokio::task::yield_now().await,
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
