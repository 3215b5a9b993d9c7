//! The objects of the live state, as the snapshot shows them.

use std::collections::BTreeMap;

use serde::Serialize;

/// One channel, keyed by its Uniqueid.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Channel {
    /// `PJSIP/100-00000001`, `Local/100@demo-00000001;1` …
    pub name: String,
    /// Asterisk's unique id of the channel.
    pub uniqueid: String,
    /// The id shared by every channel of one call (12 and later, and 11's events that carry
    /// it); on servers that never send it, the call is grouped by bridges instead.
    pub linkedid: Option<String>,
    /// `ChannelState` as a number (0 Down … 6 Up, 7 Busy).
    pub state: u8,
    /// `ChannelStateDesc` (`Up`, `Ring`, `Ringing` …).
    pub state_desc: String,
    /// Caller ID number and name.
    pub caller_id_num: String,
    /// Caller ID name.
    pub caller_id_name: String,
    /// The connected line's number.
    pub connected_line_num: String,
    /// The connected line's name.
    pub connected_line_name: String,
    /// Dialplan position.
    pub context: String,
    /// Dialplan extension.
    pub exten: String,
    /// Dialplan priority.
    pub priority: String,
    /// The application running (`Dial`, `Queue`, `Wait` …) and its data.
    pub application: String,
    /// The application's argument string.
    pub application_data: String,
    /// The bridge the channel is in: a BridgeUniqueid on 12 and later; on 1.x, a bridge named
    /// after the two channels' Uniqueids (`Link`/`Bridge` events).
    pub bridge: Option<String>,
}

/// A call: the channels that share a Linkedid (or, without Linkedids, a bridge).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Call {
    /// The Linkedid (or the first channel's Uniqueid).
    pub id: String,
    /// The Uniqueids of its channels, oldest first.
    pub channels: Vec<String>,
}

/// A bridge and its members.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Bridge {
    /// BridgeUniqueid (or the 1.x name made from the two Uniqueids).
    pub id: String,
    /// `basic`, `holding` … (12 and later).
    pub bridge_type: String,
    /// The Uniqueids of the channels in it, in the order they entered.
    pub channels: Vec<String>,
}

/// A queue as `QueueStatus` and the queue events describe it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Queue {
    /// The queue's name.
    pub name: String,
    /// `ringall`, `rrmemory` … (from QueueStatus).
    pub strategy: String,
    /// Calls completed and abandoned (from QueueStatus).
    pub completed: u64,
    /// Calls abandoned (from QueueStatus and `QueueCallerAbandon`).
    pub abandoned: u64,
    /// Members by interface (`Location` / `Interface`).
    pub members: BTreeMap<String, QueueMember>,
    /// Callers waiting, in queue order.
    pub callers: Vec<QueueCaller>,
}

/// One member of a queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueMember {
    /// The interface that is rung (`Location` in QueueStatus, `Interface` in events).
    pub interface: String,
    /// The member's name (`Name` / `MemberName`).
    pub name: String,
    /// Device status as a number (1 not in use, 2 in use, 5 unavailable, 6 ringing …).
    pub status: u8,
    /// Paused.
    pub paused: bool,
    /// The reason given for the pause, if any.
    pub paused_reason: String,
    /// Penalty.
    pub penalty: u32,
    /// Calls answered.
    pub calls_taken: u64,
    /// In a call (12 and later report it; older servers leave it false).
    pub in_call: bool,
    /// `static`, `dynamic` or `realtime`.
    pub membership: String,
}

/// One caller waiting in a queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueCaller {
    /// The caller's channel name.
    pub channel: String,
    /// Its Uniqueid, when the server gives it.
    pub uniqueid: String,
    /// Caller ID number and name.
    pub caller_id_num: String,
    /// Caller ID name.
    pub caller_id_name: String,
}

/// The whole state at one moment, ready to serialise.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// Channels by Uniqueid.
    pub channels: BTreeMap<String, Channel>,
    /// Calls, oldest first.
    pub calls: Vec<Call>,
    /// Bridges by id.
    pub bridges: BTreeMap<String, Bridge>,
    /// Queues by name.
    pub queues: BTreeMap<String, Queue>,
}
