//! The tokio layer: accepts connections, drives one `ServerSession` per connection, runs the
//! PBX clock and fans events out. All protocol decisions live in the sans-IO types.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast};
use tracing::{Instrument, info, info_span, warn};

use crate::config::SimConfig;
use crate::event::Event;
use crate::faults::{FaultInjector, FaultStep};
use crate::pbx::Pbx;
use crate::session::{Context, Output, PeerInfo, ServerSession};
use crate::stream::StreamBatch;

/// How many events a session may fall behind before it counts as a slow reader.
const EVENT_BACKLOG: usize = 1 << 16;

/// A coalesced run of packets goes out in pieces of this size, each with its own write
/// timeout: a reader that keeps taking bytes, however slowly, is not a slow reader.
const WRITE_PIECE: usize = 64 * 1024;

/// Orders for every connection.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Control {
    /// Drop the connection (simulated restart).
    Restart,
    /// Drop the connection (the simulator stops).
    Shutdown,
    /// Stream this many pre-encoded events as fast as the socket takes them.
    Stream(u64),
}

/// State shared by the accept loop, the PBX clock and the connections.
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pbx: Mutex<Pbx>,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) control: broadcast::Sender<Control>,
    pub(crate) next_session: AtomicU64,
    start: Instant,
    pub(crate) pbx_wake: Notify,
    batch: StreamBatch,
    /// Connections currently open (for tests and the benchmark).
    pub(crate) open: AtomicU64,
    /// Sessions dropped for not reading fast enough.
    pub(crate) slow_drops: AtomicU64,
}

fn boot_epoch() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Shared {
    pub(crate) fn new(config: SimConfig) -> Arc<Self> {
        let mut pbx = Pbx::new(config.profile, boot_epoch()).with_agents(&config.agents);
        if config.demo_calls {
            pbx.preload_demo_calls();
        }
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let (control, _) = broadcast::channel(64);
        Arc::new(Self {
            batch: StreamBatch::new(config.profile),
            config,
            pbx: Mutex::new(pbx),
            events,
            control,
            next_session: AtomicU64::new(1),
            start: Instant::now(),
            pbx_wake: Notify::new(),
            open: AtomicU64::new(0),
            slow_drops: AtomicU64::new(0),
        })
    }

    pub(crate) fn pbx(&self) -> MutexGuard<'_, Pbx> {
        // A panic while holding the lock leaves a PBX that is still consistent enough to serve;
        // the simulator keeps going rather than failing every later connection.
        self.pbx
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// PBX milliseconds since start: real time times `time_scale`.
    pub(crate) fn elapsed_ms(&self) -> u64 {
        (self.start.elapsed().as_secs_f64() * 1000.0 * self.time_scale()) as u64
    }

    fn time_scale(&self) -> f64 {
        if self.config.time_scale > 0.0 {
            self.config.time_scale
        } else {
            1.0
        }
    }

    /// Sends the PBX's pending events to every connection.
    pub(crate) fn flush_events(&self, pbx: &mut Pbx) {
        while let Some(event) = pbx.poll_event() {
            // No receiver is fine: nobody is logged in.
            let _ = self.events.send(event);
        }
    }

    /// Drops every connection and reboots the PBX.
    pub(crate) fn restart(&self) {
        info!("restart: dropping all connections");
        let _ = self.control.send(Control::Restart);
        let mut pbx = self.pbx();
        *pbx = Pbx::new(self.config.profile, boot_epoch()).with_agents(&self.config.agents);
        if self.config.demo_calls {
            pbx.preload_demo_calls();
        }
    }
}

/// Accepts until `shutdown` completes.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    #[cfg(feature = "tls")]
    let tls = match &shared.config.tls {
        Some(config) => Some(
            crate::tls::build(config)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
        ),
        None => None,
    };
    #[cfg(not(feature = "tls"))]
    if shared.config.tls.is_some() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "ami-sim was built without the `tls` feature",
        ));
    }
    let clock = tokio::spawn(run_clock(shared.clone()));
    tokio::pin!(shutdown);
    let result = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        // EMFILE and friends: wait a little rather than spin.
                        warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let local = stream.local_addr().ok();
                let shared = shared.clone();
                let id = shared.next_session.fetch_add(1, Ordering::Relaxed);
                let span = info_span!("ami", session = id, peer = %remote);
                #[cfg(feature = "tls")]
                if let Some(tls) = &tls {
                    let acceptor = tls.acceptor.clone();
                    tokio::spawn(async move {
                        // A peer that never finishes the handshake must not hold a task forever.
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => connection(stream, shared, id, peer(local, remote, true)).await,
                            Ok(Err(error)) => warn!(%error, "TLS handshake failed"),
                            Err(_) => warn!("TLS handshake timed out"),
                        }
                    }.instrument(span));
                    continue;
                }
                tokio::spawn(connection(stream, shared, id, peer(local, remote, false)).instrument(span));
            }
        }
    };
    clock.abort();
    let _ = shared.control.send(Control::Shutdown);
    result
}

fn peer(local: Option<SocketAddr>, remote: SocketAddr, tls: bool) -> PeerInfo {
    PeerInfo {
        local,
        remote: Some(remote),
        tls,
    }
}

/// The PBX clock: runs timers when due and starts generated calls.
async fn run_clock(shared: Arc<Shared>) {
    let mut rng = crate::faults::Rng::new(shared.config.faults.seed ^ 0x5eed);
    let interval = shared
        .config
        .calls_per_second
        .filter(|r| *r > 0.0)
        .map(|rate| Duration::from_secs_f64(1.0 / rate));
    let mut next_call = interval.map(|i| Instant::now() + i);
    loop {
        let wait = {
            let mut pbx = shared.pbx();
            pbx.handle_timeout(shared.elapsed_ms());
            if let (Some(at), Some(every)) = (next_call, interval) {
                let now = Instant::now();
                let mut due = at;
                while due <= now {
                    let pick = rng.range(0, u64::from(u32::MAX));
                    pbx.place_generated_call(pick, rng.range(1, 8));
                    due += every;
                }
                next_call = Some(due);
            }
            shared.flush_events(&mut pbx);
            let timer = pbx.poll_timeout().map(|due| {
                let pbx_ms = due.saturating_sub(shared.elapsed_ms()) as f64;
                Duration::from_secs_f64(pbx_ms / 1000.0 / shared.time_scale())
            });
            let call = next_call.map(|at| at.saturating_duration_since(Instant::now()));
            [timer, call].into_iter().flatten().min()
        };
        tracing::trace!(?wait, "clock sleeps");
        match wait {
            Some(wait) => tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shared.pbx_wake.notified() => {}
            },
            // Nothing is due: no timer at all, so the runtime can park without a timeout.
            None => shared.pbx_wake.notified().await,
        }
    }
}

/// Why a connection ended.
enum End {
    PeerClosed,
    Closed,
    Restart,
    Shutdown,
    SlowReader(&'static str),
    AuthTimeout,
    Io(std::io::Error),
}

async fn connection<S>(stream: S, shared: Arc<Shared>, id: u64, peer: PeerInfo)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    shared.open.fetch_add(1, Ordering::Relaxed);
    info!("connected");
    let end = if let Some(transcript) = shared.config.replay.clone() {
        replay(stream, &shared, id, transcript).await
    } else {
        session_loop(stream, &shared, id, peer).await
    };
    shared.open.fetch_sub(1, Ordering::Relaxed);
    match end {
        End::PeerClosed => info!("disconnected by peer"),
        End::Closed => info!("closed by server"),
        End::Restart => info!("dropped by restart"),
        End::Shutdown => info!("dropped: simulator stopping"),
        End::AuthTimeout => info!("closed: no login within the auth timeout"),
        End::SlowReader(why) => {
            shared.slow_drops.fetch_add(1, Ordering::Relaxed);
            warn!(reason = why, "slow reader dropped");
        }
        End::Io(error) => info!(%error, "connection error"),
    }
}

/// Writes bytes through the fault injector with the write timeout.
struct Writer<W> {
    inner: W,
    faults: Option<FaultInjector>,
    timeout: Duration,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    /// Writes one packet (or a coalesced run of packets when no faults are set).
    async fn packet(&mut self, bytes: Bytes) -> Result<(), End> {
        let Some(injector) = &mut self.faults else {
            for piece in bytes.chunks(WRITE_PIECE) {
                self.write(piece).await?;
            }
            return Ok(());
        };
        for step in injector.plan(bytes) {
            match step {
                FaultStep::Write(chunk) => self.write(&chunk).await?,
                FaultStep::Sleep(delay) => tokio::time::sleep(delay).await,
                FaultStep::Close => return Err(End::Closed),
            }
        }
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), End> {
        match tokio::time::timeout(self.timeout, self.inner.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(End::Io(error)),
            Err(_) => Err(End::SlowReader("write timeout")),
        }
    }

    async fn flush(&mut self) -> Result<(), End> {
        match tokio::time::timeout(self.timeout, self.inner.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(End::Io(error)),
            Err(_) => Err(End::SlowReader("write timeout")),
        }
    }
}

async fn session_loop<S>(stream: S, shared: &Shared, id: u64, peer: PeerInfo) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let faults =
        (!shared.config.faults.is_none()).then(|| FaultInjector::new(&shared.config.faults, id));
    let mut session = ServerSession::new(id, shared.config.profile, peer);
    // The fault injector works packet by packet; without it a whole read's answers leave as
    // one write.
    session.set_coalesce_writes(faults.is_none());
    // Reads and writes take turns in this one task, so the stream is not split (a split
    // stream locks on every read and write).
    let mut writer = Writer {
        inner: stream,
        faults,
        timeout: shared.config.write_timeout,
    };
    session.set_auth_fail_delay(shared.config.auth_fail_delay);
    session.set_fixed_challenge(shared.config.fixed_challenge.clone());
    let mut events = shared.events.subscribe();
    let mut control = shared.control.subscribe();
    let mut buf = vec![0u8; 16 * 1024];
    let mut to_stream: u64 = 0;
    let mut stream_pos: usize = 0;
    // Dropped at login (a session never logs out and back in), so a logged-in session holds
    // no timer and the runtime parks without a timeout between reads.
    let mut auth_deadline = Some(Box::pin(tokio::time::sleep(shared.config.auth_timeout)));
    loop {
        if let Err(end) = drain(&mut session, &mut writer).await {
            return end;
        }
        let streaming = to_stream > 0;
        if session.user().is_some() {
            auth_deadline = None;
        }
        let awaiting_login = auth_deadline.is_some();
        tokio::select! {
            () = async {
                match auth_deadline.as_mut() {
                    Some(deadline) => deadline.await,
                    None => std::future::pending().await,
                }
            }, if awaiting_login => return End::AuthTimeout,
            read = writer.inner.read(&mut buf) => {
                match read {
                    Ok(0) => return End::PeerClosed,
                    Ok(n) => {
                        let was_logged_in = session.user().is_some();
                        if let Err(end) = handle_read(&mut session, shared, &mut events, &buf[..n]) {
                            return end;
                        }
                        if !was_logged_in && session.user().is_some() {
                            to_stream = to_stream.saturating_add(shared.config.events_on_login.unwrap_or(0));
                        }
                    }
                    Err(error) => return End::Io(error),
                }
            }
            event = events.recv() => {
                match event {
                    Ok(event) => session.handle_event(&event),
                    Err(broadcast::error::RecvError::Lagged(_)) => return End::SlowReader("event backlog full"),
                    Err(broadcast::error::RecvError::Closed) => return End::Shutdown,
                }
            }
            order = control.recv() => {
                match order {
                    Ok(order @ (Control::Restart | Control::Shutdown)) => {
                        let restart = matches!(order, Control::Restart);
                        session.handle_shutdown(restart);
                        let _ = drain(&mut session, &mut writer).await;
                        return if restart { End::Restart } else { End::Shutdown };
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        session.handle_shutdown(false);
                        let _ = drain(&mut session, &mut writer).await;
                        return End::Shutdown;
                    }
                    Ok(Control::Stream(n)) => {
                        if session.user().is_some() {
                            to_stream = to_stream.saturating_add(n);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                }
            }
            () = std::future::ready(()), if streaming => {
                if let Err(end) = stream_some(&mut session, &mut writer, shared, &mut to_stream, &mut stream_pos).await {
                    return end;
                }
            }
        }
    }
}

/// Runs what a session read (its actions) against the shared PBX, keeping the session's
/// events in the order the PBX made them.
///
/// The session's own actions' events are handed to it at once (after its response, as
/// Asterisk does), while everyone else's reach it through `events`. So first, under the PBX
/// lock: the timers now due publish their events to every session, and this session takes
/// every event published so far (all are sent under that lock) before its actions run.
/// Without that, a timer's `Newstate` reached the session acting now ahead of the
/// `Newchannel` still waiting in its receiver, and a state kept from its events was left
/// with the channel's first state.
fn handle_read(
    session: &mut ServerSession,
    shared: &Shared,
    events: &mut broadcast::Receiver<Event>,
    bytes: &[u8],
) -> Result<(), End> {
    let mut pbx = shared.pbx();
    pbx.handle_timeout(shared.elapsed_ms());
    shared.flush_events(&mut pbx);
    loop {
        match events.try_recv() {
            Ok(event) => session.handle_event(&event),
            Err(broadcast::error::TryRecvError::Empty) => break,
            Err(broadcast::error::TryRecvError::Lagged(_)) => {
                return Err(End::SlowReader("event backlog full"));
            }
            Err(broadcast::error::TryRecvError::Closed) => return Err(End::Shutdown),
        }
    }
    let next_timer = pbx.poll_timeout();
    let users = &shared.config.users;
    let mut ctx = Context::new(&mut pbx, users, SystemTime::now());
    session.handle_bytes(bytes, &mut ctx);
    for event in std::mem::take(&mut ctx.published) {
        let _ = shared.events.send(event);
    }
    shared.flush_events(&mut pbx);
    // An action that started a call added an earlier timer: the clock must see it. Most
    // actions (Ping ...) do not, and then the clock sleeps on.
    if pbx.poll_timeout() != next_timer {
        shared.pbx_wake.notify_one();
    }
    Ok(())
}

/// Writes everything the session has queued, then flushes.
async fn drain<W: AsyncWrite + Unpin>(
    session: &mut ServerSession,
    writer: &mut Writer<W>,
) -> Result<(), End> {
    let mut wrote = false;
    while let Some(output) = session.poll_output() {
        match output {
            Output::Write(bytes) => writer.packet(bytes).await?,
            Output::Sleep(delay) => tokio::time::sleep(delay).await,
            Output::Close => {
                writer.flush().await?;
                return Err(End::Closed);
            }
        }
        wrote = true;
    }
    if wrote {
        writer.flush().await?;
    }
    Ok(())
}

/// Streams up to one block of pre-encoded events. Whole cycles go out as one buffer when the
/// session takes every event of the cycle; otherwise each event is checked.
async fn stream_some<W: AsyncWrite + Unpin>(
    session: &mut ServerSession,
    writer: &mut Writer<W>,
    shared: &Shared,
    to_stream: &mut u64,
    pos: &mut usize,
) -> Result<(), End> {
    let batch = &shared.batch;
    let cycle = batch.events.len() as u64;
    let fast = writer.faults.is_none() && !session.has_filters() && session.accepts(batch.classes);
    if fast && *pos == 0 && *to_stream >= cycle {
        *to_stream -= cycle;
        return writer.write(&batch.block).await;
    }
    let mut out = BytesMut::new();
    let mut sent = 0;
    while *to_stream > 0 && sent < 256 {
        let event = &batch.events[*pos];
        *pos = (*pos + 1) % batch.events.len();
        *to_stream -= 1;
        sent += 1;
        if session.accepts(event.class) && session.filter_allows(&event.bytes) {
            if writer.faults.is_some() {
                writer.packet(event.bytes.clone()).await?;
            } else {
                out.extend_from_slice(&event.bytes);
            }
        }
    }
    if !out.is_empty() {
        writer.write(&out).await?;
    }
    Ok(())
}

/// Serves a recorded transcript: everything at once (through the faults), then waits for the
/// client to leave.
async fn replay<S>(stream: S, shared: &Shared, id: u64, transcript: Bytes) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut reader, writer) = tokio::io::split(stream);
    let faults =
        (!shared.config.faults.is_none()).then(|| FaultInjector::new(&shared.config.faults, id));
    let mut writer = Writer {
        inner: writer,
        faults,
        timeout: shared.config.write_timeout,
    };
    for packet in crate::replay::split_packets(&transcript) {
        if let Err(end) = writer.packet(packet).await {
            return end;
        }
    }
    if let Err(end) = writer.flush().await {
        return end;
    }
    let mut control = shared.control.subscribe();
    let mut sink = [0u8; 4096];
    loop {
        tokio::select! {
            read = reader.read(&mut sink) => match read {
                Ok(0) => return End::PeerClosed,
                Ok(_) => {}
                Err(error) => return End::Io(error),
            },
            order = control.recv() => if let Ok(Control::Restart | Control::Shutdown) | Err(broadcast::error::RecvError::Closed) = order {
                return End::Restart;
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything the session has queued, as text.
    fn written(session: &mut ServerSession) -> String {
        let mut out = String::new();
        while let Some(output) = session.poll_output() {
            if let Output::Write(bytes) = output {
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        out
    }

    /// A call the clock placed (its `Newchannel` broadcast, not yet in this session's
    /// receiver) whose timers are due when the session's next action is read: the session
    /// must still see `Newchannel` first and the answer's `Newstate` after it.
    #[test]
    fn an_action_does_not_put_due_timers_events_ahead_of_earlier_ones() {
        for profile in [crate::Profile::V22, crate::Profile::V18] {
            let shared = Shared::new(SimConfig {
                profile,
                // The timers pending are due at the next read (the answer, here).
                time_scale: 1e9,
                ..SimConfig::default()
            });
            let mut events = shared.events.subscribe();
            let mut session = ServerSession::new(1, profile, PeerInfo::default());
            let login = b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\n\r\n";
            assert!(handle_read(&mut session, &shared, &mut events, login).is_ok());
            assert!(written(&mut session).contains("Authentication accepted"));
            {
                // What the clock does: place a call (`Local/100@demo`) and broadcast its
                // first events.
                let mut pbx = shared.pbx();
                pbx.place_generated_call(0, 1);
                shared.flush_events(&mut pbx);
            }
            let ping = b"Action: Ping\r\nActionID: p\r\n\r\n";
            assert!(handle_read(&mut session, &shared, &mut events, ping).is_ok());
            // What the session loop does next: take what the broadcast still holds.
            while let Ok(event) = events.try_recv() {
                session.handle_event(&event);
            }
            let out = written(&mut session);
            let one: Vec<&str> = out
                .split("\r\n\r\n")
                .filter(|packet| {
                    packet.lines().any(|line| {
                        line.strip_prefix("Channel: Local/100@demo-")
                            .is_some_and(|name| name.ends_with(";1"))
                    })
                })
                .filter_map(|packet| packet.lines().find_map(|line| line.strip_prefix("Event: ")))
                .collect();
            assert_eq!(one.first(), Some(&"Newchannel"), "{profile}: {one:?}");
            let newstate = one.iter().position(|e| *e == "Newstate");
            assert!(newstate.is_some_and(|at| at > 0), "{profile}: {one:?}");
        }
    }
}
