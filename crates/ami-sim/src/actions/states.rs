//! Device and extension states: `DeviceStateList` and `ExtensionStateList` (13+), and
//! `ExtensionState` (every era).

use crate::profile::ListKind;
use crate::request::Request;
use crate::session::{Context, ServerSession, action_id};
use crate::wire::Packet;

impl ServerSession {
    pub(super) fn action_device_state_list(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let id = action_id(request);
        let items = ctx
            .pbx
            .device_states
            .iter()
            .map(|(device, state)| {
                Packet::list_item("DeviceStateChange")
                    .h("Device", device)
                    .h("State", state)
                    .h_opt("ActionID", id)
                    .finish()
            })
            .collect();
        self.send_list(
            request,
            ListKind::Other,
            "Device State Changes will follow",
            items,
            "DeviceStateListComplete",
            &[],
        );
    }

    pub(super) fn action_extension_state_list(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let id = action_id(request);
        let pbx = &*ctx.pbx;
        let items = pbx
            .hints()
            .iter()
            .map(|hint| {
                pbx.extension_status(hint, Packet::list_item("ExtensionStatus"))
                    .h_opt("ActionID", id)
                    .finish()
            })
            .collect();
        self.send_list(
            request,
            ListKind::Other,
            "Extension Statuses will follow",
            items,
            "ExtensionStateListComplete",
            &[],
        );
    }

    pub(super) fn action_extension_state(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let (exten, context) = (request.get("Exten"), request.get("Context"));
        let context = if context.is_empty() {
            "default"
        } else {
            context
        };
        let pbx = &*ctx.pbx;
        let hint = pbx
            .hints()
            .into_iter()
            .find(|h| h.exten == exten && h.context == context);
        // No hint: Asterisk answers Status -1 and an empty Hint.
        let (device, status, text) = match &hint {
            Some(hint) => {
                let (status, text) =
                    crate::pbx::states::extension_state(pbx.device_state(&hint.device));
                (hint.device.as_str(), status, text)
            }
            None => ("", -1, "Unknown"),
        };
        let status = status.to_string();
        let mut headers = vec![
            ("Message", "Extension Status"),
            ("Exten", exten),
            ("Context", context),
            ("Hint", device),
            ("Status", status.as_str()),
        ];
        if self.profile.modern_events() {
            headers.push(("StatusText", text));
        }
        self.respond("Success", request, &headers);
    }
}
