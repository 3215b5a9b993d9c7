//! Pre-encoded events for load: one realistic call's events, encoded once and shared by every
//! session that streams them (`SimHandle::emit_events`).

use bytes::{Bytes, BytesMut};

use crate::event::Event;
use crate::pbx::{OriginateRequest, Pbx};
use crate::perm::Perms;
use crate::profile::Profile;

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
    /// The events of an originated call through a Dial and a bridge, in `profile`'s vocabulary.
    pub(crate) fn new(profile: Profile) -> Self {
        let mut pbx = Pbx::new(profile, 1_795_408_000);
        let _ = pbx.originate(OriginateRequest {
            channel: "Local/400@demo".into(),
            context: "demo".into(),
            exten: "100".into(),
            ..Default::default()
        });
        let mut events = Vec::new();
        let mut t = 0;
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
}
