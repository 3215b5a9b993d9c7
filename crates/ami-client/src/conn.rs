//! The IO pump: moves bytes between one socket and an [`ami_proto::connection::Connection`],
//! which holds every policy (login, deadlines, keepalive, logoff, the output cap), and hands
//! each caller its reply on its own oneshot and each batch of events to the hub.
//!
//! Split by job: [`establish`] opens the socket and drives the login, [`drive`] runs a logged-in
//! connection, [`reconnect`] keeps one alive across drops and answers callers while it is down.

mod drive;
mod establish;
mod reconnect;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ami_proto::Message;
use ami_proto::connection::{ActionError, Caller, Connection, Finished, Notice, SendError};
use ami_proto::session::{ActionFailure, Reply};
use bytes::BytesMut;
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

use crate::error::{Error, Kind, Result};
use crate::events::{ConnectionState, EventItem, Hub};
use crate::transport::{Reader, Writer};

pub(crate) use reconnect::{Role, driver};

pub(crate) type ReplyTx = oneshot::Sender<Result<Reply>>;

/// A request from a client handle.
pub(crate) enum Command {
    Action {
        action: ami_proto::Action,
        reply: ReplyTx,
        timeout: std::time::Duration,
    },
    Close {
        done: oneshot::Sender<()>,
    },
}

/// A caller waiting for its action's reply.
pub(crate) struct Waiter(ReplyTx);

impl Caller for Waiter {
    fn is_gone(&self) -> bool {
        self.0.is_closed()
    }
}

/// Event settings changed after login, restored after every reconnect.
#[derive(Debug, Default, Clone)]
pub(crate) struct Settings {
    pub(crate) events: Option<String>,
    pub(crate) filters: Vec<String>,
}

/// Counters shared by the handles and the tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) actions: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) connection_lost: AtomicU64,
    pub(crate) unmatched_responses: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
}

/// What one connection task shares with the handles.
pub(crate) struct Shared {
    pub(crate) hub: Arc<Hub>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) settings: Arc<Mutex<Settings>>,
    pub(crate) ami_version: Arc<Mutex<String>>,
}

const MIN_READ: usize = 4 * 1024;
/// The largest read on a current-thread runtime. Larger reads measured slower there.
const MAX_READ: usize = 64 * 1024;
/// The largest read on a multi-thread runtime: each read's events are handed to subscribers on
/// other workers, and each hand-off costs wake-ups in the kernel (futex, the I/O driver's
/// eventfd, epoll), so fewer, larger reads deliver more (+20-35% events/s against the load
/// server, measured in six interleaved rounds; docs/performance.md).
const MAX_READ_MULTI_THREAD: usize = 256 * 1024;

/// The largest read for the runtime this task runs on.
fn max_read() -> usize {
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => MAX_READ_MULTI_THREAD,
        _ => MAX_READ,
    }
}

/// One socket and the connection state it carries.
pub(crate) struct Conn {
    reader: Reader,
    writer: Writer,
    connection: Connection<Waiter>,
    inbuf: BytesMut,
    read_size: usize,
    /// How large `read_size` may grow ([`max_read`]).
    max_read: usize,
    batch: Vec<Message>,
    /// While logging in, events are held so subscribers see `Connected` before them.
    holding: bool,
    /// Unmatched responses already added to the shared counter.
    unmatched_reported: u64,
    /// Whole packets may still be waiting in `inbuf` (a slice limit was reached).
    more_input: bool,
    /// Who asked to close, told once the connection has ended.
    close_ack: Option<oneshot::Sender<()>>,
    shared: Arc<Shared>,
}

impl Conn {
    fn ami_version(&self) -> String {
        self.connection
            .banner()
            .map(|banner| banner.version().into_owned())
            .unwrap_or_default()
    }

    /// Publishes the new connection: version, then `Connected`, then the events held during
    /// login, in that order.
    pub(crate) fn announce(&mut self) {
        let version = self.ami_version();
        *self
            .shared
            .ami_version
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = version.clone();
        info!(ami_version = %version, "connected");
        self.shared
            .hub
            .connection_state(ConnectionState::Connected {
                ami_version: version,
            });
        self.holding = false;
        self.deliver();
    }

    /// Hands out what the connection has ready: each finished action to its caller, the
    /// notices to the log, the events (once announced) to the hub.
    fn deliver(&mut self) {
        while let Some(Finished { payload, result }) = self.connection.poll_completion() {
            let result = result.map_err(|error| self.action_error(error));
            // The caller may have gone: nothing to do then.
            let _ = payload.0.send(result);
        }
        while let Some(notice) = self.connection.poll_notice() {
            self.log_notice(notice);
        }
        let unmatched = self.connection.unmatched_responses();
        if unmatched > self.unmatched_reported {
            self.shared
                .counters
                .unmatched_responses
                .fetch_add(unmatched - self.unmatched_reported, Ordering::Relaxed);
            self.unmatched_reported = unmatched;
        }
        if self.holding {
            return;
        }
        self.connection.drain_events_into(&mut self.batch);
        if !self.batch.is_empty() {
            self.shared.hub.dispatch(&mut self.batch);
        }
    }

    fn action_error(&self, error: ActionError) -> Error {
        match error {
            ActionError::Failed(failure) => {
                if failure == ActionFailure::ConnectionLost {
                    self.shared
                        .counters
                        .connection_lost
                        .fetch_add(1, Ordering::Relaxed);
                }
                Error::from_failure(failure)
            }
            ActionError::TimedOut(after) => Error::new(Kind::ActionTimeout(after)),
            ActionError::Closed => Error::new(Kind::Closed),
            ActionError::Refused(error) => Error::new(Kind::Refused(error)),
            other => Error::new(Kind::Protocol(other.to_string())),
        }
    }

    fn log_notice(&self, notice: Notice) {
        match notice {
            Notice::Skipped(error) => {
                self.shared
                    .counters
                    .decode_errors
                    .fetch_add(1, Ordering::Relaxed);
                warn!(%error, "skipped a packet");
                // Subscribers are told, not left to guess from a gap in the events.
                self.shared.hub.broadcast(&EventItem::Skipped(error));
            }
            Notice::RestoreFailed { what, error } => {
                warn!(%error, "could not restore the {what}");
            }
            Notice::InternalFailed { action, error } => {
                debug!(action, %error, "internal action failed");
            }
            other => debug!(?other, "connection notice"),
        }
    }
}

/// The error a refused action's caller gets.
fn refusal(reason: SendError) -> Error {
    match reason {
        SendError::NotLoggedIn => Error::new(Kind::NotConnected),
        SendError::Closing => Error::new(Kind::Closed),
        SendError::Invalid(error) => Error::new(Kind::Refused(error)),
        full @ (SendError::Full { .. } | SendError::TooLarge { .. }) => {
            Error::new(Kind::Overloaded(full))
        }
        other => Error::new(Kind::Protocol(other.to_string())),
    }
}
