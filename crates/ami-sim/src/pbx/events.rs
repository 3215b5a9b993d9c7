//! Channel, dial, bridge and queue events in each version's vocabulary.

use super::Pbx;
use super::channel::Channel;
use crate::perm::Perms;
use crate::wire::Packet;

impl Pbx {
    fn chan(&self, id: u64) -> Option<&Channel> {
        self.channels.get(&id)
    }

    /// Publishes an event of `class` built from `packet`.
    pub(super) fn emit(&mut self, class: Perms, packet: Packet) {
        self.publish(crate::event::Event::new(class, packet.finish()));
    }

    /// An event whose body is the channel snapshot (13+) or the given 1.x fields.
    fn channel_event(&mut self, name: &str, class: Perms, id: u64, tail: &[(&str, &str)]) {
        let Some(chan) = self.chan(id) else { return };
        let packet = Packet::event(name, class);
        let packet = if self.profile.modern_events() {
            chan.snapshot(self.profile, "", packet)
        } else {
            packet.h("Channel", &chan.name)
        };
        let packet = packet.headers(tail.iter().copied());
        let packet = if self.profile.modern_events() {
            packet
        } else {
            packet.h("Uniqueid", &chan.uniqueid)
        };
        self.emit(class, packet);
    }

    pub(super) fn ev_newchannel(&mut self, id: u64) {
        let Some(chan) = self.chan(id) else { return };
        let packet = Packet::event("Newchannel", Perms::CALL);
        let packet = if self.profile.modern_events() {
            chan.snapshot(self.profile, "", packet)
        } else {
            packet
                .h("Channel", &chan.name)
                .h("ChannelState", chan.state.code())
                .h("ChannelStateDesc", chan.state.desc())
                .h("CallerIDNum", &chan.cid_num)
                .h("CallerIDName", &chan.cid_name)
                .h("AccountCode", "")
                .h("Exten", &chan.exten)
                .h("Context", &chan.context)
                .h("Uniqueid", &chan.uniqueid)
        };
        self.emit(Perms::CALL, packet);
    }

    pub(super) fn ev_newstate(&mut self, id: u64) {
        let Some(chan) = self.chan(id) else { return };
        let packet = Packet::event("Newstate", Perms::CALL);
        let packet = if self.profile.modern_events() {
            chan.snapshot(self.profile, "", packet)
        } else {
            packet
                .h("Channel", &chan.name)
                .h("ChannelState", chan.state.code())
                .h("ChannelStateDesc", chan.state.desc())
                .h("CallerIDNum", &chan.cid_num)
                .h("CallerIDName", &chan.cid_name)
                .h("ConnectedLineNum", &chan.conn_num)
                .h("ConnectedLineName", &chan.conn_name)
                .h("Uniqueid", &chan.uniqueid)
        };
        self.emit(Perms::CALL, packet);
    }

    pub(super) fn ev_newexten(&mut self, id: u64) {
        let Some(chan) = self.chan(id) else { return };
        let packet = Packet::event("Newexten", Perms::DIALPLAN);
        let packet = if self.profile.modern_events() {
            chan.snapshot(self.profile, "", packet)
                .h("Extension", &chan.exten)
                .h("Application", &chan.app)
                .h("AppData", &chan.app_data)
        } else {
            packet
                .h("Channel", &chan.name)
                .h("Context", &chan.context)
                .h("Extension", &chan.exten)
                .h("Priority", &chan.priority.to_string())
                .h("Application", &chan.app)
                .h("AppData", &chan.app_data)
                .h("Uniqueid", &chan.uniqueid)
        };
        self.emit(Perms::DIALPLAN, packet);
    }

    pub(super) fn ev_varset(&mut self, id: u64, variable: &str, value: &str) {
        self.channel_event(
            "VarSet",
            Perms::DIALPLAN,
            id,
            &[("Variable", variable), ("Value", value)],
        );
    }

    /// A global VarSet (Setvar without Channel).
    pub(super) fn ev_global_varset(&mut self, variable: &str, value: &str) {
        let packet = Packet::event("VarSet", Perms::DIALPLAN).h("Channel", "none");
        let packet = if self.profile.modern_events() {
            packet
                .h("Uniqueid", "none")
                .h("Variable", variable)
                .h("Value", value)
        } else {
            packet
                .h("Variable", variable)
                .h("Value", value)
                .h("Uniqueid", "none")
        };
        self.emit(Perms::DIALPLAN, packet);
    }

    pub(super) fn ev_newcallerid(&mut self, id: u64) {
        if self.profile.modern_events() {
            self.channel_event(
                "NewCallerid",
                Perms::CALL,
                id,
                &[("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")],
            );
        } else if let Some(chan) = self.chan(id) {
            let packet = Packet::event("NewCallerid", Perms::CALL)
                .h("Channel", &chan.name)
                .h("CallerIDNum", &chan.cid_num)
                .h("CallerIDName", &chan.cid_name)
                .h("Uniqueid", &chan.uniqueid)
                .h("CID-CallingPres", "0 (Presentation Allowed, Not Screened)");
            self.emit(Perms::CALL, packet);
        }
    }

    pub(super) fn ev_local_bridge(&mut self, one: u64, two: u64) {
        let (Some(a), Some(b)) = (self.chan(one), self.chan(two)) else {
            return;
        };
        let packet = Packet::event("LocalBridge", Perms::CALL);
        let packet = if self.profile.modern_events() {
            let packet = a.snapshot(self.profile, "LocalOne", packet);
            b.snapshot(self.profile, "LocalTwo", packet)
                .h("Context", &a.context)
                .h("Exten", &a.exten)
                .h("LocalOptimization", "Yes")
        } else {
            packet
                .h("Channel1", &a.name)
                .h("Channel2", &b.name)
                .h("Uniqueid1", &a.uniqueid)
                .h("Uniqueid2", &b.uniqueid)
                .h("Context", &a.context)
                .h("Exten", &a.exten)
                .h("LocalOptimization", "Yes")
        };
        self.emit(Perms::CALL, packet);
    }

    /// DialBegin/DialEnd (13+): the caller's snapshot (none for an originated call), then the
    /// destination's with the `Dest` prefix.
    fn modern_dial(&self, name: &str, caller: Option<&Channel>, dest: &Channel) -> Packet {
        let mut packet = Packet::event(name, Perms::CALL);
        if let Some(caller) = caller {
            packet = caller.snapshot(self.profile, "", packet);
        }
        dest.snapshot(self.profile, "Dest", packet)
    }

    /// DialBegin (13+) or `Dial` + `SubEvent: Begin` (1.x). `caller` is absent for an
    /// originated call, which has no calling channel.
    pub(super) fn ev_dial_begin(&mut self, caller: Option<u64>, dest: u64, dialstring: &str) {
        let Some(d) = self.chan(dest) else { return };
        let c = caller.and_then(|id| self.chan(id));
        if self.profile.modern_events() {
            let packet = self
                .modern_dial("DialBegin", c, d)
                .h("DialString", dialstring);
            self.emit(Perms::CALL, packet);
        } else if let Some(c) = c {
            let packet = Packet::event("Dial", Perms::CALL)
                .h("SubEvent", "Begin")
                .h("Channel", &c.name)
                .h("Destination", &d.name)
                .h("CallerIDNum", &c.cid_num)
                .h("CallerIDName", &c.cid_name)
                .h("ConnectedLineNum", &c.conn_num)
                .h("ConnectedLineName", &c.conn_name)
                .h("UniqueID", &c.uniqueid)
                .h("DestUniqueID", &d.uniqueid)
                .h("Dialstring", dialstring);
            self.emit(Perms::CALL, packet);
        }
    }

    pub(super) fn ev_dial_end(&mut self, caller: Option<u64>, dest: u64, status: &str) {
        let Some(d) = self.chan(dest) else { return };
        let c = caller.and_then(|id| self.chan(id));
        if self.profile.modern_events() {
            let packet = self.modern_dial("DialEnd", c, d).h("DialStatus", status);
            self.emit(Perms::CALL, packet);
        } else if let Some(c) = c {
            let packet = Packet::event("Dial", Perms::CALL)
                .h("SubEvent", "End")
                .h("Channel", &c.name)
                .h("UniqueID", &c.uniqueid)
                .h("DialStatus", status);
            self.emit(Perms::CALL, packet);
        }
    }

    pub(super) fn bridge_fields(&self, bridge: &str, count: usize, packet: Packet) -> Packet {
        packet
            .h("BridgeUniqueid", bridge)
            .h("BridgeType", "basic")
            .h("BridgeTechnology", "simple_bridge")
            .h("BridgeCreator", "<unknown>")
            .h("BridgeName", "<unknown>")
            .h("BridgeNumChannels", &count.to_string())
            .h("BridgeVideoSourceMode", "none")
    }

    /// Bridges `a` and `b`: BridgeCreate + BridgeEnter x2 (13+) or Bridge Link (1.x).
    pub(super) fn ev_bridge_link(&mut self, bridge: &str, a: u64, b: u64) {
        if self.profile.modern_events() {
            let packet = self.bridge_fields(bridge, 0, Packet::event("BridgeCreate", Perms::CALL));
            self.emit(Perms::CALL, packet);
            for (count, id) in [(1, a), (2, b)] {
                let Some(chan) = self.chan(id) else { continue };
                let packet =
                    self.bridge_fields(bridge, count, Packet::event("BridgeEnter", Perms::CALL));
                let packet = chan.snapshot(self.profile, "", packet);
                self.emit(Perms::CALL, packet);
            }
        } else {
            self.ev_bridge_1x("Link", a, b);
        }
    }

    /// Ends a bridge: BridgeLeave x2 + BridgeDestroy (13+), Bridge Unlink (11), Unlink (1.8).
    pub(super) fn ev_bridge_unlink(&mut self, bridge: &str, a: u64, b: u64) {
        if self.profile.modern_events() {
            for (count, id) in [(1, a), (0, b)] {
                let Some(chan) = self.chan(id) else { continue };
                let packet =
                    self.bridge_fields(bridge, count, Packet::event("BridgeLeave", Perms::CALL));
                let packet = chan.snapshot(self.profile, "", packet);
                self.emit(Perms::CALL, packet);
            }
            let packet = self.bridge_fields(bridge, 0, Packet::event("BridgeDestroy", Perms::CALL));
            self.emit(Perms::CALL, packet);
        } else {
            self.ev_bridge_1x("Unlink", a, b);
        }
    }

    fn ev_bridge_1x(&mut self, state: &str, a: u64, b: u64) {
        let (Some(x), Some(y)) = (self.chan(a), self.chan(b)) else {
            return;
        };
        let packet = if state == "Unlink" && self.profile == crate::Profile::V18 {
            Packet::event("Unlink", Perms::CALL)
        } else {
            Packet::event("Bridge", Perms::CALL)
                .h("Bridgestate", state)
                .h("Bridgetype", "core")
        };
        let packet = packet
            .h("Channel1", &x.name)
            .h("Channel2", &y.name)
            .h("Uniqueid1", &x.uniqueid)
            .h("Uniqueid2", &y.uniqueid)
            .h("CallerID1", &x.cid_num)
            .h("CallerID2", &y.cid_num);
        self.emit(Perms::CALL, packet);
    }

    pub(super) fn ev_hangup_request(&mut self, id: u64, cause: &str) {
        if self.profile.modern_events() {
            self.channel_event("HangupRequest", Perms::CALL, id, &[("Cause", cause)]);
        } else if self.profile == crate::Profile::V11 {
            self.channel_event("HangupRequest", Perms::CALL, id, &[]);
        }
    }

    pub(super) fn ev_hangup(&mut self, id: u64, cause: &str, cause_txt: &str) {
        let Some(chan) = self.chan(id) else { return };
        let packet = Packet::event("Hangup", Perms::CALL);
        let packet = if self.profile.modern_events() {
            chan.snapshot(self.profile, "", packet)
        } else {
            let packet = packet
                .h("Channel", &chan.name)
                .h("Uniqueid", &chan.uniqueid)
                .h("CallerIDNum", &chan.cid_num)
                .h("CallerIDName", &chan.cid_name)
                .h("ConnectedLineNum", &chan.conn_num)
                .h("ConnectedLineName", &chan.conn_name);
            if self.profile == crate::Profile::V11 {
                packet.h("AccountCode", "")
            } else {
                packet
            }
        };
        let packet = packet.h("Cause", cause).h("Cause-txt", cause_txt);
        self.emit(Perms::CALL, packet);
    }

    pub(super) fn ev_cdr(&mut self, id: u64) {
        let Some(chan) = self.chan(id) else { return };
        let start = self.wall_time(chan.created_ms);
        let answer = chan
            .answered_ms
            .map(|ms| self.wall_time(ms))
            .unwrap_or_default();
        let end = self.wall_time(self.now_ms);
        let duration = chan.duration_secs(self.now_ms).to_string();
        let billable = chan
            .answered_ms
            .map(|ms| self.now_ms.saturating_sub(ms) / 1000)
            .unwrap_or(0)
            .to_string();
        let disposition = if chan.answered_ms.is_some() {
            "ANSWERED"
        } else {
            "NO ANSWER"
        };
        let packet = Packet::event("Cdr", Perms::CDR)
            .h("AccountCode", "")
            .h("Source", &chan.cid_num)
            .h("Destination", &chan.exten)
            .h("DestinationContext", &chan.context)
            .h("CallerID", &chan.cid_num)
            .h("Channel", &chan.name)
            .h("DestinationChannel", "")
            .h("LastApplication", &chan.app)
            .h("LastData", &chan.app_data)
            .h("StartTime", &start)
            .h("AnswerTime", &answer)
            .h("EndTime", &end)
            .h("Duration", &duration)
            .h("BillableSeconds", &billable)
            .h("Disposition", disposition)
            .h("AMAFlags", "DOCUMENTATION")
            .h("UniqueID", &chan.uniqueid)
            .h("UserField", "");
        self.emit(Perms::CDR, packet);
    }

    pub(super) fn ev_device_state(&mut self, device: &str, state: &str) {
        if self.profile.modern_events() {
            let packet = Packet::event("DeviceStateChange", Perms::CALL)
                .h("Device", device)
                .h("State", state);
            self.emit(Perms::CALL, packet);
        }
    }

    /// A dialplan UserEvent (from the `UserEvent()` application).
    pub(super) fn ev_dialplan_userevent(
        &mut self,
        id: u64,
        name: &str,
        headers: &[(String, String)],
    ) {
        let Some(chan) = self.chan(id) else { return };
        let packet = Packet::event("UserEvent", Perms::USER);
        let mut packet = match self.profile {
            crate::Profile::V22 | crate::Profile::V13 => {
                chan.snapshot(self.profile, "", packet).h("UserEvent", name)
            }
            crate::Profile::V11 => packet.h("UserEvent", name).h("Uniqueid", &chan.uniqueid),
            crate::Profile::V18 => packet.h("UserEvent", name),
        };
        for (n, v) in headers {
            packet.push(n, v);
        }
        self.emit(Perms::USER, packet);
    }

    pub(super) fn ev_queue_join(&mut self, queue: &str, id: u64, position: usize, count: usize) {
        let Some(chan) = self.chan(id) else { return };
        let (pos, cnt) = (position.to_string(), count.to_string());
        let packet = if self.profile.modern_events() {
            chan.snapshot(
                self.profile,
                "",
                Packet::event("QueueCallerJoin", Perms::AGENT),
            )
            .h("Queue", queue)
            .h("Position", &pos)
            .h("Count", &cnt)
        } else {
            Packet::event("Join", Perms::CALL)
                .h("Channel", &chan.name)
                .h("CallerIDNum", &chan.cid_num)
                .h("CallerIDName", &chan.cid_name)
                .h("ConnectedLineNum", &chan.conn_num)
                .h("ConnectedLineName", &chan.conn_name)
                .h("Queue", queue)
                .h("Position", &pos)
                .h("Count", &cnt)
                .h("Uniqueid", &chan.uniqueid)
        };
        let class = if self.profile.modern_events() {
            Perms::AGENT
        } else {
            Perms::CALL
        };
        self.emit(class, packet);
    }

    pub(super) fn ev_queue_leave(&mut self, queue: &str, id: u64, position: usize, count: usize) {
        let Some(chan) = self.chan(id) else { return };
        let (pos, cnt) = (position.to_string(), count.to_string());
        let packet = if self.profile.modern_events() {
            chan.snapshot(
                self.profile,
                "",
                Packet::event("QueueCallerLeave", Perms::AGENT),
            )
            .h("Queue", queue)
            .h("Count", &cnt)
            .h("Position", &pos)
        } else {
            Packet::event("Leave", Perms::CALL)
                .h("Channel", &chan.name)
                .h("Queue", queue)
                .h("Count", &cnt)
                .h("Position", &pos)
                .h("Uniqueid", &chan.uniqueid)
        };
        let class = if self.profile.modern_events() {
            Perms::AGENT
        } else {
            Perms::CALL
        };
        self.emit(class, packet);
    }

    /// AgentCalled / AgentConnect / AgentComplete (13+ only: `eventwhencalled` is off by
    /// default before); `tail` follows the member fields (HoldTime, RingTime, TalkTime ...).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn ev_agent(
        &mut self,
        name: &str,
        caller: u64,
        member_chan: u64,
        queue: &str,
        interface: &str,
        member: &str,
        tail: &[(&str, &str)],
    ) {
        if !self.profile.agent_events() {
            return;
        }
        let (Some(c), Some(m)) = (self.chan(caller), self.chan(member_chan)) else {
            return;
        };
        let packet = c.snapshot(self.profile, "", Packet::event(name, Perms::AGENT));
        let packet = m
            .snapshot(self.profile, "Dest", packet)
            .h("Queue", queue)
            .h("Interface", interface)
            .h("MemberName", member)
            .headers(tail.iter().copied());
        self.emit(Perms::AGENT, packet);
    }
}
