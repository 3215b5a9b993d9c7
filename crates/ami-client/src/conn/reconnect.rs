//! Keeping a connection alive: after a drop, back off, connect and log in again, and answer
//! callers at once while down; at the end, close every caller and subscriber.

use std::future::Future;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;
use tracing::{Instrument, info, warn};

use super::drive::Exit;
use super::{Command, Conn};
use crate::config::{Config, Events, random_u64};
use crate::error::{Error, Kind};
use crate::events::{CloseOnDrop, ConnectionState};

/// Connection role, for logs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    Single,
    Actions,
    Events,
}

/// The future that drives `first` and reconnects it, until the client closes (or a drop with
/// reconnect off). It runs wherever it is polled: `Client::connect` spawns it.
pub(crate) fn driver(
    first: Conn,
    config: Config,
    events: Events,
    prefix: String,
    role: Role,
    commands: mpsc::Receiver<Command>,
) -> impl Future<Output = ()> + Send + 'static {
    let span = tracing::info_span!("ami", server = %config.address(), role = ?role);
    // However this future ends (done, dropped before it ever ran, aborted, or a panic),
    // subscribers end with it instead of waiting for events that will never come.
    let guard = CloseOnDrop(first.shared.hub.clone());
    async move {
        let _guard = guard;
        maintain(first, config, events, prefix, commands).await;
    }
    .instrument(span)
}

async fn maintain(
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
        let reason = match conn.run(&mut commands).await {
            Exit::Closed(done) => {
                close_ack = done;
                break 'connected;
            }
            Exit::Dropped(reason) => reason,
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

/// Answers a command that arrived while the connection is down. False when the client is
/// closing (the handles are gone or `close` was called).
fn refuse_while_down(
    command: Option<Command>,
    close_ack: &mut Option<tokio::sync::oneshot::Sender<()>>,
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
