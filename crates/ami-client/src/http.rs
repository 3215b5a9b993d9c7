//! AMI over HTTP (Asterisk's `/rawman`): the transport behind a [`crate::Config`] made from an
//! `http://` or `https://` URL, driven by the same [`Command`]s as a TCP connection, so `call`,
//! `send`, `subscribe` and everything built on them work unchanged.
//!
//! One action per request, each on its own task, so actions run concurrently; the reply body
//! is read by the same decoder and session as a TCP stream ([`wire`]). Events come only by
//! `WaitEvent` long-polling, one poll at a time, delivered to the same hub. The session policy
//! ([`policy`]) decides when a keepalive is due and when the server has forgotten the session;
//! then the client logs in again once, restores its event settings, tells subscribers as a
//! reconnect does, and sends the refused request again (the server ran none of it).

mod link;
mod policy;
mod wire;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ami_proto::Action;
use ami_proto::session::{ActionFailure, Reply};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{Instrument, debug, info, warn};

use crate::config::{Auth, Config, Events, random_u64};
use crate::conn::{Command, Shared};
use crate::error::{Error, Kind, Result};
use crate::events::{CloseOnDrop, ConnectionState, EventItem};
use link::Link;
use policy::{Policy, Verdict};

/// How long a closing client waits for requests in flight, then for its Logoff.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// What every request task shares.
pub(crate) struct Core {
    link: Link,
    config: Config,
    events: Events,
    policy: Mutex<Policy>,
    /// Serialises new logins: requests that all find the session gone log in once.
    login: tokio::sync::Mutex<()>,
    shared: Arc<Shared>,
    prefix: String,
    next_id: AtomicU64,
}

impl Core {
    /// Logs in over HTTP and learns the AMI version; the client's `connect` for an HTTP URL.
    pub(crate) async fn establish(
        config: &Config,
        events: &Events,
        prefix: &str,
        shared: Arc<Shared>,
    ) -> Result<Arc<Self>> {
        let link = Link::new(config).await?;
        let core = Arc::new(Self {
            link,
            config: config.clone(),
            events: events.clone(),
            policy: Mutex::new(Policy::new(config.keepalive, Instant::now().into_std())),
            login: tokio::sync::Mutex::new(()),
            shared,
            prefix: format!("{prefix}h"),
            next_id: AtomicU64::new(1),
        });
        tokio::time::timeout(config.login_timeout, core.log_in())
            .await
            .map_err(|_| Error::new(Kind::LoginTimeout(config.login_timeout)))??;
        core.learn_version().await;
        Ok(core)
    }

    fn policy(&self) -> std::sync::MutexGuard<'_, Policy> {
        self.policy.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn internal_id(&self) -> String {
        format!(
            "{}{}",
            self.prefix,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// One request on the session `cookie` names (or none); the answer's body read.
    async fn exchange(
        &self,
        action: &Action,
        cookie: Option<&str>,
    ) -> Result<(link::Answer, wire::Body)> {
        self.policy().handle_sent(Instant::now().into_std());
        let answer = self.link.get(&wire::query(action), cookie).await?;
        let body = wire::read_body(
            action,
            &answer.body,
            self.config.decode_limits,
            self.config.session_limits,
        );
        Ok((answer, body))
    }

    /// Logs in on a new session: a Challenge first for MD5 (the login must then present the
    /// Challenge's session), the event mask with it, and the settings changed since restored.
    async fn log_in(&self) -> Result<()> {
        let mut login = Action::new("Login").header("Username", self.config.username.as_str());
        let mut cookie = None;
        match self.config.auth {
            Auth::Md5 => {
                let challenge = Action::new("Challenge")
                    .header("AuthType", "MD5")
                    .header("ActionID", self.internal_id());
                let (answer, body) = self.exchange(&challenge, None).await?;
                let key = match body.reply {
                    Some(Ok(reply)) => reply
                        .response()
                        .and_then(|r| r.get("Challenge").map(|c| c.into_owned())),
                    _ => None,
                }
                .ok_or_else(|| Error::new(Kind::Protocol("no MD5 challenge".into())))?;
                login.push("AuthType", "MD5");
                login.push(
                    "Key",
                    ami_proto::connection::md5_key(&key, &self.config.secret),
                );
                cookie = answer.cookie;
            }
            // Plain, and any method added later, log in with the secret itself.
            _ => login.push("Secret", self.config.secret.as_str()),
        }
        if self.events != Events::On {
            login.push("Events", self.events.header_value());
        }
        login.push("ActionID", self.internal_id());
        let presented = cookie.as_ref().map(wire::SessionCookie::header);
        let (answer, body) = self.exchange(&login, presented.as_deref()).await?;
        match body.reply {
            Some(Ok(_)) => {}
            Some(Err(ActionFailure::Server { message, .. })) => {
                return Err(Error::new(Kind::AuthFailed(message)));
            }
            other => {
                return Err(Error::new(Kind::Protocol(format!(
                    "unexpected login answer: {other:?}"
                ))));
            }
        }
        self.policy()
            .handle_login(answer.cookie.or(cookie), Instant::now().into_std());
        self.restore().await;
        Ok(())
    }

    /// Applies the event mask and filters set through the client since it connected.
    async fn restore(&self) {
        let settings = self
            .shared
            .settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut actions = Vec::new();
        if let Some(mask) = settings.events {
            actions.push(Action::new("Events").header("EventMask", mask));
        }
        for filter in settings.filters {
            actions.push(
                Action::new("Filter")
                    .header("Operation", "Add")
                    .header("Filter", filter),
            );
        }
        for action in actions {
            let name = action.name().to_owned();
            let action = action.header("ActionID", self.internal_id());
            if let Err(error) = self.send_once(&action).await {
                warn!(%error, "could not restore the {name}");
            }
        }
    }

    /// The AMI version, which HTTP carries in no banner: CoreSettings' `AMIversion`.
    async fn learn_version(&self) {
        let action = Action::new("CoreSettings").header("ActionID", self.internal_id());
        let version = match self.send_once(&action).await {
            Ok(reply) => reply
                .response()
                .and_then(|r| r.get("AMIversion").map(|v| v.into_owned())),
            Err(error) => {
                debug!(%error, "CoreSettings failed: AMI version unknown");
                None
            }
        };
        *self
            .shared
            .ami_version
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = version.unwrap_or_default();
    }

    /// Sends an action on the current session, logging in again once if the server forgot it.
    pub(crate) async fn send(&self, action: &Action) -> Result<Reply> {
        let mut again = true;
        loop {
            let (generation, cookie) = self.policy().current();
            let (answer, body) = match self.exchange(action, cookie.as_deref()).await {
                Ok(exchanged) => exchanged,
                Err(error) => {
                    if error.is_connection_lost() || error.is_io() || error.is_timeout() {
                        self.down(&error.to_string());
                    }
                    return Err(error);
                }
            };
            let verdict =
                self.policy()
                    .handle_answer(generation, answer.cookie.as_ref(), body.denied);
            match verdict {
                Verdict::Expired if again => self.log_in_again(generation).await?,
                Verdict::Replaced if again => {}
                _ => {
                    self.up();
                    return self.hand_out(body);
                }
            }
            again = false;
        }
    }

    /// Sends once, without the new-login retry (login and restore themselves).
    async fn send_once(&self, action: &Action) -> Result<Reply> {
        let (_, cookie) = self.policy().current();
        let (_, body) = self.exchange(action, cookie.as_deref()).await?;
        self.hand_out(body)
    }

    /// Passes a body's events and notices on; returns its reply as a caller sees it.
    fn hand_out(&self, mut body: wire::Body) -> Result<Reply> {
        let counters = &self.shared.counters;
        if body.unmatched > 0 {
            counters
                .unmatched_responses
                .fetch_add(body.unmatched, Ordering::Relaxed);
        }
        for error in body.skipped.drain(..) {
            counters.decode_errors.fetch_add(1, Ordering::Relaxed);
            warn!(%error, "skipped a packet");
            self.shared.hub.broadcast(&EventItem::Skipped(error));
        }
        if !body.events.is_empty() {
            self.shared.hub.dispatch(&mut body.events);
        }
        match body.reply {
            Some(Ok(reply)) => Ok(reply),
            Some(Err(failure)) => {
                if failure == ActionFailure::ConnectionLost {
                    counters.connection_lost.fetch_add(1, Ordering::Relaxed);
                }
                Err(Error::from_failure(failure))
            }
            None => Err(Error::new(Kind::Protocol(
                "a reply without ActionID".into(),
            ))),
        }
    }

    /// The server forgot session `generation`: log in again, unless another request already
    /// has. Subscribers see it as a reconnect: `Disconnected`, then `Connected`.
    async fn log_in_again(&self, generation: u64) -> Result<()> {
        let _one_at_a_time = self.login.lock().await;
        if !self.policy().needs_login(generation) {
            return Ok(());
        }
        info!("HTTP session expired; logging in again");
        self.down("HTTP manager session expired");
        self.shared
            .counters
            .reconnects
            .fetch_add(1, Ordering::Relaxed);
        tokio::time::timeout(self.config.login_timeout, self.log_in())
            .await
            .map_err(|_| Error::new(Kind::LoginTimeout(self.config.login_timeout)))??;
        self.up();
        Ok(())
    }

    fn down(&self, reason: &str) {
        if self.policy().mark_down() {
            warn!(%reason, "HTTP link down");
            self.shared
                .hub
                .connection_state(ConnectionState::Disconnected {
                    reason: reason.to_owned(),
                });
        }
    }

    fn up(&self) {
        if self.policy().mark_up() {
            let version = self
                .shared
                .ami_version
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            self.shared
                .hub
                .connection_state(ConnectionState::Connected {
                    ami_version: version,
                });
        }
    }

    /// Tells the first subscribers the client is connected.
    pub(crate) fn announce(&self) {
        let version = self
            .shared
            .ami_version
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        info!(ami_version = %version, "connected over HTTP");
        self.shared
            .hub
            .connection_state(ConnectionState::Connected {
                ami_version: version,
            });
    }

    /// Long-polls WaitEvent, one poll at a time, until the client closes. A failed poll is
    /// retried with the reconnect back-off; with reconnect off it ends the client, as a TCP
    /// drop would. True when it ended for a failed link.
    async fn poll_events(self: Arc<Self>) -> bool {
        let mut attempt = 0u32;
        loop {
            let seconds = self.policy().wait_seconds();
            let action = Action::new("WaitEvent")
                .header("Timeout", seconds.to_string())
                .header("ActionID", self.internal_id());
            // The server holds the request for up to `seconds`: allow that plus an action's time.
            let limit = Duration::from_secs(seconds) + self.config.action_timeout;
            let result = match tokio::time::timeout(limit, self.send(&action)).await {
                Ok(result) => result,
                Err(_) => Err(Error::new(Kind::ActionTimeout(limit))),
            };
            match result {
                Ok(_) => attempt = 0,
                Err(error) if error.kind() == crate::ErrorKind::Server => {
                    // A user without the right to WaitEvent: no events, but no reason to hammer.
                    warn!(%error, "WaitEvent refused; no events over HTTP");
                    return false;
                }
                Err(error) => {
                    self.down(&error.to_string());
                    let Some(backoff) = self.config.reconnect else {
                        return true;
                    };
                    tokio::time::sleep(backoff.delay(attempt, random_u64())).await;
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }

    /// Pings an idle session before the server's timeout would end it (events off; with
    /// events on, the WaitEvent polls keep it alive). True when it ended for a failed link.
    async fn keep_alive(self: Arc<Self>) -> bool {
        loop {
            let Some(due) = self.policy().poll_keepalive() else {
                return false;
            };
            if due > Instant::now().into_std() {
                tokio::time::sleep_until(Instant::from_std(due)).await;
                continue;
            }
            let ping = Action::new("Ping").header("ActionID", self.internal_id());
            if let Err(error) = self.send(&ping).await {
                debug!(%error, "keepalive failed");
                if self.config.reconnect.is_none() {
                    return true;
                }
                if let Some(backoff) = self.config.reconnect {
                    tokio::time::sleep(backoff.delay(0, random_u64())).await;
                }
            }
        }
    }
}

/// The future that runs an HTTP client until it closes: callers' actions on tasks of their
/// own, the event poll or the keepalive beside them.
pub(crate) fn driver(
    core: Arc<Core>,
    commands: mpsc::Receiver<Command>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let span = tracing::info_span!("ami", server = %core.config.address(), transport = "http");
    let guard = CloseOnDrop(core.shared.hub.clone());
    async move {
        let _guard = guard;
        run(core, commands).await;
    }
    .instrument(span)
}

async fn run(core: Arc<Core>, mut commands: mpsc::Receiver<Command>) {
    let mut requests = JoinSet::new();
    let mut background = JoinSet::new();
    if core.events != Events::Off {
        background.spawn(core.clone().poll_events());
    } else if core.config.keepalive.is_some() {
        background.spawn(core.clone().keep_alive());
    }
    let mut close_ack: Option<oneshot::Sender<()>> = None;
    let mut log_off = false;
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Action { action, reply, timeout }) => {
                    if let Err(error) = ami_proto::check_action(&action) {
                        let refused = ami_proto::session::StartError::Encode(error);
                        let _ = reply.send(Err(Error::new(Kind::Refused(refused))));
                        continue;
                    }
                    core.shared.counters.actions.fetch_add(1, Ordering::Relaxed);
                    let core = core.clone();
                    requests.spawn(async move {
                        let result = match tokio::time::timeout(timeout, core.send(&action)).await {
                            Ok(result) => result,
                            Err(_) => Err(Error::new(Kind::ActionTimeout(timeout))),
                        };
                        let _ = reply.send(result);
                    });
                }
                Some(Command::Close { done }) => {
                    close_ack = Some(done);
                    log_off = true;
                    break;
                }
                None => break,
            },
            Some(_) = requests.join_next(), if !requests.is_empty() => {}
            Some(ended) = background.join_next(), if !background.is_empty() => {
                if ended.unwrap_or(false) {
                    // The poll gave up on a failed link: the client ends, as over TCP.
                    break;
                }
            }
        }
    }
    background.abort_all();
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
    // Actions already sent get their replies, within a grace; the rest fail as closed.
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while requests.join_next().await.is_some() {}
    })
    .await;
    requests.abort_all();
    if log_off {
        let logoff = Action::new("Logoff").header("ActionID", core.internal_id());
        let _ = tokio::time::timeout(CLOSE_GRACE, core.send_once(&logoff)).await;
    }
    core.shared.hub.close();
    if let Some(done) = close_ack {
        let _ = done.send(());
    }
    info!("HTTP client ended");
}
