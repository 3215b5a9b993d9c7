//! Local channel optimisation.
//!
//! 13+: a Local pair whose `;1` is bridged with the caller and whose `;2` is bridged with the
//! callee gets out of the way. LocalOptimizationBegin, the callee swaps into the caller's
//! bridge in place of `;1`, LocalOptimizationEnd, then both halves hang up and the second
//! bridge goes. The callee's Dial then belongs to the caller.
//!
//! 1.8 and 11 (chan_local): when audio reaches a `;2` bridged with the channel it dialled,
//! that channel is masqueraded into `;1`: one Masquerade event (Clone: the callee, Original:
//! `;1`), the three Renames of a masquerade (callee to `NAME<MASQ>`, `;1` to the callee's name,
//! `NAME<MASQ>` to `;1`'s name with `<ZOMBIE>`), NewCallerid for the survivor, the Unlink of
//! `;2` and the zombie (`Bridge` with `Bridgestate: Unlink` on 11), `;2`'s `h` extension and
//! Cdr, the zombie's Hangup, `;2`'s Dial End and Hangup. The survivor keeps `;1`'s Uniqueid,
//! dialplan and bridge; it takes the callee's name, state and caller ID. No
//! LocalOptimizationBegin/End and no bridge events for the survivor's own bridge: it stays in
//! it (as the recordings `originate_exten` and `mixed_action_during_events` of 1.8 and 11
//! show).

use super::{Parent, Pbx, Timer};
use crate::perm::Perms;
use crate::wire::Packet;

impl Pbx {
    /// Optimises the Local pair whose `;2` is `two`, if it is still bridged on both sides.
    pub(super) fn optimize_local(&mut self, two: u64) {
        let Some(pair) = self.pairs.get(&two).cloned() else {
            return;
        };
        let (Some(first), Parent::Dial { caller }) = (pair.bridge.clone(), pair.parent.clone())
        else {
            return;
        };
        // The pair `;2` dialled: its `;1` (the callee) is bridged with `;2`.
        let Some((callee_two, callee, second)) = self.pairs.values().find_map(|p| match p.parent {
            Parent::Dial { caller: c } if c == two => {
                p.bridge.clone().map(|bridge| (p.two, p.one, bridge))
            }
            _ => None,
        }) else {
            return;
        };
        self.optimizations += 1;
        let id = self.optimizations.to_string();
        let (Some(one), Some(two_chan), Some(source), Some(_)) = (
            self.channels.get(&pair.one),
            self.channels.get(&two),
            self.channels.get(&callee),
            self.channels.get(&caller),
        ) else {
            return;
        };
        let packet = Packet::event("LocalOptimizationBegin", Perms::CALL);
        let packet = one.snapshot(self.profile, "LocalOne", packet);
        let packet = two_chan.snapshot(self.profile, "LocalTwo", packet);
        let packet = source
            .snapshot(self.profile, "Source", packet)
            // Asterisk's core_local sends a Local half's Uniqueid here (LocalTwo's whenever
            // the event has a destination), not the bridge the documentation describes.
            .h("DestUniqueId", &two_chan.uniqueid)
            .h("Id", &id);
        self.emit(Perms::CALL, packet);
        // The callee leaves its bridge and takes `;1`'s place in the caller's.
        for (bridge, count, name, chan) in [
            (&second, 1, "BridgeLeave", callee),
            (&first, 3, "BridgeEnter", callee),
            (&first, 2, "BridgeLeave", pair.one),
        ] {
            if let Some(c) = self.channels.get(&chan) {
                let packet = self.bridge_fields(bridge, count, Packet::event(name, Perms::CALL));
                let packet = c.snapshot(self.profile, "", packet);
                self.emit(Perms::CALL, packet);
            }
        }
        if let Some(c) = self.channels.get_mut(&callee) {
            c.bridge = Some(first.clone());
        }
        let (Some(one), Some(two_chan)) = (self.channels.get(&pair.one), self.channels.get(&two))
        else {
            return;
        };
        let packet = Packet::event("LocalOptimizationEnd", Perms::CALL);
        let packet = one.snapshot(self.profile, "LocalOne", packet);
        let packet = two_chan
            .snapshot(self.profile, "LocalTwo", packet)
            .h("Success", "Yes")
            .h("Id", &id);
        self.emit(Perms::CALL, packet);
        // `;2` leaves the emptied second bridge, which goes; both halves hang up.
        if let Some(c) = self.channels.get(&two) {
            let packet = self.bridge_fields(&second, 0, Packet::event("BridgeLeave", Perms::CALL));
            let packet = c.snapshot(self.profile, "", packet);
            self.emit(Perms::CALL, packet);
        }
        let packet = self.bridge_fields(&second, 0, Packet::event("BridgeDestroy", Perms::CALL));
        self.emit(Perms::CALL, packet);
        if let Some(p) = self.pairs.get_mut(&callee_two) {
            p.parent = Parent::Dial { caller };
            p.bridge = Some(first);
        }
        self.pairs.remove(&two);
        for chan in [pair.one, two] {
            self.ev_hangup(chan, "16", "Normal Clearing");
            self.ev_cdr(chan);
            self.programs.remove(&chan);
            if let Some(gone) = self.channels.remove(&chan) {
                self.refresh_device(gone.device());
            }
        }
    }

    /// The pair `;2` dialled and is bridged with: (its `;2`, its `;1` the callee, the bridge).
    fn dialled_and_bridged(&self, two: u64) -> Option<(u64, u64, String)> {
        self.pairs.values().find_map(|p| match p.parent {
            Parent::Dial { caller } if caller == two => {
                p.bridge.clone().map(|bridge| (p.two, p.one, bridge))
            }
            _ => None,
        })
    }

    /// 1.8 and 11: `id` plays audio. When `id` is the `;2` of a pair dialled by a Local `;2`
    /// (and bridged with it), the audio crosses that dialling `;2`, whose pair then optimises
    /// (chan_local checks on frames written to a `;2`, so a call where nobody plays audio
    /// never optimises, as the recorded `900` -> `800` demo call shows).
    pub(super) fn audio_from(&mut self, id: u64) {
        if self.profile.modern_events() {
            return;
        }
        if let Some(pair) = self.pairs.get(&id)
            && let (Parent::Dial { caller }, Some(_)) = (&pair.parent, &pair.bridge)
            && self.pairs.contains_key(caller)
            && !self.in_transfer(*caller)
        {
            self.schedule(5, Timer::Optimize(*caller));
        }
    }

    /// True when `id` (or its pair) takes part in an attended transfer under way.
    fn in_transfer(&self, id: u64) -> bool {
        let one = self.pairs.get(&id).map(|p| p.one);
        self.transfers
            .iter()
            .any(|t| t.involves(id) || one.is_some_and(|one| t.involves(one)))
    }

    /// 1.8 and 11: the Local pair whose `;2` is `two` optimises itself away by a masquerade
    /// (see the module documentation).
    pub(super) fn optimize_local_legacy(&mut self, two: u64) {
        let Some(pair) = self.pairs.get(&two).cloned() else {
            return;
        };
        let Some((callee_two, callee, second)) = self.dialled_and_bridged(two) else {
            return;
        };
        if self.in_transfer(two) || self.in_transfer(callee_two) {
            return;
        }
        let original = pair.one;
        let (Some(o), Some(c)) = (
            self.channels.get(&original).cloned(),
            self.channels.get(&callee).cloned(),
        ) else {
            return;
        };
        let packet = Packet::event("Masquerade", Perms::CALL)
            .h("Clone", &c.name)
            .h("CloneState", c.state.desc())
            .h("Original", &o.name)
            .h("OriginalState", o.state.desc());
        self.emit(Perms::CALL, packet);
        let masq = format!("{}<MASQ>", c.name);
        let zombie = format!("{}<ZOMBIE>", o.name);
        self.ev_rename(&c.name, &masq, &c.uniqueid);
        self.ev_rename(&o.name, &c.name, &o.uniqueid);
        self.ev_rename(&masq, &zombie, &c.uniqueid);
        // The survivor: `;1`'s structure under the callee's name, state, caller ID and Local
        // partner; the zombie: the callee's structure under `;1`'s old name.
        if let Some(s) = self.channels.get_mut(&original) {
            s.name = c.name.clone();
            s.state = c.state;
            s.cid_num = c.cid_num.clone();
            s.cid_name = c.cid_name.clone();
            s.conn_num = c.conn_num.clone();
            s.conn_name = c.conn_name.clone();
            s.peer = c.peer;
        }
        if let Some(z) = self.channels.get_mut(&callee) {
            z.name = zombie;
            z.state = o.state;
        }
        if let Some(partner) = c.peer.and_then(|p| self.channels.get_mut(&p)) {
            partner.peer = Some(original);
        }
        self.ev_newcallerid(original);
        self.ev_bridge_unlink(&second, two, callee);
        for id in [two, callee] {
            if let Some(chan) = self.channels.get_mut(&id) {
                chan.bridge = None;
            }
        }
        // `;2` leaves its Dial: its `h` extension and Cdr, the zombie goes, then `;2`.
        if self.programs.remove(&two).is_some()
            && let Some(chan) = self.channels.get_mut(&two)
        {
            chan.exten = "h".into();
            chan.priority = 1;
            chan.app = "NoOp".into();
            chan.app_data = format!("hangup {} cause 16", chan.name);
            self.ev_newexten(two);
        }
        self.ev_cdr(two);
        self.ev_hangup_request(two, "16");
        self.ev_hangup(callee, "16", "Normal Clearing");
        self.ev_dial_end(Some(two), callee, "ANSWER");
        self.ev_hangup(two, "16", "Normal Clearing");
        // The callee's pair now belongs to whoever `;1`'s pair belonged to.
        if let Some(p) = self.pairs.get_mut(&callee_two) {
            p.one = original;
            p.parent = pair.parent.clone();
            p.bridge = pair.bridge.clone();
        }
        self.pairs.remove(&two);
        for id in [callee, two] {
            self.programs.remove(&id);
            if let Some(gone) = self.channels.remove(&id) {
                self.refresh_device(gone.device());
            }
        }
        self.refresh_device(o.device());
        self.refresh_device(c.device());
    }
}
