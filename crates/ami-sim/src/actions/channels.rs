//! Channel actions: CoreShowChannels, Status, Getvar, Setvar, Hangup, Redirect, Originate.

use crate::pbx::{Channel, OriginateError, OriginateRequest, Pbx};
use crate::profile::{ListKind, Profile};
use crate::request::Request;
use crate::session::{Context, ServerSession, action_id};
use crate::wire::Packet;

fn or_unknown(value: &str) -> &str {
    if value.is_empty() { "<unknown>" } else { value }
}

/// Value of a dialplan function the simulator knows, or of a variable.
fn channel_value(chan: &Channel, name: &str) -> String {
    match name {
        "CHANNEL(state)" => chan.state.desc().to_owned(),
        "CHANNEL(name)" => chan.name.clone(),
        "CHANNEL(uniqueid)" | "UNIQUEID" => chan.uniqueid.clone(),
        "CHANNEL(linkedid)" => chan.linkedid.clone(),
        "CALLERID(num)" => chan.cid_num.clone(),
        "CALLERID(name)" => chan.cid_name.clone(),
        "CONTEXT" => chan.context.clone(),
        "EXTEN" => chan.exten.clone(),
        _ => chan.var(name).unwrap_or("").to_owned(),
    }
}

impl ServerSession {
    pub(super) fn action_core_show_channels(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let pbx = &*ctx.pbx;
        let id = action_id(request);
        let items: Vec<_> = pbx
            .channels
            .values()
            .map(|chan| {
                let duration = crate::clock::hms(chan.duration_secs(pbx.now_ms));
                let packet = Packet::list_item("CoreShowChannel").h_opt("ActionID", id);
                if self.profile.modern_events() {
                    chan.snapshot(self.profile, "", packet)
                        .h("Application", &chan.app)
                        .h("ApplicationData", &chan.app_data)
                        .h("Duration", &duration)
                        .h("BridgeId", chan.bridge.as_deref().unwrap_or(""))
                        .finish()
                } else {
                    let peer = pbx.bridged_peer(chan.id);
                    packet
                        .h("Channel", &chan.name)
                        .h("UniqueID", &chan.uniqueid)
                        .h("Context", &chan.context)
                        .h("Extension", &chan.exten)
                        .h("Priority", &chan.priority.to_string())
                        .h("ChannelState", chan.state.code())
                        .h("ChannelStateDesc", chan.state.desc())
                        .h("Application", &chan.app)
                        .h("ApplicationData", &chan.app_data)
                        .h("CallerIDnum", &chan.cid_num)
                        .h("CallerIDname", &chan.cid_name)
                        .h("ConnectedLineNum", &chan.conn_num)
                        .h("ConnectedLineName", &chan.conn_name)
                        .h("Duration", &duration)
                        .h("AccountCode", "")
                        .h("BridgedChannel", peer.map_or("", |p| p.name.as_str()))
                        .h("BridgedUniqueID", peer.map_or("", |p| p.uniqueid.as_str()))
                        .finish()
                }
            })
            .collect();
        self.send_list(
            request,
            ListKind::CoreShowChannels,
            "Channels will follow",
            items,
            "CoreShowChannelsComplete",
            &[],
        );
    }

    pub(super) fn action_status(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let pbx = &*ctx.pbx;
        let wanted = request.get("Channel");
        let chans: Vec<&Channel> = if wanted.is_empty() {
            pbx.channels.values().collect()
        } else {
            match pbx.channel_by_name(wanted) {
                Some(chan) => vec![chan],
                None => {
                    self.reply("Error", request, "No such channel");
                    return;
                }
            }
        };
        let variables: Vec<&str> = request
            .get("Variables")
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        let all_variables = matches!(
            request.get("AllVariables").to_ascii_lowercase().as_str(),
            "true" | "yes" | "1" | "on"
        );
        let items: Vec<_> = chans
            .iter()
            .map(|chan| {
                let mut names = variables.clone();
                if all_variables {
                    names.extend(chan.vars.iter().map(|(name, _)| name.as_str()));
                }
                self.status_item(pbx, chan, &names, action_id(request))
            })
            .collect();
        let count = items.len().to_string();
        let extras: Vec<(&str, String)> = vec![("Items", count)];
        self.send_list(
            request,
            ListKind::Other,
            "Channel status will follow",
            items,
            "StatusComplete",
            &extras,
        );
    }

    fn status_item(
        &self,
        pbx: &Pbx,
        chan: &Channel,
        variables: &[&str],
        id: Option<&str>,
    ) -> bytes::Bytes {
        let secs = chan.duration_secs(pbx.now_ms).to_string();
        let mut packet = Packet::list_item("Status").h("Privilege", "Call");
        match self.profile {
            Profile::V22 | Profile::V13 => {
                packet = packet
                    .h("Channel", &chan.name)
                    .h("ChannelState", chan.state.code())
                    .h("ChannelStateDesc", chan.state.desc())
                    .h("CallerIDNum", or_unknown(&chan.cid_num))
                    .h("CallerIDName", or_unknown(&chan.cid_name))
                    .h("ConnectedLineNum", or_unknown(&chan.conn_num))
                    .h("ConnectedLineName", or_unknown(&chan.conn_name));
                packet = if self.profile == Profile::V22 {
                    packet.h("Language", "en").h("AccountCode", "")
                } else {
                    packet.h("Accountcode", "")
                };
                packet = packet
                    .h("Context", &chan.context)
                    .h("Exten", &chan.exten)
                    .h("Priority", &chan.priority.to_string())
                    .h("Uniqueid", &chan.uniqueid)
                    .h("Linkedid", &chan.linkedid)
                    .h("Type", "Local")
                    .h("DNID", "")
                    .h("EffectiveConnectedLineNum", or_unknown(&chan.conn_num))
                    .h("EffectiveConnectedLineName", or_unknown(&chan.conn_name))
                    .h("TimeToHangup", "0")
                    .h("BridgeID", chan.bridge.as_deref().unwrap_or(""))
                    .h("Application", &chan.app)
                    .h("Data", &chan.app_data)
                    .h("Nativeformats", "(slin)")
                    .h("Readformat", "slin")
                    .h("Readtrans", "")
                    .h("Writeformat", "slin")
                    .h("Writetrans", "")
                    .h("Callgroup", "0")
                    .h("Pickupgroup", "0")
                    .h("Seconds", &secs);
            }
            Profile::V11 | Profile::V18 => {
                packet = packet
                    .h("Channel", &chan.name)
                    .h("CallerIDNum", &chan.cid_num)
                    .h("CallerIDName", &chan.cid_name)
                    .h("ConnectedLineNum", &chan.conn_num)
                    .h("ConnectedLineName", &chan.conn_name);
                packet = if pbx.runs_dialplan(chan.id) {
                    packet
                        .h("Accountcode", "")
                        .h("ChannelState", chan.state.code())
                        .h("ChannelStateDesc", chan.state.desc())
                        .h("Context", &chan.context)
                        .h("Extension", &chan.exten)
                        .h("Priority", &chan.priority.to_string())
                        .h("Seconds", &secs)
                } else {
                    packet.h("Account", "").h("State", chan.state.desc())
                };
                if let Some(peer) = pbx.bridged_peer(chan.id) {
                    packet = packet
                        .h("BridgedChannel", &peer.name)
                        .h("BridgedUniqueid", &peer.uniqueid);
                }
                packet = packet.h("Uniqueid", &chan.uniqueid);
            }
        }
        for variable in variables {
            packet.push(
                "Variable",
                &format!("{variable}={}", channel_value(chan, variable)),
            );
        }
        packet.h_opt("ActionID", id).finish()
    }

    pub(super) fn action_getvar(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let variable = request.get("Variable");
        if variable.is_empty() {
            self.reply("Error", request, "No variable specified");
            return;
        }
        let channel = request.get("Channel");
        let value = if channel.is_empty() {
            ctx.pbx.globals.get(variable).cloned().unwrap_or_default()
        } else {
            match ctx.pbx.channel_by_name(channel) {
                Some(chan) => channel_value(chan, variable),
                None => {
                    self.reply("Error", request, "No such channel");
                    return;
                }
            }
        };
        let bytes = Packet::response_to("Success", action_id(request))
            .h("Variable", variable)
            .h("Value", &value)
            .finish();
        self.send(bytes);
    }

    pub(super) fn action_setvar(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let variable = request.get("Variable");
        if variable.is_empty() {
            self.reply("Error", request, "No variable specified");
            return;
        }
        let value = request.get("Value");
        let channel = request.get("Channel");
        if channel.is_empty() {
            self.reply("Success", request, "Variable Set");
            ctx.pbx.set_global(variable, value);
            return;
        }
        let Some(id) = ctx.pbx.channel_by_name(channel).map(|c| c.id) else {
            self.reply("Error", request, "No such channel");
            return;
        };
        self.reply("Success", request, "Variable Set");
        ctx.pbx.set_channel_var(id, variable, value);
    }

    pub(super) fn action_hangup(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let channel = request.get("Channel");
        if channel.is_empty() {
            self.reply("Error", request, "No channel specified");
            return;
        }
        let Some(id) = ctx.pbx.channel_by_name(channel).map(|c| c.id) else {
            self.reply("Error", request, "No such channel");
            return;
        };
        let cause = request
            .get_opt("Cause")
            .filter(|c| !c.is_empty())
            .unwrap_or("16")
            .to_owned();
        self.reply("Success", request, "Channel Hungup");
        ctx.pbx.hangup_call(id, &cause);
    }

    pub(super) fn action_redirect(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let channel = request.get("Channel");
        if channel.is_empty() {
            self.reply("Error", request, "Channel not specified");
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
        let context = request
            .get_opt("Context")
            .filter(|c| !c.is_empty())
            .unwrap_or("demo");
        if ctx.pbx.redirect(id, context, request.get("Exten")) {
            self.reply("Success", request, "Redirect successful");
        } else {
            self.reply("Error", request, "Redirect failed");
        }
    }

    pub(super) fn action_originate(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let channel = request.get("Channel");
        if channel.is_empty() {
            self.reply("Error", request, "Channel not specified");
            return;
        }
        let application = request
            .get_opt("Application")
            .filter(|a| !a.is_empty())
            .map(|app| (app.to_owned(), request.get("Data").to_owned()));
        let caller_id = request
            .get_opt("CallerID")
            .filter(|c| !c.is_empty())
            .map(parse_caller_id);
        let variables = request
            .get_all("Variable")
            .flat_map(|v| v.split(','))
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
            .collect();
        let is_async = matches!(
            request.get("Async").to_ascii_lowercase().as_str(),
            "true" | "yes" | "1" | "on"
        );
        let originate = OriginateRequest {
            channel: channel.to_owned(),
            application,
            context: request
                .get_opt("Context")
                .filter(|c| !c.is_empty())
                .unwrap_or("default")
                .to_owned(),
            exten: request.get("Exten").to_owned(),
            caller_id,
            variables,
            action_id: action_id(request).map(str::to_owned),
            is_async,
        };
        if is_async {
            self.reply("Success", request, "Originate successfully queued");
            let _ = ctx.pbx.originate(originate);
            return;
        }
        match ctx.pbx.originate(originate) {
            Ok(()) => self.reply("Success", request, "Originate successfully queued"),
            Err(OriginateError::Failed) => self.reply("Error", request, "Originate failed"),
        }
    }
}

/// `"Corpus Test" <5551234>` to (name, number); a bare number has no name.
fn parse_caller_id(text: &str) -> (String, String) {
    match (text.find('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => (
            text[..open].trim().trim_matches('"').to_owned(),
            text[open + 1..close].to_owned(),
        ),
        _ => (String::new(), text.trim().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_id_forms() {
        assert_eq!(
            parse_caller_id("\"Corpus Test\" <5551234>"),
            ("Corpus Test".into(), "5551234".into())
        );
        assert_eq!(parse_caller_id("600"), (String::new(), "600".into()));
    }
}
