//! PBX gauges kept current from events: active channels, callers waiting per queue, paused
//! members per queue. Seeded from a snapshot on every (re)connect and after lost events, then
//! moved by events.
//!
//! Every event sets the state of one key outright (a channel is up or gone, a queue has N
//! callers, a member is paused or not), so the last event about a key is the truth about it,
//! whatever came before. That is what lets a snapshot be taken while events keep flowing:
//! from the moment a resync starts, each key's latest change is also noted in a journal
//! ([`PbxGauges::begin_resync`]); when the snapshot arrives it replaces the gauges and the
//! journal is replayed over it ([`PbxGauges::finish_resync`]). A journalled change that the
//! PBX made before it took its snapshot is already in the snapshot, and setting it again
//! changes nothing; one made after is not, and the replay adds it. A key no event touched
//! since the start did not change, so the snapshot is right about it. The journal keeps one
//! entry per key, so it is bounded by the PBX's size, not by the event rate.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use ami_proto::Message;

/// The gauges of one server.
#[derive(Debug, Default)]
pub(crate) struct PbxGauges {
    channels: HashSet<Box<[u8]>>,
    waiting: BTreeMap<String, u64>,
    paused: BTreeSet<(String, String)>,
    /// Each key's latest change since the pending resync started (`None`: none pending).
    journal: Option<Journal>,
}

/// The latest change of each key, in the gauges' own terms.
#[derive(Debug, Default)]
struct Journal {
    channels: HashMap<Box<[u8]>, bool>,
    waiting: HashMap<String, u64>,
    paused: HashMap<(String, String), bool>,
}

/// What one event does to the gauges.
enum Change {
    Channel(Box<[u8]>, bool),
    Waiting(String, u64),
    Paused((String, String), bool),
}

fn text(message: &Message, name: &str) -> Option<String> {
    message.get(name).map(|v| v.into_owned())
}

fn flag(message: &Message, name: &str) -> Option<bool> {
    let value = message.get(name)?;
    Some(matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "yes" | "true"
    ))
}

impl PbxGauges {
    /// Active channels.
    pub(crate) fn channels(&self) -> usize {
        self.channels.len()
    }

    /// Callers waiting, per queue.
    pub(crate) fn waiting(&self) -> &BTreeMap<String, u64> {
        &self.waiting
    }

    /// Paused members, per queue.
    pub(crate) fn paused_per_queue(&self) -> BTreeMap<&str, u64> {
        let mut out = BTreeMap::new();
        for (queue, _) in &self.paused {
            *out.entry(queue.as_str()).or_insert(0) += 1;
        }
        out
    }

    /// Replaces everything with a snapshot: the items of `CoreShowChannels` and `QueueStatus`.
    pub(crate) fn reset(&mut self, channels: &[Message], queue_status: &[Message]) {
        self.channels = channels
            .iter()
            .filter_map(channel_key)
            .collect::<HashSet<_>>();
        self.waiting.clear();
        self.paused.clear();
        for item in queue_status {
            if let Some(change) = change(item) {
                self.apply(change);
            }
        }
    }

    /// A resync starts: from now on each key's latest change is also journalled, to be
    /// replayed over the snapshot. A resync already pending keeps its journal (it started
    /// earlier, which is as good).
    pub(crate) fn begin_resync(&mut self) {
        self.journal.get_or_insert_with(Journal::default);
    }

    /// The pending resync's snapshot: replaces the gauges with it, then replays what changed
    /// since the resync started (see the module's documentation for why that is exact).
    /// Without channels (`CoreShowChannels` failed) the gauges are left as the events made
    /// them; without queues (`QueueStatus` failed, or no queue module) the queue gauges start
    /// empty, as after a connect.
    pub(crate) fn finish_resync(&mut self, channels: Option<&[Message]>, queue_status: &[Message]) {
        let journal = self.journal.take().unwrap_or_default();
        let Some(channels) = channels else {
            return;
        };
        self.reset(channels, queue_status);
        for (key, up) in journal.channels {
            self.apply(Change::Channel(key, up));
        }
        for (queue, count) in journal.waiting {
            self.apply(Change::Waiting(queue, count));
        }
        for (member, paused) in journal.paused {
            self.apply(Change::Paused(member, paused));
        }
    }

    /// The pending resync will not finish (the connection went down): stop journalling.
    pub(crate) fn abandon_resync(&mut self) {
        self.journal = None;
    }

    /// Moves the gauges for one event (or snapshot item).
    pub(crate) fn handle_event(&mut self, event: &Message) {
        let Some(change) = change(event) else {
            return;
        };
        if let Some(journal) = &mut self.journal {
            match &change {
                Change::Channel(key, up) => {
                    journal.channels.insert(key.clone(), *up);
                }
                Change::Waiting(queue, count) => {
                    journal.waiting.insert(queue.clone(), *count);
                }
                Change::Paused(member, paused) => {
                    journal.paused.insert(member.clone(), *paused);
                }
            }
        }
        self.apply(change);
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::Channel(key, true) => {
                self.channels.insert(key);
            }
            Change::Channel(key, false) => {
                self.channels.remove(&key);
            }
            Change::Waiting(queue, count) => {
                self.waiting.insert(queue, count);
            }
            Change::Paused(member, true) => {
                self.paused.insert(member);
            }
            Change::Paused(member, false) => {
                self.paused.remove(&member);
            }
        }
    }
}

/// What `event` (or a snapshot item) does to the gauges, if anything.
fn change(event: &Message) -> Option<Change> {
    let name = event.get_bytes("Event")?;
    let is = |wanted: &str| name.eq_ignore_ascii_case(wanted.as_bytes());
    if is("Newchannel") {
        channel_key(event).map(|key| Change::Channel(key, true))
    } else if is("Hangup") {
        channel_key(event).map(|key| Change::Channel(key, false))
    } else if is("QueueCallerJoin")
        || is("QueueCallerLeave")
        || is("Join")
        || is("Leave")
        || is("QueueParams")
    {
        // Join/Leave carry the queue's count after the change; QueueParams the current one.
        let count = if is("QueueParams") { "Calls" } else { "Count" };
        let queue = text(event, "Queue")?;
        let count = event.get(count)?.trim().parse::<u64>().ok()?;
        Some(Change::Waiting(queue, count))
    } else if is("QueueMemberPause")
        || is("QueueMemberPaused")
        || is("QueueMemberStatus")
        || is("QueueMember")
        || is("QueueMemberAdded")
    {
        let interface = text(event, "Interface").or_else(|| text(event, "Location"))?;
        let queue = text(event, "Queue")?;
        let paused = flag(event, "Paused")?;
        Some(Change::Paused((queue, interface), paused))
    } else if is("QueueMemberRemoved") {
        let interface = text(event, "Interface").or_else(|| text(event, "Location"))?;
        let queue = text(event, "Queue")?;
        Some(Change::Paused((queue, interface), false))
    } else {
        None
    }
}

/// Channels are known by Uniqueid (stable for the channel's life); the name as a fallback.
fn channel_key(message: &Message) -> Option<Box<[u8]>> {
    message
        .get_bytes("Uniqueid")
        .or_else(|| message.get_bytes("UniqueID"))
        .or_else(|| message.get_bytes("Channel"))
        .map(Box::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(pairs: &[(&str, &str)]) -> Message {
        let mut builder = Message::builder();
        for (k, v) in pairs {
            builder = builder.header(k, v);
        }
        builder.build().expect("valid")
    }

    #[test]
    fn channels_follow_newchannel_and_hangup_idempotently() {
        let mut gauges = PbxGauges::default();
        gauges.reset(
            &[msg(&[("Event", "CoreShowChannel"), ("Uniqueid", "1")])],
            &[],
        );
        gauges.handle_event(&msg(&[("Event", "Newchannel"), ("Uniqueid", "1")]));
        gauges.handle_event(&msg(&[("Event", "Newchannel"), ("Uniqueid", "2")]));
        assert_eq!(gauges.channels(), 2);
        gauges.handle_event(&msg(&[("Event", "Hangup"), ("Uniqueid", "1")]));
        gauges.handle_event(&msg(&[("Event", "Hangup"), ("Uniqueid", "1")]));
        assert_eq!(gauges.channels(), 1);
    }

    #[test]
    fn queues_track_waiting_and_paused_in_every_vocabulary() {
        let mut gauges = PbxGauges::default();
        gauges.reset(
            &[],
            &[
                msg(&[
                    ("Event", "QueueParams"),
                    ("Queue", "support"),
                    ("Calls", "2"),
                ]),
                msg(&[
                    ("Event", "QueueMember"),
                    ("Queue", "support"),
                    ("Location", "SIP/100"),
                    ("Paused", "1"),
                ]),
            ],
        );
        assert_eq!(gauges.waiting()["support"], 2);
        assert_eq!(gauges.paused_per_queue()["support"], 1);
        gauges.handle_event(&msg(&[
            ("Event", "QueueCallerJoin"),
            ("Queue", "support"),
            ("Count", "3"),
        ]));
        gauges.handle_event(&msg(&[
            ("Event", "Leave"),
            ("Queue", "sales"),
            ("Count", "0"),
        ]));
        assert_eq!(gauges.waiting()["support"], 3);
        assert_eq!(gauges.waiting()["sales"], 0);
        gauges.handle_event(&msg(&[
            ("Event", "QueueMemberPause"),
            ("Queue", "support"),
            ("Interface", "SIP/100"),
            ("Paused", "0"),
        ]));
        assert!(gauges.paused_per_queue().is_empty());
    }

    #[test]
    fn a_snapshot_taken_while_events_flow_keeps_their_changes() {
        let mut gauges = PbxGauges::default();
        gauges.handle_event(&msg(&[("Event", "Newchannel"), ("Uniqueid", "old")]));
        gauges.begin_resync();
        // Meanwhile: the PBX took its snapshot (1, 2, and "gone" still up) and events went on.
        gauges.handle_event(&msg(&[("Event", "Hangup"), ("Uniqueid", "gone")]));
        gauges.handle_event(&msg(&[("Event", "Newchannel"), ("Uniqueid", "3")]));
        gauges.handle_event(&msg(&[("Event", "Newchannel"), ("Uniqueid", "brief")]));
        gauges.handle_event(&msg(&[("Event", "Hangup"), ("Uniqueid", "brief")]));
        // A change the snapshot already has: setting it again changes nothing.
        gauges.handle_event(&msg(&[("Event", "Newchannel"), ("Uniqueid", "1")]));
        gauges.handle_event(&msg(&[
            ("Event", "QueueCallerJoin"),
            ("Queue", "support"),
            ("Count", "4"),
        ]));
        let snapshot = [
            msg(&[("Event", "CoreShowChannel"), ("Uniqueid", "1")]),
            msg(&[("Event", "CoreShowChannel"), ("Uniqueid", "2")]),
            msg(&[("Event", "CoreShowChannel"), ("Uniqueid", "gone")]),
        ];
        let queues = [msg(&[
            ("Event", "QueueParams"),
            ("Queue", "support"),
            ("Calls", "3"),
        ])];
        gauges.finish_resync(Some(&snapshot), &queues);
        let mut up: Vec<&[u8]> = gauges.channels.iter().map(|k| &k[..]).collect();
        up.sort();
        // "old" ended unseen (the snapshot says so); "gone" and "brief" hung up meanwhile.
        assert_eq!(up, [&b"1"[..], b"2", b"3"]);
        assert_eq!(gauges.waiting()["support"], 4);
        // The journal ended with the resync: later events only move the gauges.
        assert!(gauges.journal.is_none());
    }

    #[test]
    fn a_failed_snapshot_or_a_dropped_link_leaves_the_gauges_to_events() {
        let mut gauges = PbxGauges::default();
        gauges.handle_event(&msg(&[("Event", "Newchannel"), ("Uniqueid", "1")]));
        gauges.begin_resync();
        gauges.handle_event(&msg(&[("Event", "Newchannel"), ("Uniqueid", "2")]));
        gauges.finish_resync(None, &[]);
        assert_eq!(gauges.channels(), 2);
        assert!(gauges.journal.is_none());
        gauges.begin_resync();
        gauges.abandon_resync();
        assert!(gauges.journal.is_none());
        assert_eq!(gauges.channels(), 2);
    }
}
