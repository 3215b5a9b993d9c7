//! Channels: created or updated by any event that names one, removed by `Hangup`, renamed
//! by `Rename`, swapped by 1.x `Masquerade`, replaced by a `CoreShowChannels` result.
//!
//! - Events that describe several channels (transfers, Local optimisation, parking) name
//!   each one's fields with a prefix (`Transferee…`, `LocalOne…`, `Parkee…`); each of those
//!   channels is created or updated alike ([`State::upsert_prefixed`]).
//! - 1.x `Masquerade` (a transfer or a Local optimisation on 1.8 and 11) names two channels
//!   by name, without Uniqueids: the `Original` takes the `Clone`'s state and the clone the
//!   original's. The `Rename` events that follow carry the name swap by Uniqueid, and the
//!   clone (renamed `…<ZOMBIE>`) then hangs up.

use std::borrow::Cow;

use ami_proto::Message;

use crate::bridges::legacy_bridge_id;
use crate::fields::{first, state_number, text};
use crate::model::Channel;
use crate::state::{Change, State};

impl State {
    /// Creates or updates the channel the event is about from the fields it carries.
    pub(crate) fn upsert_channel(&mut self, event: &Message) {
        self.upsert_with(event, "");
    }

    /// Creates or updates the channel whose fields the event names with `prefix`
    /// (`TransfereeChannel`, `TransfereeUniqueid` …), if it names one.
    pub(crate) fn upsert_prefixed(&mut self, event: &Message, prefix: &str) -> Option<String> {
        self.upsert_with(event, prefix)
    }

    fn upsert_with(&mut self, event: &Message, prefix: &str) -> Option<String> {
        let get = |name: &str| -> Option<String> {
            if prefix.is_empty() {
                event.get(name).map(Cow::into_owned)
            } else {
                event.get(&format!("{prefix}{name}")).map(Cow::into_owned)
            }
        };
        let any = |names: &[&str]| names.iter().find_map(|name| get(name));
        let uniqueid = any(&["Uniqueid", "UniqueID"])?;
        // `none` is what Asterisk writes when the event has no channel: the live 13 sends
        // `VarSet` with `Channel: none` and `Uniqueid: none` for a global variable at boot.
        if uniqueid.is_empty() || uniqueid == "none" || self.gone.contains(&uniqueid) {
            return None;
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
        if let Some(name) = get("Channel") {
            channel.name = name;
        }
        if let Some(linkedid) = get("Linkedid") {
            channel.linkedid = Some(linkedid);
        }
        if let Some(state) = get("ChannelState") {
            channel.state = state.trim().parse().unwrap_or(channel.state);
        }
        if let Some(desc) = get("ChannelStateDesc") {
            channel.state_desc = desc;
        }
        // DialBegin/DialEnd describe two channels: the fields without a prefix are the
        // caller's (absent when the dial came from no channel), `Dest…` the callee's.
        if let Some(num) = any(&["CallerIDNum", "CallerIDnum"]) {
            channel.caller_id_num = num;
        }
        if let Some(name) = any(&["CallerIDName", "CallerIDname"]) {
            channel.caller_id_name = name;
        }
        if let Some(num) = get("ConnectedLineNum") {
            channel.connected_line_num = num;
        }
        if let Some(name) = get("ConnectedLineName") {
            channel.connected_line_name = name;
        }
        if let Some(context) = get("Context") {
            channel.context = context;
        }
        if let Some(exten) = any(&["Exten", "Extension"]) {
            channel.exten = exten;
        }
        if let Some(priority) = get("Priority") {
            channel.priority = priority;
        }
        if prefix.is_empty() {
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
        }
        let change = if is_new {
            Change::ChannelUp(uniqueid.clone())
        } else {
            Change::ChannelChanged(uniqueid.clone())
        };
        self.push_change(change);
        // DialBegin/DialEnd: the callee's fields under `Dest`.
        if prefix.is_empty()
            && let Some(dest) = event.get("DestUniqueid")
        {
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
        Some(uniqueid)
    }

    /// Removes a channel and every trace of it (bridge membership, queue places, parking
    /// spaces). Whether it was there.
    pub(crate) fn remove_channel(&mut self, uniqueid: &str) -> bool {
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
        self.unpark_channel(uniqueid);
        true
    }

    /// Marks a channel hung up and removes it.
    pub(crate) fn channel_gone(&mut self, uniqueid: &str) {
        self.remember_gone(uniqueid.to_owned());
        if self.remove_channel(uniqueid) {
            self.push_change(Change::ChannelGone(uniqueid.to_owned()));
        }
    }

    pub(crate) fn hangup(&mut self, event: &Message) {
        if let Some(uniqueid) = first(event, &["Uniqueid", "UniqueID"]) {
            self.channel_gone(&uniqueid);
        }
    }

    /// The Uniqueid of the channel called `name`.
    pub(crate) fn uniqueid_of(&self, name: &str) -> Option<String> {
        self.channels
            .values()
            .find(|c| c.name == name)
            .map(|c| c.uniqueid.clone())
    }

    /// 1.x `Rename` (also what a masquerade does to names): the Uniqueid stays.
    pub(crate) fn rename(&mut self, event: &Message) {
        let Some(new_name) = event.get("Newname").map(Cow::into_owned) else {
            return;
        };
        let uniqueid = first(event, &["Uniqueid", "UniqueID"])
            .or_else(|| self.uniqueid_of(&first(event, &["Channel", "Oldname"])?));
        let Some(uniqueid) = uniqueid else {
            return;
        };
        if let Some(channel) = self.channels.get_mut(&uniqueid) {
            channel.name = new_name;
            self.push_change(Change::ChannelChanged(uniqueid));
        }
    }

    /// 1.x `Masquerade`: `Original` takes `CloneState`, `Clone` takes `OriginalState`.
    pub(crate) fn masquerade(&mut self, event: &Message) {
        let original = self.uniqueid_of(&text(event, "Original"));
        let clone = self.uniqueid_of(&text(event, "Clone"));
        for (uniqueid, state_field) in [(original, "CloneState"), (clone, "OriginalState")] {
            let Some(uniqueid) = uniqueid else {
                continue;
            };
            let desc = text(event, state_field);
            if let (Some(channel), Some(number)) =
                (self.channels.get_mut(&uniqueid), state_number(&desc))
            {
                channel.state = number;
                channel.state_desc = desc;
                self.push_change(Change::ChannelChanged(uniqueid));
            }
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
            if let Some(uniqueid) = first(item, &["Uniqueid", "UniqueID"]) {
                self.forget_gone(&uniqueid);
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
}
