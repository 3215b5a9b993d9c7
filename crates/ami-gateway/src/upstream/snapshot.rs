//! The resync: what the gateway asks a PBX on every login, as the seed of the PBX gauges
//! (`CoreShowChannels`, `QueueStatus`), the uptime (`core show uptime seconds`) and each
//! action's write classes (`ListCommands`); and the snapshot it takes again after its
//! subscription lost events (lost `Hangup`s would leave the gauges wrong for good).
//!
//! Each resync runs as a task of its own and reports to the fan-out loop, which applies the
//! result: the loop never waits on the PBX, so registrations, events and shutdown go on while
//! a slow PBX answers (it used to stall them up to 30 s on every reconnect). The events that
//! arrive meanwhile are applied to the gauges at once and journalled; the snapshot replaces the
//! gauges and the journal is replayed over it, which is exact because every gauge event sets
//! its key's state outright (see `crate::pbx`).

use std::time::{Duration, Instant};

use ami_client::{Action, Client, Reply};
use ami_json::cli_output::system_uptime_seconds;
use ami_proto::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
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
    /// The PBX's uptime in seconds if it was asked (`None`: not asked), when the account may
    /// run `Command`.
    uptime: Option<Option<u64>>,
    /// When the answers were in (the uptime is counted from here).
    taken: Instant,
}

/// Asks the PBX for a snapshot: its channels, queues and (with `uptime`) its uptime. The
/// actions go out together (a client queues each on its first poll) and are answered
/// concurrently, in at most [`TIMEOUT`].
pub(crate) async fn take(client: &Client, uptime: bool) -> Snapshot {
    let list = |reply: ami_client::Result<Reply>| match reply {
        Ok(Reply::List(list)) => Some(list.items),
        Ok(_) => Some(Vec::new()),
        Err(error) => {
            debug!(%error, "snapshot action failed");
            None
        }
    };
    let ask_uptime = async {
        if !uptime {
            return None;
        }
        let reply = client
            .send_with_timeout(
                Action::new("Command").header("Command", "core show uptime seconds"),
                TIMEOUT,
            )
            .await;
        Some(match reply {
            Ok(Reply::Command(output)) => system_uptime_seconds(&output.output),
            _ => None,
        })
    };
    let (channels, queues, uptime) = tokio::join!(
        client.send_with_timeout(Action::new("CoreShowChannels"), TIMEOUT),
        client.send_with_timeout(Action::new("QueueStatus"), TIMEOUT),
        ask_uptime,
    );
    Snapshot {
        channels: list(channels),
        queues: list(queues),
        uptime,
        taken: Instant::now(),
    }
}

impl Snapshot {
    /// Seeds `upstream`'s gauges with this snapshot (the events journalled since the resync
    /// started are replayed over it: see `crate::pbx`), and its uptime if it was asked.
    pub(crate) fn apply(self, upstream: &Upstream) {
        upstream.lock_gauges().finish_resync(
            self.channels.as_deref(),
            self.queues.as_deref().unwrap_or_default(),
        );
        if let Some(uptime) = self.uptime {
            upstream.set_pbx_uptime(uptime.map(|secs| (secs, self.taken)));
        }
    }
}

/// How long a login waits for its snapshot before the server is shown as connected anyway.
/// A healthy PBX answers in milliseconds, and then `GET /v1/servers` shows it connected with
/// its uptime known; a slow one is usable after this while its snapshot is still on the way.
const LINK_UP_GRACE: Duration = Duration::from_secs(2);

/// After lost events, another snapshot starts no sooner than this after the last one started
/// (a PBX that floods the gateway is not also asked for its channels back to back).
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// A resync job's report to the fan-out loop.
#[derive(Debug)]
pub(crate) enum Progress {
    /// The action classes (login jobs only, first): learnt, or `None` if `ListCommands`
    /// failed.
    Classes(Option<ActionClasses>),
    /// The login may be shown as connected (login jobs only, once): its snapshot is in, or
    /// took longer than [`LINK_UP_GRACE`].
    LinkUp {
        /// The AMI version of the session that logged in.
        ami_version: String,
    },
    /// The snapshot is in (last).
    Done(Snapshot),
}

/// The resyncs of one server, run as tasks of their own so the fan-out loop never waits on
/// the PBX: at most one at a time, its reports read by the loop through [`Resync::next`].
pub(crate) struct Resync {
    reports: mpsc::UnboundedSender<(u64, Progress)>,
    received: mpsc::UnboundedReceiver<(u64, Progress)>,
    /// Tags reports with the session they belong to: a stopped job's late reports are ignored.
    epoch: u64,
    job: Option<JoinHandle<()>>,
    /// Events were lost since the running job started: take another snapshot after it.
    again: bool,
    last_start: Option<Instant>,
}

impl Resync {
    /// No job running, none due.
    pub(crate) fn new() -> Self {
        let (reports, received) = mpsc::unbounded_channel();
        Self {
            reports,
            received,
            epoch: 0,
            job: None,
            again: false,
            last_start: None,
        }
    }

    /// A session logged in: learn the action classes, then take a snapshot (with the
    /// uptime). Replaces any job still running (it belonged to an older session).
    pub(crate) fn start_login(&mut self, upstream: &Upstream, client: Client, ami_version: String) {
        self.stop(upstream);
        let reports = self.begin(upstream);
        let epoch = self.epoch;
        self.job = Some(tokio::spawn(async move {
            let classes = learn_action_classes(&client).await;
            let _ = reports.send((epoch, Progress::Classes(classes)));
            let snapshot = take(&client, true);
            tokio::pin!(snapshot);
            let link_up = Progress::LinkUp { ami_version };
            // In time, the snapshot is applied before the link is shown as up, so whoever sees
            // it connected sees its gauges and uptime too.
            tokio::select! {
                snapshot = &mut snapshot => {
                    let _ = reports.send((epoch, Progress::Done(snapshot)));
                    let _ = reports.send((epoch, link_up));
                }
                () = tokio::time::sleep(LINK_UP_GRACE) => {
                    let _ = reports.send((epoch, link_up));
                    let _ = reports.send((epoch, Progress::Done(snapshot.await)));
                }
            }
        }));
    }

    /// The gateway's subscription lost events, so the gauges may have drifted: take a
    /// snapshot now, or once the running one ends and [`MIN_INTERVAL`] has passed.
    pub(crate) fn handle_lagged(&mut self, upstream: &Upstream) {
        self.again = true;
        self.poll_start(upstream, Instant::now());
    }

    /// Starts the snapshot that lost events asked for, if one is due and none is running.
    /// Called after each job and on the loop's tick.
    pub(crate) fn poll_start(&mut self, upstream: &Upstream, now: Instant) {
        let spaced = self
            .last_start
            .is_none_or(|last| now.duration_since(last) >= MIN_INTERVAL);
        if !self.again || self.job.is_some() || !spaced {
            return;
        }
        let Some(client) = upstream.client() else {
            return;
        };
        self.again = false;
        let reports = self.begin(upstream);
        let epoch = self.epoch;
        self.job = Some(tokio::spawn(async move {
            let snapshot = take(&client, false).await;
            let _ = reports.send((epoch, Progress::Done(snapshot)));
        }));
    }

    /// The session ended: the running job (if any) is dropped with its journal, and no
    /// snapshot is due (the next login takes one).
    pub(crate) fn stop(&mut self, upstream: &Upstream) {
        if let Some(job) = self.job.take() {
            job.abort();
        }
        self.epoch += 1;
        self.again = false;
        upstream.lock_gauges().abandon_resync();
    }

    /// The current job's next report. Cancel-safe (a channel receive), so it can sit in the
    /// fan-out loop's `select!`; pending for ever while no job runs.
    pub(crate) async fn next(&mut self) -> Progress {
        loop {
            // The sender lives in `self`, so the channel never closes.
            let Some((epoch, progress)) = self.received.recv().await else {
                return std::future::pending().await;
            };
            if epoch != self.epoch {
                continue;
            }
            if matches!(progress, Progress::Done(_)) {
                self.job = None;
            }
            return progress;
        }
    }

    /// A new job's report channel; the gauges start journalling. The epoch stays: it counts
    /// sessions, not jobs, so a login job's last report still counts after a snapshot for
    /// lost events has started behind it.
    fn begin(&mut self, upstream: &Upstream) -> mpsc::UnboundedSender<(u64, Progress)> {
        self.last_start = Some(Instant::now());
        upstream.lock_gauges().begin_resync();
        self.reports.clone()
    }
}
