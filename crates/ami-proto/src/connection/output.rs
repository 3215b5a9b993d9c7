//! The capped output buffer: bytes waiting to be written, at most `limit` of them, and a line
//! of actions waiting for room, at most `limit` bytes' worth. A peer that stops reading can
//! therefore hold at most twice the limit, whatever callers keep sending.

use std::collections::VecDeque;

use bytes::{Buf, BytesMut};

use crate::encode::Action;

/// An action waiting for room in the buffer, not yet registered with the session.
pub(super) struct Queued<W> {
    pub(super) action: Action,
    pub(super) waiter: W,
    /// The bound on its encoded size it was admitted with.
    pub(super) size: usize,
}

/// Where an action of a given size can go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    /// Into the buffer at once.
    Write,
    /// Into the line, until written bytes make room.
    Wait,
    /// Nowhere: the line is full too.
    Full,
    /// Nowhere ever: larger than the whole buffer.
    TooLarge,
}

pub(super) struct Output<W> {
    buf: BytesMut,
    limit: usize,
    line: VecDeque<Queued<W>>,
    line_bytes: usize,
}

impl<W> Output<W> {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            limit,
            line: VecDeque::new(),
            line_bytes: 0,
        }
    }

    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes not yet written.
    pub(super) fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// The buffer to encode into. Only for an action [`Output::admit`] said `Write` to.
    pub(super) fn buf_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Where an action of `size` bytes (an upper bound) may go. The line keeps its order: once
    /// an action waits, later ones wait behind it even if they would fit.
    pub(super) fn admit(&self, size: usize) -> Admission {
        if size > self.limit {
            Admission::TooLarge
        } else if self.line.is_empty() && self.buf.len() + size <= self.limit {
            Admission::Write
        } else if self.line_bytes + size <= self.limit {
            Admission::Wait
        } else {
            Admission::Full
        }
    }

    pub(super) fn wait(&mut self, queued: Queued<W>) {
        self.line_bytes += queued.size;
        self.line.push_back(queued);
    }

    /// `written` bytes left the buffer.
    pub(super) fn handle_written(&mut self, written: usize) {
        let written = written.min(self.buf.len());
        self.buf.advance(written);
        if self.buf.is_empty() {
            // Lets the next reservation reuse the allocation from its start.
            self.buf.clear();
        }
    }

    /// The first waiting action, once the buffer has room for it.
    pub(super) fn next_fitting(&mut self) -> Option<Queued<W>> {
        let front = self.line.front()?;
        if self.buf.len() + front.size > self.limit {
            return None;
        }
        let queued = self.line.pop_front()?;
        self.line_bytes -= queued.size;
        Some(queued)
    }

    /// Removes the waiting actions whose waiter matches `remove` and hands each to `removed`.
    pub(super) fn remove_waiting_where(
        &mut self,
        mut remove: impl FnMut(&W) -> bool,
        mut removed: impl FnMut(W),
    ) {
        if self.line.is_empty() {
            return;
        }
        let mut kept = VecDeque::with_capacity(self.line.len());
        for queued in self.line.drain(..) {
            if remove(&queued.waiter) {
                self.line_bytes -= queued.size;
                removed(queued.waiter);
            } else {
                kept.push_back(queued);
            }
        }
        self.line = kept;
    }

    pub(super) fn for_each_waiting(&self, mut visit: impl FnMut(&W)) {
        for queued in &self.line {
            visit(&queued.waiter);
        }
    }

    /// Empties the line, handing back every waiter (the connection ended).
    pub(super) fn take_waiting(&mut self) -> impl Iterator<Item = W> + '_ {
        self.line_bytes = 0;
        self.line.drain(..).map(|queued| queued.waiter)
    }
}
