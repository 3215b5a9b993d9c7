//! Which event does what: one table from event names (of every era) to the object rules.

use ami_proto::Message;

use crate::state::State;

impl State {
    pub(crate) fn apply(&mut self, event: &Message) {
        let Some(name) = event.event_name() else {
            return;
        };
        match name.as_ref() {
            // Channels.
            "Newchannel" | "Newstate" | "NewCallerid" | "NewConnectedLine" | "Newexten"
            | "NewAccountCode" | "DialBegin" | "DialEnd" | "VarSet" | "HangupRequest"
            | "SoftHangupRequest" | "NewDialplan" => self.upsert_channel(event),
            "Hangup" => self.hangup(event),
            "Rename" => self.rename(event),
            "Masquerade" => self.masquerade(event),
            // 1.x `Transfer`: what it does to channels and bridges is carried by the
            // Masquerade, Rename, Unlink and Link events that follow; it only makes the two
            // channels known.
            "Transfer" => {
                self.upsert_channel(event);
                self.upsert_prefixed(event, "Target");
            }
            // Bridges.
            "BridgeCreate" => self.bridge_create(event),
            "BridgeEnter" => self.bridge_enter(event),
            "BridgeLeave" => self.bridge_leave(event),
            "BridgeDestroy" => self.bridge_destroy(event),
            "BridgeMerge" => self.bridge_merge(event),
            "Link" => self.legacy_link(event, true),
            "Unlink" => self.legacy_link(event, false),
            "Bridge" => {
                let linked = !event.value_is("Bridgestate", "Unlink");
                self.legacy_link(event, linked);
            }
            "LocalOptimizationBegin" => self.local_optimisation_begin(event),
            "LocalOptimizationEnd" => self.local_optimisation_end(event),
            "BlindTransfer" => self.blind_transfer(event),
            "AttendedTransfer" => self.attended_transfer(event),
            // Queues.
            "QueueCallerJoin" | "Join" => self.queue_join(event),
            "QueueCallerLeave" | "Leave" => self.queue_leave(event),
            "QueueCallerAbandon" => self.queue_abandon(event),
            "QueueMemberAdded"
            | "QueueMemberStatus"
            | "QueueMemberPause"
            | "QueueMemberPaused"
            | "QueueMemberPenalty"
            | "QueueMemberRinginuse" => self.queue_member(event),
            "QueueMemberRemoved" => self.queue_member_removed(event),
            // Agents: chan_agent's (1.8, 11) and app_agent_pool's (12+) login events, and
            // app_queue's member call events about `Agent/…` members.
            "Agentlogin" | "AgentLogin" | "Agentcallbacklogin" => self.agent_login(event),
            "Agentlogoff" | "AgentLogoff" | "Agentcallbacklogoff" => self.agent_logoff(event),
            "AgentConnect" => self.agent_connect(event),
            "AgentComplete" | "AgentDump" => self.agent_complete(event),
            "AgentCalled" | "AgentRingNoAnswer" => self.agent_ringing(event),
            // Parking.
            "ParkedCall" | "ParkedCallSwap" => self.park(event),
            "UnParkedCall" | "ParkedCallTimeOut" | "ParkedCallGiveUp" => self.unpark(event),
            // Devices and extensions.
            "DeviceStateChange" => self.device_state_change(event),
            "ExtensionStatus" => self.extension_status(event),
            // List items received as events (a list whose acknowledgement was not ours).
            "CoreShowChannel" => self.upsert_channel(event),
            "BridgeListItem" => self.bridge_list_item(event),
            "QueueParams" => self.queue_params(event),
            "QueueMember" => self.queue_member(event),
            "QueueEntry" => self.queue_join(event),
            "Agents" => self.agent_item(event),
            _ => {}
        }
    }
}
