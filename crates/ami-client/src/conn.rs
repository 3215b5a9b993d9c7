//! The connection task: owns the socket, a [`Session`] and a [`Decoder`]; takes actions from
//! the client handles over a channel, answers each caller on its own oneshot, and hands events
//! to the hub. Reconnects with back-off when the connection drops.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ami_proto::session::{ActionFailure, Reply, Session};
use ami_proto::{Action, Decoder, Message, Packet};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument, debug, info, warn};

use crate::config::{Auth, Config, Events, random_u64};
use crate::error::{Error, Kind, Result};
use crate::events::{ConnectionState, Hub};
use crate::transport::{self, Reader, Writer};

pub(crate) type ReplyTx = oneshot::Sender<Result<Reply>>;

/// A request from a client handle.
pub(crate) enum Command {
    Action {
        action: Action,
        reply: ReplyTx,
        timeout: Duration,
    },
    Close {
        done: oneshot::Sender<()>,
    },
}

/// Who is waiting for an action.
#[derive(Debug)]
pub(crate) enum Waiter {
    Caller {
        reply: ReplyTx,
        /// When the caller is told [`Kind::ActionTimeout`] and the action forgotten.
        deadline: Instant,
        timeout: Duration,
    },
    Internal,
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
const MAX_READ: usize = 64 * 1024;
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Responses decoded before the connection task lets callers run. Handing replies out in slices
/// lets their callers send the next actions while the rest are decoded, so the server works on
/// new actions while this side works on old replies, instead of the two taking turns.
const DECODE_SLICE: usize = 8;

pub(crate) struct Conn {
    reader: Reader,
    writer: Writer,
    session: Session<Waiter>,
    decoder: Decoder,
    inbuf: BytesMut,
    read_size: usize,
    outbuf: BytesMut,
    batch: Vec<Message>,
    internal: Vec<(String, std::result::Result<Reply, ActionFailure>)>,
    /// While logging in, events are held so subscribers see `Connected` before them.
    holding: bool,
    /// Unmatched responses already added to the shared counter.
    unmatched_reported: u64,
    /// Whole packets may still be waiting in `inbuf` (a slice limit was reached).
    more_input: bool,
    shared: Arc<Shared>,
}

enum Exit {
    Dropped(String),
    Closed(Option<oneshot::Sender<()>>),
}

impl Conn {
    /// Connects, reads the banner, logs in, restores settings.
    pub(crate) async fn establish(
        config: &Config,
        events: &Events,
        prefix: &str,
        shared: Arc<Shared>,
    ) -> Result<Self> {
        let (reader, writer) =
            tokio::time::timeout(config.connect_timeout, transport::open(config))
                .await
                .map_err(|_| Error::new(Kind::ConnectTimeout(config.connect_timeout)))??;
        let mut conn = Self {
            reader,
            writer,
            session: Session::new(format!("{prefix}k")),
            decoder: Decoder::new(),
            inbuf: BytesMut::with_capacity(MIN_READ),
            read_size: MIN_READ,
            outbuf: BytesMut::new(),
            batch: Vec::new(),
            internal: Vec::new(),
            holding: true,
            unmatched_reported: 0,
            more_input: false,
            shared,
        };
        tokio::time::timeout(config.connect_timeout, conn.read_banner())
            .await
            .map_err(|_| Error::new(Kind::ConnectTimeout(config.connect_timeout)))??;
        let login_timeout = || Error::new(Kind::LoginTimeout(config.login_timeout));
        tokio::time::timeout(config.login_timeout, conn.login(config, events))
            .await
            .map_err(|_| login_timeout())?
            // The exchange's own deadline is the login timeout too: say which one expired.
            .map_err(|error| {
                if error.is_timeout() {
                    login_timeout()
                } else {
                    error
                }
            })?;
        let settings = conn
            .shared
            .settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(mask) = settings.events {
            let action = Action::new("Events").header("EventMask", mask);
            if let Err(error) = conn.roundtrip(action, config.login_timeout).await {
                warn!(%error, "could not restore the event mask");
            }
        }
        for filter in settings.filters {
            let action = Action::new("Filter")
                .header("Operation", "Add")
                .header("Filter", filter);
            if let Err(error) = conn.roundtrip(action, config.login_timeout).await {
                warn!(%error, "could not restore an event filter");
            }
        }
        Ok(conn)
    }

    fn ami_version(&self) -> String {
        self.session
            .banner()
            .map(|banner| banner.version().into_owned())
            .unwrap_or_default()
    }

    async fn read_banner(&mut self) -> Result<()> {
        loop {
            if self.fill().await? == 0 {
                return Err(Error::new(Kind::Protocol(
                    "connection closed before the banner".into(),
                )));
            }
            match self.decoder.decode(&mut self.inbuf) {
                Ok(Some(packet)) => {
                    // A proxy that sends no banner goes straight to packets: keep them.
                    let is_banner = matches!(packet, Packet::Banner(_));
                    self.session.handle_packet(packet);
                    if !is_banner {
                        self.process_input();
                    }
                    return Ok(());
                }
                Ok(None) => {}
                Err(error) => return Err(Error::new(Kind::Protocol(error.to_string()))),
            }
        }
    }

    async fn login(&mut self, config: &Config, events: &Events) -> Result<()> {
        let mut login = Action::new("Login").header("Username", config.username.as_str());
        if config.auth == Auth::Md5 {
            let challenge = Action::new("Challenge").header("AuthType", "MD5");
            let reply = self
                .roundtrip(challenge, config.login_timeout)
                .await
                .map_err(login_error)?;
            let challenge = reply
                .response()
                .and_then(|response| response.get("Challenge"))
                .ok_or_else(|| Error::new(Kind::Protocol("no Challenge in reply".into())))?
                .into_owned();
            login.push("AuthType", "MD5");
            login.push("Key", md5_key(&challenge, &config.secret));
        } else {
            login.push("Secret", config.secret.as_str());
        }
        if *events != Events::On {
            login.push("Events", events.header_value());
        }
        self.roundtrip(login, config.login_timeout)
            .await
            .map_err(login_error)?;
        Ok(())
    }

    /// Sends an internal action and waits for its reply (used before the main loop runs).
    async fn roundtrip(&mut self, action: Action, limit: Duration) -> Result<Reply> {
        let id = self
            .session
            .start_action(action, Waiter::Internal, &mut self.outbuf)
            .map_err(|e| Error::new(Kind::Protocol(e.to_string())))?;
        let deadline = Instant::now() + limit;
        self.writer.write_all(&self.outbuf).await?;
        self.writer.flush().await?;
        self.outbuf.clear();
        loop {
            if let Some(index) = self.internal.iter().position(|(done, _)| *done == id) {
                let (_, result) = self.internal.swap_remove(index);
                return result.map_err(Error::from_failure);
            }
            let read = tokio::time::timeout_at(deadline, self.fill())
                .await
                .map_err(|_| Error::new(Kind::ActionTimeout(limit)))??;
            if read == 0 {
                self.session.handle_close();
                self.process_output();
                return Err(Error::new(Kind::ConnectionLost));
            }
            self.process_input();
        }
    }

    /// One read into the input buffer, sized to the traffic: reads that fill the buffer double
    /// it (an event flood needs few, large reads), and an idle connection keeps only 4 KiB.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.inbuf.capacity() - self.inbuf.len() < self.read_size / 2 {
            self.inbuf.reserve(self.read_size);
        }
        let read = self.reader.read_buf(&mut self.inbuf).await?;
        if read >= self.read_size && self.read_size < MAX_READ {
            self.read_size *= 2;
        } else if read < self.read_size / 8 && self.read_size > MIN_READ {
            self.read_size /= 2;
        }
        Ok(read)
    }

    fn process_input(&mut self) {
        self.process_input_slice(usize::MAX);
    }

    /// Decodes until `limit` responses have been seen, then hands out what completed. Returns
    /// true when the limit stopped it, so more packets may be waiting. Events do not count: a
    /// flood of them is decoded in one go, which is what keeps event throughput high.
    fn process_input_slice(&mut self, limit: usize) -> bool {
        let mut responses = 0;
        loop {
            if responses == limit {
                self.process_output();
                return true;
            }
            match self.decoder.decode(&mut self.inbuf) {
                Ok(Some(packet)) => {
                    if matches!(&packet, Packet::Message(message) if message.is_response()) {
                        responses += 1;
                    }
                    self.session.handle_packet(packet);
                }
                Ok(None) => break,
                Err(error) => {
                    self.shared
                        .counters
                        .decode_errors
                        .fetch_add(1, Ordering::Relaxed);
                    warn!(%error, "skipped a packet");
                }
            }
        }
        if self.inbuf.is_empty() && self.inbuf.capacity() > MAX_READ {
            // Let a burst's big buffer go once it is no longer needed.
            self.inbuf = BytesMut::with_capacity(MIN_READ);
        }
        self.process_output();
        false
    }

    fn process_output(&mut self) {
        while let Some(done) = self.session.poll_completion() {
            match done.payload {
                Waiter::Caller { reply, .. } => {
                    if matches!(done.result, Err(ActionFailure::ConnectionLost)) {
                        self.shared
                            .counters
                            .connection_lost
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    // The caller may have timed out and gone: nothing to do then.
                    let _ = reply.send(done.result.map_err(Error::from_failure));
                }
                Waiter::Internal => self.internal.push((done.action_id, done.result)),
            }
        }
        let unmatched = self.session.stats().unmatched_responses;
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
        self.session.drain_events_into(&mut self.batch);
        if !self.batch.is_empty() {
            self.shared.hub.dispatch(&mut self.batch);
        }
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
        self.process_output();
    }

    /// The main loop: reads, writes, commands and keepalive, until the connection ends.
    async fn run(
        &mut self,
        commands: &mut mpsc::Receiver<Command>,
        keepalive: Option<Duration>,
    ) -> Exit {
        let period = keepalive.unwrap_or(Duration::from_secs(5));
        let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut keepalive_id: Option<String> = None;
        let mut closing: Option<(String, Option<oneshot::Sender<()>>)> = None;
        let close_deadline = tokio::time::sleep(Duration::MAX);
        tokio::pin!(close_deadline);
        // One timer for every action's deadline: armed for the earliest, and moved only when
        // an action with an earlier one arrives or when it fires.
        let expiry = tokio::time::sleep(Duration::MAX);
        tokio::pin!(expiry);
        let mut expiry_at: Option<Instant> = None;
        loop {
            if let Some((logoff, _)) = &closing
                && self.internal.iter().any(|(id, _)| id == logoff)
            {
                let (_, done) = closing.take().unwrap_or_default();
                return Exit::Closed(done);
            }
            if let Some(id) = &keepalive_id
                && let Some(index) = self.internal.iter().position(|(done, _)| done == id)
            {
                // Any answer, even an error, proves the connection is alive.
                let _ = self.internal.swap_remove(index);
                keepalive_id = None;
            }
            self.internal.retain(|(_, result)| result.is_err());
            for (id, result) in self.internal.drain(..) {
                if let Err(error) = result {
                    debug!(action_id = %id, %error, "internal action failed");
                }
            }
            let writing = !self.outbuf.is_empty();
            tokio::select! {
                // Not reading while decoded-but-unhandled input remains keeps `inbuf` bounded.
                () = std::future::ready(()), if self.more_input => {
                    let before = self.shared.hub.events_received.load(Ordering::Relaxed);
                    self.more_input = self.process_input_slice(DECODE_SLICE);
                    let_others_run(self.events_since(before)).await;
                }
                read = self.reader.read_buf(&mut self.inbuf), if !self.more_input => {
                    match read {
                        Ok(0) => return self.dropped(closing, "connection closed by the server"),
                        Ok(n) => {
                            if n >= self.read_size && self.read_size < MAX_READ {
                                self.read_size *= 2;
                            }
                            let before = self.shared.hub.events_received.load(Ordering::Relaxed);
                            self.more_input = self.process_input_slice(DECODE_SLICE);
                            if self.inbuf.capacity() - self.inbuf.len() < self.read_size / 2 {
                                self.inbuf.reserve(self.read_size);
                            }
                            if self.more_input
                                || self.shared.hub.events_received.load(Ordering::Relaxed) != before
                            {
                                let_others_run(self.events_since(before)).await;
                            }
                        }
                        Err(error) => return self.dropped(closing, &format!("read error: {error}")),
                    }
                }
                written = self.writer.write_buf(&mut self.outbuf), if writing => {
                    match written {
                        Ok(_) if self.outbuf.is_empty() => {
                            if let Err(error) = self.writer.flush().await {
                                return self.dropped(closing, &format!("write error: {error}"));
                            }
                            self.outbuf.clear();
                        }
                        Ok(_) => {}
                        Err(error) => return self.dropped(closing, &format!("write error: {error}")),
                    }
                }
                command = commands.recv() => {
                    let mut next = command;
                    let mut taken = 0;
                    // One clock read for the whole batch of actions taken here.
                    let now = Instant::now();
                    loop {
                        match next {
                            None => {
                                if closing.is_none() {
                                    closing = self.start_logoff(None);
                                    close_deadline.as_mut().reset(Instant::now() + CLOSE_GRACE);
                                }
                                break;
                            }
                            Some(Command::Action { action, reply, timeout }) => {
                                if closing.is_some() {
                                    let _ = reply.send(Err(Error::new(Kind::Closed)));
                                } else {
                                    let deadline = now
                                        .checked_add(timeout)
                                        .unwrap_or_else(far_future);
                                    if expiry_at.is_none_or(|at| deadline < at) {
                                        expiry.as_mut().reset(deadline);
                                        expiry_at = Some(deadline);
                                    }
                                    self.start_action(action, Waiter::Caller { reply, deadline, timeout });
                                }
                            }
                            Some(Command::Close { done }) => {
                                if closing.is_none() {
                                    closing = self.start_logoff(Some(done));
                                    close_deadline.as_mut().reset(Instant::now() + CLOSE_GRACE);
                                } else {
                                    let _ = done.send(());
                                }
                            }
                        }
                        taken += 1;
                        if taken >= 256 {
                            break;
                        }
                        match commands.try_recv() {
                            Ok(command) => next = Some(command),
                            Err(mpsc::error::TryRecvError::Empty) => break,
                            Err(mpsc::error::TryRecvError::Disconnected) => next = None,
                        }
                    }
                }
                _ = ticker.tick() => {
                    self.session.retain_pending(|waiter| match waiter {
                        Waiter::Caller { reply, .. } => !reply.is_closed(),
                        Waiter::Internal => true,
                    });
                    if keepalive.is_some() && closing.is_none() {
                        if keepalive_id.is_some() {
                            return self.dropped(closing, "keepalive Ping unanswered");
                        }
                        match self.session.start_action(Action::new("Ping"), Waiter::Internal, &mut self.outbuf) {
                            Ok(id) => keepalive_id = Some(id),
                            Err(error) => warn!(%error, "keepalive not sent"),
                        }
                    }
                }
                () = &mut expiry, if expiry_at.is_some() => {
                    expiry_at = self.expire_actions(Instant::now());
                    if let Some(at) = expiry_at {
                        expiry.as_mut().reset(at);
                    }
                }
                _ = &mut close_deadline => {
                    let done = closing.take().and_then(|(_, done)| done);
                    return Exit::Closed(done);
                }
            }
        }
    }

    fn events_since(&self, before: u64) -> bool {
        self.shared.hub.events_received.load(Ordering::Relaxed) != before
    }

    fn start_action(&mut self, action: Action, waiter: Waiter) {
        match self
            .session
            .try_send_action(action, waiter, &mut self.outbuf)
        {
            Ok(()) => {
                self.shared.counters.actions.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, waiter)) => {
                if let Waiter::Caller { reply, .. } = waiter {
                    let _ = reply.send(Err(Error::new(Kind::Refused(error))));
                }
            }
        }
    }

    /// Tells every caller whose deadline has passed, and forgets its action (a late reply is
    /// then passed on as an unmatched response). Returns the earliest deadline still ahead.
    fn expire_actions(&mut self, now: Instant) -> Option<Instant> {
        let expired =
            |waiter: &Waiter| matches!(waiter, Waiter::Caller { deadline, .. } if *deadline <= now);
        self.session.remove_pending_where(expired, |waiter| {
            if let Waiter::Caller { reply, timeout, .. } = waiter {
                let _ = reply.send(Err(Error::new(Kind::ActionTimeout(timeout))));
            }
        });
        let mut earliest: Option<Instant> = None;
        self.session.for_each_pending(|waiter| {
            if let Waiter::Caller { deadline, .. } = waiter {
                earliest = Some(earliest.map_or(*deadline, |at| at.min(*deadline)));
            }
        });
        earliest
    }

    fn start_logoff(
        &mut self,
        done: Option<oneshot::Sender<()>>,
    ) -> Option<(String, Option<oneshot::Sender<()>>)> {
        match self
            .session
            .start_action(Action::new("Logoff"), Waiter::Internal, &mut self.outbuf)
        {
            Ok(id) => Some((id, done)),
            Err(_) => {
                if let Some(done) = done {
                    let _ = done.send(());
                }
                None
            }
        }
    }

    fn dropped(
        &mut self,
        closing: Option<(String, Option<oneshot::Sender<()>>)>,
        reason: &str,
    ) -> Exit {
        // Bytes already received still count: a complete packet is never thrown away.
        self.process_input();
        match closing {
            Some((_, done)) => Exit::Closed(done),
            None => Exit::Dropped(reason.to_owned()),
        }
    }

    /// Fails every action still waiting with `error_kind` and delivers what is left.
    fn finish(&mut self, closed: bool) {
        let counters = self.shared.counters.clone();
        self.session.handle_close();
        while let Some(done) = self.session.poll_completion() {
            if let Waiter::Caller { reply, .. } = done.payload {
                let error = if closed {
                    Error::new(Kind::Closed)
                } else {
                    counters.connection_lost.fetch_add(1, Ordering::Relaxed);
                    Error::from_failure(ActionFailure::ConnectionLost)
                };
                let _ = reply.send(match done.result {
                    Ok(reply) => Ok(reply),
                    Err(_) => Err(error),
                });
            }
        }
        self.holding = false;
        self.process_output();
    }
}

/// Answers a command that arrived while the connection is down. False when the client is
/// closing (the handles are gone or `close` was called).
fn refuse_while_down(
    command: Option<Command>,
    close_ack: &mut Option<oneshot::Sender<()>>,
) -> bool {
    match command {
        None => false,
        Some(Command::Action { reply, .. }) => {
            let _ = reply.send(Err(Error::new(Kind::NotConnected)));
            true
        }
        Some(Command::Close { done }) => {
            *close_ack = Some(done);
            false
        }
    }
}

/// About thirty years ahead: a deadline that never comes (an `Instant` cannot hold
/// `Duration::MAX` past now).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
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

pub(crate) fn md5_key(challenge: &str, secret: &str) -> String {
    use md5::{Digest, Md5};
    let digest = Md5::new()
        .chain_update(challenge.as_bytes())
        .chain_update(secret.as_bytes())
        .finalize();
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn login_error(error: Error) -> Error {
    match error.server_message() {
        Some(message) => Error::new(Kind::AuthFailed(message.to_owned())),
        None => error,
    }
}

/// Connection role, for logs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    Single,
    Actions,
    Events,
}

/// Spawns the task that drives `conn` and reconnects it.
pub(crate) fn spawn(
    first: Conn,
    config: Config,
    events: Events,
    prefix: String,
    role: Role,
    commands: mpsc::Receiver<Command>,
) -> tokio::task::JoinHandle<()> {
    let span = tracing::info_span!("ami", server = %config.address(), role = ?role);
    tokio::spawn(drive(first, config, events, prefix, commands).instrument(span))
}

async fn drive(
    first: Conn,
    config: Config,
    events: Events,
    prefix: String,
    mut commands: mpsc::Receiver<Command>,
) {
    let shared = first.shared.clone();
    let mut conn = first;
    let mut close_ack = None;
    // The first connection was announced by `Client::connect`.
    let mut announced = true;
    'connected: loop {
        if !announced {
            conn.announce();
        }
        announced = false;
        let exit = conn.run(&mut commands, config.keepalive).await;
        let reason = match exit {
            Exit::Closed(done) => {
                conn.finish(true);
                close_ack = done;
                break 'connected;
            }
            Exit::Dropped(reason) => {
                conn.finish(false);
                reason
            }
        };
        warn!(%reason, "connection lost");
        shared.hub.connection_state(ConnectionState::Disconnected {
            reason: reason.clone(),
        });
        drop(conn);
        let Some(backoff) = config.reconnect else {
            break 'connected;
        };
        let mut attempt = 0u32;
        loop {
            let delay = backoff.delay(attempt, random_u64());
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            // While down, actions fail at once rather than wait an unknown time.
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    command = commands.recv() => {
                        if !refuse_while_down(command, &mut close_ack) {
                            break 'connected;
                        }
                    }
                }
            }
            shared.counters.reconnects.fetch_add(1, Ordering::Relaxed);
            let establishing = Conn::establish(&config, &events, &prefix, shared.clone());
            tokio::pin!(establishing);
            // Still down until logged in: actions keep failing at once, so none waits past
            // its timeout (deadlines are kept by a running connection).
            let established = loop {
                tokio::select! {
                    result = &mut establishing => break result,
                    command = commands.recv() => {
                        if !refuse_while_down(command, &mut close_ack) {
                            break 'connected;
                        }
                    }
                }
            };
            match established {
                Ok(next) => {
                    conn = next;
                    continue 'connected;
                }
                Err(error) => {
                    warn!(%error, attempt, "reconnect failed");
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }
    commands.close();
    while let Ok(command) = commands.try_recv() {
        match command {
            Command::Action { reply, .. } => {
                let _ = reply.send(Err(Error::new(Kind::Closed)));
            }
            Command::Close { done } => {
                let _ = done.send(());
            }
        }
    }
    shared.hub.close();
    if let Some(done) = close_ack {
        let _ = done.send(());
    }
    info!("connection task ended");
}

#[cfg(test)]
mod tests {
    #[test]
    fn md5_key_matches_asterisk() {
        // md5("1234" + "amp111"), as Asterisk computes it in manager.c.
        assert_eq!(super::md5_key("1234", "amp111").len(), 32);
        assert_eq!(super::md5_key("", ""), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
