//! Pre-encoded events for load: two concurrent realistic calls' events, encoded once and shared
//! by every session that streams them (`SimHandle::emit_events`).

use bytes::{Bytes, BytesMut};

use crate::event::Event;
use crate::pbx::{OriginateRequest, Pbx};
use crate::perm::Perms;
use crate::profile::Profile;

/// The calls of one cycle, all originated at once: the Local channel and the extension its `;1`
/// side continues in once answered. Both dial Local/500 and bridge, but the second ends in
/// another extension, so the two calls' events differ in their values (channels, unique ids,
/// `Exten`) and a header filter can select one call, as a client watching one extension
/// would: `event=Hangup&header=Exten:110` matches one event in a cycle of about a hundred.
const CALLS: [(&str, &str); 2] = [("Local/400@demo", "100"), ("Local/400@demo", "110")];

/// A cycle of events and the same cycle as one contiguous buffer.
#[derive(Debug)]
pub(crate) struct StreamBatch {
    pub(crate) events: Vec<Event>,
    /// Every event of the cycle back to back, for one big write.
    pub(crate) block: Bytes,
    /// The union of the events' classes.
    pub(crate) classes: Perms,
}

impl StreamBatch {
    /// The events of [`CALLS`], each through a Dial and a bridge, in `profile`'s vocabulary.
    pub(crate) fn new(profile: Profile) -> Self {
        let mut pbx = Pbx::new(profile, 1_795_408_000);
        for (channel, exten) in CALLS {
            let _ = pbx.originate(OriginateRequest {
                channel: channel.into(),
                context: "demo".into(),
                exten: exten.into(),
                ..Default::default()
            });
        }
        let mut events = Vec::new();
        let mut t = 0;
        // Long enough for every call to end: a cycle leaves no channel behind.
        while t < 60_000 {
            t += 50;
            pbx.handle_timeout(t);
            while let Some(event) = pbx.poll_event() {
                events.push(event);
            }
        }
        let mut block = BytesMut::new();
        let mut classes = Perms::NONE;
        for event in &events {
            block.extend_from_slice(&event.bytes);
            classes = classes.union(event.class);
        }
        Self {
            events,
            block: block.freeze(),
            classes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_is_a_nonempty_cycle_of_whole_events() {
        for profile in Profile::ALL {
            let batch = StreamBatch::new(profile);
            assert!(batch.events.len() > 20, "{profile}: {}", batch.events.len());
            let total: usize = batch.events.iter().map(|e| e.bytes.len()).sum();
            assert_eq!(total, batch.block.len());
            assert!(batch.events.iter().all(|e| e.bytes.starts_with(b"Event: ")));
        }
    }

    fn count(batch: &StreamBatch, needles: &[&str]) -> usize {
        batch
            .events
            .iter()
            .filter(|e| {
                let text = String::from_utf8_lossy(&e.bytes);
                needles
                    .iter()
                    .all(|needle| text.lines().any(|line| line == *needle))
            })
            .count()
    }

    #[test]
    fn every_call_ends_within_the_cycle() {
        for profile in Profile::ALL {
            let batch = StreamBatch::new(profile);
            let created = count(&batch, &["Event: Newchannel"]);
            assert_eq!(created, 8, "{profile}: two calls of two Local pairs each");
            assert_eq!(count(&batch, &["Event: Hangup"]), created, "{profile}");
        }
    }

    /// What the gateway benchmark's load clients rely on: one Hangup per cycle in each of the
    /// two final extensions, in a cycle of about a hundred events of about 400 bytes.
    #[test]
    fn the_two_calls_differ_in_their_final_extension() {
        let batch = StreamBatch::new(Profile::V22);
        assert_eq!(count(&batch, &["Event: Hangup", "Exten: 100"]), 1);
        assert_eq!(count(&batch, &["Event: Hangup", "Exten: 110"]), 1);
        assert_eq!(
            count(&batch, &["Event: UserEvent", "UserEvent: DemoStart"]),
            1
        );
        assert!(
            (91..=111).contains(&batch.events.len()),
            "{}",
            batch.events.len()
        );
        let average = batch.block.len() / batch.events.len();
        assert!((350..=550).contains(&average), "{average}");
    }
}
