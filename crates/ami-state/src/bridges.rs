//! Bridges and what moves channels between them, on every era.
//!
//! - 12+: `BridgeCreate`/`BridgeEnter`/`BridgeLeave`/`BridgeDestroy` by `BridgeUniqueid`; a
//!   `BridgeList` result replaces the set of bridges (holding bridges with nobody in them
//!   included); their members come from the channels' `BridgeId` in `CoreShowChannels`.
//! - 1.x: `Link`/`Unlink` and `Bridge` (with `Bridgestate`) pair two channels without a
//!   bridge id; the bridge is named `<uniqueid>+<uniqueid>` (see [`legacy_bridge_id`]).
//! - `BridgeMerge` (22): every channel of the `From…` bridge is now in the `To…` bridge, and
//!   the `From…` bridge is gone.
//! - `LocalOptimizationBegin`/`End` (12+): a Local channel pair steps out of the media path.
//!   `Begin` names the pair (`LocalOne…`, `LocalTwo…`), the channel that takes their place
//!   (`Source…`) and `DestUniqueId`: the bridge it goes into, says the documentation, but
//!   Asterisk sends a Local half's Uniqueid there. A successful `End` puts that channel into
//!   `DestUniqueId` when that is a bridge the model knows (otherwise the BridgeEnter/Leave
//!   events around the End tell the move) and ends both Local halves (their Hangups follow
//!   and are then ignored). An `End` whose `Begin` was not seen still ends the halves.
//! - `BlindTransfer` (12+): on success the transferer leaves the bridge; where the
//!   transferees go is told by the events that follow (`BridgeLeave`, `Newexten`).
//! - `AttendedTransfer` (12+): on success with `DestType: Bridge` the two bridges become the
//!   one named `DestBridgeUniqueid`: every channel of the other bridge but the transferers
//!   moves into it. With `Bridge`, `App` or `Link` both transferer channels leave their
//!   bridges; `Threeway` keeps everyone; `Fail` changes nothing.
//! - Every channel a transfer or an optimisation names is created or updated from its
//!   prefixed fields.
//!
//! Each rule sets membership rather than counting, so applying an event twice is harmless.

use std::borrow::Cow;

use ami_proto::Message;

use crate::fields::{first, flag, text};
use crate::model::{Bridge, Channel};
use crate::state::{Change, Optimisation, State};

/// The name of a 1.x bridge: its two Uniqueids in order, so that `Link` and a
/// `CoreShowChannels` pair name the same bridge alike.
pub(crate) fn legacy_bridge_id(one: &str, two: &str) -> String {
    if one <= two {
        format!("{one}+{two}")
    } else {
        format!("{two}+{one}")
    }
}

/// Copies the bridge's description (`{prefix}BridgeType` …) where the event carries it.
fn describe(bridge: &mut Bridge, event: &Message, prefix: &str) {
    let get = |name: &str| event.get(&format!("{prefix}{name}")).map(Cow::into_owned);
    if let Some(value) = get("BridgeType") {
        bridge.bridge_type = value;
    }
    if let Some(value) = get("BridgeTechnology") {
        bridge.technology = value;
    }
    if let Some(value) = get("BridgeCreator") {
        bridge.creator = value;
    }
    if let Some(value) = get("BridgeName") {
        bridge.name = value;
    }
}

impl State {
    fn bridge_entry(&mut self, id: &str) -> &mut Bridge {
        self.bridges.entry(id.to_owned()).or_insert_with(|| Bridge {
            id: id.to_owned(),
            ..Bridge::default()
        })
    }

    pub(crate) fn bridge_create(&mut self, event: &Message) {
        let Some(id) = event.get("BridgeUniqueid").map(Cow::into_owned) else {
            return;
        };
        describe(self.bridge_entry(&id), event, "");
        self.push_change(Change::BridgeChanged(id));
    }

    /// A `BridgeList` item (or one received as an event).
    pub(crate) fn bridge_list_item(&mut self, event: &Message) {
        self.bridge_create(event);
    }

    pub(crate) fn join_bridge(&mut self, bridge_id: &str, uniqueid: &str) {
        if let Some(previous) = self
            .channels
            .get(uniqueid)
            .and_then(|c| c.bridge.clone())
            .filter(|previous| previous != bridge_id)
        {
            self.drop_from_bridge(&previous, uniqueid);
        }
        let bridge = self.bridge_entry(bridge_id);
        if !bridge.channels.iter().any(|c| c == uniqueid) {
            bridge.channels.push(uniqueid.to_owned());
        }
        if let Some(channel) = self.channels.get_mut(uniqueid) {
            channel.bridge = Some(bridge_id.to_owned());
        }
    }

    pub(crate) fn drop_from_bridge(&mut self, bridge_id: &str, uniqueid: &str) {
        if let Some(bridge) = self.bridges.get_mut(bridge_id) {
            bridge.channels.retain(|c| c != uniqueid);
        }
        if let Some(channel) = self.channels.get_mut(uniqueid)
            && channel.bridge.as_deref() == Some(bridge_id)
        {
            channel.bridge = None;
        }
    }

    /// Takes a channel out of whatever bridge it is in.
    fn leave_any_bridge(&mut self, uniqueid: &str) {
        if let Some(bridge) = self.channels.get(uniqueid).and_then(|c| c.bridge.clone()) {
            self.drop_from_bridge(&bridge, uniqueid);
            self.push_change(Change::BridgeChanged(bridge));
            self.push_change(Change::ChannelChanged(uniqueid.to_owned()));
        }
    }

    pub(crate) fn bridge_enter(&mut self, event: &Message) {
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
            describe(bridge, event, "");
        }
        self.push_change(Change::BridgeChanged(id));
    }

    pub(crate) fn bridge_leave(&mut self, event: &Message) {
        let (Some(id), Some(uniqueid)) = (
            event.get("BridgeUniqueid").map(Cow::into_owned),
            event.get("Uniqueid").map(Cow::into_owned),
        ) else {
            return;
        };
        self.drop_from_bridge(&id, &uniqueid);
        self.push_change(Change::BridgeChanged(id));
    }

    fn remove_bridge(&mut self, id: &str) {
        if let Some(bridge) = self.bridges.remove(id) {
            for uniqueid in bridge.channels {
                if let Some(channel) = self.channels.get_mut(&uniqueid)
                    && channel.bridge.as_deref() == Some(id)
                {
                    channel.bridge = None;
                }
            }
            self.push_change(Change::BridgeChanged(id.to_owned()));
        }
    }

    pub(crate) fn bridge_destroy(&mut self, event: &Message) {
        if let Some(id) = event.get("BridgeUniqueid").map(Cow::into_owned) {
            self.remove_bridge(&id);
        }
    }

    pub(crate) fn bridge_merge(&mut self, event: &Message) {
        let (Some(to), Some(from)) = (
            event.get("ToBridgeUniqueid").map(Cow::into_owned),
            event.get("FromBridgeUniqueid").map(Cow::into_owned),
        ) else {
            return;
        };
        if to == from {
            return;
        }
        describe(self.bridge_entry(&to), event, "To");
        let moving = self
            .bridges
            .get(&from)
            .map(|b| b.channels.clone())
            .unwrap_or_default();
        for uniqueid in moving {
            self.join_bridge(&to, &uniqueid);
        }
        self.remove_bridge(&from);
        self.push_change(Change::BridgeChanged(to));
    }

    /// 1.x `Link`/`Unlink`/`Bridge`: two channels, no bridge id; the bridge is named after
    /// their Uniqueids so that the same pair always maps to the same bridge.
    pub(crate) fn legacy_link(&mut self, event: &Message, linked: bool) {
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
            self.push_change(Change::BridgeChanged(id));
        } else {
            self.remove_bridge(&id);
        }
    }

    pub(crate) fn local_optimisation_begin(&mut self, event: &Message) {
        let local_one = self.upsert_prefixed(event, "LocalOne").unwrap_or_default();
        let local_two = self.upsert_prefixed(event, "LocalTwo").unwrap_or_default();
        let source = self.upsert_prefixed(event, "Source").unwrap_or_default();
        self.optimisations.insert(
            text(event, "Id"),
            Optimisation {
                local_one,
                local_two,
                source,
                bridge: text(event, "DestUniqueId"),
            },
        );
    }

    pub(crate) fn local_optimisation_end(&mut self, event: &Message) {
        let begun = self.optimisations.remove(&text(event, "Id"));
        if !flag(event, "Success") {
            self.upsert_prefixed(event, "LocalOne");
            self.upsert_prefixed(event, "LocalTwo");
            return;
        }
        let mut halves = vec![
            first(event, &["LocalOneUniqueid"]).unwrap_or_default(),
            first(event, &["LocalTwoUniqueid"]).unwrap_or_default(),
        ];
        if let Some(begun) = begun {
            halves.push(begun.local_one);
            halves.push(begun.local_two);
            // Only a bridge the model knows: Asterisk's core_local fills DestUniqueId with a
            // Local half's Uniqueid (LocalTwo's), not the bridge its documentation describes;
            // taken as a bridge name it would invent a bridge. The move itself is also told by
            // the BridgeLeave/BridgeEnter events Asterisk sends around the End.
            if !begun.source.is_empty()
                && self.bridges.contains_key(&begun.bridge)
                && self.channels.contains_key(&begun.source)
            {
                self.join_bridge(&begun.bridge, &begun.source);
                self.push_change(Change::BridgeChanged(begun.bridge));
                self.push_change(Change::ChannelChanged(begun.source));
            }
        }
        for half in halves.into_iter().filter(|h| !h.is_empty()) {
            self.channel_gone(&half);
        }
    }

    pub(crate) fn blind_transfer(&mut self, event: &Message) {
        let transferer = self.upsert_prefixed(event, "Transferer");
        self.upsert_prefixed(event, "Transferee");
        if event.value_is("Result", "Success")
            && let Some(transferer) = transferer
        {
            self.leave_any_bridge(&transferer);
        }
    }

    pub(crate) fn attended_transfer(&mut self, event: &Message) {
        let transferers: Vec<String> = ["OrigTransferer", "SecondTransferer"]
            .into_iter()
            .filter_map(|prefix| self.upsert_prefixed(event, prefix))
            .collect();
        for prefix in ["Transferee", "TransferTarget", "LocalOne", "LocalTwo"] {
            self.upsert_prefixed(event, prefix);
        }
        if !event.value_is("Result", "Success") {
            return;
        }
        let dest_type = text(event, "DestType");
        if dest_type == "Bridge" {
            let dest = text(event, "DestBridgeUniqueid");
            let other = ["OrigBridgeUniqueid", "SecondBridgeUniqueid"]
                .into_iter()
                .map(|field| text(event, field))
                .find(|id| !id.is_empty() && *id != dest);
            if !dest.is_empty()
                && let Some(other) = other
            {
                let moving: Vec<String> = self
                    .bridges
                    .get(&other)
                    .map(|b| b.channels.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|c| !transferers.contains(c))
                    .collect();
                for uniqueid in moving {
                    self.join_bridge(&dest, &uniqueid);
                    self.push_change(Change::ChannelChanged(uniqueid));
                }
                self.push_change(Change::BridgeChanged(other));
                self.push_change(Change::BridgeChanged(dest));
            }
        }
        if matches!(dest_type.as_str(), "Bridge" | "App" | "Link") {
            for transferer in &transferers {
                self.leave_any_bridge(transferer);
            }
        }
    }

    /// Replaces the 12+ bridges by a `BridgeList` result: bridges it does not list are gone,
    /// the ones it lists are described by it; members stay as `CoreShowChannels` gave them.
    pub(crate) fn replace_bridges(&mut self, items: &[Message]) {
        let listed: Vec<String> = items
            .iter()
            .filter_map(|item| item.get("BridgeUniqueid").map(Cow::into_owned))
            .collect();
        let stale: Vec<String> = self
            .bridges
            .keys()
            .filter(|id| !id.contains('+') && !listed.contains(id))
            .cloned()
            .collect();
        for id in stale {
            self.remove_bridge(&id);
        }
        for item in items {
            self.bridge_list_item(item);
        }
        self.push_change(Change::Resynced);
    }
}
