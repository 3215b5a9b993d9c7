//! `Agents` and `AgentLogoff`: the agents of the simulated agents.conf, with each era's item
//! fields: chan_agent's (1.8, 11) or app_agent_pool's (13+, whose login time and channel
//! snapshot only follow for a logged-in agent).

use crate::pbx::agents_item;
use crate::profile::ListKind;
use crate::request::Request;
use crate::session::{Context, ServerSession, action_id};

impl ServerSession {
    pub(super) fn action_agents(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let id = action_id(request);
        let pbx = &*ctx.pbx;
        let items = pbx
            .agents
            .iter()
            .map(|agent| agents_item(pbx, agent, id))
            .collect();
        self.send_list(
            request,
            ListKind::Other,
            "Agents will follow",
            items,
            "AgentsComplete",
            &[],
        );
    }

    pub(super) fn action_agent_logoff(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let agent = request.get("Agent");
        if agent.is_empty() {
            self.reply("Error", request, "No agent specified");
        } else if ctx.pbx.agent_logoff_request(agent) {
            self.reply("Success", request, "Agent logged out");
        } else {
            self.reply("Error", request, "No such agent");
        }
    }
}
