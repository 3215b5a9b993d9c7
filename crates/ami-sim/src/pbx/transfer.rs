//! Transfers of a bridged channel: blind (the BlindTransfer action, 13+: the transferee goes
//! to the new extension and the transferer hangs up) and attended (the Atxfer action, every
//! era: the transferer consults the target, then the transferee is bridged with the target).
//! 13+ reports them with BlindTransfer / AttendedTransfer and bridge events; 1.8 and 11 with
//! Dial and Bridge (Link/Unlink) events and the masquerade (Masquerade, Rename) that moves the
//! transferee into the new bridge.

use super::dialplan;
use super::{ChanState, Pair, Parent, Pbx, Timer};
use crate::perm::Perms;
use crate::profile::Profile;
use crate::wire::Packet;

/// How long the transferer talks to the target before completing the transfer.
const CONSULT_MS: u64 = 2_000;

/// Why a transfer was refused, with the Message Asterisk answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferError {
    /// No such channel.
    NoChannel,
    /// The channel is not bridged with another one.
    NotBridged,
    /// The destination extension does not exist.
    Failed,
}

/// An attended transfer in progress: the transferer talks to the target in `second`.
#[derive(Debug, Clone)]
pub(crate) struct Atxfer {
    transferer: u64,
    transferee: u64,
    /// The target's `;1` and `;2`.
    target: u64,
    target_two: u64,
    first: String,
    second: Option<String>,
}

impl Atxfer {
    /// True when `id` is one of the transfer's channels.
    pub(super) fn involves(&self, id: u64) -> bool {
        [
            self.transferer,
            self.transferee,
            self.target,
            self.target_two,
        ]
        .contains(&id)
    }
}

impl Pbx {
    /// `id`'s bridge and the other channel in it.
    fn bridge_and_peer(&self, id: u64) -> Result<(String, u64), TransferError> {
        let chan = self.channels.get(&id).ok_or(TransferError::NoChannel)?;
        let bridge = chan.bridge.clone().ok_or(TransferError::NotBridged)?;
        let peer = self.bridged_peer(id).ok_or(TransferError::NotBridged)?.id;
        Ok((bridge, peer))
    }

    /// The Dial (or retrieval) that made `bridge` no longer owns it: its pair must neither
    /// unlink it nor resume its caller when it hangs up.
    fn detach_bridge(&mut self, bridge: &str) {
        for pair in self.pairs.values_mut() {
            if pair.bridge.as_deref() == Some(bridge) {
                pair.bridge = None;
                if matches!(pair.parent, Parent::Dial { .. }) {
                    pair.parent = Parent::Detached;
                }
            }
        }
        self.joined.retain(|j| j.bridge != bridge);
    }

    /// BlindTransfer (13+): `id`'s peer goes to `exten@context`, `id` hangs up.
    pub(crate) fn blind_transfer(
        &mut self,
        id: u64,
        context: &str,
        exten: &str,
    ) -> Result<(), TransferError> {
        let (bridge, peer) = self.bridge_and_peer(id)?;
        if dialplan::extension(context, exten).is_none() {
            return Err(TransferError::Failed);
        }
        if let (Some(transferer), Some(transferee)) =
            (self.channels.get(&id), self.channels.get(&peer))
        {
            let packet = Packet::event("BlindTransfer", Perms::CALL).h("Result", "Success");
            let packet = transferer.snapshot(self.profile, "Transferer", packet);
            let packet = transferee.snapshot(self.profile, "Transferee", packet);
            let packet = self
                .bridge_fields(&bridge, 2, packet)
                .h("IsExternal", "Yes")
                .h("Context", context)
                .h("Extension", exten);
            self.emit(Perms::CALL, packet);
        }
        self.detach_bridge(&bridge);
        self.unbridge_two(&bridge, id, peer);
        self.hangup_call(id, "16");
        self.redirect(peer, context, exten);
        Ok(())
    }

    /// Atxfer: `id` leaves its bridge and dials `exten@context`; once the target answers and
    /// they have talked, `id` hangs up and its former peer is bridged with the target.
    pub(crate) fn attended_transfer(
        &mut self,
        id: u64,
        context: &str,
        exten: &str,
    ) -> Result<(), TransferError> {
        let (bridge, peer) = self.bridge_and_peer(id)?;
        let Some(steps) = dialplan::extension(context, exten) else {
            return Err(TransferError::Failed);
        };
        self.detach_bridge(&bridge);
        if self.profile.modern_events() {
            // 13+: the transferer leaves for a bridge of its own with the target; the
            // transferee waits alone in the first bridge.
            if let Some(chan) = self.channels.get(&id) {
                let packet =
                    self.bridge_fields(&bridge, 1, Packet::event("BridgeLeave", Perms::CALL));
                let packet = chan.snapshot(self.profile, "", packet);
                self.emit(Perms::CALL, packet);
            }
            if let Some(chan) = self.channels.get_mut(&id) {
                chan.bridge = None;
            }
        }
        let linkedid = self.channels.get(&id).map(|c| c.linkedid.clone());
        let (one, two) = self.new_local_pair(exten, context, linkedid);
        self.set_app(one, "AppDial", "(Outgoing Line)");
        self.ev_dial_begin(Some(id), one, &format!("Local/{exten}@{context}"));
        self.pairs.insert(
            two,
            Pair {
                one,
                two,
                parent: Parent::Transfer {
                    transferer: id,
                    transferee: peer,
                    bridge: bridge.clone(),
                },
                bridge: None,
            },
        );
        self.transfers.push(Atxfer {
            transferer: id,
            transferee: peer,
            target: one,
            target_two: two,
            first: bridge,
            second: None,
        });
        self.programs.insert(two, (steps, 0));
        self.schedule(5, Timer::Step(two));
        Ok(())
    }

    /// The target answered: the transferer and the target talk in a second bridge.
    pub(super) fn atxfer_answered(
        &mut self,
        two: u64,
        one: u64,
        transferer: u64,
        transferee: u64,
        bridge: String,
    ) {
        let _ = bridge;
        self.ev_dial_end(Some(transferer), one, "ANSWER");
        let Some(index) = self.transfers.iter().position(|t| t.target_two == two) else {
            return;
        };
        if !self.profile.modern_events() {
            // 1.x: the transferer's channel leaves the first bridge for the second.
            let first = self.transfers[index].first.clone();
            self.unbridge_two(&first, transferer, transferee);
        }
        let second = self.bridge_two(transferer, one);
        self.transfers[index].second = Some(second);
        self.schedule(CONSULT_MS, Timer::AtxferComplete(two));
    }

    /// The consultation is over: the transferer hangs up and the transferee joins the target.
    pub(super) fn atxfer_complete(&mut self, two: u64) {
        let Some(index) = self.transfers.iter().position(|t| t.target_two == two) else {
            return;
        };
        let xfer = self.transfers.remove(index);
        if let Some(pair) = self.pairs.get_mut(&two) {
            pair.parent = Parent::Detached;
        }
        let Some(second) = xfer.second.clone() else {
            return;
        };
        let (x, y, target) = (xfer.transferer, xfer.transferee, xfer.target);
        if !(self.channels.contains_key(&x)
            && self.channels.contains_key(&y)
            && self.channels.contains_key(&target))
        {
            return;
        }
        if self.profile.modern_events() {
            self.ev_attended_transfer(&xfer, &second);
            self.unbridge_two(&second, target, x);
            // The target moves into the transferee's bridge.
            if let Some(chan) = self.channels.get_mut(&target) {
                chan.bridge = Some(xfer.first.clone());
            }
            if let Some(chan) = self.channels.get(&target) {
                let packet =
                    self.bridge_fields(&xfer.first, 2, Packet::event("BridgeEnter", Perms::CALL));
                let packet = chan.snapshot(self.profile, "", packet);
                self.emit(Perms::CALL, packet);
            }
            self.joined.push(super::Joined {
                bridge: xfer.first.clone(),
                a: y,
                b: target,
            });
            self.hangup_call(x, "16");
        } else {
            self.unbridge_two(&second, x, target);
            self.hangup_call(x, "16");
            self.masquerade_into_new_channel(y);
            self.join(y, target);
        }
    }

    /// 1.x: the transferee is masqueraded into a fresh `Transfered/NAME` channel (features.c's
    /// atxfer): that channel takes the name, the transferee's old identity dies as a zombie.
    /// The simulator keeps the transferee's object and gives it the new channel's Uniqueid.
    fn masquerade_into_new_channel(&mut self, y: u64) {
        let Some(chan) = self.channels.get(&y) else {
            return;
        };
        let (name, state, linkedid, exten) = (
            chan.name.clone(),
            chan.state,
            chan.linkedid.clone(),
            chan.exten.clone(),
        );
        let original = format!("Transfered/{name}");
        let xfer = self.new_channel(original.clone(), ChanState::Up, &exten, Some(linkedid));
        self.ev_newchannel(xfer);
        let Some(new_uniqueid) = self.channels.get(&xfer).map(|c| c.uniqueid.clone()) else {
            return;
        };
        let old_uniqueid = self
            .channels
            .get(&y)
            .map(|c| c.uniqueid.clone())
            .unwrap_or_default();
        let packet = Packet::event("Masquerade", Perms::CALL)
            .h("Clone", &name)
            .h("CloneState", state.desc())
            .h("Original", &original)
            .h("OriginalState", "Up");
        self.emit(Perms::CALL, packet);
        let masq = format!("{name}<MASQ>");
        let zombie = format!("{original}<ZOMBIE>");
        self.ev_rename(&name, &masq, &old_uniqueid);
        self.ev_rename(&original, &name, &new_uniqueid);
        self.ev_rename(&masq, &zombie, &old_uniqueid);
        if let Some(chan) = self.channels.get_mut(&y) {
            chan.uniqueid = new_uniqueid;
        }
        if let Some(chan) = self.channels.get_mut(&xfer) {
            chan.name = zombie;
            chan.uniqueid = old_uniqueid;
        }
        self.ev_hangup(xfer, "0", "Unknown");
        self.channels.remove(&xfer);
    }

    /// Rename (1.x): a channel's name changes, its Uniqueid stays.
    pub(super) fn ev_rename(&mut self, old: &str, new: &str, uniqueid: &str) {
        let packet = Packet::event("Rename", Perms::CALL)
            .h("Channel", old)
            .h("Newname", new)
            .h("Uniqueid", uniqueid);
        self.emit(Perms::CALL, packet);
    }

    /// AttendedTransfer (13+) for a transfer that joins two bridges (DestType Bridge).
    fn ev_attended_transfer(&mut self, xfer: &Atxfer, second: &str) {
        let (Some(x), Some(y), Some(target)) = (
            self.channels.get(&xfer.transferer),
            self.channels.get(&xfer.transferee),
            self.channels.get(&xfer.target),
        ) else {
            return;
        };
        let packet = Packet::event("AttendedTransfer", Perms::CALL).h("Result", "Success");
        let packet = x.snapshot(self.profile, "OrigTransferer", packet);
        let packet = self.prefixed_bridge("Orig", &xfer.first, 1, packet);
        let packet = x.snapshot(self.profile, "SecondTransferer", packet);
        let packet = self.prefixed_bridge("Second", second, 2, packet);
        let packet = packet
            .h("DestType", "Bridge")
            .h("DestBridgeUniqueid", &xfer.first);
        let packet = y.snapshot(self.profile, "Transferee", packet);
        // TransferTarget is documented from 22 on.
        let packet = if self.profile == Profile::V22 {
            target.snapshot(self.profile, "TransferTarget", packet)
        } else {
            packet
        };
        self.emit(Perms::CALL, packet);
    }

    /// A bridge snapshot with a name prefix (`OrigBridgeUniqueid` ...).
    fn prefixed_bridge(&self, prefix: &str, bridge: &str, count: usize, packet: Packet) -> Packet {
        packet
            .h(&format!("{prefix}BridgeUniqueid"), bridge)
            .h(&format!("{prefix}BridgeType"), "basic")
            .h(&format!("{prefix}BridgeTechnology"), "simple_bridge")
            .h(&format!("{prefix}BridgeCreator"), "<unknown>")
            .h(&format!("{prefix}BridgeName"), "<unknown>")
            .h(&format!("{prefix}BridgeNumChannels"), &count.to_string())
            .h(&format!("{prefix}BridgeVideoSourceMode"), "none")
    }

    /// A party of an attended transfer in progress hangs up: the transfer is abandoned (the
    /// consultation bridge ends; the transferee is left alone and hangs up).
    pub(super) fn release_transfer(&mut self, id: u64) {
        let Some(index) = self
            .transfers
            .iter()
            .position(|t| t.transferer == id || t.transferee == id || t.target == id)
        else {
            return;
        };
        let xfer = self.transfers.remove(index);
        if let Some(second) = &xfer.second {
            self.unbridge_two(second, xfer.transferer, xfer.target);
        }
        let waiting = self
            .channels
            .get(&xfer.transferee)
            .is_some_and(|c| c.bridge.as_deref() == Some(xfer.first.as_str()));
        if self.profile.modern_events() && waiting {
            // 13+: the transferee waited alone in the first bridge. With the transfer off it
            // leaves, and the bridge, empty, is destroyed: without these events a state kept
            // from them kept the bridge that BridgeList no longer has.
            if let Some(chan) = self.channels.get(&xfer.transferee) {
                let packet =
                    self.bridge_fields(&xfer.first, 0, Packet::event("BridgeLeave", Perms::CALL));
                let packet = chan.snapshot(self.profile, "", packet);
                self.emit(Perms::CALL, packet);
            }
            let packet =
                self.bridge_fields(&xfer.first, 0, Packet::event("BridgeDestroy", Perms::CALL));
            self.emit(Perms::CALL, packet);
            if let Some(chan) = self.channels.get_mut(&xfer.transferee) {
                chan.bridge = None;
            }
        }
        if let Some(pair) = self.pairs.get_mut(&xfer.target_two) {
            pair.parent = Parent::Detached;
        }
        for other in [xfer.transferer, xfer.transferee, xfer.target] {
            if other != id {
                self.schedule(5, Timer::AppDone(other));
            }
        }
    }
}
