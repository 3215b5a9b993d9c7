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
    /// The mixing technology (`simple_bridge`, `softmix`, `holding_bridge` …; 12 and later).
    pub technology: String,
    /// What created it (`ConfBridge`, `Parking` …), when the server says.
    pub creator: String,
    /// Its name, when its creator gave one (a conference's name, a parking lot's).
    pub name: String,
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

/// An agent (chan_agent on 1.8 and 11, app_agent_pool on 12 and later), keyed by its id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Agent {
    /// The agent's id (`1001`; the `Agent/1001` interface without its prefix).
    pub id: String,
    /// The agent's full name from agents.conf.
    pub name: String,
    /// `AGENT_LOGGEDOFF`, `AGENT_IDLE`, `AGENT_ONCALL` (what the `Agents` list says), or
    /// `AGENT_UNKNOWN`.
    pub status: String,
    /// The channel the agent logged in from, while logged in.
    pub channel: Option<String>,
    /// The channel of the caller the agent is talking to, while on a call.
    pub talking_to: Option<String>,
    /// When the agent logged in, as Asterisk's epoch seconds (`LoggedInTime`), or the
    /// login event's `Timestamp` when the server sends timestamps.
    pub logged_in_at: Option<String>,
    /// The Uniqueid of the caller of the agent's last call (kept after it ends).
    pub last_call: Option<String>,
}

/// A parked call, keyed by `lot:space`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ParkedCall {
    /// The parking lot (`default` …).
    pub lot: String,
    /// The parking space (the extension to dial to retrieve it).
    pub space: String,
    /// The parked channel's name.
    pub channel: String,
    /// The parked channel's Uniqueid, when the server gives it (1.8's list does not).
    pub uniqueid: String,
    /// The parked channel's caller ID number.
    pub caller_id_num: String,
    /// The parked channel's caller ID name.
    pub caller_id_name: String,
    /// Who parked it: the parker's channel (`From` on 1.x, `ParkerChannel` on 12+) or its
    /// dial string.
    pub parker: String,
    /// Seconds left before the call times out, as of the last event or list about it.
    pub timeout: u64,
    /// When it was parked, in whole epoch seconds: the event's `Timestamp` less the
    /// `ParkingDuration` it reports, when the server sends timestamps.
    pub parked_since: Option<u64>,
}

/// The state of one extension with a hint, keyed by `exten@context`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExtensionState {
    /// The extension.
    pub exten: String,
    /// Its context.
    pub context: String,
    /// Its hint (`PJSIP/100`, `SIP/100&Custom:DND100` …).
    pub hint: String,
    /// Asterisk's numeric extension status (0 idle, 1 in use, 2 busy, 4 unavailable, 8
    /// ringing, 9 in use and ringing, 16 on hold, 17 in use and on hold).
    pub status: i32,
    /// The status as text (`Idle`, `InUse`, `Ringing` …): the server's `StatusText`, or the
    /// same names derived from the number on servers that send none.
    pub status_text: String,
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
    /// Agents by id.
    pub agents: BTreeMap<String, Agent>,
    /// Parked calls by `lot:space`.
    pub parked: BTreeMap<String, ParkedCall>,
    /// Device states by device (`PJSIP/100` → `NOT_INUSE`, `INUSE`, `RINGING` …).
    pub devices: BTreeMap<String, String>,
    /// Extension states by `exten@context`.
    pub extensions: BTreeMap<String, ExtensionState>,
}
