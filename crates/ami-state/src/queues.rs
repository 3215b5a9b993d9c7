//! Queues: parameters, members and waiting callers, from the queue events of every era
//! (`QueueCallerJoin`/`Leave` on 12+, `Join`/`Leave` on 1.x) and `QueueStatus`.

use ami_proto::Message;

use crate::fields::{first, flag, number, text};
use crate::model::{Queue, QueueCaller, QueueMember};
use crate::state::{Change, State};

impl State {
    fn queue_entry(&mut self, name: &str) -> &mut Queue {
        self.queues.entry(name.to_owned()).or_insert_with(|| Queue {
            name: name.to_owned(),
            ..Queue::default()
        })
    }

    pub(crate) fn queue_params(&mut self, event: &Message) {
        let name = text(event, "Queue");
        if name.is_empty() {
            return;
        }
        let queue = self.queue_entry(&name);
        queue.strategy = text(event, "Strategy");
        queue.completed = number(event, "Completed");
        queue.abandoned = number(event, "Abandoned");
        self.push_change(Change::QueueChanged(name));
    }

    /// A caller joined (`QueueCallerJoin`, 1.x `Join`, or a `QueueEntry` list item). Its
    /// `Position` places it; without one it goes last. A caller already waiting keeps its
    /// place (its fields are updated): callers never pass one another, and a `Join` seen
    /// again after a resync carries the position of its time, before the callers ahead of
    /// it left, so it would put the caller behind those who joined after it.
    pub(crate) fn queue_join(&mut self, event: &Message) {
        let name = text(event, "Queue");
        let channel = text(event, "Channel");
        if name.is_empty() || channel.is_empty() {
            return;
        }
        let uniqueid = first(event, &["Uniqueid", "UniqueID"]).unwrap_or_default();
        if !uniqueid.is_empty() && self.gone.contains(&uniqueid) {
            return;
        }
        let caller = QueueCaller {
            channel: channel.clone(),
            uniqueid,
            caller_id_num: first(event, &["CallerIDNum", "CallerID"]).unwrap_or_default(),
            caller_id_name: text(event, "CallerIDName"),
        };
        let position: usize = number(event, "Position");
        let queue = self.queue_entry(&name);
        if let Some(waiting) = queue.callers.iter_mut().find(|c| c.channel == channel) {
            *waiting = caller;
        } else if position == 0 {
            queue.callers.push(caller);
        } else {
            let at = position.saturating_sub(1).min(queue.callers.len());
            queue.callers.insert(at, caller);
        }
        self.push_change(Change::QueueChanged(name));
    }

    pub(crate) fn queue_leave(&mut self, event: &Message) {
        let name = text(event, "Queue");
        let channel = text(event, "Channel");
        if let Some(queue) = self.queues.get_mut(&name) {
            queue.callers.retain(|c| c.channel != channel);
            self.push_change(Change::QueueChanged(name));
        }
    }

    pub(crate) fn queue_abandon(&mut self, event: &Message) {
        self.queue_leave(event);
        let queue = text(event, "Queue");
        if let Some(queue) = self.queues.get_mut(&queue) {
            queue.abandoned += 1;
        }
    }

    /// A member as `QueueStatus` lists it or a member event reports it.
    pub(crate) fn queue_member(&mut self, event: &Message) {
        let name = text(event, "Queue");
        let Some(interface) = first(event, &["Interface", "Location"]) else {
            return;
        };
        if name.is_empty() {
            return;
        }
        let queue = self.queue_entry(&name);
        let member = queue
            .members
            .entry(interface.clone())
            .or_insert_with(|| QueueMember {
                interface: interface.clone(),
                ..QueueMember::default()
            });
        if let Some(member_name) = first(event, &["MemberName", "Name"]) {
            member.name = member_name;
        }
        if event.contains("Status") {
            member.status = number(event, "Status");
        }
        if event.contains("Paused") {
            member.paused = flag(event, "Paused");
        }
        if let Some(reason) = first(event, &["PausedReason", "Reason"]) {
            member.paused_reason = reason;
        }
        if event.contains("Penalty") {
            member.penalty = number(event, "Penalty");
        }
        if event.contains("CallsTaken") {
            member.calls_taken = number(event, "CallsTaken");
        }
        if event.contains("InCall") {
            member.in_call = flag(event, "InCall");
        }
        if let Some(membership) = event.get("Membership") {
            member.membership = membership.into_owned();
        }
        self.push_change(Change::QueueChanged(name));
    }

    pub(crate) fn queue_member_removed(&mut self, event: &Message) {
        let name = text(event, "Queue");
        let Some(interface) = first(event, &["Interface", "Location"]) else {
            return;
        };
        if let Some(queue) = self.queues.get_mut(&name) {
            queue.members.remove(&interface);
            self.push_change(Change::QueueChanged(name));
        }
    }

    /// Replaces the queues by a `QueueStatus` result.
    pub(crate) fn replace_queues(&mut self, items: &[Message]) {
        self.queues.clear();
        for item in items {
            match item.event_name().as_deref() {
                Some("QueueParams") => self.queue_params(item),
                Some("QueueMember") => self.queue_member(item),
                Some("QueueEntry") => self.queue_join(item),
                _ => {}
            }
        }
        self.push_change(Change::Resynced);
    }
}
