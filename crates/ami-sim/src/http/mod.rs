//! AMI over HTTP, as Asterisk's `/rawman`, `/mxml` and `/manager`: one action per request,
//! given as query or form parameters; the session is named by the `mansession_id` cookie;
//! events wait in the session for `WaitEvent`.
//!
//! The same [`ServerSession`] (in HTTP mode) answers the actions as on the TCP side, with the
//! same accounts and PBX. This module only moves bytes: it reads requests
//! ([`request`]), finds the session ([`session`]), runs the action, waits for WaitEvent, and
//! writes the answer in the version's framing ([`render`]).

pub(crate) mod render;
pub(crate) mod request;
pub(crate) mod session;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tracing::{Instrument, info, info_span, warn};

use crate::request::Request;
use crate::server::{Control, Shared};
use crate::session::{Context, Output, PeerInfo, ServerSession};

use render::Format;
use request::{HttpRequest, Method, Parsed};
use session::Table;

/// A kept-alive connection with no new request for this long is closed (Asterisk's
/// `session_keep_alive`, 15 s by default).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// At most this many parameters make the action (Asterisk's header limit per message).
const MAX_PARAMS: usize = 128;

/// The HTTP side's state: the manager sessions.
pub(crate) struct Http {
    table: Mutex<Table>,
}

impl Http {
    fn table(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock leaves a table that is still usable.
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Asterisk's HTTP server listens with a backlog of 10 (`listen(fd, 10)` in every version's
/// tcptls.c): a client that opens many connections at once finds some of them refused until
/// the kernel retries, as against the real server.
const LISTEN_BACKLOG: u32 = 10;

/// The HTTP side's listener on `addr`, with Asterisk's backlog.
pub(crate) fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As tokio's own bind does, so a restarted simulator can take the port at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves AMI over HTTP on `listener` until the simulator stops (`control` says Shutdown).
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut control: broadcast::Receiver<Control>,
) -> std::io::Result<()> {
    #[cfg(feature = "tls")]
    let tls = match (&shared.config.tls, shared.config.http_tls) {
        (Some(config), true) => Some(
            crate::tls::build(config)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
        ),
        _ => None,
    };
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x5eed);
    let http = Arc::new(Http {
        table: Mutex::new(Table::new(shared.config.http_timeout, seed)),
    });
    let fan_out = tokio::spawn(fan_out(shared.clone(), http.clone()));
    loop {
        tokio::select! {
            order = control.recv() => match order {
                Ok(Control::Shutdown) | Err(broadcast::error::RecvError::Closed) => break,
                _ => {}
            },
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        warn!(%error, "HTTP accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let local = stream.local_addr().ok();
                let span = info_span!("ami-http", peer = %remote);
                let shared = shared.clone();
                let http = http.clone();
                #[cfg(feature = "tls")]
                if let Some(tls) = &tls {
                    let acceptor = tls.acceptor.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => {
                                let peer = PeerInfo { local, remote: Some(remote), tls: true };
                                connection(stream, shared, http, peer).await;
                            }
                            Ok(Err(error)) => warn!(%error, "TLS handshake failed"),
                            Err(_) => warn!("TLS handshake timed out"),
                        }
                    }.instrument(span));
                    continue;
                }
                let peer = PeerInfo { local, remote: Some(remote), tls: false };
                tokio::spawn(connection(stream, shared, http, peer).instrument(span));
            }
        }
    }
    fan_out.abort();
    http.table().clear();
    Ok(())
}

/// Hands every PBX event to every HTTP session (each holds it for its next WaitEvent) and
/// drops the sessions on a simulated restart.
async fn fan_out(shared: Arc<Shared>, http: Arc<Http>) {
    let mut events = shared.events.subscribe();
    let mut control = shared.control.subscribe();
    let mut last_sweep = Instant::now();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    let now = Instant::now();
                    let mut table = http.table();
                    // Timed-out sessions would otherwise keep collecting events until the
                    // next request sweeps them.
                    if now.duration_since(last_sweep) >= Duration::from_secs(1) {
                        table.sweep(now);
                        last_sweep = now;
                    }
                    for entry in table.entries_mut() {
                        entry.session.handle_event(&event);
                        if entry.session.has_held_events() {
                            entry.wake.notify_waiters();
                        }
                    }
                }
                // Sessions miss what they could not be given in time, as a slow Asterisk
                // session would; nothing else to do.
                Err(broadcast::error::RecvError::Lagged(missed)) => warn!(missed, "HTTP sessions missed events"),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            order = control.recv() => match order {
                Ok(Control::Restart) => http.table().clear(),
                Ok(Control::Shutdown) | Err(broadcast::error::RecvError::Closed) => return,
                _ => {}
            },
        }
    }
}

/// One HTTP connection: requests answered one after the other, kept alive as the version does.
async fn connection<S>(mut stream: S, shared: Arc<Shared>, http: Arc<Http>, peer: PeerInfo)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    shared.open.fetch_add(1, Ordering::Relaxed);
    let profile = shared.config.profile;
    let mut control = shared.control.subscribe();
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    'requests: loop {
        let request = loop {
            match request::parse(&buf) {
                Parsed::Request(request, used) => {
                    buf.drain(..used);
                    break request;
                }
                Parsed::Refused(code, title) => {
                    let (headers, body) = render::error_page(profile, code, title, title);
                    let bytes = render::response(
                        profile,
                        (code, title),
                        &headers,
                        &body,
                        true,
                        true,
                        SystemTime::now(),
                    );
                    let _ = stream.write_all(&bytes).await;
                    break 'requests;
                }
                Parsed::Incomplete => {}
            }
            tokio::select! {
                read = tokio::time::timeout(KEEP_ALIVE, stream.read(&mut chunk)) => match read {
                    Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                    _ => break 'requests,
                },
                order = control.recv() => if let Ok(Control::Shutdown | Control::Restart) | Err(broadcast::error::RecvError::Closed) = order {
                    break 'requests;
                },
            }
        };
        let close = render::always_closes(profile) || request.wants_close();
        let bytes = answer(&shared, &http, &request, &peer, close).await;
        if stream.write_all(&bytes).await.is_err() || stream.flush().await.is_err() || close {
            break;
        }
    }
    let _ = stream.shutdown().await;
    shared.open.fetch_sub(1, Ordering::Relaxed);
}

/// The whole HTTP answer to one request.
async fn answer(
    shared: &Shared,
    http: &Http,
    request: &HttpRequest,
    peer: &PeerInfo,
    close: bool,
) -> Vec<u8> {
    let profile = shared.config.profile;
    let send_body = request.method != Method::Head;
    let Some(format) = Format::for_path(&request.path) else {
        let text = "The requested URL was not found on this server.";
        let (headers, body) = render::error_page(profile, 404, "Not Found", text);
        return render::response(
            profile,
            (404, "Not Found"),
            &headers,
            &body,
            close,
            send_body,
            SystemTime::now(),
        );
    };
    if request.method == Method::Other {
        let text = "Attempt to use unimplemented / unsupported method";
        let (headers, body) = render::error_page(profile, 501, "Not Implemented", text);
        return render::response(
            profile,
            (501, "Not Implemented"),
            &headers,
            &body,
            close,
            send_body,
            SystemTime::now(),
        );
    }
    let params = request.params();
    let (manager_id, ami, max_age) =
        manager(shared, http, request.manager_id(), &params, peer).await;
    info!(manager_id = format_args!("{manager_id:08x}"), path = %request.path, "HTTP manager request");
    let headers = render::manager_headers(profile, format, manager_id, max_age);
    let body = render::manager_body(format, &ami, &params);
    render::response(
        profile,
        (200, "OK"),
        &headers,
        &body,
        close,
        send_body,
        SystemTime::now(),
    )
}

/// Runs one action for the session the cookie names (or a new one): its id, the AMI text the
/// action wrote, and the cookie's `Max-Age`.
async fn manager(
    shared: &Shared,
    http: &Http,
    cookie: u32,
    params: &[(String, String)],
    peer: &PeerInfo,
) -> (u32, Vec<u8>, u64) {
    let lines: Vec<String> = params
        .iter()
        .take(MAX_PARAMS)
        .map(|(name, value)| format!("{name}: {value}"))
        .collect();
    let action = Request::from_lines(&lines);
    let is_wait = action
        .get("Action")
        .trim()
        .eq_ignore_ascii_case("WaitEvent");
    let (id, wait) = {
        let mut table = http.table();
        let id = table.begin(cookie, Instant::now(), || {
            let number = shared.next_session.fetch_add(1, Ordering::Relaxed);
            let mut session = ServerSession::new_http(number, shared.config.profile, peer.clone());
            session.set_auth_fail_delay(shared.config.auth_fail_delay);
            session.set_fixed_challenge(shared.config.fixed_challenge.clone());
            session
        });
        let logged_in = table.get(id).is_some_and(|e| e.session.user().is_some());
        let wait = if is_wait && logged_in {
            let timeout = action.get("Timeout").trim();
            let timeout = (!timeout.is_empty()).then(|| leading_int(timeout));
            table.start_wait(id, timeout, Instant::now())
        } else {
            None
        };
        (id, wait)
    };
    let mut abandoned = false;
    if let Some((wait, number, wake)) = &wait {
        abandoned = !wait_for_events(http, id, *number, *wait, wake).await;
    }
    let mut ami = Vec::new();
    let mut delay = Duration::ZERO;
    let max_age;
    {
        let mut table = http.table();
        max_age = table.max_age();
        if let Some(entry) = table.get_mut(id) {
            if wait.is_some() && !abandoned {
                entry.waiter = 0;
            }
            if !abandoned {
                run_action(shared, &mut entry.session, &action);
                while let Some(output) = entry.session.poll_output() {
                    match output {
                        Output::Write(bytes) => ami.extend_from_slice(&bytes),
                        Output::Sleep(pause) => delay += pause,
                        Output::Close => entry.destroy = true,
                    }
                }
            }
        }
        table.finish(id, Instant::now());
    }
    // A failed login's pause (Asterisk sleeps before answering), with no lock held.
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    (id, ami, max_age)
}

/// Waits until the session holds an event, `wait` passes, or a newer WaitEvent (or the
/// session's end) takes over. False when this WaitEvent must give up with no answer.
async fn wait_for_events(
    http: &Http,
    id: u32,
    number: u64,
    wait: Duration,
    wake: &tokio::sync::Notify,
) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let notified = wake.notified();
        tokio::pin!(notified);
        // Registered before looking, so a wake between the look and the wait is not lost.
        notified.as_mut().enable();
        {
            let table = http.table();
            let Some(entry) = table.get(id) else {
                return false;
            };
            if entry.waiter != number {
                return false;
            }
            if entry.session.has_held_events() || entry.destroy {
                return true;
            }
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep_until(deadline) => return true,
        }
    }
}

/// Runs one action through the session with the shared PBX, then passes on what it published.
fn run_action(shared: &Shared, session: &mut ServerSession, action: &Request) {
    let mut pbx = shared.pbx();
    pbx.handle_timeout(shared.elapsed_ms());
    let next_timer = pbx.poll_timeout();
    let users = &shared.config.users;
    let mut ctx = Context::new(&mut pbx, users, SystemTime::now());
    session.handle_request_now(action, &mut ctx);
    for event in std::mem::take(&mut ctx.published) {
        let _ = shared.events.send(event);
    }
    shared.flush_events(&mut pbx);
    // An action that started a call added a timer the clock must see.
    if pbx.poll_timeout() != next_timer {
        shared.pbx_wake.notify_one();
    }
}

/// The integer at the start of `text` (`sscanf("%i")`-like; 0 when there is none).
fn leading_int(text: &str) -> i64 {
    let digits_end = text
        .char_indices()
        .find(|&(at, c)| !(c.is_ascii_digit() || (at == 0 && (c == '-' || c == '+'))))
        .map_or(text.len(), |(at, _)| at);
    text[..digits_end].parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_as_asterisk_reads_them() {
        assert_eq!(leading_int("2"), 2);
        assert_eq!(leading_int("-1"), -1);
        assert_eq!(leading_int("15s"), 15);
        assert_eq!(leading_int("x"), 0);
    }
}
