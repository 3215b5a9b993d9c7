//! `BridgeList` (13+): the live bridges, as res_manager_bridges.c lists them.

use crate::profile::ListKind;
use crate::request::Request;
use crate::session::{Context, ServerSession, action_id};

impl ServerSession {
    pub(super) fn action_bridge_list(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let items = ctx
            .pbx
            .bridge_list(request.get("BridgeType"), action_id(request));
        self.send_list(
            request,
            ListKind::Other,
            "Bridge listing will follow",
            items,
            "BridgeListComplete",
            &[],
        );
    }
}
