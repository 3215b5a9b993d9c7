//! Framing of list answers: the start response, the items, the `...Complete` event, per
//! profile (EventList with ActionID second, EventList with ActionID last, or bare).

use crate::profile::{ListKind, ListStyle};
use crate::request::Request;
use crate::session::{ServerSession, action_id};
use crate::wire::Packet;

impl ServerSession {
    /// Sends a whole list at once, so its items are contiguous as in Asterisk. `items` are
    /// finished packets; `extras` go into the Complete event after the list counters.
    pub(super) fn send_list(
        &mut self,
        request: &Request,
        kind: ListKind,
        message: &str,
        items: Vec<bytes::Bytes>,
        complete: &str,
        extras: &[(&str, String)],
    ) {
        let id = action_id(request);
        let style = self.profile.list_style(kind);
        let start = Packet::response_to("Success", id);
        let start = match style {
            ListStyle::Modern | ListStyle::ActionIdLast => start.h("EventList", "start"),
            ListStyle::Bare => start,
        };
        self.send(start.h("Message", message).finish());
        let count = items.len().to_string();
        for item in items {
            self.send(item);
        }
        let done = Packet::list_item(complete);
        let done = match style {
            ListStyle::Modern => done
                .h_opt("ActionID", id)
                .h("EventList", "Complete")
                .h("ListItems", &count),
            ListStyle::ActionIdLast => done.h("EventList", "Complete").h("ListItems", &count),
            ListStyle::Bare => done.h_opt("ActionID", id),
        };
        let done = done.headers(extras.iter().map(|(n, v)| (*n, v.as_str())));
        let done = match style {
            ListStyle::ActionIdLast => done.h_opt("ActionID", id),
            _ => done,
        };
        self.send(done.finish());
    }
}
