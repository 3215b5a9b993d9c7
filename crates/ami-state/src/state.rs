//! The state machine: events in, the model and a queue of changes out.
//!
//! Rules, each for a reason Asterisk gives:
//! - Channels are keyed by Uniqueid, the one id that survives renames and masquerades.
//! - An event about a channel never seen (its Newchannel came before we connected) creates it
//!   from what the event carries; the next list resync fills in the rest.
//! - Events about a channel after its Hangup are ignored: Asterisk sends a few (`Newexten` of
//!   the `h` extension, `BridgeLeave`, `VarSet`) and they must not bring it back.
//! - Every handler sets values rather than counting, so an event applied twice (once seen live
//!   during a resync, once replayed after it) leaves the same state.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet, VecDeque};

use ami_proto::Message;

use crate::list::ListKind;
use crate::model::{Bridge, Call, Channel, Queue, QueueCaller, QueueMember, Snapshot};

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

/// The live state of one PBX.
#[derive(Debug, Default)]
pub struct State {
    pub(crate) channels: BTreeMap<String, Channel>,
    pub(crate) bridges: BTreeMap<String, Bridge>,
    pub(crate) queues: BTreeMap<String, Queue>,
    /// Order in which channels appeared, for calls listed oldest first.
    order: Vec<String>,
    gone: HashSet<String>,
    gone_order: VecDeque<String>,
    changes: VecDeque<Change>,
    /// While a resync is in progress: the lists still awaited and the events seen meanwhile.
    pub(crate) resync: Option<Resync>,
}

fn text(event: &Message, name: &str) -> String {
    event.get(name).map(Cow::into_owned).unwrap_or_default()
}

/// The first of `names` the event carries (servers of different eras spell fields differently).
fn first(event: &Message, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| event.get(name).map(Cow::into_owned))
}

fn number<T: std::str::FromStr + Default>(event: &Message, name: &str) -> T {
    event
        .get(name)
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_default()
}

fn flag(event: &Message, name: &str) -> bool {
    event
        .get(name)
        .is_some_and(|value| matches!(value.trim(), "1" | "true" | "yes" | "Yes" | "True"))
}

impl State {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next change, oldest first.
    pub fn poll_change(&mut self) -> Option<Change> {
        self.changes.pop_front()
    }

    fn push_change(&mut self, change: Change) {
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
        }
    }

    /// Applies one event. Events the model does not track are ignored. During a resync the
    /// event is also kept, to be applied again over the lists' results (see [`State::begin_resync`]).
    pub fn handle_event(&mut self, event: &Message) {
        if let Some(resync) = &mut self.resync {
            resync.journal(event);
        }
        self.apply(event);
    }

    pub(crate) fn apply(&mut self, event: &Message) {
        let Some(name) = event.event_name() else {
            return;
        };
        match name.as_ref() {
            "Newchannel" => self.upsert_channel(event),
            "Newstate" | "NewCallerid" | "NewConnectedLine" | "Newexten" | "NewAccountCode"
            | "DialBegin" | "DialEnd" | "VarSet" | "HangupRequest" | "SoftHangupRequest"
            | "NewDialplan" => self.upsert_channel(event),
            "Hangup" => self.hangup(event),
            "Rename" => self.rename(event),
            "BridgeCreate" => self.bridge_create(event),
            "BridgeEnter" => self.bridge_enter(event),
            "BridgeLeave" => self.bridge_leave(event),
            "BridgeDestroy" => self.bridge_destroy(event),
            "Link" => self.legacy_link(event, true),
            "Unlink" => self.legacy_link(event, false),
            "Bridge" => {
                let linked = !event.value_is("Bridgestate", "Unlink");
                self.legacy_link(event, linked);
            }
            "QueueCallerJoin" | "Join" => self.queue_join(event),
            "QueueCallerLeave" | "Leave" => self.queue_leave(event),
            "QueueCallerAbandon" => {
                self.queue_leave(event);
                let queue = text(event, "Queue");
                if let Some(queue) = self.queues.get_mut(&queue) {
                    queue.abandoned += 1;
                }
            }
            "QueueMemberAdded"
            | "QueueMemberStatus"
            | "QueueMemberPause"
            | "QueueMemberPaused"
            | "QueueMemberPenalty"
            | "QueueMemberRinginuse" => self.queue_member(event),
            "QueueMemberRemoved" => self.queue_member_removed(event),
            // List items received as events (a list whose acknowledgement was not ours).
            "CoreShowChannel" => self.upsert_channel(event),
            "QueueParams" => self.queue_params(event),
            "QueueMember" => self.queue_member(event),
            "QueueEntry" => self.queue_join(event),
            _ => {}
        }
    }

    fn remember_gone(&mut self, uniqueid: String) {
        if self.gone.insert(uniqueid.clone()) {
            self.gone_order.push_back(uniqueid);
            if self.gone_order.len() > GONE_MEMORY
                && let Some(oldest) = self.gone_order.pop_front()
            {
                self.gone.remove(&oldest);
            }
        }
    }

    /// Creates or updates the channel the event is about from the fields it carries.
    fn upsert_channel(&mut self, event: &Message) {
        let Some(uniqueid) = first(event, &["Uniqueid", "UniqueID"]) else {
            return;
        };
        if self.gone.contains(&uniqueid) {
            return;
        }
        let is_new = !self.channels.contains_key(&uniqueid);
        if is_new {
            self.order.push(uniqueid.clone());
        }
        let channel = self
            .channels
            .entry(uniqueid.clone())
            .or_insert_with(|| Channel {
                uniqueid: uniqueid.clone(),
                ..Channel::default()
            });
        if let Some(name) = event.get("Channel") {
            channel.name = name.into_owned();
        }
        if let Some(linkedid) = event.get("Linkedid") {
            channel.linkedid = Some(linkedid.into_owned());
        }
        if let Some(state) = event.get("ChannelState") {
            channel.state = state.trim().parse().unwrap_or(channel.state);
        }
        if let Some(desc) = event.get("ChannelStateDesc") {
            channel.state_desc = desc.into_owned();
        }
        // DialBegin/DialEnd describe two channels: the fields without a prefix are the
        // caller's (absent when the dial came from no channel), `Dest…` the callee's.
        if let Some(num) = first(event, &["CallerIDNum", "CallerIDnum"]) {
            channel.caller_id_num = num;
        }
        if let Some(name) = first(event, &["CallerIDName", "CallerIDname"]) {
            channel.caller_id_name = name;
        }
        if let Some(num) = event.get("ConnectedLineNum") {
            channel.connected_line_num = num.into_owned();
        }
        if let Some(name) = event.get("ConnectedLineName") {
            channel.connected_line_name = name.into_owned();
        }
        if let Some(context) = event.get("Context") {
            channel.context = context.into_owned();
        }
        if let Some(exten) = first(event, &["Exten", "Extension"]) {
            channel.exten = exten;
        }
        if let Some(priority) = event.get("Priority") {
            channel.priority = priority.into_owned();
        }
        if let Some(app) = event.get("Application") {
            channel.application = app.into_owned();
        }
        if let Some(data) = first(event, &["AppData", "ApplicationData"]) {
            channel.application_data = data;
        }
        // CoreShowChannel: BridgeId on 12 and later (empty when not bridged).
        if let Some(bridge) = event.get("BridgeId") {
            channel.bridge = (!bridge.is_empty()).then(|| bridge.into_owned());
        }
        let change = if is_new {
            Change::ChannelUp(uniqueid.clone())
        } else {
            Change::ChannelChanged(uniqueid.clone())
        };
        self.push_change(change);
        // DialBegin/DialEnd: the callee's fields under `Dest`.
        if let Some(dest) = event.get("DestUniqueid") {
            let dest = dest.into_owned();
            if !self.gone.contains(&dest) && self.channels.contains_key(&dest) {
                let state = event.get("DestChannelState").map(Cow::into_owned);
                let desc = event.get("DestChannelStateDesc").map(Cow::into_owned);
                if let Some(channel) = self.channels.get_mut(&dest) {
                    if let Some(state) = state {
                        channel.state = state.trim().parse().unwrap_or(channel.state);
                    }
                    if let Some(desc) = desc {
                        channel.state_desc = desc;
                    }
                }
                self.push_change(Change::ChannelChanged(dest));
            }
        }
    }

    fn remove_channel(&mut self, uniqueid: &str) -> bool {
        let Some(channel) = self.channels.remove(uniqueid) else {
            return false;
        };
        self.order.retain(|id| id != uniqueid);
        if let Some(bridge_id) = channel.bridge {
            self.drop_from_bridge(&bridge_id, uniqueid);
        }
        for queue in self.queues.values_mut() {
            queue.callers.retain(|caller| caller.uniqueid != uniqueid);
        }
        true
    }

    fn hangup(&mut self, event: &Message) {
        let Some(uniqueid) = first(event, &["Uniqueid", "UniqueID"]) else {
            return;
        };
        self.remember_gone(uniqueid.clone());
        if self.remove_channel(&uniqueid) {
            self.push_change(Change::ChannelGone(uniqueid));
        }
    }

    /// 1.x `Rename` (also what a masquerade does to names): the Uniqueid stays.
    fn rename(&mut self, event: &Message) {
        let Some(new_name) = event.get("Newname").map(Cow::into_owned) else {
            return;
        };
        let uniqueid = first(event, &["Uniqueid", "UniqueID"]).or_else(|| {
            let old = first(event, &["Channel", "Oldname"])?;
            self.channels
                .values()
                .find(|c| c.name == old)
                .map(|c| c.uniqueid.clone())
        });
        let Some(uniqueid) = uniqueid else {
            return;
        };
        if let Some(channel) = self.channels.get_mut(&uniqueid) {
            channel.name = new_name;
            self.push_change(Change::ChannelChanged(uniqueid));
        }
    }

    fn bridge_create(&mut self, event: &Message) {
        let Some(id) = event.get("BridgeUniqueid").map(Cow::into_owned) else {
            return;
        };
        let bridge = self.bridges.entry(id.clone()).or_insert_with(|| Bridge {
            id: id.clone(),
            ..Bridge::default()
        });
        bridge.bridge_type = text(event, "BridgeType");
        self.push_change(Change::BridgeChanged(id));
    }

    fn join_bridge(&mut self, bridge_id: &str, uniqueid: &str) {
        if let Some(previous) = self
            .channels
            .get(uniqueid)
            .and_then(|c| c.bridge.clone())
            .filter(|previous| previous != bridge_id)
        {
            self.drop_from_bridge(&previous, uniqueid);
        }
        let bridge = self
            .bridges
            .entry(bridge_id.to_owned())
            .or_insert_with(|| Bridge {
                id: bridge_id.to_owned(),
                ..Bridge::default()
            });
        if !bridge.channels.iter().any(|c| c == uniqueid) {
            bridge.channels.push(uniqueid.to_owned());
        }
        if let Some(channel) = self.channels.get_mut(uniqueid) {
            channel.bridge = Some(bridge_id.to_owned());
        }
    }

    fn drop_from_bridge(&mut self, bridge_id: &str, uniqueid: &str) {
        if let Some(bridge) = self.bridges.get_mut(bridge_id) {
            bridge.channels.retain(|c| c != uniqueid);
        }
        if let Some(channel) = self.channels.get_mut(uniqueid)
            && channel.bridge.as_deref() == Some(bridge_id)
        {
            channel.bridge = None;
        }
    }

    fn bridge_enter(&mut self, event: &Message) {
        let (Some(id), Some(uniqueid)) = (
            event.get("BridgeUniqueid").map(Cow::into_owned),
            event.get("Uniqueid").map(Cow::into_owned),
        ) else {
            return;
        };
        self.upsert_channel(event);
        if self.gone.contains(&uniqueid) {
            return;
        }
        self.join_bridge(&id, &uniqueid);
        if let Some(bridge) = self.bridges.get_mut(&id)
            && bridge.bridge_type.is_empty()
        {
            bridge.bridge_type = text(event, "BridgeType");
        }
        self.push_change(Change::BridgeChanged(id));
    }

    fn bridge_leave(&mut self, event: &Message) {
        let (Some(id), Some(uniqueid)) = (
            event.get("BridgeUniqueid").map(Cow::into_owned),
            event.get("Uniqueid").map(Cow::into_owned),
        ) else {
            return;
        };
        self.drop_from_bridge(&id, &uniqueid);
        self.push_change(Change::BridgeChanged(id));
    }

    fn bridge_destroy(&mut self, event: &Message) {
        let Some(id) = event.get("BridgeUniqueid").map(Cow::into_owned) else {
            return;
        };
        if let Some(bridge) = self.bridges.remove(&id) {
            for uniqueid in bridge.channels {
                if let Some(channel) = self.channels.get_mut(&uniqueid)
                    && channel.bridge.as_deref() == Some(id.as_str())
                {
                    channel.bridge = None;
                }
            }
            self.push_change(Change::BridgeChanged(id));
        }
    }

    /// 1.x `Link`/`Unlink`/`Bridge`: two channels, no bridge id; the bridge is named after
    /// their Uniqueids so that the same pair always maps to the same bridge.
    fn legacy_link(&mut self, event: &Message, linked: bool) {
        let (Some(one), Some(two)) = (
            first(event, &["Uniqueid1", "UniqueID1"]),
            first(event, &["Uniqueid2", "UniqueID2"]),
        ) else {
            return;
        };
        let id = legacy_bridge_id(&one, &two);
        if linked {
            for (uniqueid, name) in [(&one, "Channel1"), (&two, "Channel2")] {
                if self.gone.contains(uniqueid) {
                    continue;
                }
                if !self.channels.contains_key(uniqueid) {
                    self.order.push(uniqueid.clone());
                    self.channels.insert(
                        uniqueid.clone(),
                        Channel {
                            name: text(event, name),
                            uniqueid: uniqueid.clone(),
                            ..Channel::default()
                        },
                    );
                    self.push_change(Change::ChannelUp(uniqueid.clone()));
                }
                self.join_bridge(&id, uniqueid);
            }
        } else if let Some(bridge) = self.bridges.remove(&id) {
            for uniqueid in bridge.channels {
                if let Some(channel) = self.channels.get_mut(&uniqueid)
                    && channel.bridge.as_deref() == Some(id.as_str())
                {
                    channel.bridge = None;
                }
            }
        }
        self.push_change(Change::BridgeChanged(id));
    }

    fn queue_entry(&mut self, name: &str) -> &mut Queue {
        self.queues.entry(name.to_owned()).or_insert_with(|| Queue {
            name: name.to_owned(),
            ..Queue::default()
        })
    }

    fn queue_params(&mut self, event: &Message) {
        let name = text(event, "Queue");
        if name.is_empty() {
            return;
        }
        let queue = self.queue_entry(&name);
        queue.strategy = text(event, "Strategy");
        queue.completed = number(event, "Completed");
        queue.abandoned = number(event, "Abandoned");
        self.push_change(Change::QueueChanged(name));
    }

    /// A caller joined (`QueueCallerJoin`, 1.x `Join`, or a `QueueEntry` list item). Its
    /// `Position` places it; without one it goes last.
    fn queue_join(&mut self, event: &Message) {
        let name = text(event, "Queue");
        let channel = text(event, "Channel");
        if name.is_empty() || channel.is_empty() {
            return;
        }
        let uniqueid = first(event, &["Uniqueid", "UniqueID"]).unwrap_or_default();
        if !uniqueid.is_empty() && self.gone.contains(&uniqueid) {
            return;
        }
        let caller = QueueCaller {
            channel: channel.clone(),
            uniqueid,
            caller_id_num: first(event, &["CallerIDNum", "CallerID"]).unwrap_or_default(),
            caller_id_name: text(event, "CallerIDName"),
        };
        let position: usize = number(event, "Position");
        let queue = self.queue_entry(&name);
        queue.callers.retain(|c| c.channel != channel);
        let at = position.saturating_sub(1).min(queue.callers.len());
        if position == 0 {
            queue.callers.push(caller);
        } else {
            queue.callers.insert(at, caller);
        }
        self.push_change(Change::QueueChanged(name));
    }

    fn queue_leave(&mut self, event: &Message) {
        let name = text(event, "Queue");
        let channel = text(event, "Channel");
        if let Some(queue) = self.queues.get_mut(&name) {
            queue.callers.retain(|c| c.channel != channel);
            self.push_change(Change::QueueChanged(name));
        }
    }

    /// A member as `QueueStatus` lists it or a member event reports it.
    fn queue_member(&mut self, event: &Message) {
        let name = text(event, "Queue");
        let Some(interface) = first(event, &["Interface", "Location"]) else {
            return;
        };
        if name.is_empty() {
            return;
        }
        let queue = self.queue_entry(&name);
        let member = queue
            .members
            .entry(interface.clone())
            .or_insert_with(|| QueueMember {
                interface: interface.clone(),
                ..QueueMember::default()
            });
        if let Some(member_name) = first(event, &["MemberName", "Name"]) {
            member.name = member_name;
        }
        if event.contains("Status") {
            member.status = number(event, "Status");
        }
        if event.contains("Paused") {
            member.paused = flag(event, "Paused");
        }
        if let Some(reason) = first(event, &["PausedReason", "Reason"]) {
            member.paused_reason = reason;
        }
        if event.contains("Penalty") {
            member.penalty = number(event, "Penalty");
        }
        if event.contains("CallsTaken") {
            member.calls_taken = number(event, "CallsTaken");
        }
        if event.contains("InCall") {
            member.in_call = flag(event, "InCall");
        }
        if let Some(membership) = event.get("Membership") {
            member.membership = membership.into_owned();
        }
        self.push_change(Change::QueueChanged(name));
    }

    fn queue_member_removed(&mut self, event: &Message) {
        let name = text(event, "Queue");
        let Some(interface) = first(event, &["Interface", "Location"]) else {
            return;
        };
        if let Some(queue) = self.queues.get_mut(&name) {
            queue.members.remove(&interface);
            self.push_change(Change::QueueChanged(name));
        }
    }

    /// Replaces the channels (and the bridges they are in) by a `CoreShowChannels` result.
    pub(crate) fn replace_channels(&mut self, items: &[Message]) {
        let before: Vec<String> = self.channels.keys().cloned().collect();
        for uniqueid in before {
            if !items.iter().any(|item| {
                first(item, &["Uniqueid", "UniqueID"]).as_deref() == Some(uniqueid.as_str())
            }) {
                self.push_change(Change::ChannelGone(uniqueid));
            }
        }
        self.channels.clear();
        self.order.clear();
        self.bridges.retain(|_, bridge| {
            // 1.x bridges are named after their channels and are rebuilt from them below;
            // 12+ bridges come back through the channels' BridgeId.
            bridge.channels.clear();
            !bridge.id.contains('+')
        });
        for item in items {
            // The list is the PBX's word: a channel it shows is up, even under a Uniqueid
            // remembered as hung up (a restarted PBX numbers its channels from 0 again).
            if let Some(uniqueid) = first(item, &["Uniqueid", "UniqueID"])
                && self.gone.remove(&uniqueid)
            {
                self.gone_order.retain(|id| *id != uniqueid);
            }
            self.upsert_channel(item);
        }
        // 12+: BridgeId of each channel. 1.x: BridgedUniqueID pairs.
        let members: Vec<(String, Option<String>, Option<String>)> = items
            .iter()
            .filter_map(|item| {
                let uniqueid = first(item, &["Uniqueid", "UniqueID"])?;
                let bridge = item
                    .get("BridgeId")
                    .filter(|b| !b.is_empty())
                    .map(Cow::into_owned);
                let peer =
                    first(item, &["BridgedUniqueID", "BridgedUniqueid"]).filter(|p| !p.is_empty());
                Some((uniqueid, bridge, peer))
            })
            .collect();
        for (uniqueid, bridge, peer) in members {
            if let Some(bridge) = bridge {
                self.join_bridge(&bridge, &uniqueid);
            } else if let Some(peer) = peer {
                // Each side of a 1.x pair lists the other: one bridge for both.
                let id = legacy_bridge_id(&uniqueid, &peer);
                self.join_bridge(&id, &uniqueid);
            }
        }
        self.bridges.retain(|_, bridge| !bridge.channels.is_empty());
        self.push_change(Change::Resynced);
    }

    /// Replaces the queues by a `QueueStatus` result.
    pub(crate) fn replace_queues(&mut self, items: &[Message]) {
        self.queues.clear();
        for item in items {
            match item.event_name().as_deref() {
                Some("QueueParams") => self.queue_params(item),
                Some("QueueMember") => self.queue_member(item),
                Some("QueueEntry") => self.queue_join(item),
                _ => {}
            }
        }
        self.push_change(Change::Resynced);
    }
}

/// The name of a 1.x bridge: its two Uniqueids in order, so that `Link` and a
/// `CoreShowChannels` pair name the same bridge alike.
fn legacy_bridge_id(one: &str, two: &str) -> String {
    if one <= two {
        format!("{one}+{two}")
    } else {
        format!("{two}+{one}")
    }
}
