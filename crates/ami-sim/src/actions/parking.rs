//! `Park` and `ParkedCalls`: res_parking's (13+) and features.c's (1.8, 11) answers.

use crate::profile::ListKind;
use crate::request::Request;
use crate::session::{Context, ServerSession, action_id};

impl ServerSession {
    pub(super) fn action_park(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let modern = self.profile.modern_events();
        let channel = request.get("Channel");
        // 13+ names the channel to return to TimeoutChannel; 1.8 and 11 call it Channel2 and
        // require it.
        let other_name = if modern { "TimeoutChannel" } else { "Channel2" };
        let other = request.get(other_name);
        if channel.is_empty() {
            self.reply("Error", request, "Channel not specified");
            return;
        }
        if other.is_empty() && !modern {
            self.reply("Error", request, "Channel2 not specified");
            return;
        }
        let Some(id) = ctx.pbx.channel_by_name(channel).map(|c| c.id) else {
            self.reply(
                "Error",
                request,
                &format!("Channel does not exist: {channel}"),
            );
            return;
        };
        let parker = if other.is_empty() {
            ctx.pbx.bridged_peer(id).map(|c| c.id)
        } else {
            match ctx.pbx.channel_by_name(other) {
                Some(c) => Some(c.id),
                None => {
                    self.reply(
                        "Error",
                        request,
                        &format!("{other_name} does not exist: {other}"),
                    );
                    return;
                }
            }
        };
        let timeout = request
            .get("Timeout")
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms > 0);
        match ctx.pbx.park(id, parker, timeout) {
            Some(_) => self.reply("Success", request, "Park successful"),
            None => self.reply("Error", request, "Park failure"),
        }
    }

    pub(super) fn action_parked_calls(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let id = action_id(request);
        let pbx = &*ctx.pbx;
        let items: Vec<bytes::Bytes> = pbx
            .parked
            .keys()
            .map(|space| pbx.parked_calls_item(*space, id))
            .collect();
        // 1.8 and 11 count the parked calls in `Total:`; 13+ in the list's ListItems.
        let total = items.len().to_string();
        let extras: &[(&str, String)] = if self.profile.modern_events() {
            &[]
        } else {
            &[("Total", total)]
        };
        self.send_list(
            request,
            ListKind::Other,
            "Parked calls will follow",
            items,
            "ParkedCallsComplete",
            extras,
        );
    }
}
