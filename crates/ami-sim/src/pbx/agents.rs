//! Agents as app_agent_pool (13+) and chan_agent (1.8, 11) run them: a channel logs in with
//! `AgentLogin()` and stays there, joining the `support` queue as member `Agent/NNNN` (as a
//! dialplan's `AddQueueMember()` does) while logged in; queue calls ring the free agents and
//! bridge the caller with the agent's channel; the agent logs off (and leaves the queue) when
//! that channel hangs up or the AgentLogoff action asks.

use super::{Pbx, Timer};
use crate::config::AgentSpec;
use crate::perm::Perms;
use crate::profile::Profile;
use crate::wire::Packet;

/// The queue logged-in agents join.
const AGENT_QUEUE: &str = "support";

/// How long a logged-in agent takes to pick up a queue call.
const AGENT_ANSWER_MS: u64 = 1_000;

/// One agent of agents.conf.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    pub(crate) number: String,
    pub(crate) name: String,
    pub(crate) login: Option<Login>,
}

/// A logged-in agent: the channel sitting in `AgentLogin()` and the call it is on.
#[derive(Debug, Clone)]
pub(crate) struct Login {
    pub(crate) channel: u64,
    pub(crate) since_ms: u64,
    pub(crate) call: Option<AgentCall>,
}

/// A queue caller bridged with an agent.
#[derive(Debug, Clone)]
pub(crate) struct AgentCall {
    pub(crate) caller: u64,
    pub(crate) queue: String,
    pub(crate) bridge: String,
    pub(crate) started_ms: u64,
    pub(crate) hold_secs: u64,
}

impl Agent {
    /// `Agent/1001`: the queue member interface of this agent.
    pub(crate) fn interface(&self) -> String {
        format!("Agent/{}", self.number)
    }

    /// `Agent:1001`: the device whose state follows the agent's.
    pub(crate) fn device(&self) -> String {
        format!("Agent:{}", self.number)
    }

    /// The device state: unavailable when logged off, in use on a call.
    pub(crate) fn device_state(&self) -> &'static str {
        match &self.login {
            None => "UNAVAILABLE",
            Some(Login { call: Some(_), .. }) => "INUSE",
            Some(_) => "NOT_INUSE",
        }
    }

    /// The `Status:` of the Agents list (the same words in every era).
    pub(crate) fn status(&self) -> &'static str {
        match &self.login {
            None => "AGENT_LOGGEDOFF",
            Some(Login { call: Some(_), .. }) => "AGENT_ONCALL",
            Some(_) => "AGENT_IDLE",
        }
    }
}

impl Pbx {
    /// Replaces the agents of agents.conf with `agents` (all logged off).
    pub fn with_agents(mut self, agents: &[AgentSpec]) -> Self {
        self.agents = agents
            .iter()
            .map(|spec| Agent {
                number: spec.number.clone(),
                name: spec.name.clone(),
                login: None,
            })
            .collect();
        for agent in &self.agents {
            self.device_states
                .insert(agent.device(), agent.device_state());
        }
        self
    }

    fn agent_index(&self, number: &str) -> Option<usize> {
        self.agents.iter().position(|a| a.number == number)
    }

    /// `AgentLogin(number)` on `id`: false when there is no such agent or it is already logged
    /// in (the application then returns and the dialplan goes on).
    pub(super) fn agent_login(&mut self, id: u64, number: &str) -> bool {
        let Some(index) = self.agent_index(number) else {
            return false;
        };
        if self.agents[index].login.is_some() {
            return false;
        }
        self.agents[index].login = Some(Login {
            channel: id,
            since_ms: self.now_ms,
            call: None,
        });
        let Some(chan) = self.channels.get(&id) else {
            return false;
        };
        let packet = if self.profile.modern_events() {
            chan.snapshot(self.profile, "", Packet::event("AgentLogin", Perms::AGENT))
                .h("Agent", number)
        } else {
            Packet::event("Agentlogin", Perms::AGENT)
                .h("Agent", number)
                .h("Channel", &chan.name)
                .h("Uniqueid", &chan.uniqueid)
        };
        self.emit(Perms::AGENT, packet);
        let (interface, name, device) = (
            self.agents[index].interface(),
            self.agents[index].name.clone(),
            self.agents[index].device(),
        );
        let _ = self.queue_add(AGENT_QUEUE, &interface, &name, &device, 0, false);
        self.set_device_state(&device, "NOT_INUSE");
        true
    }

    /// The agent's queue member follows its state (QueueMemberStatus) and so does the
    /// agent's device.
    fn agent_member_changed(&mut self, index: usize) {
        let agent = &self.agents[index];
        let interface = agent.interface();
        let in_call = matches!(&agent.login, Some(Login { call: Some(_), .. }));
        let device = agent.device();
        let state = agent.device_state();
        let mut changed = Vec::new();
        for queue in &mut self.queues {
            for member in queue.members.iter_mut().filter(|m| m.location == interface) {
                member.in_call = in_call;
                changed.push((queue.name.clone(), member.clone()));
            }
        }
        for (queue, member) in changed {
            self.ev_queue_member_status(&queue, &member);
        }
        self.set_device_state(&device, state);
    }

    /// Logs the agent off: its call ends first, then AgentLogoff / Agentlogoff. Called just
    /// before the agent's channel hangs up.
    fn agent_logoff(&mut self, index: usize) {
        if self.agents[index]
            .login
            .as_ref()
            .is_some_and(|l| l.call.is_some())
        {
            self.end_agent_call(index, "agent");
        }
        let Some(login) = self.agents[index].login.take() else {
            return;
        };
        let number = self.agents[index].number.clone();
        let logintime = (self.now_ms.saturating_sub(login.since_ms) / 1000).to_string();
        if let Some(chan) = self.channels.get(&login.channel) {
            let packet = if self.profile.modern_events() {
                chan.snapshot(self.profile, "", Packet::event("AgentLogoff", Perms::AGENT))
                    .h("Agent", &number)
                    .h("Logintime", &logintime)
            } else {
                Packet::event("Agentlogoff", Perms::AGENT)
                    .h("Agent", &number)
                    .h("Logintime", &logintime)
                    .h("Uniqueid", &chan.uniqueid)
            };
            self.emit(Perms::AGENT, packet);
        }
        let interface = self.agents[index].interface();
        let queues: Vec<String> = self
            .queues
            .iter()
            .filter(|q| q.members.iter().any(|m| m.location == interface))
            .map(|q| q.name.clone())
            .collect();
        for queue in queues {
            let _ = self.queue_remove(&queue, &interface);
        }
        let device = self.agents[index].device();
        self.set_device_state(&device, "UNAVAILABLE");
    }

    /// The AgentLogoff action: false for an unknown or logged-off agent (`No such agent`).
    pub(crate) fn agent_logoff_request(&mut self, number: &str) -> bool {
        let Some(channel) = self
            .agent_index(number)
            .and_then(|index| self.agents[index].login.as_ref())
            .map(|login| login.channel)
        else {
            return false;
        };
        self.hangup_call(channel, "16");
        true
    }

    /// Rings the logged-in, idle agents among `queue`'s members for `caller` (ringall).
    pub(super) fn ring_agents(&mut self, caller: u64, queue: &str) {
        let interfaces: Vec<(String, String)> = self
            .queues
            .iter()
            .filter(|q| q.name == queue)
            .flat_map(|q| q.members.iter())
            .filter(|m| !m.paused && !m.in_call)
            .filter_map(|m| {
                let number = m.location.strip_prefix("Agent/")?;
                Some((number.to_owned(), m.location.clone()))
            })
            .collect();
        for (number, interface) in interfaces {
            let Some(index) = self.agent_index(&number) else {
                continue;
            };
            let Some(login) = &self.agents[index].login else {
                continue;
            };
            if login.call.is_some() {
                continue;
            }
            let (channel, name) = (login.channel, self.agents[index].name.clone());
            self.ev_agent(
                "AgentCalled",
                caller,
                channel,
                queue,
                &interface,
                &name,
                &[],
            );
            self.schedule(
                AGENT_ANSWER_MS,
                Timer::AgentAnswer {
                    caller,
                    agent: index,
                },
            );
        }
    }

    /// A rung agent picks up: bridged with the caller if the caller still waits and the agent
    /// is still free (another member may have been faster).
    pub(super) fn agent_answer(&mut self, caller: u64, index: usize) {
        let Some(channel) = self
            .agents
            .get(index)
            .and_then(|a| a.login.as_ref())
            .filter(|login| login.call.is_none())
            .map(|login| login.channel)
        else {
            return;
        };
        let joined = self
            .queues
            .iter()
            .flat_map(|q| q.callers.iter())
            .find(|(c, _)| *c == caller)
            .map(|(_, joined)| *joined);
        let Some(joined) = joined else {
            return;
        };
        let Some(queue) = self.queue_leave(caller) else {
            return;
        };
        let hold_secs = self.now_ms.saturating_sub(joined) / 1000;
        let (interface, name) = (
            self.agents[index].interface(),
            self.agents[index].name.clone(),
        );
        let (hold, ring) = (hold_secs.to_string(), AGENT_ANSWER_MS.to_string());
        self.ev_agent(
            "AgentConnect",
            caller,
            channel,
            &queue,
            &interface,
            &name,
            &[("HoldTime", &hold), ("RingTime", &ring)],
        );
        // Members still ringing for this caller stop.
        self.stop_ringing_members(caller, None);
        let bridge = self.bridge_two(caller, channel);
        if let Some(login) = self.agents[index].login.as_mut() {
            login.call = Some(AgentCall {
                caller,
                queue,
                bridge,
                started_ms: self.now_ms,
                hold_secs,
            });
        }
        self.agent_member_changed(index);
    }

    /// Ends agent `index`'s call: the bridge goes, AgentComplete (13+), the member's counters
    /// move. `reason` is who hung up (`caller`, `agent`).
    fn end_agent_call(&mut self, index: usize, reason: &str) {
        let Some(call) = self.agents[index]
            .login
            .as_mut()
            .and_then(|login| login.call.take())
        else {
            return;
        };
        let Some(channel) = self.agents[index].login.as_ref().map(|l| l.channel) else {
            return;
        };
        self.unbridge_two(&call.bridge, call.caller, channel);
        let (interface, name) = (
            self.agents[index].interface(),
            self.agents[index].name.clone(),
        );
        let talk = (self.now_ms.saturating_sub(call.started_ms) / 1000).to_string();
        let hold = call.hold_secs.to_string();
        self.ev_agent(
            "AgentComplete",
            call.caller,
            channel,
            &call.queue,
            &interface,
            &name,
            &[("HoldTime", &hold), ("TalkTime", &talk), ("Reason", reason)],
        );
        let last_call = self.boot_epoch + self.now_ms / 1000;
        if let Some(q) = self.queues.iter_mut().find(|q| q.name == call.queue) {
            q.completed += 1;
            if let Some(member) = q.members.iter_mut().find(|m| m.location == interface) {
                member.calls_taken += 1;
                member.last_call = last_call;
            }
        }
        self.agent_member_changed(index);
        if reason == "agent" {
            // The caller's Queue() returns: its dialplan goes on.
            self.schedule(5, Timer::Step(call.caller));
        }
    }

    /// Agent bookkeeping before channel `id` hangs up: an agent logged in on it logs off, a
    /// caller talking to an agent ends that call.
    pub(super) fn release_agent_channel(&mut self, id: u64) {
        for index in 0..self.agents.len() {
            let Some(login) = &self.agents[index].login else {
                continue;
            };
            if login.channel == id {
                self.agent_logoff(index);
            } else if login.call.as_ref().is_some_and(|call| call.caller == id) {
                self.end_agent_call(index, "caller");
            }
        }
    }

    /// The first agent logged off (the demo logs it in).
    pub(super) fn logged_off_agent(&self, skip: usize) -> Option<String> {
        self.agents
            .iter()
            .filter(|a| a.login.is_none())
            .nth(skip)
            .map(|a| a.number.clone())
    }
}

/// The item of the Agents list for one agent, in this era's fields.
pub(crate) fn agents_item(pbx: &Pbx, agent: &Agent, action_id: Option<&str>) -> bytes::Bytes {
    let item = Packet::list_item("Agents")
        .h("Agent", &agent.number)
        .h("Name", &agent.name)
        .h("Status", agent.status());
    let login = agent.login.as_ref();
    let channel = login.and_then(|l| pbx.channels.get(&l.channel));
    let talking_to = login
        .and_then(|l| l.call.as_ref())
        .and_then(|call| pbx.channels.get(&call.caller).map(|c| (c, call.started_ms)));
    let logged_in_time = login.map_or(0, |l| pbx.boot_epoch + l.since_ms / 1000);
    let item = match pbx.profile {
        Profile::V22 | Profile::V13 => {
            let item = match talking_to {
                Some((caller, started)) => item.h("TalkingToChan", &caller.name).h(
                    "CallStarted",
                    &(pbx.boot_epoch + started / 1000).to_string(),
                ),
                None => item,
            };
            match channel {
                // app_agent_pool adds the login time and the channel only for a logged-in agent.
                Some(chan) => chan.snapshot(
                    pbx.profile,
                    "",
                    item.h("LoggedInTime", &logged_in_time.to_string()),
                ),
                None => item,
            }
        }
        Profile::V11 | Profile::V18 => item
            .h("LoggedInChan", channel.map_or("n/a", |c| c.name.as_str()))
            .h("LoggedInTime", &logged_in_time.to_string())
            .h(
                "TalkingTo",
                talking_to.map_or("n/a", |(c, _)| {
                    if c.cid_num.is_empty() {
                        "n/a"
                    } else {
                        c.cid_num.as_str()
                    }
                }),
            )
            .h(
                "TalkingToChan",
                talking_to.map_or("n/a", |(c, _)| c.name.as_str()),
            ),
    };
    item.h_opt("ActionID", action_id).finish()
}
