//! The `support` queue of the recordings: members, waiting callers, ringall distribution.

use super::{Pair, Parent, Pbx, Timer};
use crate::perm::Perms;
use crate::wire::Packet;

/// A queue member.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) location: String,
    /// The device whose state is the member's (`Agent:1001` for `Agent/1001`).
    pub(crate) state_interface: String,
    pub(crate) membership: &'static str,
    pub(crate) penalty: u32,
    pub(crate) calls_taken: u64,
    pub(crate) last_call: u64,
    pub(crate) login_time: u64,
    pub(crate) in_call: bool,
    pub(crate) paused: bool,
    pub(crate) paused_reason: String,
}

/// A call queue.
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    pub(crate) name: String,
    pub(crate) members: Vec<Member>,
    /// Waiting callers: channel id and the PBX time they joined.
    pub(crate) callers: Vec<(u64, u64)>,
    pub(crate) completed: u64,
    pub(crate) abandoned: u64,
}

/// How long a caller waits before Queue() gives up (`Queue(support,,,,30)`).
const QUEUE_TIMEOUT_MS: u64 = 30_000;

impl Member {
    pub(crate) fn new(
        name: &str,
        location: &str,
        membership: &'static str,
        login_time: u64,
    ) -> Self {
        Self {
            name: name.to_owned(),
            location: location.to_owned(),
            state_interface: location.to_owned(),
            membership,
            penalty: 0,
            calls_taken: 0,
            last_call: 0,
            login_time,
            in_call: false,
            paused: false,
            paused_reason: String::new(),
        }
    }

    /// The extension a `Local/700@demo/n` member rings.
    fn exten(&self) -> Option<&str> {
        let rest = self.location.strip_prefix("Local/")?;
        rest.split('@').next()
    }

    /// Asterisk's device state number for QueueMember `Status:` (1 not in use, 2 in use).
    pub(crate) fn status(&self) -> &'static str {
        if self.in_call { "2" } else { "1" }
    }
}

impl Queue {
    /// `support` with static members Agent One (700, answers) and Agent Two (701, never answers).
    pub(crate) fn support(boot_epoch: u64) -> Self {
        Self {
            name: "support".into(),
            members: vec![
                Member::new("Agent Two", "Local/701@demo/n", "static", boot_epoch),
                Member::new("Agent One", "Local/700@demo/n", "static", boot_epoch),
            ],
            callers: Vec::new(),
            completed: 0,
            abandoned: 0,
        }
    }
}

impl Pbx {
    /// The caller `id` runs `Queue(name)`.
    pub(super) fn queue_join(&mut self, id: u64, name: &str) {
        let now = self.now_ms;
        let Some(index) = self.queues.iter().position(|q| q.name == name) else {
            self.schedule(5, Timer::Step(id));
            return;
        };
        self.queues[index].callers.push((id, now));
        let count = self.queues[index].callers.len();
        self.ev_queue_join(name, id, count, count);
        self.schedule(QUEUE_TIMEOUT_MS, Timer::QueueTimeout(id));
        let members: Vec<Member> = self.queues[index]
            .members
            .iter()
            .filter(|m| !m.in_call && !m.paused)
            .cloned()
            .collect();
        // ringall: every free member rings; a busy one is skipped, as Asterisk does.
        let busy_ringing: Vec<String> = self
            .pairs
            .values()
            .filter_map(|p| match &p.parent {
                Parent::QueueMember { location, .. } => Some(location.clone()),
                _ => None,
            })
            .collect();
        let linkedid = self.channels.get(&id).map(|c| c.linkedid.clone());
        for member in members {
            if busy_ringing.contains(&member.location) {
                continue;
            }
            let Some(exten) = member.exten().map(str::to_owned) else {
                continue;
            };
            let Some(steps) = super::dialplan::extension("demo", &exten) else {
                continue;
            };
            let (one, two) = self.new_local_pair(&exten, "demo", linkedid.clone());
            self.set_app(one, "AppQueue", "(Outgoing Line)");
            self.ev_agent(
                "AgentCalled",
                id,
                one,
                name,
                &member.location,
                &member.name,
                &[],
            );
            self.pairs.insert(
                two,
                Pair {
                    one,
                    two,
                    parent: Parent::QueueMember {
                        caller: id,
                        queue: name.to_owned(),
                        location: member.location.clone(),
                    },
                    bridge: None,
                },
            );
            self.programs.insert(two, (steps, 0));
            self.schedule(5, Timer::Step(two));
        }
        self.ring_agents(id, name);
    }

    /// Hangs up the Local members still ringing for `caller`, but `keep`.
    pub(super) fn stop_ringing_members(&mut self, caller: u64, keep: Option<u64>) {
        let others: Vec<u64> = self
            .pairs
            .values()
            .filter(|p| {
                Some(p.two) != keep
                    && matches!(p.parent, Parent::QueueMember { caller: c, .. } if c == caller)
            })
            .map(|p| p.two)
            .collect();
        for other in others {
            self.hangup_call(other, "26");
        }
    }

    pub(super) fn queue_leave(&mut self, caller: u64) -> Option<String> {
        let (index, position) = self.queues.iter().enumerate().find_map(|(qi, q)| {
            q.callers
                .iter()
                .position(|(c, _)| *c == caller)
                .map(|pos| (qi, pos))
        })?;
        self.queues[index].callers.remove(position);
        let name = self.queues[index].name.clone();
        let count = self.queues[index].callers.len();
        self.ev_queue_leave(&name, caller, position + 1, count);
        Some(name)
    }

    /// A member answered: connect it to the caller if still waiting, else hang it up.
    pub(super) fn queue_connect(
        &mut self,
        two: u64,
        caller: u64,
        queue: &str,
        location: &str,
        one: u64,
    ) {
        if self.queue_leave(caller).is_none() {
            self.hangup_call(two, "26");
            return;
        }
        if let Some(q) = self.queues.iter_mut().find(|q| q.name == queue) {
            if let Some(member) = q.members.iter_mut().find(|m| m.location == location) {
                member.in_call = true;
            }
        }
        let member_name = self
            .queues
            .iter()
            .find(|q| q.name == queue)
            .and_then(|q| q.members.iter().find(|m| m.location == location))
            .map(|m| m.name.clone())
            .unwrap_or_default();
        self.ev_agent(
            "AgentConnect",
            caller,
            one,
            queue,
            location,
            &member_name,
            &[],
        );
        // The other members still ringing for this caller stop.
        self.stop_ringing_members(caller, Some(two));
        self.link(two, caller, one);
    }

    pub(super) fn queue_timeout(&mut self, caller: u64) {
        if self.queue_leave(caller).is_none() {
            return;
        }
        self.stop_ringing_members(caller, None);
        if let Some(chan) = self.channels.get_mut(&caller) {
            chan.set_var("QUEUESTATUS", "TIMEOUT");
        }
        self.ev_varset(caller, "QUEUESTATUS", "TIMEOUT");
        self.schedule(5, Timer::Step(caller));
    }

    /// QueueAdd: `Ok(false)` when the interface is already a member.
    pub(crate) fn queue_add(
        &mut self,
        queue: &str,
        interface: &str,
        name: &str,
        state_interface: &str,
        penalty: u32,
        paused: bool,
    ) -> Result<bool, ()> {
        let login = self.boot_epoch + self.now_ms / 1000;
        let q = self.queues.iter_mut().find(|q| q.name == queue).ok_or(())?;
        if q.members.iter().any(|m| m.location == interface) {
            return Ok(false);
        }
        let mut member = Member::new(
            if name.is_empty() { interface } else { name },
            interface,
            "dynamic",
            login,
        );
        member.penalty = penalty;
        member.paused = paused;
        if !state_interface.is_empty() {
            member.state_interface = state_interface.to_owned();
        }
        q.members.push(member.clone());
        let packet = self.member_fields(
            queue,
            &member,
            Packet::event("QueueMemberAdded", Perms::AGENT),
        );
        self.emit(Perms::AGENT, packet);
        Ok(true)
    }

    /// QueueRemove: false when there is no such member.
    pub(crate) fn queue_remove(&mut self, queue: &str, interface: &str) -> Result<bool, ()> {
        let q = self.queues.iter_mut().find(|q| q.name == queue).ok_or(())?;
        let Some(index) = q.members.iter().position(|m| m.location == interface) else {
            return Ok(false);
        };
        let member = q.members.remove(index);
        let packet = self.member_fields(
            queue,
            &member,
            Packet::event("QueueMemberRemoved", Perms::AGENT),
        );
        self.emit(Perms::AGENT, packet);
        Ok(true)
    }

    /// QueuePause: the number of members changed (all queues when `queue` is empty).
    pub(crate) fn queue_pause(
        &mut self,
        queue: &str,
        interface: &str,
        paused: bool,
        reason: &str,
    ) -> usize {
        let mut changed = Vec::new();
        for q in &mut self.queues {
            if !queue.is_empty() && q.name != queue {
                continue;
            }
            for member in q.members.iter_mut().filter(|m| m.location == interface) {
                member.paused = paused;
                member.paused_reason = reason.to_owned();
                changed.push((q.name.clone(), member.clone()));
            }
        }
        let name = if self.profile.modern_events() {
            "QueueMemberPause"
        } else {
            "QueueMemberPaused"
        };
        for (queue, member) in &changed {
            let packet = self.member_fields(queue, member, Packet::event(name, Perms::AGENT));
            self.emit(Perms::AGENT, packet);
        }
        changed.len()
    }

    /// QueueMemberStatus: a member's state changed, in the recorded servers' field sets.
    pub(super) fn ev_queue_member_status(&mut self, queue: &str, member: &Member) {
        let packet = Packet::event("QueueMemberStatus", Perms::AGENT).h("Queue", queue);
        let (penalty, taken, last) = (
            member.penalty.to_string(),
            member.calls_taken.to_string(),
            member.last_call.to_string(),
        );
        let (in_call, paused) = (
            if member.in_call { "1" } else { "0" },
            if member.paused { "1" } else { "0" },
        );
        let packet = match self.profile {
            crate::Profile::V22 | crate::Profile::V13 => {
                let packet = packet
                    .h("MemberName", &member.name)
                    .h("Interface", &member.location)
                    .h("StateInterface", &member.state_interface)
                    .h("Membership", member.membership)
                    .h("Penalty", &penalty)
                    .h("CallsTaken", &taken)
                    .h("LastCall", &last);
                let packet = if self.profile == crate::Profile::V22 {
                    packet
                        .h("LastPause", "0")
                        .h("LoginTime", &member.login_time.to_string())
                } else {
                    packet
                };
                let packet = packet
                    .h("InCall", in_call)
                    .h("Status", member.status())
                    .h("Paused", paused)
                    .h("PausedReason", &member.paused_reason)
                    .h("Ringinuse", "0");
                if self.profile == crate::Profile::V22 {
                    packet.h("Wrapuptime", "0")
                } else {
                    packet
                }
            }
            crate::Profile::V11 => packet
                .h("Location", &member.location)
                .h("MemberName", &member.name)
                .h("StateInterface", &member.state_interface)
                .h("Membership", member.membership)
                .h("Penalty", &penalty)
                .h("CallsTaken", &taken)
                .h("LastCall", &last)
                .h("InCall", in_call)
                .h("Status", member.status())
                .h("Paused", paused),
            crate::Profile::V18 => packet
                .h("Location", &member.location)
                .h("MemberName", &member.name)
                .h("Membership", member.membership)
                .h("Penalty", &penalty)
                .h("CallsTaken", &taken)
                .h("LastCall", &last)
                .h("Status", member.status())
                .h("Paused", paused),
        };
        self.emit(Perms::AGENT, packet);
    }

    /// The member fields of QueueMember events, in this version's set.
    pub(crate) fn member_fields(&self, queue: &str, member: &Member, packet: Packet) -> Packet {
        let modern = self.profile.modern_events();
        let packet = packet.h("Queue", queue);
        let packet = if modern {
            packet
                .h("MemberName", &member.name)
                .h("Interface", &member.location)
        } else {
            packet
                .h("Location", &member.location)
                .h("MemberName", &member.name)
        };
        let packet = packet
            .h("StateInterface", &member.state_interface)
            .h("Membership", member.membership)
            .h("Penalty", &member.penalty.to_string())
            .h("CallsTaken", &member.calls_taken.to_string())
            .h("LastCall", &member.last_call.to_string());
        let packet = if self.profile == crate::Profile::V22 {
            packet
                .h("LastPause", "0")
                .h("LoginTime", &member.login_time.to_string())
        } else {
            packet
        };
        packet
            .h("InCall", if member.in_call { "1" } else { "0" })
            .h("Status", member.status())
            .h("Paused", if member.paused { "1" } else { "0" })
            .h_opt(
                "PausedReason",
                modern.then_some(member.paused_reason.as_str()),
            )
    }
}
