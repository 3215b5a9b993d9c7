//! PBX gauges kept current from events: active channels, callers waiting per queue, paused
//! members per queue. Seeded from a snapshot on every (re)connect, then moved by events; sets
//! keyed by identity make both idempotent, so an event that overlaps the snapshot counts once.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use ami_proto::Message;

/// The gauges of one server.
#[derive(Debug, Default)]
pub(crate) struct PbxGauges {
    channels: HashSet<Box<[u8]>>,
    waiting: BTreeMap<String, u64>,
    paused: BTreeSet<(String, String)>,
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
            self.handle_event(item);
        }
    }

    /// Moves the gauges for one event (or snapshot item).
    pub(crate) fn handle_event(&mut self, event: &Message) {
        let Some(name) = event.get_bytes("Event") else {
            return;
        };
        let is = |wanted: &str| name.eq_ignore_ascii_case(wanted.as_bytes());
        if is("Newchannel") {
            if let Some(key) = channel_key(event) {
                self.channels.insert(key);
            }
        } else if is("Hangup") {
            if let Some(key) = channel_key(event) {
                self.channels.remove(&key);
            }
        } else if is("QueueCallerJoin")
            || is("QueueCallerLeave")
            || is("Join")
            || is("Leave")
            || is("QueueParams")
        {
            // Join/Leave carry the queue's count after the change; QueueParams the current one.
            let count = if is("QueueParams") { "Calls" } else { "Count" };
            if let (Some(queue), Some(count)) = (
                text(event, "Queue"),
                event.get(count).and_then(|c| c.trim().parse::<u64>().ok()),
            ) {
                self.waiting.insert(queue, count);
            }
        } else if is("QueueMemberPause")
            || is("QueueMemberPaused")
            || is("QueueMemberStatus")
            || is("QueueMember")
            || is("QueueMemberAdded")
        {
            let interface = text(event, "Interface").or_else(|| text(event, "Location"));
            if let (Some(queue), Some(interface), Some(paused)) =
                (text(event, "Queue"), interface, flag(event, "Paused"))
            {
                if paused {
                    self.paused.insert((queue, interface));
                } else {
                    self.paused.remove(&(queue, interface));
                }
            }
        } else if is("QueueMemberRemoved") {
            let interface = text(event, "Interface").or_else(|| text(event, "Location"));
            if let (Some(queue), Some(interface)) = (text(event, "Queue"), interface) {
                self.paused.remove(&(queue, interface));
            }
        }
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
}
