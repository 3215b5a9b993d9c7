//! Ping, Events, Filter, CoreSettings, CoreStatus, ListCommands, Command, UserEvent, Queues.

use bytes::Bytes;

use crate::event::Event;
use crate::perm::Perms;
use crate::profile::Profile;
use crate::request::Request;
use crate::session::{Context, ServerSession, action_id};
use crate::wire::Packet;

use super::auth::parse_event_mask;

impl ServerSession {
    pub(super) fn action_ping(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let headers = [("Ping", "Pong"), ("Timestamp", ctx.timestamp())];
        self.respond("Success", request, &headers);
    }

    pub(super) fn action_events(&mut self, request: &Request) {
        self.send_events = parse_event_mask(request.get("EventMask"));
        let state = if self.send_events.is_empty() {
            "Off"
        } else {
            "On"
        };
        let bytes = Packet::response_to("Success", action_id(request))
            .h("Events", state)
            .finish();
        self.send(bytes);
    }

    pub(super) fn action_filter(&mut self, request: &Request) {
        let operation = request.get("Operation");
        let filter = request.get("Filter");
        if !operation.eq_ignore_ascii_case("add") {
            self.reply("Error", request, "Unknown operation");
            return;
        }
        if filter.is_empty() {
            self.reply("Error", request, "Filter Not Supported");
            return;
        }
        if let Err(error) = self.filters.add(filter) {
            tracing::debug!(filter, %error, "Filter refused");
            // Asterisk's answer when regcomp fails (manager.c, action_filter), every version.
            self.reply(
                "Error",
                request,
                "Filter did not compile.  Check the syntax of the filter given.",
            );
            return;
        }
        self.reply("Success", request, "Success");
    }

    pub(super) fn action_core_settings(&mut self, request: &Request) {
        let profile = self.profile;
        let packet = Packet::response_to("Success", action_id(request))
            .h("AMIversion", profile.ami_version())
            .h("AsteriskVersion", profile.asterisk_version())
            .h("SystemName", "")
            .h("CoreMaxCalls", "0")
            .h("CoreMaxLoadAvg", "0.000000")
            .h("CoreRunUser", "")
            .h("CoreRunGroup", "")
            .h("CoreMaxFilehandles", "0")
            .h("CoreRealTimeEnabled", "No")
            .h("CoreCDRenabled", "Yes")
            .h("CoreHTTPenabled", "Yes");
        let packet = if profile.newest_core_fields() {
            packet.h("SoundsSearchCustomDir", "No")
        } else {
            packet
        };
        self.send(packet.finish());
    }

    pub(super) fn action_core_status(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let (date, time) = crate::clock::date_and_time(ctx.pbx.boot_epoch);
        let packet = Packet::response_to("Success", action_id(request))
            .h("CoreStartupDate", &date)
            .h("CoreStartupTime", &time)
            .h("CoreReloadDate", &date)
            .h("CoreReloadTime", &time)
            .h("CoreCurrentCalls", &ctx.pbx.active_calls().to_string());
        let packet = if self.profile.newest_core_fields() {
            packet.h("CoreProcessedCalls", &ctx.pbx.processed_calls.to_string())
        } else {
            packet
        };
        self.send(packet.finish());
    }

    pub(super) fn action_list_commands(&mut self, request: &Request) {
        // Asterisk's `Name: Synopsis  (Priv: classes,all)`, with the synopsis (Asterisk's own
        // prose, which the project does not carry) left empty.
        let mut packet = Packet::response_to("Success", action_id(request));
        for name in self.profile.registered_actions().lines() {
            let classes = self.profile.write_classes(name);
            let privilege = if classes.is_empty() {
                "<none>".to_owned()
            } else {
                format!("{},all", classes.join(","))
            };
            packet = packet.raw_line(format!("{name}:   (Priv: {privilege})").as_bytes());
        }
        self.send(packet.finish());
    }

    pub(super) fn action_command(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let command = request.get("Command");
        if command.is_empty() {
            self.reply("Error", request, "No command provided");
            return;
        }
        let output = ctx.pbx.cli(command);
        let bytes = if self.profile.legacy_command() {
            Packet::response("Follows")
                .h("Privilege", "Command")
                .h_opt("ActionID", action_id(request))
                .legacy_body(&output.text)
                .finish()
        } else {
            let response = if output.failed { "Error" } else { "Success" };
            let mut packet = Packet::response_to(response, action_id(request))
                .h("Message", "Command output follows");
            for line in output.text.lines() {
                packet.push("Output", line);
            }
            packet.finish()
        };
        self.send(bytes);
    }

    pub(super) fn action_user_event(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let name = request.get("UserEvent");
        let mut packet = Packet::event("UserEvent", Perms::USER).h("UserEvent", name);
        let echoes_action = self.profile.userevent_echoes_action();
        for line in request.lines() {
            let skip = starts_with_name(line, "UserEvent")
                || (!echoes_action && starts_with_name(line, "Action"));
            if !skip {
                packet = packet.raw_line(line);
            }
        }
        self.reply("Success", request, "Event Sent");
        ctx.pbx.publish(Event::new(Perms::USER, packet.finish()));
    }

    /// The raw `Queues` action (13 and older): `queue show` text with no Response line at all,
    /// CRLF lines and three extra CRLFs after the last.
    pub(super) fn action_queues(&mut self, ctx: &mut Context<'_>) {
        let text = ctx.pbx.cli("queue show").text;
        let mut out = String::new();
        for line in text.trim_end_matches('\n').lines() {
            if self.profile == Profile::V13 && line.starts_with("      ") {
                // 13 colours member and caller lines.
                out.push_str(&format!("\x1b[0;37m{line}\x1b[0m\r\n"));
            } else {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        out.push_str("\r\n\r\n\r\n");
        self.send(Bytes::from(out));
    }
}

fn starts_with_name(line: &[u8], name: &str) -> bool {
    line.len() > name.len()
        && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        && line[name.len()] == b':'
}
