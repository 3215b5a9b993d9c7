//! Event streams: `GET /v1/events` (Server-Sent Events) and `GET /v1/events/ws` (WebSocket).
//!
//! Query: `server=pbx1` (repeatable or comma-separated; default every server the token may
//! use), `event=Newchannel,Hangup` (default all), `header=Context:demo` (repeatable; all must
//! match, case-insensitive), `backlog=N` (first the last N matching events the gateway saw, at
//! most 256 kept per server), `state=1` (also `state` messages: the live state of each server,
//! whole first, then what changed; `state=only`: those without events). Each list is deduplicated (a server named twice would otherwise
//! deliver every event twice on the one stream) and capped: at most [`MAX_QUERY_SERVERS`]
//! servers, [`MAX_QUERY_EVENTS`] event names and [`MAX_QUERY_HEADERS`] header matches as given,
//! repeats included, or 400. Every message is one JSON object with a `type`: `hello` first,
//! then `event`, `state`, `connection`, `lagged` (the count of events this client missed, at the place
//! they were missed), and `closing` before the gateway ends the stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Sink, SinkExt, StreamExt};
use tokio::sync::{oneshot, watch};

use crate::api::{Caller, forbid, server_for};
use crate::auth::{Held, Use};
use crate::conn::Connection;
use crate::envelope::Envelope;
use crate::error::AppError;
use crate::item::StreamItem;
use crate::live::{STATE_CLASSES, may_read};
use crate::state::{AppState, Denial, Disconnect};
use crate::upstream::{ClientShared, Filter, Registration};
use ami_client::queue::{self, Bound, Received};

/// Most `server=` names one stream query may give (repeats included). A client that wants
/// more servers than this leaves `server=` out and gets every server its token may use; a
/// query naming more is refused, not trimmed, so nothing is silently dropped.
pub(crate) const MAX_QUERY_SERVERS: usize = 64;
/// Most `event=` names one stream query may give (repeats included): Asterisk has about 200
/// event types.
pub(crate) const MAX_QUERY_EVENTS: usize = 256;
/// Most `header=` matches one stream query may give (repeats included): each is checked for
/// every event that reaches the client's filter.
pub(crate) const MAX_QUERY_HEADERS: usize = 64;

/// Appends `item` unless `list` already has it (per `same`), refusing the list once more than
/// `max` items were given: the count includes repeats, so the work done for one query stays
/// bounded whatever it repeats.
fn add_once<T>(
    list: &mut Vec<T>,
    given: &mut usize,
    item: T,
    max: usize,
    what: &str,
    same: impl Fn(&T, &T) -> bool,
) -> Result<(), AppError> {
    *given += 1;
    if *given > max {
        return Err(AppError::bad_request(format!(
            "too many {what} in the query (at most {max}, repeats included)"
        )));
    }
    if !list.iter().any(|existing| same(existing, &item)) {
        list.push(item);
    }
    Ok(())
}

/// The parsed query of an event stream.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct StreamQuery {
    pub(crate) servers: Vec<String>,
    pub(crate) events: Vec<String>,
    pub(crate) headers: Vec<(String, String)>,
    /// Recent matching events to send first (at most [`crate::upstream::BACKLOG`]).
    pub(crate) backlog: usize,
    /// `state` messages wanted (`state=1`), and whether events are not (`state=only`).
    pub(crate) state: bool,
    pub(crate) state_only: bool,
}

impl StreamQuery {
    pub(crate) fn parse(query: Option<&str>) -> Result<Self, AppError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|_| AppError::bad_request("the query string could not be decoded"))?;
        let mut out = Self::default();
        let (mut servers, mut events, mut headers) = (0, 0, 0);
        // Lazily: a list is refused at its first item past the cap, before the rest is copied.
        fn split(value: &str) -> impl Iterator<Item = String> + '_ {
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        }
        for (key, value) in pairs {
            match key.as_str() {
                "server" => {
                    for name in split(&value) {
                        // Server names are matched exactly, as configured.
                        add_once(
                            &mut out.servers,
                            &mut servers,
                            name,
                            MAX_QUERY_SERVERS,
                            "servers",
                            |a, b| a == b,
                        )?;
                    }
                }
                "backlog" => {
                    let wanted: u64 = value
                        .trim()
                        .parse()
                        .map_err(|_| AppError::bad_request("backlog is a number of events"))?;
                    // More than is kept is not an error: it means "all there is".
                    out.backlog = wanted.min(crate::upstream::BACKLOG as u64) as usize;
                }
                "state" => match value.trim() {
                    "" | "0" | "false" | "no" => {
                        out.state = false;
                        out.state_only = false;
                    }
                    "1" | "true" | "yes" => {
                        out.state = true;
                        out.state_only = false;
                    }
                    "only" => {
                        out.state = true;
                        out.state_only = true;
                    }
                    _ => {
                        return Err(AppError::bad_request(
                            "state is 1 (state messages too), only (state messages, no events) or 0",
                        ));
                    }
                },
                "event" => {
                    for name in split(&value) {
                        // Event names are matched without regard to case.
                        add_once(
                            &mut out.events,
                            &mut events,
                            name,
                            MAX_QUERY_EVENTS,
                            "event names",
                            |a, b| a.eq_ignore_ascii_case(b),
                        )?;
                    }
                }
                "header" => {
                    let (name, wanted) = value.split_once(':').ok_or_else(|| {
                        AppError::bad_request("header filters are written header=Name:Value")
                    })?;
                    let name = name.trim();
                    if name.is_empty() {
                        return Err(AppError::bad_request(
                            "header filters are written header=Name:Value",
                        ));
                    }
                    // Header names and values are matched without regard to case.
                    let pair = (name.to_owned(), wanted.trim().to_owned());
                    add_once(
                        &mut out.headers,
                        &mut headers,
                        pair,
                        MAX_QUERY_HEADERS,
                        "header matches",
                        |a, b| a.0.eq_ignore_ascii_case(&b.0) && a.1.eq_ignore_ascii_case(&b.1),
                    )?;
                }
                other => {
                    return Err(AppError::bad_request(format!(
                        "unknown query parameter {other:?} (use server, event, header, backlog, state)"
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// One subscribed stream client: its queue, what it shares with the fan-out tasks, and the
/// hello message.
pub(crate) struct StreamClient {
    rx: queue::Receiver<StreamItem>,
    shared: Arc<ClientShared>,
    shutdown: watch::Receiver<bool>,
    hello: String,
    departure: Departure,
}

impl StreamClient {
    /// Records why the stream ends, when the stream itself sees it (the first reason sticks).
    fn end(&mut self, reason: Disconnect) {
        self.departure.reason.get_or_insert(reason);
    }
}

/// Holds one of the `max_clients` places and one of the token's until the stream ends, then
/// counts and logs the disconnect with its reason. Dropped with the stream however it ends,
/// so a client cut off underneath the stream (its connection dropped by the stall guard or by
/// the peer) is counted too.
struct Departure {
    state: AppState,
    token: String,
    connection: Option<Connection>,
    /// Why the stream ended, if the stream saw it; otherwise its connection went away.
    reason: Option<Disconnect>,
    /// Whether the client got its stream (a refused subscription is no disconnect).
    opened: bool,
    _token_place: Held,
}

impl Drop for Departure {
    fn drop(&mut self) {
        self.state.stream_clients().fetch_sub(1, Ordering::AcqRel);
        if !self.opened {
            return;
        }
        let stalled = self.connection.as_ref().is_some_and(Connection::stalled);
        let reason = self.reason.unwrap_or(if stalled {
            Disconnect::WriteTimeout
        } else if *self.state.shutdown_signal().borrow() {
            Disconnect::Shutdown
        } else {
            Disconnect::ClientClosed
        });
        self.state.count_disconnect(reason);
        let peer = self.connection.as_ref().map(Connection::peer);
        let label = reason.label();
        // The gateway cutting a client off is worth seeing at the default level (as many
        // lines at most as clients were let in); clients leaving and shutdown are not.
        if matches!(reason, Disconnect::WriteTimeout | Disconnect::Lagged) {
            tracing::info!(token = %self.token, ?peer, reason = label, "stream client disconnected");
        } else {
            tracing::debug!(token = %self.token, ?peer, reason = label, "stream client disconnected");
        }
    }
}

/// Checks access, takes a place and registers with every chosen server's fan-out; returns
/// once each has acknowledged, so nothing sent after `hello` is missed.
pub(crate) async fn open(
    state: &AppState,
    caller: &Caller,
    connection: Option<Connection>,
    query: Option<&str>,
) -> Result<StreamClient, AppError> {
    let query = StreamQuery::parse(query)?;
    let servers: Vec<String> = if query.servers.is_empty() {
        state
            .servers()
            .filter(|s| caller.0.may_use_server(s.name()))
            .map(|s| s.name().to_owned())
            .collect()
    } else {
        for name in &query.servers {
            server_for(state, caller, name)?;
        }
        query.servers.clone()
    };
    if servers.is_empty() {
        return Err(forbid(state, caller, "this token may use no server".into()));
    }
    if query.state {
        // The state is made of events: readable where they are (see `crate::live`).
        may_read(state, caller, STATE_CLASSES)?;
    }
    let limits = state.stream_limits();
    // The token's own limit first: one token at its limit must not use up the global places.
    let per_token = caller.0.max_streams.unwrap_or(limits.max_clients_per_token);
    let Some(token_place) = caller.0.hold(Use::Stream, per_token) else {
        if let Some(unlogged) = state.count_denied(Denial::TokenStreamLimit) {
            tracing::warn!(token = %caller.0.name, limit = per_token, unlogged, "stream refused (429): the token holds its limit of streams; `unlogged` more since the last such line");
        }
        return Err(AppError::token_stream_limit(per_token));
    };
    if state.stream_clients().fetch_add(1, Ordering::AcqRel) >= limits.max_clients {
        state.stream_clients().fetch_sub(1, Ordering::AcqRel);
        return Err(AppError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            "the gateway serves as many event streams as it may; retry later",
        ));
    }
    let mut departure = Departure {
        state: state.clone(),
        token: caller.0.name.clone(),
        connection,
        reason: None,
        opened: false,
        _token_place: token_place,
    };
    // Each server's fan-out sends with a lag marker of its own (naming the server).
    let (tx, rx) = queue::bounded(Bound::Items(limits.queue), |missed| StreamItem {
        kind: "lagged",
        data: format!("{{\"type\":\"lagged\",\"missed\":{missed}}}").into(),
    });
    let shared = Arc::new(ClientShared::default());
    let mut names: Vec<Box<[u8]>> = query
        .events
        .iter()
        .map(|name| name.to_ascii_lowercase().into_bytes().into_boxed_slice())
        .collect();
    // A name given twice must not register the client twice for it (it would get each event
    // twice).
    names.sort_unstable();
    names.dedup();
    let filter = Filter {
        names,
        headers: query.headers.clone(),
        classes: caller.0.events.clone(),
    };
    let mut acks = Vec::with_capacity(servers.len());
    for name in &servers {
        let Some(server) = state.server(name) else {
            continue;
        };
        let (ack, acked) = oneshot::channel();
        if server.register(Registration {
            filter: filter.clone(),
            tx: tx.clone(),
            client: shared.clone(),
            ack,
            backlog: query.backlog,
            events: !query.state_only,
            state: query.state,
        }) {
            acks.push(acked);
        }
    }
    drop(tx);
    for acked in acks {
        if tokio::time::timeout(Duration::from_secs(5), acked)
            .await
            .map_or(true, |r| r.is_err())
        {
            return Err(AppError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "upstream_unavailable",
                "the event fan-out did not accept the subscription",
            ));
        }
    }
    let headers: Vec<String> = query
        .headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}"))
        .collect();
    let hello = Envelope::Hello {
        servers: &servers,
        events: &query.events,
        headers: &headers,
        state: query.state,
    }
    .render();
    departure.opened = true;
    Ok(StreamClient {
        rx,
        shared,
        shutdown: state.shutdown_signal(),
        hello,
        departure,
    })
}

fn closing(reason: &str) -> String {
    Envelope::Closing { reason }.render()
}

/// `GET /v1/events`: Server-Sent Events; each SSE `event:` field is the message's `type`.
pub(crate) async fn sse(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    connection: Option<Extension<Connection>>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let connection = connection.map(|Extension(c)| c);
    let client = open(&state, &caller, connection, query.as_deref()).await?;
    let stream =
        futures_util::stream::unfold((client, Phase::Hello), |(mut client, phase)| async move {
            let event = |kind: &str, data: &str| {
                Ok::<_, Infallible>(SseEvent::default().event(kind).data(data))
            };
            match phase {
                Phase::Hello => {
                    let item = event("hello", &client.hello);
                    return Some((item, (client, Phase::Open)));
                }
                Phase::Done => return None,
                Phase::Open => {}
            }
            loop {
                if client.shared.evicted.load(Ordering::Acquire) {
                    client.end(Disconnect::Lagged);
                    let item = event("closing", &closing("slow_consumer"));
                    return Some((item, (client, Phase::Done)));
                }
                tokio::select! {
                    biased;
                    _ = client.shutdown.changed() => {
                        client.end(Disconnect::Shutdown);
                        let item = event("closing", &closing("shutdown"));
                        return Some((item, (client, Phase::Done)));
                    }
                    _ = client.shared.notify.notified() => continue,
                    item = client.rx.recv() => {
                        let Some(item) = item else {
                            client.end(Disconnect::UpstreamGone);
                            return None;
                        };
                        let sse = event(item.kind, item.data.as_str());
                        return Some((sse, (client, Phase::Open)));
                    }
                }
            }
        });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

enum Phase {
    Hello,
    Open,
    Done,
}

/// `GET /v1/events/ws`: the same messages as WebSocket text frames.
pub(crate) async fn websocket(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    connection: Option<Extension<Connection>>,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    let upgrade = upgrade.map_err(|rejection| {
        AppError::bad_request(format!(
            "a WebSocket upgrade is expected here: {}",
            rejection.body_text()
        ))
    })?;
    let connection = connection.map(|Extension(c)| c);
    let mut client = open(&state, &caller, connection, query.as_deref()).await?;
    let write_timeout = Duration::from_millis(state.stream_limits().write_timeout_ms);
    // Small buffers: a stream client sends next to nothing, and with thousands of clients the
    // 128 KiB defaults would dominate the gateway's memory.
    Ok(upgrade
        .max_message_size(64 * 1024)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .on_upgrade(move |socket| async move {
            // None: the connection failed under the stream; the departure then looks at the
            // connection's stall guard to tell a write timeout from a client gone.
            if let Some(reason) = run_websocket(socket, &mut client, write_timeout).await {
                client.end(reason);
            }
        })
        .into_response())
}

/// Ends the reader task with the stream, whichever way the stream ends.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why the reader task ended, for the writer: told through [`Alerter`] and this value.
const READER_RUNNING: u8 = 0;
const READER_CLIENT_GONE: u8 = 1;
const READER_SHUTDOWN: u8 = 2;

/// Serves the stream until it ends; why, when it can tell.
async fn run_websocket(
    socket: WebSocket,
    client: &mut StreamClient,
    write_timeout: Duration,
) -> Option<Disconnect> {
    let (mut sink, mut stream) = socket.split();
    // The client's input is read by a task of its own, which runs only when input arrives
    // (or the gateway stops). Polled beside the writes instead, it was tried once per batch
    // sent, and each try cost a zeroed read buffer: at a thousand clients that was a visible
    // share of the gateway's CPU. It tells the writer through the queue the writer waits on
    // anyway, so each batch waits on one thing, not one per reason to stop.
    let why = Arc::new(AtomicU8::new(READER_RUNNING));
    let alerter = client.rx.alerter();
    let mut shutdown = client.shutdown.clone();
    let reader = tokio::spawn({
        let why = why.clone();
        async move {
            let read = async {
                // Pings are answered by the WebSocket layer; other input is ignored.
                while let Some(Ok(message)) = stream.next().await {
                    if matches!(message, WsMessage::Close(_)) {
                        break;
                    }
                }
            };
            let reason = tokio::select! {
                biased;
                // A closed sender means the gateway is going away as well.
                _ = shutdown.changed() => READER_SHUTDOWN,
                () = read => READER_CLIENT_GONE,
            };
            why.store(reason, Ordering::Release);
            alerter.raise();
        }
    });
    let _reader = AbortOnDrop(reader.abort_handle());
    let hello = std::mem::take(&mut client.hello);
    if let Err(end) = send_within(
        &mut sink,
        write_timeout,
        vec![WsMessage::Text(hello.into())],
    )
    .await
    {
        return end;
    }
    let mut batch = Vec::with_capacity(64);
    loop {
        // Eviction raises an alert too, and the queue of an evicted client is full anyway.
        if client.shared.evicted.load(Ordering::Acquire) {
            say_closing(&mut sink, "slow_consumer", 1008, "slow consumer").await;
            return Some(Disconnect::Lagged);
        }
        match client.rx.recv_many_or_alert(&mut batch, 64).await {
            Received::Ended => return Some(Disconnect::UpstreamGone),
            Received::Alerted => match why.load(Ordering::Acquire) {
                READER_SHUTDOWN => {
                    say_closing(&mut sink, "shutdown", 1001, "gateway shutting down").await;
                    return Some(Disconnect::Shutdown);
                }
                // The client closed, or its connection ended (a stalled connection's reads
                // fail too: the departure checks the stall guard).
                READER_CLIENT_GONE => return None,
                // An eviction: seen at the top of the loop.
                _ => {}
            },
            Received::Items(_) => {
                // The shared bytes become the frame's payload: no copy per client.
                let messages = batch
                    .drain(..)
                    .map(|item| WsMessage::Text(item.data))
                    .collect();
                if let Err(end) = send_within(&mut sink, write_timeout, messages).await {
                    // A client that takes nothing for the whole timeout is gone or stuck.
                    return end;
                }
            }
        }
    }
}

/// The `closing` message and the WebSocket close frame, given a second at most: the stream
/// ends either way.
async fn say_closing<S>(sink: &mut S, reason: &str, code: u16, close_reason: &'static str)
where
    S: Sink<WsMessage> + Unpin,
{
    let messages = vec![
        WsMessage::Text(closing(reason).into()),
        WsMessage::Close(Some(CloseFrame {
            code,
            reason: close_reason.into(),
        })),
    ];
    let _ = send_within(sink, Duration::from_secs(1), messages).await;
}

/// Writes messages and flushes, giving up after `timeout`. The error is the disconnect
/// reason when this layer can tell (its own timeout), None when the socket failed (closed by
/// the peer, or failed by the stall guard underneath).
async fn send_within<S>(
    sink: &mut S,
    timeout: Duration,
    messages: Vec<WsMessage>,
) -> Result<(), Option<Disconnect>>
where
    S: Sink<WsMessage> + Unpin,
{
    let work = async {
        for message in messages {
            sink.feed(message).await?;
        }
        sink.flush().await
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(None),
        Err(_) => Err(Some(Disconnect::WriteTimeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_takes_repeats_commas_and_header_pairs() {
        let query = StreamQuery::parse(Some(
            "server=a,b&server=c&event=Hangup&event=Newchannel,&header=Context:demo&header=Channel%3ASIP%2F100",
        ))
        .expect("valid");
        assert_eq!(query.servers, ["a", "b", "c"]);
        assert_eq!(query.events, ["Hangup", "Newchannel"]);
        assert_eq!(
            query.headers,
            [
                ("Context".to_owned(), "demo".to_owned()),
                ("Channel".to_owned(), "SIP/100".to_owned())
            ]
        );
        assert_eq!(
            StreamQuery::parse(None).expect("empty"),
            StreamQuery::default()
        );
    }

    #[test]
    fn query_lists_count_each_item_once_and_are_capped_as_given() {
        let query = StreamQuery::parse(Some(
            "server=sim,sim&server=sim&event=Hangup,hangup,HANGUP&header=Context:demo&header=context:DEMO",
        ))
        .expect("valid");
        assert_eq!(query.servers, ["sim"]);
        assert_eq!(query.events, ["Hangup"]);
        assert_eq!(query.headers, [("Context".to_owned(), "demo".to_owned())]);
        for (key, max) in [
            ("server", MAX_QUERY_SERVERS),
            ("event", MAX_QUERY_EVENTS),
            ("header", MAX_QUERY_HEADERS),
        ] {
            // Header matches are repeated parameters; names may be comma-separated too.
            let (item, separator) = if key == "header" {
                ("A:b", "&header=")
            } else {
                ("a", ",")
            };
            let at_max = format!("{key}={}", vec![item; max].join(separator));
            assert!(StreamQuery::parse(Some(&at_max)).is_ok(), "{key}");
            // Repeats count: deduplication must not let a huge query through.
            let over = format!("{at_max}&{key}={item}");
            let error = StreamQuery::parse(Some(&over)).expect_err(key);
            assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(
                error.message.contains(&format!("at most {max}")),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn query_asks_for_state_messages_with_or_without_events() {
        let with = StreamQuery::parse(Some("state=1&server=sim")).expect("valid");
        assert!(with.state && !with.state_only);
        let only = StreamQuery::parse(Some("state=only")).expect("valid");
        assert!(only.state && only.state_only);
        let off = StreamQuery::parse(Some("state=0")).expect("valid");
        assert!(!off.state && !off.state_only);
        assert!(!StreamQuery::parse(None).expect("empty").state);
        assert!(StreamQuery::parse(Some("state=maybe")).is_err());
    }

    #[test]
    fn query_refuses_unknown_keys_and_bad_header_filters() {
        assert!(StreamQuery::parse(Some("servers=a")).is_err());
        assert!(StreamQuery::parse(Some("header=NoColon")).is_err());
        assert!(StreamQuery::parse(Some("header=:x")).is_err());
    }
}
