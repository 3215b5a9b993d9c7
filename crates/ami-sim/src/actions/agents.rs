//! `Agents`: the one static agent of the recorded servers' agents.conf (`1001`, `Agent One`,
//! logged off), with each era's item fields: chan_agent's (1.8, 11) or app_agent_pool's (13+,
//! whose channel snapshot only follows for a logged-in agent).

use crate::profile::{ListKind, Profile};
use crate::request::Request;
use crate::session::{ServerSession, action_id};
use crate::wire::Packet;

impl ServerSession {
    pub(super) fn action_agents(&mut self, request: &Request) {
        let id = action_id(request);
        let item = Packet::list_item("Agents")
            .h("Agent", "1001")
            .h("Name", "Agent One")
            .h("Status", "AGENT_LOGGEDOFF");
        let item = match self.profile {
            Profile::V22 | Profile::V13 => item,
            Profile::V11 | Profile::V18 => item
                .h("LoggedInChan", "n/a")
                .h("LoggedInTime", "0")
                .h("TalkingTo", "n/a")
                .h("TalkingToChan", "n/a"),
        };
        let item = item.h_opt("ActionID", id).finish();
        self.send_list(
            request,
            ListKind::Other,
            "Agents will follow",
            vec![item],
            "AgentsComplete",
            &[],
        );
    }
}
