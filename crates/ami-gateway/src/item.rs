//! What flows from the fan-out to a stream client: one message, rendered once.
//!
//! A leaf of its own so that the queue that carries items and the fan-out that makes them
//! need not import each other.

use ami_client::queue::Weighed;
use axum::extract::ws::Utf8Bytes;

/// One message for a stream client, already rendered as JSON text. Shared by every client
/// that gets it: `Utf8Bytes` so a WebSocket frame can carry it without a copy, or a UTF-8
/// check, per client.
#[derive(Debug, Clone)]
pub(crate) struct StreamItem {
    /// `event`, `state`, `lagged`, `connection`.
    pub(crate) kind: &'static str,
    /// JSON text.
    pub(crate) data: Utf8Bytes,
}

impl Weighed for StreamItem {
    fn weight(&self) -> Option<usize> {
        // Events and state messages count against a client's queue bound (a client that reads
        // nothing must not hold an ever longer list of state updates); `connection` and
        // `lagged` always fit.
        matches!(self.kind, "event" | "state").then_some(self.data.len())
    }
}

/// The fan-out's end of a stream client's queue (the one lossy queue of `ami_client`).
pub(crate) type QueueSender = ami_client::queue::Sender<StreamItem>;
