//! Local channel optimisation (13+): a Local pair whose `;1` is bridged with the caller and
//! whose `;2` is bridged with the callee gets out of the way. LocalOptimizationBegin, the callee
//! swaps into the caller's bridge in place of `;1`, LocalOptimizationEnd, then both halves hang
//! up and the second bridge goes. The callee's Dial then belongs to the caller.

use super::{Parent, Pbx};
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
        let (Some(one), Some(two_chan), Some(source), Some(dest)) = (
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
            .h("DestUniqueId", &dest.uniqueid)
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
}
