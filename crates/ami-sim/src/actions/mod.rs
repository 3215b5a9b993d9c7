//! The actions the simulator answers, one module per family; `dispatch` routes by name.

mod agents;
mod auth;
mod bridges;
mod channels;
mod core;
mod db;
mod list;
mod parking;
mod wait_event;

pub use auth::md5_key;
mod queues;
mod states;
mod transfer;

use crate::request::Request;
use crate::session::{Context, ServerSession};

impl ServerSession {
    /// Runs an action the profile knows and the user may call. `name` is the canonical
    /// spelling from the profile's action list.
    pub(crate) fn dispatch(&mut self, name: &str, request: &Request, ctx: &mut Context<'_>) {
        match name {
            "Login" => self.action_login(request, ctx),
            "Logoff" => self.action_logoff(request),
            "Challenge" => self.action_challenge(request, ctx),
            "Ping" => self.action_ping(request, ctx),
            "Agents" => self.action_agents(request, ctx),
            "AgentLogoff" => self.action_agent_logoff(request, ctx),
            "Events" => self.action_events(request),
            "Filter" => self.action_filter(request),
            "CoreSettings" => self.action_core_settings(request),
            "CoreStatus" => self.action_core_status(request, ctx),
            "ListCommands" => self.action_list_commands(request),
            "Command" => self.action_command(request, ctx),
            "UserEvent" => self.action_user_event(request, ctx),
            "Queues" => self.action_queues(ctx),
            "DBPut" => self.action_db_put(request, ctx),
            "DBGet" => self.action_db_get(request, ctx),
            "DBGetTree" => self.action_db_get_tree(request, ctx),
            "DBDel" => self.action_db_del(request, ctx),
            "DBDelTree" => self.action_db_del_tree(request, ctx),
            "CoreShowChannels" => self.action_core_show_channels(request, ctx),
            "Status" => self.action_status(request, ctx),
            "Getvar" => self.action_getvar(request, ctx),
            "Setvar" => self.action_setvar(request, ctx),
            "Hangup" => self.action_hangup(request, ctx),
            "Redirect" => self.action_redirect(request, ctx),
            "Originate" => self.action_originate(request, ctx),
            "QueueStatus" => self.action_queue_status(request, ctx),
            "QueueSummary" => self.action_queue_summary(request, ctx),
            "QueueAdd" => self.action_queue_add(request, ctx),
            "QueueRemove" => self.action_queue_remove(request, ctx),
            "QueuePause" => self.action_queue_pause(request, ctx),
            // Over a socket, events are written as they come; WaitEvent matters over HTTP.
            "WaitEvent" if self.held.is_some() => self.action_wait_event(request),
            "Park" => self.action_park(request, ctx),
            "BridgeList" => self.action_bridge_list(request, ctx),
            "BlindTransfer" => self.action_blind_transfer(request, ctx),
            "Atxfer" => self.action_atxfer(request, ctx),
            "DeviceStateList" => self.action_device_state_list(request, ctx),
            "ExtensionStateList" => self.action_extension_state_list(request, ctx),
            "ExtensionState" => self.action_extension_state(request, ctx),
            "ParkedCalls" => self.action_parked_calls(request, ctx),
            other => {
                // A real action of this version that the simulator does not model: say so
                // plainly rather than invent an answer.
                self.reply(
                    "Error",
                    request,
                    &format!("Action {other} is not simulated by ami-sim"),
                );
            }
        }
    }
}
