//! The resync: what the gateway asks a PBX on every login: the list actions of the live
//! state's resync plan (`CoreShowChannels`, `QueueStatus` ...), the uptime (`core show uptime
//! seconds`) and each action's write classes (`ListCommands`); and the lists it asks again
//! after its subscription lost events (a lost `Hangup` would leave the state wrong for good).
//!
//! Each resync runs as a task of its own and reports to the fan-out loop, which applies the
//! result: the loop never waits on the PBX, so registrations, events and shutdown go on while
//! a slow PBX answers (it used to stall them up to 30 s on every reconnect). The events that
//! arrive meanwhile are applied to the state at once and journalled by it
//! ([`ami_state::State::begin_resync`]); the lists replace their parts of the model and the
//! journal is replayed over them, which is exact because every handler of the state sets
//! values outright.

use std::time::{Duration, Instant};

use ami_client::{Action, Reply};
use ami_json::cli_output::system_uptime_seconds;
use ami_proto::Message;
use ami_state::ListKind;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::Upstream;
use super::remote::{Port, PortError};
use crate::privilege::ActionClasses;

/// How long each snapshot action may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Asks the PBX for each action's write classes (`ListCommands`, on every version); `None`
/// on failure, and then the classes already known are kept: a reconnect to the same PBX does
/// not change them, and with none known every action stays sensitive to a `"*"`.
pub(crate) async fn learn_action_classes(port: &Port) -> Option<ActionClasses> {
    match port.send(Action::new("ListCommands"), Some(TIMEOUT)).await {
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

/// Each action's write classes as the catalog recorded them (the latest version that has
/// the action): what a remote server's actions are judged by when its bridge does not run
/// `ListCommands` for the gateway.
pub(crate) fn catalog_action_classes() -> ActionClasses {
    let mut classes = ActionClasses::default();
    for action in ami_catalog::actions() {
        let recorded = ami_catalog::Version::ALL
            .iter()
            .rev()
            .find_map(|version| action.classes(*version));
        if let Some(recorded) = recorded {
            classes.insert(action.name, recorded);
        }
    }
    classes
}

/// What one resync read from the PBX.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The items of each list of the plan, in its order; `None` if one failed (the state is
    /// then left as the events made it, and another resync is due).
    lists: Option<Vec<(ListKind, Vec<Message>)>>,
    /// The PBX's uptime in seconds if it was asked (`None`: not asked), when the account may
    /// run `Command`.
    uptime: Option<Option<u64>>,
    /// When the answers were in (the uptime is counted from here).
    taken: Instant,
}

/// Asks the PBX for a snapshot: the lists of `plan` and (with `uptime`) its uptime. The
/// actions go out together (a client queues each on its first poll) and are answered
/// concurrently, in at most [`TIMEOUT`].
pub(crate) async fn take(port: &Port, plan: &[ListKind], uptime: bool) -> Snapshot {
    let ask_list = |kind: ListKind| async move {
        match port.send(Action::new(kind.action()), Some(TIMEOUT)).await {
            Ok(Reply::List(list)) => Some((kind, list.items)),
            // An error answer (the module is not loaded: no queues): the part is empty. So
            // is a list a remote's own rules refuse (asking again would not change that).
            Ok(_) => Some((kind, Vec::new())),
            Err(PortError::Remote(error)) if error.code == "forbidden" => {
                debug!(action = kind.action(), "the remote refuses this list");
                Some((kind, Vec::new()))
            }
            Err(error) => {
                debug!(%error, action = kind.action(), "snapshot action failed");
                None
            }
        }
    };
    let ask_uptime = async {
        if !uptime {
            return None;
        }
        let reply = port
            .send(
                Action::new("Command").header("Command", "core show uptime seconds"),
                Some(TIMEOUT),
            )
            .await;
        Some(match reply {
            Ok(Reply::Command(output)) => system_uptime_seconds(&output.output),
            _ => None,
        })
    };
    let (lists, uptime) = tokio::join!(
        futures_util::future::join_all(plan.iter().map(|kind| ask_list(*kind))),
        ask_uptime,
    );
    Snapshot {
        lists: lists.into_iter().collect(),
        uptime,
        taken: Instant::now(),
    }
}

impl Snapshot {
    /// Hands the lists to `upstream`'s state (which replays the events journalled since the
    /// resync started over them), and its uptime if it was asked. False if the state is
    /// still not exact (a list failed, or more events arrived meanwhile than the state
    /// journals): another resync is due.
    pub(crate) fn apply(self, upstream: &Upstream) -> bool {
        if let Some(uptime) = self.uptime {
            upstream.set_pbx_uptime(uptime.map(|secs| (secs, self.taken)));
        }
        let Some(lists) = self.lists else {
            return false;
        };
        let mut state = upstream.lock_state();
        for (kind, items) in &lists {
            state.handle_list(*kind, items);
        }
        !state.needs_resync() && !state.is_resyncing()
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
    pub(crate) fn start_login(&mut self, upstream: &Upstream, port: Port, ami_version: String) {
        self.stop();
        let (reports, plan) = self.begin(upstream);
        let epoch = self.epoch;
        self.job = Some(tokio::spawn(async move {
            let mut classes = learn_action_classes(&port).await;
            if classes.is_none() && port.client().is_none() {
                // A remote whose rules refuse ListCommands: the catalog's classes stand in
                // (the remote's own rules judge each action again anyway).
                classes = Some(catalog_action_classes());
            }
            let _ = reports.send((epoch, Progress::Classes(classes)));
            let snapshot = take(&port, &plan, true);
            tokio::pin!(snapshot);
            let link_up = Progress::LinkUp { ami_version };
            // In time, the snapshot is applied before the link is shown as up, so whoever sees
            // it connected sees its state and uptime too.
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

    /// The gateway's subscription lost events, so the state may have drifted: take a
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
        let Some(port) = upstream.port() else {
            return;
        };
        self.again = false;
        let (reports, plan) = self.begin(upstream);
        let epoch = self.epoch;
        self.job = Some(tokio::spawn(async move {
            let snapshot = take(&port, &plan, false).await;
            let _ = reports.send((epoch, Progress::Done(snapshot)));
        }));
    }

    /// The session ended: the running job (if any) is dropped with its journal, and no
    /// snapshot is due (the next login takes one).
    pub(crate) fn stop(&mut self) {
        if let Some(job) = self.job.take() {
            job.abort();
        }
        self.epoch += 1;
        self.again = false;
        // The state's pending resync is left as it is: no events arrive while the session is
        // down, and the next login's resync starts it afresh (dropping its journal).
    }

    /// The last snapshot left the state inexact (a list failed, or the journal overflowed):
    /// take another, spaced like those for lost events.
    pub(crate) fn retry(&mut self, upstream: &Upstream) {
        self.again = true;
        self.poll_start(upstream, Instant::now());
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

    /// A new job's report channel and the lists to ask; the state starts journalling. The
    /// epoch stays: it counts sessions, not jobs, so a login job's last report still counts
    /// after a snapshot for lost events has started behind it.
    fn begin(
        &mut self,
        upstream: &Upstream,
    ) -> (mpsc::UnboundedSender<(u64, Progress)>, Vec<ListKind>) {
        self.last_start = Some(Instant::now());
        let mut state = upstream.lock_state();
        state.begin_resync();
        // The plan is the state's: lists it learns to use are asked without a change here.
        let plan = state.resync_plan().to_vec();
        (self.reports.clone(), plan)
    }
}
