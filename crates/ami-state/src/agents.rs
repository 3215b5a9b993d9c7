//! Agents, from chan_agent (1.8, 11) and app_agent_pool (12 and later).
//!
//! - The `Agents` list gives every configured agent: `Agent`, `Name`, `Status`
//!   (`AGENT_LOGGEDOFF`, `AGENT_IDLE`, `AGENT_ONCALL` …), the login channel (`LoggedInChan`
//!   on 1.x, the `Channel` snapshot on 12+, present only while logged in), `LoggedInTime`
//!   and `TalkingToChan` (`n/a` when none).
//! - `Agentlogin`/`AgentLogin` (and 1.x `Agentcallbacklogin`): the agent is idle, logged in
//!   from `Channel`. `Agentlogoff`/`AgentLogoff`: logged off, no channel, no call.
//! - app_queue's `AgentConnect` about a member whose interface is `Agent/<id>` (the
//!   `Interface` field on 12+, `Member` on 1.x): the agent is on a call with the caller (the
//!   `Channel` on 12+; on 1.x `BridgedChannel`, the caller's Uniqueid). `AgentComplete` and
//!   `AgentDump`: idle again, the caller kept as its last call. `AgentCalled` and
//!   `AgentRingNoAnswer` change no agent status (the `Agents` list has no ringing status).
//! - On 12+ the member call events carry the caller's channel snapshot (with
//!   `ChannelState`), which updates that channel; 1.x ones use `Channel` for the member's
//!   channel and are not read as channel updates.
//! - An event about an agent not seen creates it; its name comes with the next list.

use ami_proto::Message;

use crate::fields::{first, present, text, timestamp};
use crate::model::Agent;
use crate::state::{Change, State};

/// The agent id of a queue member interface `Agent/<id>`.
fn agent_id(event: &Message) -> Option<String> {
    let interface = first(event, &["Interface", "Member", "Location"])?;
    interface
        .strip_prefix("Agent/")
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// 12+ member call events carry a channel snapshot; 1.x ones do not.
fn has_snapshot(event: &Message) -> bool {
    event.contains("ChannelState")
}

impl State {
    fn agent_entry(&mut self, id: &str) -> &mut Agent {
        self.agents.entry(id.to_owned()).or_insert_with(|| Agent {
            id: id.to_owned(),
            status: "AGENT_UNKNOWN".to_owned(),
            ..Agent::default()
        })
    }

    /// An `Agents` list item (or one received as an event).
    pub(crate) fn agent_item(&mut self, event: &Message) {
        let id = text(event, "Agent");
        if id.is_empty() {
            return;
        }
        let agent = self.agent_entry(&id);
        agent.name = text(event, "Name");
        agent.status = text(event, "Status");
        agent.channel = present(event, "LoggedInChan").or_else(|| present(event, "Channel"));
        agent.talking_to = present(event, "TalkingToChan");
        agent.logged_in_at = present(event, "LoggedInTime").filter(|t| t != "0");
        self.push_change(Change::AgentChanged(id));
    }

    pub(crate) fn agent_login(&mut self, event: &Message) {
        let id = text(event, "Agent");
        if id.is_empty() {
            return;
        }
        self.upsert_channel(event);
        let agent = self.agent_entry(&id);
        agent.status = "AGENT_IDLE".to_owned();
        agent.channel = present(event, "Channel");
        agent.talking_to = None;
        agent.logged_in_at = timestamp(event).map(|t| format!("{}", t.trunc()));
        self.push_change(Change::AgentChanged(id));
    }

    pub(crate) fn agent_logoff(&mut self, event: &Message) {
        let id = text(event, "Agent");
        if id.is_empty() {
            return;
        }
        let agent = self.agent_entry(&id);
        agent.status = "AGENT_LOGGEDOFF".to_owned();
        agent.channel = None;
        agent.talking_to = None;
        agent.logged_in_at = None;
        self.push_change(Change::AgentChanged(id));
    }

    pub(crate) fn agent_connect(&mut self, event: &Message) {
        let caller = if has_snapshot(event) {
            self.upsert_channel(event);
            first(event, &["Uniqueid"])
        } else {
            present(event, "BridgedChannel")
        };
        let Some(id) = agent_id(event) else {
            return;
        };
        let caller_name = caller.as_deref().map(|uniqueid| {
            self.channel(uniqueid)
                .map(|c| c.name.clone())
                .unwrap_or_else(|| uniqueid.to_owned())
        });
        let agent = self.agent_entry(&id);
        agent.status = "AGENT_ONCALL".to_owned();
        agent.talking_to = caller_name;
        if caller.is_some() {
            agent.last_call = caller;
        }
        self.push_change(Change::AgentChanged(id));
    }

    pub(crate) fn agent_complete(&mut self, event: &Message) {
        if has_snapshot(event) {
            self.upsert_channel(event);
        }
        let Some(id) = agent_id(event) else {
            return;
        };
        let caller = if has_snapshot(event) {
            first(event, &["Uniqueid"])
        } else {
            present(event, "BridgedChannel").or_else(|| first(event, &["Uniqueid"]))
        };
        let agent = self.agent_entry(&id);
        if agent.status != "AGENT_LOGGEDOFF" {
            agent.status = "AGENT_IDLE".to_owned();
        }
        agent.talking_to = None;
        if caller.is_some() {
            agent.last_call = caller;
        }
        self.push_change(Change::AgentChanged(id));
    }

    pub(crate) fn agent_ringing(&mut self, event: &Message) {
        if has_snapshot(event) {
            self.upsert_channel(event);
        }
    }

    /// Replaces the agents by an `Agents` result; each agent's last call is kept (no list
    /// says it).
    pub(crate) fn replace_agents(&mut self, items: &[Message]) {
        let previous = std::mem::take(&mut self.agents);
        for item in items {
            self.agent_item(item);
        }
        for (id, agent) in &mut self.agents {
            if let Some(before) = previous.get(id) {
                agent.last_call.clone_from(&before.last_call);
            }
        }
        self.push_change(Change::Resynced);
    }
}
