//! The resync: what the gateway asks a PBX on every (re)connect, as the seed of the PBX gauges
//! (`CoreShowChannels`, `QueueStatus`), the uptime (`core show uptime seconds`) and each
//! action's write classes (`ListCommands`).

use std::time::{Duration, Instant};

use ami_client::{Action, Client, Reply};
use ami_proto::Message;
use tracing::{debug, warn};

use super::Upstream;
use crate::privilege::ActionClasses;

/// How long each snapshot action may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Asks the PBX for each action's write classes (`ListCommands`, on every version); `None`
/// on failure, and then the classes already known are kept: a reconnect to the same PBX does
/// not change them, and with none known every action stays sensitive to a `"*"`.
pub(crate) async fn learn_action_classes(client: &Client) -> Option<ActionClasses> {
    match client
        .send_with_timeout(Action::new("ListCommands"), TIMEOUT)
        .await
    {
        Ok(Reply::Response(response)) => {
            let classes = ActionClasses::from_list_commands(&response);
            debug!(actions = classes.len(), "action classes learnt");
            Some(classes)
        }
        Ok(_) => {
            warn!("ListCommands answered in an unexpected form; action classes unchanged");
            None
        }
        Err(error) => {
            warn!(%error, "ListCommands failed; action classes unchanged");
            None
        }
    }
}

/// What one resync read from the PBX.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The items of `CoreShowChannels`; `None` if it failed (the gauges are then left alone).
    channels: Option<Vec<Message>>,
    /// The items of `QueueStatus`; `None` if it failed.
    queues: Option<Vec<Message>>,
    /// The PBX's uptime in seconds, if the account may run `Command`.
    uptime: Option<u64>,
    /// When the answers were in (the uptime is counted from here).
    taken: Instant,
}

/// Asks the PBX for a snapshot. The three actions are queued on the client, in this order,
/// before `issued` is called (so whoever is told learns that they are on their way), then
/// answered concurrently.
pub(crate) async fn take(client: &Client, issued: impl FnOnce()) -> Snapshot {
    use futures_util::future::maybe_done;
    let list = |reply: ami_client::Result<Reply>| match reply {
        Ok(Reply::List(list)) => Some(list.items),
        Ok(_) => Some(Vec::new()),
        Err(error) => {
            debug!(%error, "snapshot action failed");
            None
        }
    };
    let channels = maybe_done(client.send_with_timeout(Action::new("CoreShowChannels"), TIMEOUT));
    let queues = maybe_done(client.send_with_timeout(Action::new("QueueStatus"), TIMEOUT));
    let uptime = maybe_done(client.send_with_timeout(
        Action::new("Command").header("Command", "core show uptime seconds"),
        TIMEOUT,
    ));
    let (mut channels, mut queues, mut uptime) = (
        std::pin::pin!(channels),
        std::pin::pin!(queues),
        std::pin::pin!(uptime),
    );
    // One poll each queues the action (a client queues an action on its first poll).
    std::future::poll_fn(|cx| {
        let _ = channels.as_mut().poll(cx);
        let _ = queues.as_mut().poll(cx);
        let _ = uptime.as_mut().poll(cx);
        std::task::Poll::Ready(())
    })
    .await;
    issued();
    tokio::join!(channels.as_mut(), queues.as_mut(), uptime.as_mut());
    let uptime = match uptime.as_mut().take_output() {
        Some(Ok(Reply::Command(output))) => parse_uptime(&output.output),
        _ => None,
    };
    Snapshot {
        channels: channels.as_mut().take_output().and_then(list),
        queues: queues.as_mut().take_output().and_then(list),
        uptime,
        taken: Instant::now(),
    }
}

impl Snapshot {
    /// Seeds `upstream`'s gauges and uptime with this snapshot.
    pub(crate) fn apply(self, upstream: &Upstream) {
        if let Some(channels) = &self.channels {
            upstream
                .lock_gauges()
                .reset(channels, self.queues.as_deref().unwrap_or_default());
        }
        upstream.set_pbx_uptime(self.uptime.map(|secs| (secs, self.taken)));
    }
}

/// The PBX uptime from `core show uptime seconds`: `System uptime: 3600`, or the worded form
/// (`2 weeks, 1 day, 3 hours, 5 minutes, 10 seconds`) some versions print regardless.
fn parse_uptime(text: &str) -> Option<u64> {
    let rest = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("System uptime:"))?
        .trim();
    if let Ok(seconds) = rest.parse() {
        return Some(seconds);
    }
    let mut total = 0u64;
    let mut any = false;
    for part in rest.split(',') {
        let mut words = part.split_whitespace();
        let (Some(n), Some(unit)) = (words.next(), words.next()) else {
            return None;
        };
        let n: u64 = n.trim_start_matches('<').parse().ok()?;
        let size = match unit.trim_end_matches('s') {
            "year" => 365 * 86_400,
            "week" => 7 * 86_400,
            "day" => 86_400,
            "hour" => 3_600,
            "minute" => 60,
            "second" => 1,
            _ => return None,
        };
        total = total.saturating_add(n.saturating_mul(size));
        any = true;
    }
    any.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_is_read_from_the_seconds_form() {
        assert_eq!(
            parse_uptime("System uptime: 3600\nLast reload: 60\n"),
            Some(3600)
        );
        assert_eq!(parse_uptime("System uptime: 1 hour\n"), Some(3600));
        assert_eq!(
            parse_uptime("System uptime: 2 weeks, 1 day, 7 minutes, 16 seconds\n"),
            Some(15 * 86_400 + 436)
        );
        assert_eq!(parse_uptime("System uptime: a while\n"), None);
        assert_eq!(parse_uptime(""), None);
    }
}
