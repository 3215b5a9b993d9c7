//! Running a logged-in connection: reads, writes, callers' commands and the one timer, until
//! the connection ends.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use ami_proto::connection::{End, Lost, Refused};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{Command, Conn, MIN_READ, Waiter, refusal};
use bytes::BytesMut;

/// Responses decoded before the connection task lets callers run. Handing replies out in slices
/// lets their callers send the next actions while the rest are decoded, so the server works on
/// new actions while this side works on old replies, instead of the two taking turns.
const DECODE_SLICE: usize = 8;

/// Turns that found input while output waited, before the output is written anyway. Writing
/// once the input has run dry makes each write carry every action its callers sent meanwhile;
/// the bound keeps a flood of events from holding actions back for long.
const INPUT_TURNS_BEFORE_WRITE: u32 = 8;

/// Commands taken from the queue in one go before the socket gets a turn.
const COMMAND_BATCH: usize = 256;

/// How a logged-in connection ended.
pub(super) enum Exit {
    Dropped(String),
    Closed(Option<oneshot::Sender<()>>),
}

impl Conn {
    /// The main loop, until the connection ends. Each turn does, in this order, whatever is
    /// ready without waiting: due timeouts, input (a slice of replies, then letting their
    /// callers run), the commands those callers queued, and the output, which waits while
    /// input keeps coming (up to `INPUT_TURNS_BEFORE_WRITE` turns). Only a turn that found
    /// nothing waits, for whichever comes first. No kind of work can starve another.
    pub(super) async fn run(&mut self, commands: &mut mpsc::Receiver<Command>) -> Exit {
        // One timer for everything the connection waits for (the earliest action deadline,
        // keepalive, the logoff grace): moved only when that earliest moment changes.
        let timer = tokio::time::sleep(Duration::MAX);
        tokio::pin!(timer);
        let mut armed: Option<std::time::Instant> = None;
        let mut commands_open = true;
        let mut input_turns_unwritten = 0;
        loop {
            if let Some(exit) = self.exit() {
                return exit;
            }
            let next = self.connection.poll_timeout();
            if next != armed {
                if let Some(at) = next {
                    timer.as_mut().reset(Instant::from_std(at));
                }
                armed = next;
            }
            let mut progress = false;
            if armed.is_some() && poll_now(timer.as_mut()).await.is_some() {
                // Fired: re-armed from `poll_timeout` at the top of the loop.
                armed = None;
                self.handle_timer();
                progress = true;
            }
            let mut had_input = true;
            if self.more_input {
                // Not reading while decoded-but-unhandled input remains keeps `inbuf` bounded.
                self.handle_more_input().await;
            } else if let Some(read) = poll_now(self.reader.read_buf(&mut self.inbuf)).await {
                self.handle_read(read).await;
            } else {
                had_input = false;
            }
            progress |= had_input;
            if commands_open && let Some(command) = poll_now(commands.recv()).await {
                commands_open = self.take_commands(command, commands);
                progress = true;
            }
            if self.connection.poll_transmit().is_some() {
                if had_input && input_turns_unwritten < INPUT_TURNS_BEFORE_WRITE {
                    input_turns_unwritten += 1;
                } else if let Some(written) = self.write_without_waiting().await {
                    input_turns_unwritten = 0;
                    self.handle_write(written).await;
                    progress = true;
                }
            }
            if progress {
                continue;
            }
            let writing = self.connection.poll_transmit().is_some();
            tokio::select! {
                read = self.reader.read_buf(&mut self.inbuf), if !self.more_input => {
                    self.handle_read(read).await;
                }
                written = self.writer.write(self.connection.poll_transmit().unwrap_or_default()), if writing => {
                    self.handle_write(written).await;
                }
                command = commands.recv(), if commands_open => {
                    commands_open = self.take_commands(command, commands);
                }
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    self.handle_timer();
                }
            }
        }
    }

    /// How the connection ended, once it has, with everything it had for callers handed out.
    fn exit(&mut self) -> Option<Exit> {
        let exit = match self.connection.end()? {
            End::Closed => Exit::Closed(self.close_ack.take()),
            End::Lost(lost) => Exit::Dropped(lost.to_string()),
            End::LoginFailed(error) => Exit::Dropped(error.to_string()),
            // A newer kind of end: still an end, told in its own words.
            other => Exit::Dropped(format!("{other:?}")),
        };
        self.deliver();
        Some(exit)
    }

    fn handle_timer(&mut self) {
        self.connection.handle_timeout(Instant::now().into_std());
        self.deliver();
    }

    async fn handle_more_input(&mut self) {
        let before = self.events_received();
        self.handle_input_slice();
        let_others_run(self.events_received() != before).await;
    }

    async fn handle_read(&mut self, read: std::io::Result<usize>) {
        match read {
            Ok(0) => self.lost(Lost::ClosedByPeer),
            Ok(n) => {
                if n >= self.read_size && self.read_size < self.max_read {
                    self.read_size *= 2;
                }
                let before = self.events_received();
                self.handle_input_slice();
                if self.inbuf.capacity() - self.inbuf.len() < self.read_size / 2 {
                    self.inbuf.reserve(self.read_size);
                }
                let dispatched = self.events_received() != before;
                if self.more_input || dispatched {
                    let_others_run(dispatched).await;
                }
            }
            Err(error) => self.lost(Lost::Transport(format!("read error: {error}"))),
        }
    }

    /// One write attempt that returns `None` instead of waiting when the socket is full (the
    /// task is then woken when it has room, like any pending write).
    async fn write_without_waiting(&mut self) -> Option<std::io::Result<usize>> {
        let bytes = self.connection.poll_transmit().unwrap_or_default();
        poll_now(self.writer.write(bytes)).await
    }

    async fn handle_write(&mut self, written: std::io::Result<usize>) {
        match written {
            Ok(n) if n > 0 => {
                self.connection.handle_written(n);
                if self.connection.poll_transmit().is_none()
                    && let Err(error) = self.writer.flush().await
                {
                    self.lost(Lost::Transport(format!("write error: {error}")));
                }
                // Room made lets waiting actions in; one that cannot be written now has a
                // caller to tell.
                self.deliver();
            }
            Ok(_) => self.lost(Lost::Transport("write error: wrote nothing".into())),
            Err(error) => self.lost(Lost::Transport(format!("write error: {error}"))),
        }
    }

    fn events_received(&self) -> u64 {
        self.shared.hub.events_received.load(Ordering::Relaxed)
    }

    /// Decodes up to a slice of responses and hands out what completed.
    fn handle_input_slice(&mut self) {
        self.more_input = self.connection.handle_input_limited(
            &mut self.inbuf,
            DECODE_SLICE,
            Instant::now().into_std(),
        );
        if self.inbuf.is_empty() && self.inbuf.capacity() > self.max_read {
            // Let a burst's big buffer go once it is no longer needed.
            self.inbuf = BytesMut::with_capacity(MIN_READ);
        }
        self.deliver();
    }

    /// The stream ended or failed. Bytes already received still count: a complete packet is
    /// never thrown away.
    fn lost(&mut self, lost: Lost) {
        self.connection
            .handle_input(&mut self.inbuf, Instant::now().into_std());
        self.more_input = false;
        self.connection.handle_lost(lost);
        self.deliver();
    }

    /// Takes `first` and whatever else is queued, up to a batch. Returns false once the queue
    /// has closed (every handle is gone).
    fn take_commands(
        &mut self,
        first: Option<Command>,
        commands: &mut mpsc::Receiver<Command>,
    ) -> bool {
        let mut next = first;
        let mut taken = 0;
        // One clock read for the whole batch of actions taken here.
        let now = Instant::now().into_std();
        loop {
            match next {
                None => {
                    self.connection.close(now);
                    return false;
                }
                Some(Command::Action {
                    action,
                    reply,
                    timeout,
                }) => match self
                    .connection
                    .send_action(action, Waiter(reply), timeout, now)
                {
                    Ok(()) => {
                        self.shared.counters.actions.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(Refused { payload, reason }) => {
                        let _ = payload.0.send(Err(refusal(reason)));
                    }
                },
                Some(Command::Close { done }) => {
                    if self.close_ack.is_none() && self.connection.is_established() {
                        self.connection.close(now);
                        self.close_ack = Some(done);
                    } else {
                        let _ = done.send(());
                    }
                }
            }
            taken += 1;
            if taken >= COMMAND_BATCH {
                return true;
            }
            match commands.try_recv() {
                Ok(command) => next = Some(command),
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => next = None,
            }
        }
    }
}

/// Polls `future` once: its output if ready, `None` instead of waiting (the task is then woken
/// when it is ready, as for any pending future).
async fn poll_now<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| match future.as_mut().poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// Lets the callers and subscribers just handed something run before reading more (never
/// waiting for them). After events, subscribers get the thread until they have drained (tokio's
/// `yield_now` defers this task until nothing else is ready): on a single-threaded runtime a
/// flood would otherwise grow their queues by a read's worth at every turn. After replies alone,
/// a plain turn at the back of the queue is enough and much cheaper.
async fn let_others_run(events_dispatched: bool) {
    if events_dispatched {
        tokio::task::yield_now().await;
    } else {
        let_woken_tasks_run().await;
    }
}

/// Lets the tasks already woken (callers handed a reply, subscribers handed events) run before
/// this one continues. `tokio::task::yield_now` would do it too, but it defers the wake-up
/// until the runtime next polls the I/O driver: one extra `epoll_wait` per yield, which at
/// hundreds of thousands of replies a second was a tenth of the client's CPU.
async fn let_woken_tasks_run() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        // Woken while running, the task goes to the back of the run queue.
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await;
}
