//! WaitEvent over HTTP: the events held since the last one, between its response and
//! `Event: WaitEventComplete`. The wait itself (until an event or the Timeout) is the IO
//! layer's; this is what the answer holds once the wait is over.

use crate::perm::Perms;
use crate::request::Request;
use crate::session::{ServerSession, action_id};
use crate::wire::Packet;

impl ServerSession {
    pub(super) fn action_wait_event(&mut self, request: &Request) {
        // Asterisk switches every event on for an HTTP session that has none on, so that
        // WaitEvent has something to report.
        if self.send_events.is_empty() {
            self.send_events = Perms::ALL;
        }
        self.reply("Success", request, "Waiting for Event completed.");
        let held = self.held.take().unwrap_or_default();
        for event in &held {
            if self.accepts(event.class) && self.filters.allows(&event.bytes) {
                self.send(event.bytes.clone());
            }
        }
        // The queue is kept (emptied) so that later events are held again.
        let mut held = held;
        held.clear();
        self.held = Some(held);
        self.send(
            Packet::list_item("WaitEventComplete")
                .h_opt("ActionID", action_id(request))
                .finish(),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use crate::event::Event;
    use crate::pbx::Pbx;
    use crate::perm::Perms;
    use crate::profile::Profile;
    use crate::request::Request;
    use crate::session::{Context, Output, PeerInfo, ServerSession};
    use crate::user::User;
    use crate::wire::Packet;

    fn run(session: &mut ServerSession, pbx: &mut Pbx, lines: &[&str]) -> String {
        let users = User::defaults();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_408_100);
        let mut ctx = Context::new(pbx, &users, now);
        session.handle_request_now(&Request::from_lines(lines), &mut ctx);
        let mut out = String::new();
        while let Some(output) = session.poll_output() {
            if let Output::Write(bytes) = output {
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        out
    }

    #[test]
    fn held_events_come_out_with_wait_event_only() {
        let mut pbx = Pbx::new(Profile::V22, 1_795_408_000);
        let mut session = ServerSession::new_http(7, Profile::V22, PeerInfo::default());
        let login = run(
            &mut session,
            &mut pbx,
            &["action: login", "username: admin", "secret: amp111"],
        );
        // No banner, no FullyBooted (events are off until WaitEvent), no SuccessfulAuth yet.
        assert_eq!(
            login,
            "Response: Success\r\nMessage: Authentication accepted\r\n\r\n"
        );
        assert!(session.has_held_events(), "SuccessfulAuth is held");
        session.handle_event(&Event::new(
            Perms::CALL,
            Packet::event("Hangup", Perms::CALL).finish(),
        ));
        let out = run(
            &mut session,
            &mut pbx,
            &["action: waitevent", "actionid: w1"],
        );
        assert!(
            out.starts_with(
                "Response: Success\r\nActionID: w1\r\nMessage: Waiting for Event completed.\r\n\r\nEvent: SuccessfulAuth\r\n"
            ),
            "{out}"
        );
        assert!(out.contains("\r\n\r\nEvent: Hangup\r\n"), "{out}");
        assert!(
            out.ends_with("Event: WaitEventComplete\r\nActionID: w1\r\n\r\n"),
            "{out}"
        );
        assert!(!session.has_held_events());
        let again = run(&mut session, &mut pbx, &["action: waitevent"]);
        assert_eq!(
            again,
            "Response: Success\r\nMessage: Waiting for Event completed.\r\n\r\nEvent: WaitEventComplete\r\n\r\n"
        );
    }

    #[test]
    fn events_the_user_may_not_read_are_left_out() {
        let mut pbx = Pbx::new(Profile::V11, 1_795_408_000);
        let mut session = ServerSession::new_http(8, Profile::V11, PeerInfo::default());
        session.handle_event(&Event::new(
            Perms::CALL,
            Packet::event("Hangup", Perms::CALL).finish(),
        ));
        run(
            &mut session,
            &mut pbx,
            &[
                "action: login",
                "username: admin",
                "secret: amp111",
                "events: system",
            ],
        );
        let out = run(&mut session, &mut pbx, &["action: waitevent"]);
        assert!(!out.contains("Hangup"), "{out}");
    }
}
