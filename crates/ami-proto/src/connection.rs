//! The client side of one AMI connection, without IO and without a clock: the policy of a
//! connection, driven by its IO layer.
//!
//! A [`Connection`] logs in (banner, then an optional MD5 `Challenge`, then `Login`), puts back
//! the event mask and filters of an earlier session, keeps every caller's deadline, pings the
//! server to notice a dead peer, gives a closing connection a grace period for its `Logoff`,
//! and holds the bytes to write in a capped buffer. Pairing replies with actions is the
//! [`Session`]'s job; this type drives one.
//!
//! Time is always passed in (`now`), never read, so every timeout is testable in memory. The
//! IO layer's loop, in the order quinn-proto documents for its own connection:
//!
//! 1. Write [`Connection::poll_transmit`]'s bytes to the socket and report how many went with
//!    [`Connection::handle_written`].
//! 2. Feed what the socket gave with [`Connection::handle_input`] (or
//!    [`Connection::handle_input_limited`]), the end of the stream or a transport error with
//!    [`Connection::handle_lost`], callers' actions with [`Connection::send_action`] and a
//!    wish to close with [`Connection::close`].
//! 3. Sleep until [`Connection::poll_timeout`], then call [`Connection::handle_timeout`].
//! 4. Drain [`Connection::poll_completion`] (each caller's reply, timeout or failure),
//!    [`Connection::poll_event`] and [`Connection::poll_notice`] (things worth a log line).
//! 5. Stop once [`Connection::end`] says why the connection ended (after draining once more).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use ami_proto::connection::{Caller, Connection, ConnectionConfig};
//! use ami_proto::Action;
//! use bytes::BytesMut;
//!
//! struct Label(&'static str);
//! impl Caller for Label {
//!     fn is_gone(&self) -> bool { false }
//! }
//!
//! let now = Instant::now();
//! let mut config = ConnectionConfig::new("admin", "amp111");
//! config.action_id_prefix = "c-".into();
//! let mut conn: Connection<Label> = Connection::new(config, now);
//! let mut input = BytesMut::from(&b"Asterisk Call Manager/11.0.0\r\n"[..]);
//! conn.handle_input(&mut input, now);
//! let login = b"Action: Login\r\nActionID: c-1\r\nUsername: admin\r\nSecret: amp111\r\n\r\n";
//! assert_eq!(conn.poll_transmit(), Some(&login[..]));
//! conn.handle_written(login.len());
//! input.extend_from_slice(b"Response: Success\r\nActionID: c-1\r\nMessage: Authentication accepted\r\n\r\n");
//! conn.handle_input(&mut input, now);
//! assert!(conn.is_established());
//!
//! conn.send_action(Action::new("Ping"), Label("mine"), Duration::from_secs(5), now).ok().unwrap();
//! let ping = b"Action: Ping\r\nActionID: c-2\r\n\r\n";
//! assert_eq!(conn.poll_transmit(), Some(&ping[..]));
//! conn.handle_written(ping.len());
//! // No answer: the deadline passes.
//! conn.handle_timeout(now + Duration::from_secs(5));
//! let done = conn.poll_completion().unwrap();
//! assert_eq!(done.payload.0, "mine");
//! assert!(done.result.is_err());
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::decode::{Banner, DecodeError, Decoder, Limits, Packet};
use crate::encode::Action;
use crate::message::Message;
use crate::session::{ActionFailure, Reply, Session, SessionLimits, StartError};

mod login;
mod output;

pub use login::{Auth, LoginError, Restore, md5_key};
use output::{Admission, Output, Queued};

/// What the connection may ask about a caller's payload.
pub trait Caller {
    /// The caller stopped waiting (its future was dropped): its action can be forgotten.
    fn is_gone(&self) -> bool;
}

/// How one connection logs in and keeps time. Build with [`ConnectionConfig::new`] and set
/// the public fields.
#[derive(Clone)]
pub struct ConnectionConfig {
    /// The AMI user.
    pub username: String,
    /// Its secret (never sent with [`Auth::Md5`]).
    pub secret: String,
    /// Plaintext or MD5 challenge login.
    pub auth: Auth,
    /// The `Events:` header of the `Login` (`off`, a mask); `None` sends none (all events).
    pub login_events: Option<String>,
    /// An event mask set on an earlier session, sent again after the login.
    pub restore_events: Option<String>,
    /// Filters added on an earlier session, added again after the login.
    pub restore_filters: Vec<String>,
    /// How long to wait for the banner, from [`Connection::new`].
    pub banner_timeout: Duration,
    /// How long the login exchange may take from the banner on; also the time allowed for the
    /// restore actions.
    pub login_timeout: Duration,
    /// Ping at this interval; a Ping unanswered by the next one means the peer is gone.
    pub keepalive: Option<Duration>,
    /// How long a closing connection waits for its `Logoff` reply.
    pub close_grace: Duration,
    /// At most this many bytes wait to be written; as many again may wait for room.
    pub max_output: usize,
    /// ActionIDs of the connection's own actions are this plus a counter.
    pub action_id_prefix: String,
    /// The decoder's bounds on one packet (a packet past them is skipped and told as a
    /// [`Notice::Skipped`]).
    pub decode_limits: Limits,
    /// Bounds on what one reply may gather (list items, `Queues` text).
    pub session_limits: SessionLimits,
}

impl ConnectionConfig {
    /// Plaintext login, all events, no restore, 10 s banner and login timeouts, keepalive
    /// every 30 s, a 2 s close grace, a 1 MiB output cap.
    pub fn new(username: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            secret: secret.into(),
            auth: Auth::Plain,
            login_events: None,
            restore_events: None,
            restore_filters: Vec::new(),
            banner_timeout: Duration::from_secs(10),
            login_timeout: Duration::from_secs(10),
            keepalive: Some(Duration::from_secs(30)),
            close_grace: Duration::from_secs(2),
            max_output: DEFAULT_MAX_OUTPUT,
            action_id_prefix: "amikit-".into(),
            decode_limits: Limits::default(),
            session_limits: SessionLimits::default(),
        }
    }
}

impl fmt::Debug for ConnectionConfig {
    // Hand-written so the secret never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .field("auth", &self.auth)
            .field("login_events", &self.login_events)
            .field("restore_events", &self.restore_events)
            .field("restore_filters", &self.restore_filters)
            .field("banner_timeout", &self.banner_timeout)
            .field("login_timeout", &self.login_timeout)
            .field("keepalive", &self.keepalive)
            .field("close_grace", &self.close_grace)
            .field("max_output", &self.max_output)
            .field("decode_limits", &self.decode_limits)
            .field("session_limits", &self.session_limits)
            .finish()
    }
}

/// The default output cap: thousands of ordinary actions, yet a bounded amount of memory for
/// a peer that stops reading.
pub const DEFAULT_MAX_OUTPUT: usize = 1024 * 1024;

/// Without keepalive, callers that went away are still swept this often.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// A caller's action, finished one way or another.
#[derive(Debug)]
pub struct Finished<T> {
    /// What the caller attached to the action.
    pub payload: T,
    /// The reply, or why there is none.
    pub result: Result<Reply, ActionError>,
}

/// Why a caller's action has no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// The server answered with an error, or the connection dropped under the action.
    #[error(transparent)]
    Failed(#[from] ActionFailure),
    /// No reply by the deadline; the action is forgotten and a late reply becomes an
    /// unmatched response.
    #[error("no reply within {0:?}")]
    TimedOut(Duration),
    /// The connection was closed on purpose before the reply came.
    #[error("connection closed")]
    Closed,
    /// The action waited for room and then could not be written.
    #[error("action refused: {0}")]
    Refused(StartError),
}

/// Why [`Connection::send_action`] did not take an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The login has not finished yet.
    #[error("not logged in yet")]
    NotLoggedIn,
    /// The connection is closing or has ended.
    #[error("connection closing")]
    Closing,
    /// The action cannot be encoded or its ActionID is taken.
    #[error(transparent)]
    Invalid(#[from] StartError),
    /// The output buffer and the line waiting for it are both full.
    #[error("output buffer full ({limit} bytes written-pending and as many waiting)")]
    Full {
        /// The configured cap.
        limit: usize,
    },
    /// The action alone is larger than the output cap.
    #[error("action of up to {size} bytes is larger than the {limit}-byte output cap")]
    TooLarge {
        /// The bound on its encoded size.
        size: usize,
        /// The configured cap.
        limit: usize,
    },
}

/// A refused action's payload, handed back with the reason.
#[derive(Debug)]
pub struct Refused<T> {
    /// What the caller attached.
    pub payload: T,
    /// Why.
    pub reason: SendError,
}

/// Why the transport went away, or the connection gave up on it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lost {
    /// The peer closed the stream.
    ClosedByPeer,
    /// A keepalive Ping stayed unanswered for a whole interval.
    KeepaliveUnanswered,
    /// A read or write failed; the IO layer's description.
    Transport(String),
}

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClosedByPeer => f.write_str("connection closed by the server"),
            Self::KeepaliveUnanswered => f.write_str("keepalive Ping unanswered"),
            Self::Transport(what) => f.write_str(what),
        }
    }
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum End {
    /// Closed on purpose: the `Logoff` was answered, its grace expired, or the stream ended
    /// while closing.
    Closed,
    /// The connection dropped after the login.
    Lost(Lost),
    /// The connection never became usable.
    LoginFailed(LoginError),
}

/// Things the IO layer may want to log; none changes what the connection does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// A packet broke a decoder limit and was skipped.
    Skipped(DecodeError),
    /// A setting could not be restored after the login.
    RestoreFailed {
        /// Which one.
        what: Restore,
        /// The server's answer, or that none came in time.
        error: String,
    },
    /// A keepalive Ping (or a Logoff) got an error response.
    InternalFailed {
        /// The action's name.
        action: &'static str,
        /// The error.
        error: ActionFailure,
    },
}

/// Who waits for an action.
enum Waiter<T> {
    Caller {
        payload: T,
        deadline: Option<Instant>,
        timeout: Duration,
    },
    Internal(Internal),
}

/// The connection's own actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Internal {
    Challenge,
    Login,
    Restore(Restore),
    Ping,
    Logoff,
}

impl Internal {
    fn name(self) -> &'static str {
        match self {
            Self::Challenge => "Challenge",
            Self::Login => "Login",
            Self::Restore(Restore::EventMask) => "Events",
            Self::Restore(Restore::Filter) => "Filter",
            Self::Ping => "Ping",
            Self::Logoff => "Logoff",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Waiting for the banner.
    Greeting,
    /// `Challenge` or `Login` sent.
    LoggingIn,
    /// Logged in; this many restore actions still unanswered.
    Restoring(usize),
    Established,
    /// `Logoff` sent.
    Closing,
    Ended(End),
}

/// One AMI client connection's state. `T` is carried with each caller's action and handed
/// back when it finishes (the async client keeps its reply channel there).
pub struct Connection<T> {
    config: ConnectionConfig,
    session: Session<Waiter<T>>,
    decoder: Decoder,
    output: Output<Waiter<T>>,
    phase: Phase,
    /// The latest time given by the IO layer.
    now: Instant,
    /// Banner, login, restore or close-grace deadline, by phase.
    phase_deadline: Option<Instant>,
    /// The earliest caller deadline, or later: it is moved when an earlier one arrives and
    /// recomputed only when it passes, so most actions cost one comparison.
    next_expiry: Option<Instant>,
    /// Next keepalive (or sweep) tick, once established.
    next_tick: Option<Instant>,
    ping_unanswered: bool,
    /// The connection's own actions waiting for a reply: while any is, completions are
    /// looked through at every input instead of when the IO layer asks.
    internal_in_flight: usize,
    /// Caller completions ready before the session's own queue (timeouts, refusals, and
    /// replies looked through for an internal one).
    ready: VecDeque<Finished<T>>,
    notices: VecDeque<Notice>,
    decode_errors: u64,
}

impl<T> fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("phase", &self.phase)
            .field("session", &self.session)
            .field("output", &self.output.pending().len())
            .finish()
    }
}

impl<T: Caller> Connection<T> {
    /// A connection whose transport has just opened at `now`: it waits for the banner.
    pub fn new(config: ConnectionConfig, now: Instant) -> Self {
        let session = Session::with_limits(config.action_id_prefix.clone(), config.session_limits);
        let output = Output::new(config.max_output);
        let decoder = Decoder::with_limits(config.decode_limits);
        Self {
            phase_deadline: now.checked_add(config.banner_timeout),
            config,
            session,
            decoder,
            output,
            phase: Phase::Greeting,
            now,
            next_expiry: None,
            next_tick: None,
            ping_unanswered: false,
            internal_in_flight: 0,
            ready: VecDeque::new(),
            notices: VecDeque::new(),
            decode_errors: 0,
        }
    }

    /// The server's banner, once received.
    pub fn banner(&self) -> Option<&Banner> {
        self.session.banner()
    }

    /// Logged in and settings restored: callers' actions are taken.
    pub fn is_established(&self) -> bool {
        self.phase == Phase::Established
    }

    /// Why the connection ended, once it has. Every caller has been (or is ready to be) told
    /// through [`Connection::poll_completion`].
    pub fn end(&self) -> Option<&End> {
        match &self.phase {
            Phase::Ended(end) => Some(end),
            _ => None,
        }
    }

    /// Responses that matched no waiting action so far (passed on as events).
    pub fn unmatched_responses(&self) -> u64 {
        self.session.stats().unmatched_responses
    }

    /// Packets skipped for breaking decoder limits so far.
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    /// Actions waiting for a reply.
    pub fn pending_len(&self) -> usize {
        self.session.pending_len()
    }

    /// The output cap in bytes.
    pub fn max_output(&self) -> usize {
        self.output.limit()
    }

    /// Bytes to write next, oldest first; `None` when there is nothing to send.
    pub fn poll_transmit(&self) -> Option<&[u8]> {
        let pending = self.output.pending();
        (!pending.is_empty()).then_some(pending)
    }

    /// `written` bytes of [`Connection::poll_transmit`] reached the transport. Room made this
    /// way lets actions waiting for it in.
    pub fn handle_written(&mut self, written: usize) {
        self.output.handle_written(written);
        while let Some(queued) = self.output.next_fitting() {
            self.write_now(queued.action, queued.waiter);
        }
    }

    /// Takes a caller's action: writes it, or lets it wait for room when the output buffer is
    /// full. It fails with [`ActionError::TimedOut`] if no reply came by `now + timeout`.
    pub fn send_action(
        &mut self,
        action: Action,
        payload: T,
        timeout: Duration,
        now: Instant,
    ) -> Result<(), Refused<T>> {
        let refuse = |payload, reason| Err(Refused { payload, reason });
        match self.phase {
            Phase::Established => {}
            Phase::Closing | Phase::Ended(_) => return refuse(payload, SendError::Closing),
            _ => return refuse(payload, SendError::NotLoggedIn),
        }
        self.now = now;
        let size = self.session.encoded_len_bound(&action);
        let limit = self.output.limit();
        let admission = self.output.admit(size);
        match admission {
            Admission::Full => return refuse(payload, SendError::Full { limit }),
            Admission::TooLarge => return refuse(payload, SendError::TooLarge { size, limit }),
            Admission::Write | Admission::Wait => {}
        }
        let deadline = now.checked_add(timeout);
        let waiter = Waiter::Caller {
            payload,
            deadline,
            timeout,
        };
        if admission == Admission::Wait {
            self.output.wait(Queued {
                action,
                waiter,
                size,
            });
        } else if let Err((error, waiter)) =
            self.session
                .try_send_action(action, waiter, self.output.buf_mut())
        {
            return match waiter {
                Waiter::Caller { payload, .. } => refuse(payload, SendError::Invalid(error)),
                // The session hands back the waiter it was given, a caller's.
                Waiter::Internal(_) => Ok(()),
            };
        }
        if let Some(deadline) = deadline
            && self.next_expiry.is_none_or(|at| deadline < at)
        {
            self.next_expiry = Some(deadline);
        }
        Ok(())
    }

    /// Starts closing: sends `Logoff` and ends when it is answered, when the stream ends, or
    /// after the close grace. A connection still logging in ends at once.
    pub fn close(&mut self, now: Instant) {
        self.now = now;
        match self.phase {
            Phase::Established => {
                self.phase = Phase::Closing;
                self.phase_deadline = now.checked_add(self.config.close_grace);
                // No keepalive while closing; a tick left due would fire again and again.
                self.next_tick = None;
                self.send_internal(Action::new("Logoff"), Internal::Logoff);
            }
            Phase::Closing | Phase::Ended(_) => {}
            _ => self.finish(End::Closed),
        }
    }

    /// Decodes every whole packet in `input` (received by `now`), leaving a partial one.
    pub fn handle_input(&mut self, input: &mut BytesMut, now: Instant) {
        self.handle_input_limited(input, usize::MAX, now);
    }

    /// Like [`Connection::handle_input`], but stops after `max_responses` responses so their
    /// callers can be answered before the rest is decoded. Returns true when it stopped early
    /// (whole packets may remain). Events do not count: a flood of them is decoded in one go.
    pub fn handle_input_limited(
        &mut self,
        input: &mut BytesMut,
        max_responses: usize,
        now: Instant,
    ) -> bool {
        self.now = now;
        if matches!(self.phase, Phase::Ended(_)) {
            return false;
        }
        if self.phase == Phase::Greeting && !self.handle_greeting(input) {
            return false;
        }
        let mut responses = 0;
        let stopped = loop {
            if responses == max_responses {
                break true;
            }
            match self.decoder.decode(input) {
                Ok(Some(packet)) => {
                    if matches!(&packet, Packet::Message(message) if message.is_response()) {
                        responses += 1;
                    }
                    self.session.handle_packet(packet);
                }
                Ok(None) => break false,
                Err(error) => {
                    self.decode_errors += 1;
                    self.notices.push_back(Notice::Skipped(error));
                }
            }
        };
        if self.internal_in_flight > 0 {
            self.look_through_completions();
        }
        stopped
    }

    /// Waits for the first packet. Returns true once it came (then the login has started).
    fn handle_greeting(&mut self, input: &mut BytesMut) -> bool {
        match self.decoder.decode(input) {
            Ok(None) => false,
            Ok(Some(packet)) => {
                // A proxy that sends no banner goes straight to packets: keep them.
                self.session.handle_packet(packet);
                self.start_login();
                true
            }
            Err(error) => {
                self.finish(End::LoginFailed(LoginError::Banner(error)));
                false
            }
        }
    }

    fn start_login(&mut self) {
        self.phase = Phase::LoggingIn;
        self.phase_deadline = self.now.checked_add(self.config.login_timeout);
        match self.config.auth {
            Auth::Md5 => self.send_internal(login::challenge_action(), Internal::Challenge),
            Auth::Plain => self.send_login(None),
        }
    }

    fn send_login(&mut self, challenge: Option<&str>) {
        let login = login::login_action(
            &self.config.username,
            &self.config.secret,
            challenge,
            self.config.login_events.as_deref(),
        );
        self.send_internal(login, Internal::Login);
    }

    fn start_restore(&mut self) {
        let actions = login::restore_actions(
            self.config.restore_events.as_deref(),
            &self.config.restore_filters,
        );
        if actions.is_empty() {
            self.become_established();
            return;
        }
        self.phase = Phase::Restoring(actions.len());
        self.phase_deadline = self.now.checked_add(self.config.login_timeout);
        for (action, what) in actions {
            self.send_internal(action, Internal::Restore(what));
        }
    }

    fn become_established(&mut self) {
        self.phase = Phase::Established;
        self.phase_deadline = None;
        self.next_tick = self.now.checked_add(self.tick_interval());
    }

    fn tick_interval(&self) -> Duration {
        self.config.keepalive.unwrap_or(SWEEP_INTERVAL)
    }

    /// The stream ended or failed. Whole packets already fed still count; a partial one is
    /// dropped.
    pub fn handle_lost(&mut self, lost: Lost) {
        match self.phase {
            Phase::Ended(_) => {}
            Phase::Closing => self.finish(End::Closed),
            Phase::Greeting if lost == Lost::ClosedByPeer => {
                self.finish(End::LoginFailed(LoginError::ClosedBeforeBanner));
            }
            Phase::Greeting | Phase::LoggingIn | Phase::Restoring(_) => {
                self.finish(End::LoginFailed(LoginError::ConnectionLost));
            }
            Phase::Established => self.finish(End::Lost(lost)),
        }
    }

    /// The earliest moment [`Connection::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if matches!(self.phase, Phase::Ended(_)) {
            return None;
        }
        [self.phase_deadline, self.next_expiry, self.next_tick]
            .into_iter()
            .flatten()
            .min()
    }

    /// Time has passed: fails the callers whose deadline is behind `now`, pings or gives up on
    /// a silent peer, and ends a login, restore or close that took too long.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.phase_deadline.is_some_and(|at| at <= now) {
            self.phase_deadline = None;
            match self.phase {
                Phase::Greeting => self.finish(End::LoginFailed(LoginError::BannerTimeout(
                    self.config.banner_timeout,
                ))),
                Phase::LoggingIn => self.finish(End::LoginFailed(LoginError::Timeout(
                    self.config.login_timeout,
                ))),
                Phase::Restoring(_) => self.give_up_restoring(),
                Phase::Closing => self.finish(End::Closed),
                Phase::Established | Phase::Ended(_) => {}
            }
        }
        if self.next_expiry.is_some_and(|at| at <= now) {
            self.expire_callers(now);
        }
        if self.next_tick.is_some_and(|at| at <= now) && self.phase == Phase::Established {
            self.tick(now);
        }
    }

    /// The restore actions took longer than the login timeout: forget them and go on.
    fn give_up_restoring(&mut self) {
        let mut given_up = Vec::new();
        let mut collect = |waiter| {
            if let Waiter::Internal(Internal::Restore(what)) = waiter {
                given_up.push(what);
            }
        };
        let is_restore =
            |waiter: &Waiter<T>| matches!(waiter, Waiter::Internal(Internal::Restore(_)));
        self.session.remove_pending_where(is_restore, &mut collect);
        self.output.remove_waiting_where(is_restore, &mut collect);
        for what in given_up {
            self.internal_in_flight -= 1;
            self.notices.push_back(Notice::RestoreFailed {
                what,
                error: format!("no reply within {:?}", self.config.login_timeout),
            });
        }
        self.become_established();
    }

    /// Tells every caller whose deadline has passed, forgets its action (a late reply is then
    /// passed on as an unmatched response), and finds the earliest deadline still ahead.
    fn expire_callers(&mut self, now: Instant) {
        let expired = |waiter: &Waiter<T>| matches!(waiter, Waiter::Caller { deadline: Some(at), .. } if *at <= now);
        let ready = &mut self.ready;
        let mut tell = |waiter| {
            if let Waiter::Caller {
                payload, timeout, ..
            } = waiter
            {
                ready.push_back(Finished {
                    payload,
                    result: Err(ActionError::TimedOut(timeout)),
                });
            }
        };
        self.session.remove_pending_where(expired, &mut tell);
        self.output.remove_waiting_where(expired, &mut tell);
        let mut earliest: Option<Instant> = None;
        let mut visit = |waiter: &Waiter<T>| {
            if let Waiter::Caller {
                deadline: Some(at), ..
            } = waiter
            {
                earliest = Some(earliest.map_or(*at, |e| e.min(*at)));
            }
        };
        self.session.for_each_pending(&mut visit);
        self.output.for_each_waiting(&mut visit);
        self.next_expiry = earliest;
    }

    /// The keepalive (or sweep) tick: forgets callers that went away; with keepalive on, ends
    /// the connection if the last Ping is still unanswered, else sends the next.
    fn tick(&mut self, now: Instant) {
        self.next_tick = now.checked_add(self.tick_interval());
        let gone = |waiter: &Waiter<T>| matches!(waiter, Waiter::Caller { payload, .. } if payload.is_gone());
        self.session.remove_pending_where(gone, drop);
        self.output.remove_waiting_where(gone, drop);
        if self.config.keepalive.is_none() {
            return;
        }
        if self.ping_unanswered {
            self.finish(End::Lost(Lost::KeepaliveUnanswered));
            return;
        }
        // Counted as sent even while it waits for room: a buffer the peer leaves full for a
        // whole interval is as dead as a Ping left unanswered.
        self.ping_unanswered = true;
        self.send_internal(Action::new("Ping"), Internal::Ping);
    }

    /// Writes (or queues) one of the connection's own actions; they are never refused for
    /// room, being few and small.
    fn send_internal(&mut self, action: Action, internal: Internal) {
        self.internal_in_flight += 1;
        let size = self.session.encoded_len_bound(&action);
        let waiter = Waiter::Internal(internal);
        if self.output.admit(size) == Admission::Write {
            self.write_now(action, waiter);
        } else {
            self.output.wait(Queued {
                action,
                waiter,
                size,
            });
        }
    }

    fn write_now(&mut self, action: Action, waiter: Waiter<T>) {
        if let Err((error, waiter)) =
            self.session
                .try_send_action(action, waiter, self.output.buf_mut())
        {
            match waiter {
                Waiter::Caller { payload, .. } => self.ready.push_back(Finished {
                    payload,
                    result: Err(ActionError::Refused(error)),
                }),
                Waiter::Internal(internal) => {
                    self.internal_in_flight -= 1;
                    self.on_internal_refused(internal, error);
                }
            }
        }
    }

    /// Only login actions carry caller-chosen values (the username); the rest are constants.
    fn on_internal_refused(&mut self, internal: Internal, error: StartError) {
        match internal {
            Internal::Challenge | Internal::Login => {
                let error = match error {
                    StartError::Encode(error) => LoginError::Encode(error),
                    StartError::DuplicateActionId(_) => LoginError::ConnectionLost,
                };
                self.finish(End::LoginFailed(error));
            }
            Internal::Restore(what) => self.restored(what, Err(error.to_string())),
            Internal::Ping => self.ping_unanswered = false,
            Internal::Logoff => self.finish(End::Closed),
        }
    }

    /// Moves the session's completions along: the connection's own are acted on, callers'
    /// wait in `ready` in order.
    fn look_through_completions(&mut self) {
        while let Some(done) = self.session.poll_completion() {
            match done.payload {
                Waiter::Caller { payload, .. } => self.ready.push_back(Finished {
                    payload,
                    result: done.result.map_err(ActionError::Failed),
                }),
                Waiter::Internal(internal) => {
                    self.internal_in_flight -= 1;
                    self.on_internal_done(internal, done.result);
                }
            }
        }
    }

    fn on_internal_done(&mut self, internal: Internal, result: Result<Reply, ActionFailure>) {
        match internal {
            Internal::Challenge => match result {
                Ok(reply) => match login::challenge_of(&reply) {
                    Some(challenge) => self.send_login(Some(&challenge)),
                    None => self.finish(End::LoginFailed(LoginError::NoChallenge)),
                },
                Err(failure) => self.login_refused(failure),
            },
            Internal::Login => match result {
                Ok(_) => self.start_restore(),
                Err(failure) => self.login_refused(failure),
            },
            Internal::Restore(what) => {
                self.restored(what, result.map(drop).map_err(|e| e.to_string()))
            }
            Internal::Ping => {
                // Any answer, even an error, proves the connection is alive.
                self.ping_unanswered = false;
                if let Err(error) = result {
                    self.notices.push_back(Notice::InternalFailed {
                        action: internal.name(),
                        error,
                    });
                }
            }
            Internal::Logoff => self.finish(End::Closed),
        }
    }

    fn login_refused(&mut self, failure: ActionFailure) {
        let error = match failure {
            ActionFailure::Server { message, .. } => LoginError::AuthFailed(message),
            ActionFailure::Command { output, .. } => {
                LoginError::AuthFailed(output.trim_end().to_owned())
            }
            ActionFailure::ConnectionLost => LoginError::ConnectionLost,
            // A login is no list: a limit broken here means a broken peer.
            other => LoginError::AuthFailed(other.to_string()),
        };
        self.finish(End::LoginFailed(error));
    }

    fn restored(&mut self, what: Restore, result: Result<(), String>) {
        if let Err(error) = result {
            self.notices
                .push_back(Notice::RestoreFailed { what, error });
        }
        if let Phase::Restoring(left) = &mut self.phase {
            *left -= 1;
            if *left == 0 {
                self.become_established();
            }
        }
    }

    /// Ends the connection: every caller still waiting is told (`Closed` when closing on
    /// purpose, else connection lost), and no timer is left.
    fn finish(&mut self, end: End) {
        let closed = end == End::Closed;
        self.phase = Phase::Ended(end);
        self.phase_deadline = None;
        self.next_expiry = None;
        self.next_tick = None;
        self.session.handle_close();
        self.internal_in_flight = 0;
        let lost = |closed: bool| {
            if closed {
                ActionError::Closed
            } else {
                ActionError::Failed(ActionFailure::ConnectionLost)
            }
        };
        while let Some(done) = self.session.poll_completion() {
            if let Waiter::Caller { payload, .. } = done.payload {
                let result = match done.result {
                    Err(ActionFailure::ConnectionLost) => Err(lost(closed)),
                    other => other.map_err(ActionError::Failed),
                };
                self.ready.push_back(Finished { payload, result });
            }
        }
        let waiting: Vec<_> = self.output.take_waiting().collect();
        for waiter in waiting {
            if let Waiter::Caller { payload, .. } = waiter {
                self.ready.push_back(Finished {
                    payload,
                    result: Err(lost(closed)),
                });
            }
        }
    }

    /// The next caller's action that finished: a reply, a server error, a timeout, or the end
    /// of the connection.
    pub fn poll_completion(&mut self) -> Option<Finished<T>> {
        if let Some(done) = self.ready.pop_front() {
            return Some(done);
        }
        while let Some(done) = self.session.poll_completion() {
            match done.payload {
                Waiter::Caller { payload, .. } => {
                    return Some(Finished {
                        payload,
                        result: done.result.map_err(ActionError::Failed),
                    });
                }
                Waiter::Internal(internal) => {
                    self.internal_in_flight -= 1;
                    self.on_internal_done(internal, done.result);
                    if let Some(done) = self.ready.pop_front() {
                        return Some(done);
                    }
                }
            }
        }
        None
    }

    /// The next event (or unmatched response), in arrival order. Events that arrive during the
    /// login are kept: the IO layer decides when subscribers may see them.
    pub fn poll_event(&mut self) -> Option<Message> {
        self.session.poll_event()
    }

    /// Moves every pending event into `out` at once (cheaper than one `poll_event` each).
    pub fn drain_events_into(&mut self, out: &mut Vec<Message>) {
        self.session.drain_events_into(out);
    }

    /// The next thing worth a log line.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }
}

#[cfg(test)]
mod tests;
