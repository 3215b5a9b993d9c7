//! The state machine's core: the model, the queue of changes, snapshot and queries. Which
//! event does what is in `dispatch`; each object's rules are in its own module (`channels`,
//! `bridges`, `queues`, `agents`, `parking`, `devices`).
//!
//! Rules shared by every object, each for a reason Asterisk gives:
//! - Channels are keyed by Uniqueid, the one id that survives renames and masquerades.
//! - An event about a channel never seen (its Newchannel came before we connected) creates it
//!   from what the event carries; the next list resync fills in the rest.
//! - Events about a channel after its Hangup are ignored: Asterisk sends a few (`Newexten` of
//!   the `h` extension, `BridgeLeave`, `VarSet`) and they must not bring it back.
//! - Every handler sets values rather than counting, so an event applied twice (once seen live
//!   during a resync, once replayed after it) leaves the same state.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use ami_catalog::Version;
use ami_proto::Message;

use crate::list::ListKind;
use crate::model::{Agent, Bridge, Call, Channel, ExtensionState, ParkedCall, Queue, Snapshot};

/// What changed, for a consumer that redraws or forwards only changes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A channel appeared (by Uniqueid).
    ChannelUp(String),
    /// A channel's state, caller ID, dialplan position, application or bridge changed.
    ChannelChanged(String),
    /// A channel hung up.
    ChannelGone(String),
    /// A bridge was created, changed members or was destroyed.
    BridgeChanged(String),
    /// A queue's callers or members changed (by queue name).
    QueueChanged(String),
    /// An agent logged in or off, or started or ended a call (by agent id).
    AgentChanged(String),
    /// A call was parked (by `lot:space`).
    Parked(String),
    /// A parked call was retrieved, timed out, gave up or hung up (by `lot:space`).
    Unparked(String),
    /// A device's state changed (by device).
    DeviceState(String),
    /// An extension's state changed (by `exten@context`).
    ExtensionState(String),
    /// The model was replaced by the result of a resync.
    Resynced,
}

/// How many hung-up Uniqueids are remembered to ignore their late events.
const GONE_MEMORY: usize = 4096;
/// At most this many unread changes are kept; older ones are dropped (a consumer that reads
/// none, such as `ami state`, must not grow memory).
const MAX_PENDING_CHANGES: usize = 65_536;

/// More events than this during one resync (a flood while the lists are on the way) and the
/// journal is dropped; the state asks for another resync instead of growing without bound.
const MAX_JOURNAL: usize = 262_144;

/// A resync in progress.
#[derive(Debug, Default)]
pub(crate) struct Resync {
    pub(crate) awaited: Vec<ListKind>,
    pub(crate) journal: Vec<Message>,
    pub(crate) overflowed: bool,
}

impl Resync {
    pub(crate) fn journal(&mut self, event: &Message) {
        if self.journal.len() < MAX_JOURNAL {
            // A Message shares the received bytes: keeping it costs a reference count.
            self.journal.push(event.clone());
        } else {
            self.overflowed = true;
        }
    }
}

/// A Local channel optimisation under way (`LocalOptimizationBegin` until its `End`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Optimisation {
    pub(crate) local_one: String,
    pub(crate) local_two: String,
    /// The channel that takes the Local channels' place (`SourceUniqueid`).
    pub(crate) source: String,
    /// The bridge it goes into (`DestUniqueId`).
    pub(crate) bridge: String,
}

/// The live state of one PBX.
#[derive(Debug, Default)]
pub struct State {
    /// The Asterisk release line, when known: it decides the resync plan.
    pub(crate) version: Option<Version>,
    pub(crate) channels: BTreeMap<String, Channel>,
    pub(crate) bridges: BTreeMap<String, Bridge>,
    pub(crate) queues: BTreeMap<String, Queue>,
    pub(crate) agents: BTreeMap<String, Agent>,
    pub(crate) parked: BTreeMap<String, ParkedCall>,
    pub(crate) devices: BTreeMap<String, String>,
    pub(crate) extensions: BTreeMap<String, ExtensionState>,
    /// Local optimisations begun and not yet ended, by their `Id`.
    pub(crate) optimisations: HashMap<String, Optimisation>,
    /// Order in which channels appeared, for calls listed oldest first.
    pub(crate) order: Vec<String>,
    pub(crate) gone: HashSet<String>,
    pub(crate) gone_order: VecDeque<String>,
    changes: VecDeque<Change>,
    /// While a resync is in progress: the lists still awaited and the events seen meanwhile.
    pub(crate) resync: Option<Resync>,
    /// The lists handed to this state so far: `verify` compares only the parts a list covered.
    pub(crate) listed: Vec<ListKind>,
    /// The PBX said `FullyBooted` after this state was listed: see
    /// [`State::take_resync_request`].
    pub(crate) boot_resync: bool,
}

impl State {
    /// An empty state for a server whose version is not known: its resync plan is the lists
    /// every Asterisk has ([`crate::RESYNC_PLAN`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty state for an Asterisk release line: its resync plan is every list that
    /// version has ([`crate::resync_plan_for`]).
    pub fn for_version(version: Version) -> Self {
        State {
            version: Some(version),
            ..Self::default()
        }
    }

    /// The Asterisk release line the state was made for, if any.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The next change, oldest first.
    pub fn poll_change(&mut self) -> Option<Change> {
        self.changes.pop_front()
    }

    pub(crate) fn push_change(&mut self, change: Change) {
        if self.changes.len() == MAX_PENDING_CHANGES {
            self.changes.pop_front();
        }
        self.changes.push_back(change);
    }

    /// A channel by Uniqueid.
    pub fn channel(&self, uniqueid: &str) -> Option<&Channel> {
        self.channels.get(uniqueid)
    }

    /// Channels by Uniqueid.
    pub fn channels(&self) -> &BTreeMap<String, Channel> {
        &self.channels
    }

    /// A queue by name.
    pub fn queue(&self, name: &str) -> Option<&Queue> {
        self.queues.get(name)
    }

    /// Agents by id.
    pub fn agents(&self) -> &BTreeMap<String, Agent> {
        &self.agents
    }

    /// An agent by id (`1001`; an `Agent/1001` interface is accepted too).
    pub fn agent(&self, id: &str) -> Option<&Agent> {
        self.agents.get(id.strip_prefix("Agent/").unwrap_or(id))
    }

    /// Parked calls by `lot:space`.
    pub fn parked(&self) -> &BTreeMap<String, ParkedCall> {
        &self.parked
    }

    /// A device's state (`NOT_INUSE`, `INUSE`, `RINGING`, `UNAVAILABLE` …), by device name.
    pub fn device_state(&self, device: &str) -> Option<&str> {
        self.devices.get(device).map(String::as_str)
    }

    /// An extension's state by extension and context.
    pub fn extension_state(&self, exten: &str, context: &str) -> Option<&ExtensionState> {
        self.extensions.get(&format!("{exten}@{context}"))
    }

    /// The calls: channels grouped by Linkedid, or where the server gives none, by bridge.
    pub fn calls(&self) -> Vec<Call> {
        let mut calls: Vec<Call> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for uniqueid in &self.order {
            let Some(channel) = self.channels.get(uniqueid) else {
                continue;
            };
            let key = channel
                .linkedid
                .clone()
                .or_else(|| channel.bridge.clone())
                .unwrap_or_else(|| uniqueid.clone());
            match index.get(&key) {
                Some(&at) => calls[at].channels.push(uniqueid.clone()),
                None => {
                    index.insert(key.clone(), calls.len());
                    calls.push(Call {
                        id: key,
                        channels: vec![uniqueid.clone()],
                    });
                }
            }
        }
        calls
    }

    /// The whole state, ready to serialise.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            channels: self.channels.clone(),
            calls: self.calls(),
            bridges: self.bridges.clone(),
            queues: self.queues.clone(),
            agents: self.agents.clone(),
            parked: self.parked.clone(),
            devices: self.devices.clone(),
            extensions: self.extensions.clone(),
        }
    }

    /// Applies one event. Events the model does not track are ignored. During a resync the
    /// event is also kept, to be applied again over the lists' results (see [`State::begin_resync`]).
    pub fn handle_event(&mut self, event: &Message) {
        if let Some(resync) = &mut self.resync {
            resync.journal(event);
        } else if !self.listed.is_empty() && event.event_name().as_deref() == Some("FullyBooted") {
            // A session that logged in while Asterisk was still loading its modules (an HTTP
            // session right after a restart: live 13 showed it) was listed before app_queue,
            // the agents or the hints existed; their lists were empty then, not now.
            self.boot_resync = true;
        }
        self.apply(event);
    }

    /// Whether the PBX has finished booting since this state's lists were taken (it said
    /// `FullyBooted` after them, outside a resync): the caller should resync. Asking clears
    /// it; starting a resync clears it too. A `FullyBooted` during a resync, or before any
    /// list (each session gets one at login), asks nothing.
    pub fn take_resync_request(&mut self) -> bool {
        std::mem::take(&mut self.boot_resync)
    }

    pub(crate) fn remember_gone(&mut self, uniqueid: String) {
        if self.gone.insert(uniqueid.clone()) {
            self.gone_order.push_back(uniqueid);
            if self.gone_order.len() > GONE_MEMORY
                && let Some(oldest) = self.gone_order.pop_front()
            {
                self.gone.remove(&oldest);
            }
        }
    }

    /// Forgets that a Uniqueid hung up: a list shows it up again (a restarted PBX numbers
    /// its channels from 0 again).
    pub(crate) fn forget_gone(&mut self, uniqueid: &str) {
        if self.gone.remove(uniqueid) {
            self.gone_order.retain(|id| id != uniqueid);
        }
    }
}
