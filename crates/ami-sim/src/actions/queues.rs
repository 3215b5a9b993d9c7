//! Queue actions: QueueStatus, QueueSummary, QueueAdd, QueueRemove, QueuePause.

use crate::profile::{ListKind, Profile};
use crate::request::Request;
use crate::session::{Context, ServerSession, action_id};
use crate::wire::Packet;

impl ServerSession {
    pub(super) fn action_queue_status(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let pbx = &*ctx.pbx;
        let id = action_id(request);
        let wanted = request.get("Queue");
        let member_filter = request.get("Member");
        let profile = self.profile;
        let mut items = Vec::new();
        for queue in pbx
            .queues
            .iter()
            .filter(|q| wanted.is_empty() || q.name == wanted)
        {
            let mut params = Packet::list_item("QueueParams")
                .h("Queue", &queue.name)
                .h("Max", "0")
                .h("Strategy", "ringall")
                .h("Calls", &queue.callers.len().to_string())
                .h("Holdtime", "0")
                .h("TalkTime", "0")
                .h("Completed", &queue.completed.to_string())
                .h("Abandoned", &queue.abandoned.to_string())
                .h("ServiceLevel", "0")
                .h("ServicelevelPerf", "0.0");
            if profile == Profile::V22 {
                params = params.h("ServicelevelPerf2", "0.0");
            }
            items.push(params.h("Weight", "0").h_opt("ActionID", id).finish());
            for m in queue.members.iter().filter(|m| {
                member_filter.is_empty() || m.location == member_filter || m.name == member_filter
            }) {
                let mut item = Packet::list_item("QueueMember")
                    .h("Queue", &queue.name)
                    .h("Name", &m.name)
                    .h("Location", &m.location);
                if profile != Profile::V18 {
                    item = item.h("StateInterface", &m.state_interface);
                }
                item = item
                    .h("Membership", m.membership)
                    .h("Penalty", &m.penalty.to_string())
                    .h("CallsTaken", &m.calls_taken.to_string())
                    .h("LastCall", &m.last_call.to_string());
                if profile == Profile::V22 {
                    item = item
                        .h("LastPause", "0")
                        .h("LoginTime", &m.login_time.to_string());
                }
                let in_call = if m.in_call { "1" } else { "0" };
                item = match profile {
                    Profile::V22 | Profile::V13 => item.h("InCall", in_call),
                    Profile::V11 => item.h("IsInCall", in_call),
                    Profile::V18 => item,
                };
                item = item
                    .h("Status", m.status())
                    .h("Paused", if m.paused { "1" } else { "0" });
                if profile.modern_events() {
                    item = item.h("PausedReason", &m.paused_reason);
                }
                if profile == Profile::V22 {
                    item = item.h("Wrapuptime", "0");
                }
                items.push(item.h_opt("ActionID", id).finish());
            }
            for (position, (caller, joined)) in queue.callers.iter().enumerate() {
                let Some(chan) = pbx.channels.get(caller) else {
                    continue;
                };
                let wait = (pbx.now_ms.saturating_sub(*joined) / 1000).to_string();
                let unknown = |v: &str| {
                    if v.is_empty() {
                        "unknown".to_owned()
                    } else {
                        v.to_owned()
                    }
                };
                let mut item = Packet::list_item("QueueEntry")
                    .h("Queue", &queue.name)
                    .h("Position", &(position + 1).to_string())
                    .h("Channel", &chan.name)
                    .h("Uniqueid", &chan.uniqueid)
                    .h("CallerIDNum", &unknown(&chan.cid_num))
                    .h("CallerIDName", &unknown(&chan.cid_name))
                    .h("ConnectedLineNum", &unknown(&chan.conn_num))
                    .h("ConnectedLineName", &unknown(&chan.conn_name))
                    .h("Wait", &wait);
                if profile.modern_events() {
                    item = item.h("Priority", "0");
                }
                items.push(item.h_opt("ActionID", id).finish());
            }
        }
        self.send_list(
            request,
            ListKind::Other,
            "Queue status will follow",
            items,
            "QueueStatusComplete",
            &[],
        );
    }

    pub(super) fn action_queue_summary(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let pbx = &*ctx.pbx;
        let id = action_id(request);
        let wanted = request.get("Queue");
        let items = pbx
            .queues
            .iter()
            .filter(|q| wanted.is_empty() || q.name == wanted)
            .map(|q| {
                let logged_in = q.members.len();
                let available = q.members.iter().filter(|m| !m.in_call && !m.paused).count();
                let longest = q
                    .callers
                    .iter()
                    .map(|(_, joined)| pbx.now_ms.saturating_sub(*joined) / 1000)
                    .max()
                    .unwrap_or(0);
                Packet::list_item("QueueSummary")
                    .h("Queue", &q.name)
                    .h("LoggedIn", &logged_in.to_string())
                    .h("Available", &available.to_string())
                    .h("Callers", &q.callers.len().to_string())
                    .h("HoldTime", "0")
                    .h("TalkTime", "0")
                    .h("LongestHoldTime", &longest.to_string())
                    .h_opt("ActionID", id)
                    .finish()
            })
            .collect();
        self.send_list(
            request,
            ListKind::Other,
            "Queue summary will follow",
            items,
            "QueueSummaryComplete",
            &[],
        );
    }

    pub(super) fn action_queue_add(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let (queue, interface) = (request.get("Queue"), request.get("Interface"));
        if queue.is_empty() || interface.is_empty() {
            self.reply(
                "Error",
                request,
                "'Queue' and 'Interface' must be specified.",
            );
            return;
        }
        let penalty = request.get("Penalty").parse().unwrap_or(0);
        let paused = matches!(
            request.get("Paused").to_ascii_lowercase().as_str(),
            "true" | "yes" | "1"
        );
        match ctx.pbx.queue_add(
            queue,
            interface,
            request.get("MemberName"),
            request.get("StateInterface"),
            penalty,
            paused,
        ) {
            Ok(true) => self.reply("Success", request, "Added interface to queue"),
            Ok(false) => self.reply("Error", request, "Unable to add interface: Already there"),
            Err(()) => self.reply(
                "Error",
                request,
                "Unable to add interface to queue: No such queue",
            ),
        }
    }

    pub(super) fn action_queue_remove(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let (queue, interface) = (request.get("Queue"), request.get("Interface"));
        if queue.is_empty() || interface.is_empty() {
            self.reply("Error", request, "Need 'Queue' and 'Interface' parameters.");
            return;
        }
        match ctx.pbx.queue_remove(queue, interface) {
            Ok(true) => self.reply("Success", request, "Removed interface from queue"),
            Ok(false) => self.reply("Error", request, "Unable to remove interface: Not there"),
            Err(()) => self.reply(
                "Error",
                request,
                "Unable to remove interface from queue: No such queue",
            ),
        }
    }

    pub(super) fn action_queue_pause(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let interface = request.get("Interface");
        if interface.is_empty() {
            self.reply("Error", request, "Need 'Interface' parameter");
            return;
        }
        let paused = matches!(
            request.get("Paused").to_ascii_lowercase().as_str(),
            "true" | "yes" | "1"
        );
        let changed = ctx.pbx.queue_pause(
            request.get("Queue"),
            interface,
            paused,
            request.get("Reason"),
        );
        if changed == 0 {
            self.reply("Error", request, "Interface not found");
        } else if paused {
            self.reply("Success", request, "Interface paused successfully");
        } else {
            self.reply("Success", request, "Interface unpaused successfully");
        }
    }
}
