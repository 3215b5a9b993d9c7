//! Parking in the `default` lot (spaces 701-720): `Park()` in the dialplan and the Park action
//! park a channel, `ParkedCall(default,7NN)` retrieves it and bridges it with the retriever,
//! a parked call that waits too long times out and one that hangs up gives up; each with its
//! era's events (13+: Parkee/Parker/Retriever snapshots and a holding bridge; 1.8/11: Exten,
//! Channel, From, Timeout ...).

use super::{Parent, Pbx, Timer};
use crate::perm::Perms;
use crate::wire::Packet;

/// The parking lot's name.
pub(crate) const LOT: &str = "default";

/// Its spaces.
const SPACES: std::ops::RangeInclusive<u32> = 701..=720;

/// How long a call stays parked before it times out (`parkingtime`, 45 s).
const PARKING_TIME_MS: u64 = 45_000;

/// A parked call.
#[derive(Debug, Clone)]
pub(crate) struct Parked {
    pub(crate) channel: u64,
    /// The channel that parked it (itself for `Park()`), while it exists.
    pub(crate) parker: Option<u64>,
    /// The parker's dial string (its name without the `-suffix`).
    pub(crate) parker_dial: String,
    pub(crate) since_ms: u64,
    pub(crate) timeout_ms: u64,
}

/// Why a parked call leaves the lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leave {
    TimeOut,
    GiveUp,
}

impl Pbx {
    /// Parks `id` in the first free space (the dialplan's `Park()`, or the Park action with
    /// `parker` and a timeout). A bridged channel leaves its bridge first: the Dial that
    /// connected it ends, hanging up its outbound leg or letting its caller go on. `None`
    /// when the lot is full or the channel is unknown.
    pub(crate) fn park(
        &mut self,
        id: u64,
        parker: Option<u64>,
        timeout_ms: Option<u64>,
    ) -> Option<u32> {
        let space = SPACES.clone().find(|s| !self.parked.contains_key(s))?;
        self.channels.get(&id)?;
        self.leave_bridge(id);
        let parker_id = parker.unwrap_or(id);
        let parker_dial = self
            .channels
            .get(&parker_id)
            .map(|c| c.device().to_owned())
            .unwrap_or_default();
        let timeout_ms = timeout_ms.unwrap_or(PARKING_TIME_MS);
        self.parked.insert(
            space,
            Parked {
                channel: id,
                parker: Some(parker_id),
                parker_dial,
                since_ms: self.now_ms,
                timeout_ms,
            },
        );
        self.set_app(id, "Park", LOT);
        self.ev_parked("ParkedCall", space, None);
        self.set_device_state(&space_device(space), "INUSE");
        if self.profile.modern_events() {
            let bridge = match &self.parking_bridge {
                Some(bridge) => bridge.clone(),
                None => {
                    let bridge = self.new_bridge_id();
                    self.parking_bridge = Some(bridge.clone());
                    let packet = self.parking_bridge_fields(
                        &bridge,
                        0,
                        Packet::event("BridgeCreate", Perms::CALL),
                    );
                    self.emit(Perms::CALL, packet);
                    bridge
                }
            };
            if let Some(chan) = self.channels.get_mut(&id) {
                chan.bridge = Some(bridge.clone());
            }
            let count = self.parked.len();
            if let Some(chan) = self.channels.get(&id) {
                let packet = self.parking_bridge_fields(
                    &bridge,
                    count,
                    Packet::event("BridgeEnter", Perms::CALL),
                );
                let packet = chan.snapshot(self.profile, "", packet);
                self.emit(Perms::CALL, packet);
            }
        }
        self.schedule(timeout_ms, Timer::ParkTimeout { space, channel: id });
        Some(space)
    }

    /// Takes `id` out of the two-party bridge it is in, as the bridge would end for it.
    fn leave_bridge(&mut self, id: u64) {
        let Some(bridge) = self.channels.get(&id).and_then(|c| c.bridge.clone()) else {
            return;
        };
        let Some(peer) = self.bridged_peer(id).map(|c| c.id) else {
            return;
        };
        self.ev_bridge_unlink(&bridge, id, peer);
        for chan in [id, peer] {
            if let Some(c) = self.channels.get_mut(&chan) {
                c.bridge = None;
            }
        }
        // The pair whose Dial made this bridge: its outbound leg (`;1`) hangs up when the
        // caller leaves; when the outbound leg leaves, the caller's Dial returns.
        let pair = self
            .pairs
            .values()
            .find(|p| p.bridge.as_deref() == Some(bridge.as_str()))
            .map(|p| (p.two, p.one));
        if let Some((two, one)) = pair {
            if let Some(p) = self.pairs.get_mut(&two) {
                p.bridge = None;
                // The Dial is over: the pair's later hangup must not resume its caller again.
                if matches!(p.parent, Parent::Dial { .. }) {
                    p.parent = Parent::Detached;
                }
            }
            if one == peer {
                self.hangup_call(peer, "16");
            } else {
                self.schedule(5, Timer::Step(peer));
            }
        }
    }

    /// A parked call leaves the lot (its timer ran out or it hung up).
    fn leave_lot(&mut self, space: u32, why: Leave) {
        let name = match why {
            Leave::TimeOut => "ParkedCallTimeOut",
            Leave::GiveUp => "ParkedCallGiveUp",
        };
        self.ev_parked(name, space, None);
        let Some(parked) = self.parked.remove(&space) else {
            return;
        };
        self.set_device_state(&space_device(space), "NOT_INUSE");
        self.leave_parking_bridge(parked.channel);
        if why == Leave::TimeOut {
            // The parked channel goes on in the dialplan (comebacktoorigin's destination).
            self.schedule(5, Timer::Step(parked.channel));
        }
    }

    /// BridgeLeave from the lot's holding bridge (13+), and its BridgeDestroy once empty.
    fn leave_parking_bridge(&mut self, id: u64) {
        let Some(bridge) = self.parking_bridge.clone() else {
            return;
        };
        if let Some(chan) = self.channels.get(&id) {
            let packet = self.parking_bridge_fields(
                &bridge,
                self.parked.len(),
                Packet::event("BridgeLeave", Perms::CALL),
            );
            let packet = chan.snapshot(self.profile, "", packet);
            self.emit(Perms::CALL, packet);
        }
        if let Some(chan) = self.channels.get_mut(&id) {
            chan.bridge = None;
        }
        if self.parked.is_empty() {
            let packet =
                self.parking_bridge_fields(&bridge, 0, Packet::event("BridgeDestroy", Perms::CALL));
            self.emit(Perms::CALL, packet);
            self.parking_bridge = None;
        }
    }

    /// The parking timer of `space` ran out (if `channel` is still parked there).
    pub(super) fn park_timeout(&mut self, space: u32, channel: u64) {
        if self
            .parked
            .get(&space)
            .is_some_and(|p| p.channel == channel)
        {
            self.leave_lot(space, Leave::TimeOut);
        }
    }

    /// `ParkedCall(default,space)` on `id`: UnParkedCall, then the parked call is bridged
    /// with `id`. False when nothing is parked there.
    pub(super) fn unpark(&mut self, id: u64, space: u32) -> bool {
        if !self.parked.contains_key(&space) {
            return false;
        }
        self.ev_parked("UnParkedCall", space, Some(id));
        let Some(parked) = self.parked.remove(&space) else {
            return false;
        };
        self.set_device_state(&space_device(space), "NOT_INUSE");
        self.leave_parking_bridge(parked.channel);
        self.set_app(id, "ParkedCall", &format!("{LOT},{space}"));
        self.join(id, parked.channel);
        true
    }

    /// Before `id` hangs up: a parked call gives up.
    pub(super) fn release_parked(&mut self, id: u64) {
        if let Some(space) = self
            .parked
            .iter()
            .find(|(_, p)| p.channel == id)
            .map(|(s, _)| *s)
        {
            self.leave_lot(space, Leave::GiveUp);
        }
        for parked in self.parked.values_mut() {
            if parked.parker == Some(id) {
                parked.parker = None;
            }
        }
    }

    /// The lot's holding bridge fields (13+).
    pub(super) fn parking_bridge_fields(
        &self,
        bridge: &str,
        count: usize,
        packet: Packet,
    ) -> Packet {
        packet
            .h("BridgeUniqueid", bridge)
            .h("BridgeType", "parking")
            .h("BridgeTechnology", "holding_bridge")
            .h("BridgeCreator", "ParkingLot")
            .h("BridgeName", LOT)
            .h("BridgeNumChannels", &count.to_string())
            .h("BridgeVideoSourceMode", "none")
    }

    /// The parked call's fields after the snapshots (13+: ParkerDialString ... ParkingDuration;
    /// the ParkedCalls list uses the same).
    pub(crate) fn parked_tail(&self, space: u32, packet: Packet) -> Packet {
        let Some(parked) = self.parked.get(&space) else {
            return packet;
        };
        let elapsed = self.now_ms.saturating_sub(parked.since_ms);
        packet
            .h("ParkerDialString", &parked.parker_dial)
            .h("Parkinglot", LOT)
            .h("ParkingSpace", &space.to_string())
            .h(
                "ParkingTimeout",
                &(parked.timeout_ms.saturating_sub(elapsed) / 1000).to_string(),
            )
            .h("ParkingDuration", &(elapsed / 1000).to_string())
    }

    /// ParkedCall, UnParkedCall, ParkedCallTimeOut, ParkedCallGiveUp in this era's fields.
    fn ev_parked(&mut self, name: &str, space: u32, retriever: Option<u64>) {
        let Some(parked) = self.parked.get(&space) else {
            return;
        };
        let Some(parkee) = self.channels.get(&parked.channel) else {
            return;
        };
        let parker = parked.parker.and_then(|id| self.channels.get(&id));
        let packet = Packet::event(name, Perms::CALL);
        let packet = if self.profile.modern_events() {
            let packet = parkee.snapshot(self.profile, "Parkee", packet);
            // ParkedCall itself carries no parker snapshot.
            let packet = match parker {
                Some(parker) if name != "ParkedCall" => {
                    parker.snapshot(self.profile, "Parker", packet)
                }
                _ => packet,
            };
            let packet = self.parked_tail(space, packet);
            match retriever.and_then(|id| self.channels.get(&id)) {
                Some(retriever) => retriever.snapshot(self.profile, "Retriever", packet),
                None => packet,
            }
        } else {
            let from = match retriever {
                Some(id) => self.channels.get(&id).map(|c| c.name.clone()),
                None => parker.map(|p| p.name.clone()),
            }
            .unwrap_or_default();
            let packet = packet
                .h("Exten", &space.to_string())
                .h("Channel", &parkee.name)
                .h("Parkinglot", LOT);
            let packet = match name {
                "ParkedCall" => packet
                    .h("From", &from)
                    .h("Timeout", &(parked.timeout_ms / 1000).to_string()),
                "UnParkedCall" => packet.h("From", &from),
                _ => packet,
            };
            let packet = packet
                .h("CallerIDNum", &parkee.cid_num)
                .h("CallerIDName", &parkee.cid_name)
                .h("ConnectedLineNum", &parkee.conn_num)
                .h("ConnectedLineName", &parkee.conn_name);
            let unique = if matches!(name, "ParkedCall" | "UnParkedCall") {
                "Uniqueid"
            } else {
                "UniqueID"
            };
            packet.h(unique, &parkee.uniqueid)
        };
        self.emit(Perms::CALL, packet);
    }

    /// The ParkedCalls list item for `space`, in this era's fields.
    pub(crate) fn parked_calls_item(&self, space: u32, action_id: Option<&str>) -> bytes::Bytes {
        let item = Packet::list_item("ParkedCall");
        let parked = self.parked.get(&space);
        let parkee = parked.and_then(|p| self.channels.get(&p.channel));
        let item = match (parked, parkee) {
            (Some(parked), Some(parkee)) if self.profile.modern_events() => {
                let _ = parked;
                self.parked_tail(space, parkee.snapshot(self.profile, "Parkee", item))
            }
            (Some(parked), Some(parkee)) => {
                let elapsed = self.now_ms.saturating_sub(parked.since_ms);
                let from = parked
                    .parker
                    .and_then(|id| self.channels.get(&id))
                    .map_or("", |c| c.name.as_str());
                item.h("Parkinglot", LOT)
                    .h("Exten", &space.to_string())
                    .h("Channel", &parkee.name)
                    .h("From", from)
                    .h(
                        "Timeout",
                        &(parked.timeout_ms.saturating_sub(elapsed) / 1000).to_string(),
                    )
                    .h("Duration", &(elapsed / 1000).to_string())
                    .h("CallerIDNum", &parkee.cid_num)
                    .h("CallerIDName", &parkee.cid_name)
                    .h("ConnectedLineNum", &parkee.conn_num)
                    .h("ConnectedLineName", &parkee.conn_name)
            }
            _ => item,
        };
        item.h_opt("ActionID", action_id).finish()
    }
}

/// The device of a parking space (`park:701@parkedcalls`), whose hint `parkinghints` makes.
fn space_device(space: u32) -> String {
    format!("park:{space}@parkedcalls")
}
