//! Supervision of one server's `ami-client` connection: the first connect (retried with
//! back-off until it succeeds), the client's own reconnects after that, and the status that
//! `GET /v1/servers` shows; or, for a server served from elsewhere, the [`Remote`]'s items.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ami_client::{Backoff, Buffer, Client, EventItem, Subscriber, Subscription};
use tracing::warn;

use super::Upstream;
use super::remote::{Port, Remote, RemoteItem};

/// Connection state as shown by `GET /v1/servers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// First connect (or a fresh connect after the client closed) in progress.
    Connecting,
    /// Logged in.
    Connected,
    /// Down; the client is reconnecting.
    Disconnected,
}

impl LinkState {
    /// The word used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
        }
    }
}

/// What `GET /v1/servers` shows of one server.
#[derive(Debug, Clone)]
pub(crate) struct Status {
    pub(crate) state: LinkState,
    pub(crate) ami_version: Option<String>,
    /// When the state last changed.
    pub(crate) since: Instant,
    pub(crate) since_unix: u64,
    pub(crate) last_error: Option<String>,
    /// The PBX's uptime in seconds when measured, and when that was.
    pub(crate) pbx_uptime: Option<(u64, Instant)>,
}

impl Status {
    /// Connecting, since now.
    pub(crate) fn new() -> Self {
        Self {
            state: LinkState::Connecting,
            ami_version: None,
            since: Instant::now(),
            since_unix: unix_now(),
            last_error: None,
            pbx_uptime: None,
        }
    }

    /// Moves to `state`; a version or an error given replaces the one shown.
    pub(crate) fn set(
        &mut self,
        state: LinkState,
        ami_version: Option<String>,
        error: Option<String>,
    ) {
        if self.state != state {
            self.since = Instant::now();
            self.since_unix = unix_now();
        }
        self.state = state;
        if ami_version.is_some() {
            self.ami_version = ami_version;
        }
        if error.is_some() {
            self.last_error = error;
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

type ConnectFuture = Pin<Box<dyn Future<Output = ami_client::Result<Client>> + Send>>;

/// What [`Link::next`] saw.
pub(crate) enum LinkEvent {
    /// A fresh client is logged in and subscribed (the first connect, or one after the
    /// previous client closed for good), with its AMI version. Later reconnects of the same
    /// client arrive as `EventItem::Connection` items instead (and a remote's logins as
    /// `RemoteItem::Connected`).
    Up(Port, String),
    /// Items of the subscription (or the remote) were moved into the caller's buffers.
    Items,
    /// The client closed for good; a fresh one is being made (after a back-off).
    Closed,
}

/// Where one server's items come from: the gateway's own AMI connection, or a remote.
pub(crate) enum Link {
    Ami(Box<AmiLink>),
    /// A remote's items; `None` once it ended for good.
    Remote(Option<tokio::sync::mpsc::Receiver<RemoteItem>>),
}

impl Link {
    /// The link of a server the gateway logs in to itself; it starts connecting at once.
    pub(crate) fn ami(config: ami_client::Config, buffer: usize) -> Self {
        Self::Ami(Box::new(AmiLink::new(config, buffer)))
    }

    /// The link of a remote server (its port is set on the upstream by the caller).
    pub(crate) fn remote(remote: Remote) -> Self {
        Self::Remote(Some(remote.items))
    }

    /// Waits for the next thing the fan-out must handle; up to `max` items are moved into
    /// `items` (an AMI link's) or `remote` (a remote's). Cancel-safe.
    pub(crate) async fn next(
        &mut self,
        upstream: &Upstream,
        items: &mut Vec<EventItem>,
        remote: &mut Vec<RemoteItem>,
        max: usize,
    ) -> LinkEvent {
        match self {
            Self::Ami(link) => link.next(upstream, items, max).await,
            Self::Remote(receiver) => {
                let Some(rx) = receiver.as_mut() else {
                    return std::future::pending().await;
                };
                if rx.recv_many(remote, max).await > 0 {
                    return LinkEvent::Items;
                }
                // The remote's source ended for good (the process is shutting down, or its
                // task failed): nothing more will come.
                *receiver = None;
                upstream.set_status(
                    LinkState::Disconnected,
                    None,
                    Some("the remote source ended".into()),
                );
                LinkEvent::Closed
            }
        }
    }
}

/// The connection of one server, as a state machine the fan-out loop polls: connecting,
/// waiting to retry, or subscribed to a live client.
pub(crate) struct AmiLink {
    config: ami_client::Config,
    /// How many events the gateway's own subscription may hold before the client drops some.
    buffer: usize,
    backoff: Backoff,
    attempt: u32,
    connect: Option<ConnectFuture>,
    retry: Pin<Box<tokio::time::Sleep>>,
    waiting_retry: bool,
    subscriber: Option<Subscriber>,
}

impl AmiLink {
    /// A link that starts connecting at once.
    pub(crate) fn new(config: ami_client::Config, buffer: usize) -> Self {
        Self {
            connect: Some(Box::pin(Client::connect(config.clone()))),
            config,
            buffer,
            backoff: Backoff::default(),
            attempt: 0,
            retry: Box::pin(tokio::time::sleep(std::time::Duration::ZERO)),
            waiting_retry: false,
            subscriber: None,
        }
    }

    /// Waits for the next thing the fan-out must handle; up to `max` subscription items are
    /// moved into `items`. Cancel-safe: every step's state lives in `self`, so the caller may
    /// drop this future in a `select!` and call again.
    pub(crate) async fn next(
        &mut self,
        upstream: &Upstream,
        items: &mut Vec<EventItem>,
        max: usize,
    ) -> LinkEvent {
        loop {
            tokio::select! {
                result = async { self.connect.as_mut().expect("guarded").await }, if self.connect.is_some() => {
                    self.connect = None;
                    match result {
                        Ok(client) => {
                            self.attempt = 0;
                            self.subscriber = Some(client.subscribe(
                                Subscription::all().buffer(Buffer::Events(self.buffer)),
                            ));
                            upstream.set_port(Some(Port::Ami(client.clone())));
                            let version = client.ami_version();
                            return LinkEvent::Up(Port::Ami(client), version);
                        }
                        Err(error) => {
                            upstream.metrics().connect_failures.fetch_add(1, Ordering::Relaxed);
                            warn!(%error, attempt = self.attempt, "connect failed");
                            upstream.set_status(LinkState::Disconnected, None, Some(error.to_string()));
                            self.schedule_retry(true);
                        }
                    }
                }
                _ = &mut self.retry, if self.waiting_retry => {
                    self.waiting_retry = false;
                    upstream.set_status(LinkState::Connecting, None, None);
                    self.connect = Some(Box::pin(Client::connect(self.config.clone())));
                }
                n = async { self.subscriber.as_mut().expect("guarded").recv_many(items, max).await }, if self.subscriber.is_some() => {
                    if n > 0 {
                        return LinkEvent::Items;
                    }
                    // The client closed for good: start over with a fresh one.
                    self.subscriber = None;
                    upstream.set_port(None);
                    upstream.set_status(LinkState::Disconnected, None, Some("client closed".into()));
                    self.schedule_retry(false);
                    return LinkEvent::Closed;
                }
            }
        }
    }

    /// Connects again after a back-off; `failed`: the last attempt failed (the next waits
    /// longer), rather than a working client closing.
    fn schedule_retry(&mut self, failed: bool) {
        let delay = self.backoff.delay(self.attempt, rand::random());
        self.retry
            .as_mut()
            .reset(tokio::time::Instant::now() + delay);
        if failed {
            self.attempt = self.attempt.saturating_add(1);
        }
        self.waiting_retry = true;
    }
}
