//! The gateway's own connections: accepting them (with a cap per client address), TLS,
//! serving HTTP/1.1 on each with hyper (with a timeout for request heads), and graceful
//! shutdown.
//!
//! `axum::serve` sets no timer on hyper, so a connection that never sent a request (or sent
//! half of one, or idled between requests) stayed open for good: thousands of silent sockets
//! held the gateway's memory. Each connection is served here by hyper's HTTP/1 builder with
//! `header_read_timeout`, which runs while hyper waits for a request head (after accept and
//! between keep-alive requests) and never while a response, such as an event stream, is being
//! sent; an upgraded WebSocket leaves hyper altogether.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;
use tracing::{debug, info, warn};

// Re-exported for the stream handlers, which take the request's connection from here.
pub(crate) use crate::peer::Connection;
use crate::peer::ConnectionShared;
use crate::stall::StallGuard;
use crate::state::AppState;

/// How long a graceful shutdown waits for open connections before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Refusals and accept errors are logged at most once per this period, as a count: a flood
/// must not turn into a flood of log lines.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Counts events and logs them at most once per [`LOG_EVERY`], with how many there were.
struct Throttled {
    what: &'static str,
    pending: u64,
    last_logged: Option<Instant>,
    last_detail: String,
}

impl Throttled {
    fn new(what: &'static str) -> Self {
        Self {
            what,
            pending: 0,
            last_logged: None,
            last_detail: String::new(),
        }
    }

    /// Notes one occurrence; logs at once if nothing was logged for a while.
    fn note(&mut self, detail: impl std::fmt::Display) {
        self.pending += 1;
        self.last_detail = detail.to_string();
        if self.last_logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            self.flush();
        }
    }

    /// Logs what was counted since the last line, if anything.
    fn flush(&mut self) {
        if self.pending == 0 {
            return;
        }
        warn!(
            count = self.pending,
            last = %self.last_detail,
            "{} (at most one such line per {} s)",
            self.what,
            LOG_EVERY.as_secs()
        );
        self.pending = 0;
        self.last_logged = Some(Instant::now());
    }
}

/// Accepts connections until `shutdown` completes (or the state's shutdown begins), then
/// shuts down gracefully; see [`crate::serve`].
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = crate::app(state.clone());
    let acceptor = tls.map(TlsAcceptor::from);
    let limits = state.connection_limits();
    let header_timeout = Duration::from_millis(limits.header_timeout_ms);
    let write_timeout = Duration::from_millis(state.stream_limits().write_timeout_ms);
    // Every connection task holds a receiver; `closed()` on the sender says they all ended.
    let (open_tx, open_rx) = watch::channel(());
    let mut refused = Throttled::new("refused connections: their address had max_per_ip open");
    let mut accept_errors = Throttled::new("accepting connections failed");
    let mut flush = tokio::time::interval(LOG_EVERY);
    let mut begun = state.shutdown_signal();
    let mut shutdown = pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            // (The guard `wait_for` returns is not Send: dropped inside.)
            () = async { let _ = begun.wait_for(|down| *down).await; } => break,
            _ = flush.tick() => {
                refused.flush();
                accept_errors.flush();
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    accept_errors.note(error);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(admitted) = state.connections().admit(peer.ip()) else {
            // Dropping the socket closes it; nothing is read or written.
            refused.note(peer.ip());
            continue;
        };
        let shared = Arc::new(ConnectionShared::new(peer, admitted));
        tokio::spawn(connection(
            tcp,
            shared,
            acceptor.clone(),
            router.clone(),
            state.clone(),
            Timeouts {
                header: header_timeout,
                write: write_timeout,
            },
            open_rx.clone(),
        ));
    }
    refused.flush();
    accept_errors.flush();
    info!("shutting down");
    state.begin_shutdown();
    drop(listener);
    drop(open_rx);
    if tokio::time::timeout(SHUTDOWN_GRACE, open_tx.closed())
        .await
        .is_err()
    {
        warn!("connections still open after the grace period; closing anyway");
    }
    state.shutdown().await;
    Ok(())
}

#[derive(Clone, Copy)]
struct Timeouts {
    header: Duration,
    write: Duration,
}

/// One accepted connection: the TLS handshake if any, then HTTP until it ends.
async fn connection(
    tcp: TcpStream,
    shared: Arc<ConnectionShared>,
    acceptor: Option<TlsAcceptor>,
    router: Router,
    state: AppState,
    timeouts: Timeouts,
    _open: watch::Receiver<()>,
) {
    let peer = shared.peer();
    match acceptor {
        None => {
            let io = StallGuard::for_connection(tcp, timeouts.write, shared.clone());
            serve_http(io, shared, router, &state, timeouts.header).await;
        }
        Some(acceptor) => {
            // A silent client must not hold its place past the header timeout either.
            let limit = crate::tls::HANDSHAKE_TIMEOUT.min(timeouts.header);
            match tokio::time::timeout(limit, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    let io = StallGuard::for_connection(tls, timeouts.write, shared.clone());
                    serve_http(io, shared, router, &state, timeouts.header).await;
                }
                Ok(Err(error)) => debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

async fn serve_http<I>(
    io: I,
    shared: Arc<ConnectionShared>,
    router: Router,
    state: &AppState,
    header_timeout: Duration,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = shared.peer();
    let connection = Connection::new(shared);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(connection.clone());
        let mut router = router.clone();
        async move { router.call(request).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Flattened writes: a stream's queued messages (one body chunk each) go out in one write
    // up to hyper's buffer size. With vectored writes hyper stops at 16 chunks per write, so a
    // client's `hello`, state snapshot and backlog came in many small writes.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .writev(false);
    let mut conn = pin!(
        builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades()
    );
    let mut shutdown = state.shutdown_signal();
    let mut draining = false;
    let result = loop {
        tokio::select! {
            result = conn.as_mut() => break result,
            // Idle connections close now; a request in flight finishes first (event streams
            // end by themselves on the same signal).
            () = async { let _ = shutdown.wait_for(|down| *down).await; }, if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    };
    if let Err(error) = result {
        if error.is_timeout() {
            state.connections().count_header_timeout();
            debug!(%peer, "closed a connection that sent no complete request in time");
        } else {
            debug!(%peer, %error, "connection ended with an error");
        }
    }
}
