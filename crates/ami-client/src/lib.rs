//! Async (tokio) client for the Asterisk Manager Interface that never loses a response or an
//! event.
//!
//! ```
//! use ami_client::{Client, Config, EventItem, Subscription};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let sim = ami_sim::spawn(ami_sim::SimConfig::default()).await?;
//! # let (host, port) = (sim.addr().ip().to_string(), sim.addr().port());
//! let client = Client::connect(Config::new(host, "admin", "amp111").port(port)).await?;
//! println!("AMI {}", client.ami_version());
//!
//! let mut hangups = client.subscribe(Subscription::all().events(["Hangup"]));
//! let pong = client.ping().await?;
//! assert!(pong.value_is("Ping", "Pong"));
//!
//! let channels = client.core_show_channels().await?;
//! println!("{} channels up", channels.items.len());
//! # drop(hangups.try_recv());
//! client.close().await;
//! # sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Every catalogued action has a builder in [`ami_catalog::actions`](mod@ami_catalog::actions):
//! [`Client::call`] sends it and returns its typed reply (list items as zero-copy views), and
//! [`Client::subscribe_to`] yields the events of one kind typed. Any action the catalog knows
//! is checked for its required parameters before it is written
//! ([`Error::missing_parameter`]).
//!
//! The shape is handle + driver: [`Client`] is cheap to clone and usable from any task; one
//! connection task per socket is a thin IO pump around an [`ami_proto::connection::Connection`],
//! the sans-IO state that logs in, keeps every action's deadline, pings, and caps the output
//! buffer, over an [`ami_proto::session::Session`] that pairs each response with its caller
//! **by ActionID** and gathers list actions whatever the server version. [`Client::connect`]
//! spawns that task; [`Client::connect_split`] hands it back as a [`Connection`] future to run
//! wherever the caller likes. Events go to each [`Subscriber`] through its own bounded queue
//! (the lossy [`queue`], which a gateway's stream clients use as well); the reader never waits
//! for a subscriber, and one that falls behind reads [`EventItem::Lagged`] with the number it
//! missed. Subscription filters run outside the client's locks; one that panics ends only its
//! own subscription. On a drop the client reconnects with
//! back-off, logs in again, restores the event mask and filters, and tells subscribers with
//! [`EventItem::Connection`]; actions in flight fail with [`Error::is_connection_lost`], never
//! silently retried.

mod call;
mod config;
mod conn;
mod error;
mod events;
mod http;
pub mod live;
pub mod queue;
mod stream;
mod transport;
pub mod typed;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

pub use ami_proto::session::{CommandOutput, List, Reply};
pub use ami_proto::{Action, Message};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use config::{Auth, Backoff, Config, Events, Tls, TlsTrust, parse_sha256_pin};
pub use error::{Error, ErrorKind, Result};
pub use events::{
    Buffer, ConnectionState, DEFAULT_BUFFER_BYTES, Empty, Event, EventItem, Subscriber,
    Subscription,
};
pub use stream::{Typed, TypedItem, TypedSubscriber};

use conn::{Command, Conn, Counters, Role, Settings, Shared};
use error::Kind;
use events::Hub;

/// A handle to one AMI server (one connection, or two in split mode). Clone it freely.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    actions: mpsc::Sender<Command>,
    /// The events connection in split mode; otherwise the same as `actions`.
    events: mpsc::Sender<Command>,
    hub: Arc<Hub>,
    counters: Arc<Counters>,
    settings: Arc<Mutex<Settings>>,
    ami_version: Arc<Mutex<String>>,
    prefix: String,
    next_id: AtomicU64,
    action_timeout: Duration,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// Counters for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Actions sent.
    pub actions: u64,
    /// Events received and offered to subscribers.
    pub events_received: u64,
    /// Events dropped for subscribers that fell behind (each told with `Lagged`).
    pub events_lagged: u64,
    /// Reconnect attempts.
    pub reconnects: u64,
    /// Actions failed because the connection dropped under them.
    pub connection_lost: u64,
    /// Responses that matched no waiting action (passed to subscribers as events).
    pub unmatched_responses: u64,
    /// Packets skipped for breaking decoder limits.
    pub decode_errors: u64,
}

const COMMAND_QUEUE: usize = 1024;

/// One socket's driver: the connection task's body.
type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The work of a client's connection(s), from [`Client::connect_split`]: reads, writes,
/// timeouts, keepalive and reconnects. Poll it (spawn it) for the [`Client`] to work; it
/// completes once the client is closed, or its connection dropped with reconnect off.
#[must_use = "the client does nothing until its connection future runs"]
pub struct Connection {
    work: Driver,
}

impl Future for Connection {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.work.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl Client {
    /// Connects, reads the banner and logs in (both within the configured timeouts), then
    /// spawns the connection task(s). A refused login is [`Error::is_auth_failed`].
    pub async fn connect(config: Config) -> Result<Self> {
        Self::connect_spawned(config, Arc::new(Hub::default())).await
    }

    /// Like [`Client::connect`], with a subscriber that exists before the connection does: it
    /// also receives the first `Connected` item and the events sent during and right after the
    /// first login (`FullyBooted`, or a server that streams from login on), which a subscriber
    /// made after `connect` returns would miss.
    pub async fn connect_subscribed(
        config: Config,
        subscription: Subscription,
    ) -> Result<(Self, Subscriber)> {
        let hub = Arc::new(Hub::default());
        let subscriber = hub.subscribe(subscription);
        let client = Self::connect_spawned(config, hub).await?;
        Ok((client, subscriber))
    }

    /// Like [`Client::connect`], but spawns nothing: the returned [`Connection`] is the
    /// future that does all the work on the socket(s) (reads, writes, timeouts, keepalive,
    /// reconnects), to run wherever the caller likes, as with tokio-postgres. Until it is
    /// polled, actions wait (and time out) and no event arrives. It completes once the client
    /// is closed (or its connection dropped with reconnect off).
    ///
    /// ```
    /// use ami_client::{Client, Config};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let sim = ami_sim::spawn(ami_sim::SimConfig::default()).await?;
    /// # let (host, port) = (sim.addr().ip().to_string(), sim.addr().port());
    /// let (client, connection) =
    ///     Client::connect_split(Config::new(host, "admin", "amp111").port(port)).await?;
    /// // Here on this runtime; a dedicated runtime or a `LocalSet` would do as well.
    /// let driver = tokio::spawn(connection);
    ///
    /// let pong = client.ping().await?;
    /// assert!(pong.value_is("Ping", "Pong"));
    ///
    /// client.close().await;
    /// driver.await?; // the connection future ends with the client
    /// # sim.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_split(config: Config) -> Result<(Self, Connection)> {
        let (client, drivers) = Self::connect_with_hub(config, Arc::new(Hub::default())).await?;
        let work: Pin<Box<dyn Future<Output = ()> + Send>> = match <[_; 2]>::try_from(drivers) {
            // Split mode: both sockets in the one future.
            Ok([first, second]) => Box::pin(async move {
                tokio::join!(first, second);
            }),
            Err(drivers) => Box::pin(async move {
                for driver in drivers {
                    driver.await;
                }
            }),
        };
        Ok((client, Connection { work }))
    }

    async fn connect_spawned(config: Config, hub: Arc<Hub>) -> Result<Self> {
        let (client, drivers) = Self::connect_with_hub(config, hub).await?;
        let tasks = drivers.into_iter().map(tokio::spawn).collect();
        *client.inner.tasks.lock().unwrap_or_else(|p| p.into_inner()) = tasks;
        Ok(client)
    }

    /// Connects and logs in; returns the client and the driver of each socket, not yet running.
    async fn connect_with_hub(config: Config, hub: Arc<Hub>) -> Result<(Self, Vec<Driver>)> {
        if config.host.is_empty() {
            return Err(Error::config("empty host", None));
        }
        let prefix = config
            .action_id_prefix
            .clone()
            .unwrap_or_else(|| format!("amikit-{:08x}-", config::random_u64() as u32));
        let counters = Arc::new(Counters::default());
        let settings = Arc::new(Mutex::new(Settings::default()));
        let ami_version = Arc::new(Mutex::new(String::new()));
        let shared = Arc::new(Shared {
            hub: hub.clone(),
            counters: counters.clone(),
            settings: settings.clone(),
            ami_version: ami_version.clone(),
        });
        let mut drivers: Vec<Driver> = Vec::new();
        let (actions, events) = if config.http.is_some() {
            // Over HTTP every action is a request of its own: a split changes nothing.
            let core =
                http::Core::establish(&config, &config.events, &format!("{prefix}c"), shared)
                    .await?;
            core.announce();
            let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
            drivers.push(Box::pin(http::driver(core, rx)));
            (tx.clone(), tx)
        } else if config.split {
            // The action connection wants no events; the event connection carries the settings.
            let action_shared = Arc::new(Shared {
                hub: hub.clone(),
                counters: counters.clone(),
                settings: Arc::new(Mutex::new(Settings::default())),
                ami_version: ami_version.clone(),
            });
            let action_prefix = format!("{prefix}a");
            let event_prefix = format!("{prefix}e");
            let mut first =
                Conn::establish(&config, &Events::Off, &action_prefix, action_shared).await?;
            let mut second =
                Conn::establish(&config, &config.events, &event_prefix, shared).await?;
            first.announce();
            second.announce();
            let (action_tx, action_rx) = mpsc::channel(COMMAND_QUEUE);
            let (event_tx, event_rx) = mpsc::channel(COMMAND_QUEUE);
            drivers.push(Box::pin(conn::driver(
                first,
                config.clone(),
                Events::Off,
                action_prefix,
                Role::Actions,
                action_rx,
            )));
            drivers.push(Box::pin(conn::driver(
                second,
                config.clone(),
                config.events.clone(),
                event_prefix,
                Role::Events,
                event_rx,
            )));
            (action_tx, event_tx)
        } else {
            let conn_prefix = format!("{prefix}c");
            let mut first = Conn::establish(&config, &config.events, &conn_prefix, shared).await?;
            // Only a `connect_subscribed` subscriber exists yet to see what arrived during login.
            first.announce();
            let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
            drivers.push(Box::pin(conn::driver(
                first,
                config.clone(),
                config.events.clone(),
                conn_prefix,
                Role::Single,
                rx,
            )));
            (tx.clone(), tx)
        };
        let client = Self {
            inner: Arc::new(Inner {
                actions,
                events,
                hub,
                counters,
                settings,
                ami_version,
                prefix,
                next_id: AtomicU64::new(1),
                action_timeout: config.action_timeout,
                tasks: Mutex::new(Vec::new()),
            }),
        };
        Ok((client, drivers))
    }

    /// The AMI version from the server's banner (`11.0.0` on Asterisk 22, `2.10.6` on 13 ...).
    pub fn ami_version(&self) -> String {
        self.inner
            .ami_version
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sends any action and waits for its reply, within the configured action timeout. An
    /// `ActionID` is added from the client's counter unless the action has one.
    pub async fn send(&self, action: Action) -> Result<Reply> {
        self.send_with_timeout(action, self.inner.action_timeout)
            .await
    }

    /// [`Client::send`] with its own timeout. On timeout the action is forgotten; a late reply
    /// is passed on as an unmatched response.
    pub async fn send_with_timeout(&self, action: Action, timeout: Duration) -> Result<Reply> {
        let action = self.ensure_action_id(action);
        self.send_on(&self.inner.actions, action, timeout).await
    }

    /// Sends an action and also returns a [`Subscriber`] that receives every later event
    /// carrying its ActionID (the `OriginateResponse` of an async Originate, for one). The
    /// follower is registered before the action leaves, so none is missed.
    pub async fn send_following(&self, action: Action) -> Result<(Reply, Subscriber)> {
        let (action, id) = self.with_action_id(action);
        let follower = self.inner.hub.follow(&id, Buffer::default());
        let reply = self
            .send_on(&self.inner.actions, action, self.inner.action_timeout)
            .await?;
        Ok((reply, follower))
    }

    fn with_action_id(&self, mut action: Action) -> (Action, String) {
        let id = match action.action_id() {
            Some(id) => String::from_utf8_lossy(id).into_owned(),
            None => {
                let id = self.next_action_id();
                let text = String::from_utf8_lossy(&id).into_owned();
                action.push("ActionID", id);
                text
            }
        };
        (action, id)
    }

    /// Gives `action` an ActionID unless it has one. The hot path of every action: the ID is
    /// built once, as the header value itself.
    fn ensure_action_id(&self, mut action: Action) -> Action {
        if action.action_id().is_none() {
            action.push("ActionID", self.next_action_id());
        }
        action
    }

    fn next_action_id(&self) -> Vec<u8> {
        let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let prefix = self.inner.prefix.as_bytes();
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(n).as_bytes();
        // Exactly sized: the session keeps this very buffer as its key.
        let mut id = Vec::with_capacity(prefix.len() + digits.len());
        id.extend_from_slice(prefix);
        id.extend_from_slice(digits);
        id
    }

    async fn send_on(
        &self,
        channel: &mpsc::Sender<Command>,
        action: Action,
        timeout: Duration,
    ) -> Result<Reply> {
        call::check_required(&action)?;
        let (reply, answer) = oneshot::channel();
        let command = Command::Action {
            action,
            reply,
            timeout,
        };
        // The connection task enforces the timeout from the moment it takes the action, so the
        // usual path needs no timer of its own (a timer per action was a tenth of the CPU of
        // a Ping). Only a full queue, where the wait is unbounded, needs one here.
        match channel.try_send(command) {
            Ok(()) => answer.await.map_err(|_| Error::new(Kind::Closed))?,
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Error::new(Kind::Closed)),
            Err(mpsc::error::TrySendError::Full(command)) => {
                let work = async {
                    channel
                        .send(command)
                        .await
                        .map_err(|_| Error::new(Kind::Closed))?;
                    answer.await.map_err(|_| Error::new(Kind::Closed))?
                };
                match tokio::time::timeout(timeout, work).await {
                    Ok(result) => result,
                    Err(_) => Err(Error::new(Kind::ActionTimeout(timeout))),
                }
            }
        }
    }

    /// Sends an action on the event connection (the same one unless split).
    async fn send_events_conn(&self, action: Action) -> Result<Reply> {
        let action = self.ensure_action_id(action);
        self.send_on(&self.inner.events, action, self.inner.action_timeout)
            .await
    }

    /// A new subscriber for the events matching `subscription`.
    pub fn subscribe(&self, subscription: Subscription) -> Subscriber {
        self.inner.hub.subscribe(subscription)
    }

    /// Changes which events the server sends (`Action: Events`); restored after reconnects.
    pub async fn set_events(&self, events: Events) -> Result<Reply> {
        let mask = events.header_value().to_owned();
        let reply = self
            .send_events_conn(Action::new("Events").header("EventMask", mask.as_str()))
            .await?;
        self.inner
            .settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .events = Some(mask);
        Ok(reply)
    }

    /// Adds a server-side event filter (`Action: Filter`, `Operation: Add`), such as
    /// `Event: Hangup` or `!Event: VarSet`; restored after reconnects. Asterisk 1.8 has no
    /// Filter action: use [`Subscription`] filters there.
    pub async fn add_filter(&self, filter: &str) -> Result<Reply> {
        let reply = self
            .send_events_conn(
                Action::new("Filter")
                    .header("Operation", "Add")
                    .header("Filter", filter),
            )
            .await?;
        self.inner
            .settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .filters
            .push(filter.to_owned());
        Ok(reply)
    }

    /// Counters so far.
    pub fn metrics(&self) -> Metrics {
        let counters = &self.inner.counters;
        Metrics {
            actions: counters.actions.load(Ordering::Relaxed),
            events_received: self.inner.hub.events_received.load(Ordering::Relaxed),
            events_lagged: self.inner.hub.events_lagged.load(Ordering::Relaxed),
            reconnects: counters.reconnects.load(Ordering::Relaxed),
            connection_lost: counters.connection_lost.load(Ordering::Relaxed),
            unmatched_responses: counters.unmatched_responses.load(Ordering::Relaxed),
            decode_errors: counters.decode_errors.load(Ordering::Relaxed),
        }
    }

    /// Logs off and ends the connection task(s): actions already sent get their replies (or
    /// [`Error::is_closed`] after a 2 s grace), later ones fail with `is_closed`, subscribers
    /// drain and then end. Every clone of this client is closed.
    pub async fn close(&self) {
        let mut acks = Vec::new();
        let mut channels = vec![&self.inner.actions];
        if !self.inner.events.same_channel(&self.inner.actions) {
            channels.push(&self.inner.events);
        }
        for channel in channels {
            let (done, ack) = oneshot::channel();
            if channel.send(Command::Close { done }).await.is_ok() {
                acks.push(ack);
            }
        }
        for ack in acks {
            let _ = ack.await;
        }
        let tasks =
            std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("prefix", &self.inner.prefix)
            .field("ami_version", &self.ami_version())
            .finish()
    }
}
