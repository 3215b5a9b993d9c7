//! The server side of one AMI connection, sans-IO: bytes and events in (`handle_*`), bytes,
//! pauses and the close out (`poll_output`). Wall-clock time comes in with each call, so
//! tests drive it entirely in memory.
//!
//! Order of outputs: the banner first, then, per action, its response (and list items, which
//! are never interleaved with events), then events in the order they were handed in.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};

use crate::event::Event;
use crate::filter::Filters;
use crate::pbx::Pbx;
use crate::perm::Perms;
use crate::profile::Profile;
use crate::request::{Input, Request, RequestReader};
use crate::user::User;
use crate::wire::{self, Packet};

/// What the IO layer must do next for this session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes.
    Write(Bytes),
    /// Wait this long before the next output (Asterisk's 1 s pause after a failed login).
    Sleep(Duration),
    /// Close the connection (after Logoff or a failed login).
    Close,
}

/// Addresses shown in security events (`IPV4/TCP/127.0.0.1/5038`).
#[derive(Debug, Clone, Default)]
pub struct PeerInfo {
    /// The server side of the connection.
    pub local: Option<std::net::SocketAddr>,
    /// The client side.
    pub remote: Option<std::net::SocketAddr>,
    /// TLS connections say `TLS` rather than `TCP`.
    pub tls: bool,
}

/// Everything a session may touch while handling input: the PBX, the accounts, the time.
pub struct Context<'a> {
    /// The shared PBX (events published here reach every session).
    pub pbx: &'a mut Pbx,
    /// The accounts.
    pub users: &'a [User],
    /// The wall clock now.
    pub now: SystemTime,
    /// Events the PBX produced while this session's input was handled, already delivered to
    /// this session; the IO layer sends them to every other session.
    pub published: Vec<Event>,
    /// Ping's Timestamp text for `now`: every Ping of one read shares the same clock reading,
    /// so it is formatted once rather than per Ping.
    timestamp: Option<(SystemTime, String)>,
}

impl<'a> Context<'a> {
    /// A context for one round of input.
    pub fn new(pbx: &'a mut Pbx, users: &'a [User], now: SystemTime) -> Self {
        Self {
            pbx,
            users,
            now,
            published: Vec::new(),
            timestamp: None,
        }
    }

    /// `now` as Ping's Timestamp (`1795408806.781162`).
    pub(crate) fn timestamp(&mut self) -> &str {
        let now = self.now;
        if self.timestamp.as_ref().is_none_or(|(at, _)| *at != now) {
            self.timestamp = Some((now, timestamp(now)));
        }
        self.timestamp.as_ref().map_or("", |(_, text)| text)
    }
}

/// One AMI session as Asterisk runs it.
#[derive(Debug)]
pub struct ServerSession {
    pub(crate) id: u64,
    pub(crate) profile: Profile,
    pub(crate) peer: PeerInfo,
    reader: RequestReader,
    pub(crate) user: Option<User>,
    pub(crate) send_events: Perms,
    pub(crate) challenge: Option<String>,
    pub(crate) filters: Filters,
    out: VecDeque<Output>,
    /// Bytes written after everything in `out`, not yet handed out. Responses are written
    /// straight into it; when `coalesce` is on, events and other packets are appended too, so
    /// a whole read's answers leave as one write with no buffer per packet.
    pending: BytesMut,
    /// Hand consecutive writes out as one (off when each packet must stay a separate write,
    /// as the fault injector needs).
    coalesce: bool,
    closing: bool,
    pub(crate) session_tv: String,
    pub(crate) auth_fail_delay: Duration,
    /// AMI over HTTP: events wait here for the next `WaitEvent` instead of being written
    /// (`None` on a socket session, which writes them as they come).
    pub(crate) held: Option<VecDeque<Event>>,
}

/// How many events an HTTP session keeps for its next `WaitEvent`; older ones are dropped
/// first, so an abandoned session cannot grow without bound before it expires.
pub(crate) const HELD_EVENTS_MAX: usize = 10_000;

impl ServerSession {
    /// A new session; its first output is the banner.
    pub fn new(id: u64, profile: Profile, peer: PeerInfo) -> Self {
        let mut out = VecDeque::new();
        out.push_back(Output::Write(Bytes::from(profile.banner())));
        Self {
            id,
            profile,
            peer,
            reader: RequestReader::new(),
            user: None,
            send_events: Perms::ALL,
            challenge: None,
            filters: Filters::default(),
            out,
            pending: BytesMut::new(),
            coalesce: false,
            closing: false,
            session_tv: String::new(),
            auth_fail_delay: Duration::from_secs(1),
            held: None,
        }
    }

    /// A session of AMI over HTTP (`/rawman`, `/mxml`, `/manager`): no banner, and, as in
    /// Asterisk, no events switched on until login asks for some or `WaitEvent` runs; events
    /// are held for `WaitEvent` and checked against the session's permissions then.
    pub fn new_http(id: u64, profile: Profile, peer: PeerInfo) -> Self {
        let mut session = Self::new(id, profile, peer);
        session.out.clear();
        session.send_events = Perms::NONE;
        session.held = Some(VecDeque::new());
        session
    }

    /// True when events wait for the next `WaitEvent` (HTTP sessions only).
    pub fn has_held_events(&self) -> bool {
        self.held.as_ref().is_some_and(|held| !held.is_empty())
    }

    /// Hands consecutive writes out as one `Output::Write` rather than one per packet (the
    /// bytes are the same; only their grouping changes).
    pub fn set_coalesce_writes(&mut self, coalesce: bool) {
        // What is already pending stays ahead of whatever comes next.
        self.queue_pending();
        self.coalesce = coalesce;
    }

    /// Sets the pause before `Authentication failed` (1 s in Asterisk; tests may shorten it).
    pub fn set_auth_fail_delay(&mut self, delay: Duration) {
        self.auth_fail_delay = delay;
    }

    /// Makes every Challenge answer `challenge` (replaying recorded MD5 logins).
    pub fn set_fixed_challenge(&mut self, challenge: Option<String>) {
        if challenge.is_some() {
            self.challenge = challenge;
        }
    }

    /// The Shutdown event Asterisk sends to every session before it stops or restarts, if
    /// this session may see it.
    pub fn handle_shutdown(&mut self, restart: bool) {
        let bytes = Packet::event("Shutdown", Perms::SYSTEM)
            .h("Shutdown", "Cleanly")
            .h("Restart", if restart { "True" } else { "False" })
            .finish();
        self.handle_event(&Event::new(Perms::SYSTEM, bytes));
        self.close();
    }

    /// The session id (shown as `SessionID` in security events).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The logged-in account, if any.
    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    /// True once Logoff or a failed login has asked for the close: further input is ignored.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        // `pending` always comes after `out`: anything else queued first moves it into `out`.
        self.out.pop_front().or_else(|| {
            (!self.pending.is_empty()).then(|| Output::Write(self.pending.split().freeze()))
        })
    }

    /// Client bytes, in any pieces.
    pub fn handle_bytes(&mut self, data: &[u8], ctx: &mut Context<'_>) {
        // The reader is moved out while its inputs are handled, so each action runs as soon as
        // it is read rather than after collecting them all.
        let mut reader = std::mem::take(&mut self.reader);
        reader.handle_bytes(data, |input| {
            if !self.closing {
                self.handle_input(input, ctx);
                self.take_own_events(ctx);
            }
        });
        self.reader = reader;
    }

    /// Delivers what the last action made the PBX publish to this session at once, so its
    /// own events come right after its response (and before a Logoff's Goodbye).
    fn take_own_events(&mut self, ctx: &mut Context<'_>) {
        while let Some(mut event) = ctx.pbx.poll_event() {
            event.origin = Some(self.id);
            self.deliver(&event);
            ctx.published.push(event);
        }
    }

    /// One action already split into header lines (AMI over HTTP builds it from the form
    /// parameters).
    pub(crate) fn handle_request_now(&mut self, request: &Request, ctx: &mut Context<'_>) {
        self.handle_input(Input::Request(request.clone()), ctx);
        self.take_own_events(ctx);
    }

    /// One decoded action (for callers that build requests themselves).
    pub fn handle_message(&mut self, message: &ami_proto::Message, ctx: &mut Context<'_>) {
        self.handle_input(Input::Request(Request::from_message(message)), ctx);
        self.take_own_events(ctx);
    }

    fn handle_input(&mut self, input: Input, ctx: &mut Context<'_>) {
        match input {
            Input::Request(request) => self.handle_request(&request, ctx),
            Input::LineTooLong { action_id } => self.send(
                Packet::response_to("Error", non_empty(action_id.as_deref()))
                    .h("Message", "Failed to parse message: line too long")
                    .finish(),
            ),
            Input::TooManyLines { action_id } => self.send(
                Packet::response_to("Error", non_empty(action_id.as_deref()))
                    .h("Message", "Too many lines in message or allocation failure")
                    .finish(),
            ),
        }
    }

    /// True when this session should receive an event of `class` (logged in, allowed to read
    /// it, and has it switched on).
    pub fn accepts(&self, class: Perms) -> bool {
        match &self.user {
            Some(user) => user.read.contains(class) && self.send_events.contains(class),
            None => false,
        }
    }

    /// An event for every session: queued if this one may see it and its filters let it through.
    pub fn handle_event(&mut self, event: &Event) {
        if event.origin == Some(self.id) {
            return;
        }
        self.deliver(event);
    }

    fn deliver(&mut self, event: &Event) {
        if self.closing {
            return;
        }
        if let Some(held) = &mut self.held {
            // Asterisk checks an HTTP session's permissions and filters when WaitEvent hands
            // the events out, not when they happen.
            if held.len() >= HELD_EVENTS_MAX {
                held.pop_front();
            }
            held.push_back(event.clone());
            return;
        }
        if !self.accepts(event.class) {
            return;
        }
        if !self.filters.allows(&event.bytes) {
            return;
        }
        self.send(event.bytes.clone());
    }

    /// True when this session has filters (the IO layer then cannot stream pre-encoded
    /// batches without checking each event).
    pub fn has_filters(&self) -> bool {
        !self.filters.is_empty()
    }

    /// True when `bytes` (one event) passes this session's filters.
    pub fn filter_allows(&self, bytes: &[u8]) -> bool {
        self.filters.allows(bytes)
    }

    pub(crate) fn send(&mut self, bytes: Bytes) {
        if self.coalesce {
            self.pending.extend_from_slice(&bytes);
        } else {
            self.out.push_back(Output::Write(bytes));
        }
    }

    /// Queues `Response: response`, the request's ActionID, then `headers`, written straight
    /// into the output buffer: the common replies (Ping, errors) cost no allocation.
    pub(crate) fn respond(&mut self, response: &str, request: &Request, headers: &[(&str, &str)]) {
        let buf = &mut self.pending;
        wire::put_header(buf, "Response", response);
        if let Some(id) = action_id(request) {
            wire::put_header(buf, "ActionID", id);
        }
        for (name, value) in headers {
            wire::put_header(buf, name, value);
        }
        buf.extend_from_slice(b"\r\n");
        if !self.coalesce {
            self.queue_pending();
        }
    }

    /// Moves the pending bytes into `out`, so that what is queued next follows them.
    fn queue_pending(&mut self) {
        if !self.pending.is_empty() {
            self.out
                .push_back(Output::Write(self.pending.split().freeze()));
        }
    }

    pub(crate) fn sleep(&mut self, delay: Duration) {
        self.queue_pending();
        self.out.push_back(Output::Sleep(delay));
    }

    pub(crate) fn close(&mut self) {
        self.closing = true;
        self.queue_pending();
        self.out.push_back(Output::Close);
    }

    /// A simple `Response: X` / `ActionID` / `Message: text` reply.
    pub(crate) fn reply(&mut self, response: &str, request: &Request, message: &str) {
        self.respond(response, request, &[("Message", message)]);
    }

    fn handle_request(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let action = request.get("Action").trim();
        if action.is_empty() {
            self.reply("Error", request, "Missing action in request");
            if self.user.is_some() {
                self.security_event(ctx, "RequestBadFormat", "Action: NONE");
            }
            return;
        }
        let is_auth = || {
            ["Login", "Logoff", "Challenge"]
                .iter()
                .any(|name| name.eq_ignore_ascii_case(action))
        };
        if self.user.is_none() && !is_auth() {
            self.reply("Error", request, "Permission denied");
            return;
        }
        let Some((name, needed)) = self.profile.action(action) else {
            self.reply(
                "Error",
                request,
                &format!(
                    "Invalid/unknown command: {action}. Use Action: ListCommands to show available commands."
                ),
            );
            self.security_event(ctx, "RequestBadFormat", &format!("Action: {action}"));
            return;
        };
        if let Some(user) = &self.user {
            if !needed.is_empty() && !user.write.intersects(needed) {
                self.reply("Error", request, "Permission denied");
                self.security_event(ctx, "RequestNotAllowed", &format!("Action: {action}"));
                return;
            }
        }
        self.dispatch(name, request, ctx);
    }

    /// Publishes a security-class event about this session (13 and newer only).
    pub(crate) fn security_event(&mut self, ctx: &mut Context<'_>, name: &str, request_type: &str) {
        if !self.profile.security_events() {
            return;
        }
        let account = self
            .user
            .as_ref()
            .map(|u| u.name.clone())
            .unwrap_or_default();
        let packet = Packet::event(name, Perms::SECURITY)
            .h("EventTV", &event_tv(ctx.now))
            .h("Severity", "Error")
            .h("Service", "AMI")
            .h("EventVersion", "1");
        let packet = match name {
            "RequestBadFormat" => self
                .session_fields(packet)
                .h("RequestType", request_type)
                .h("SessionTV", &self.session_tv)
                .h("AccountID", &account),
            _ => self
                .session_fields(packet.h("AccountID", &account))
                .h("RequestType", request_type)
                .h("SessionTV", &self.session_tv),
        };
        ctx.pbx
            .publish(Event::new(Perms::SECURITY, packet.finish()));
    }

    /// SessionID, LocalAddress, RemoteAddress as security events show them.
    pub(crate) fn session_fields(&self, packet: Packet) -> Packet {
        let transport = if self.peer.tls { "TLS" } else { "TCP" };
        let addr = |addr: Option<std::net::SocketAddr>| match addr {
            Some(std::net::SocketAddr::V4(v4)) => {
                format!("IPV4/{transport}/{}/{}", v4.ip(), v4.port())
            }
            Some(std::net::SocketAddr::V6(v6)) => {
                format!("IPV6/{transport}/{}/{}", v6.ip(), v6.port())
            }
            None => format!("IPV4/{transport}/0.0.0.0/0"),
        };
        packet
            .h(
                "SessionID",
                &format!("0x{:x}", 0x7f00_0000_0000u64 + self.id * 0x10),
            )
            .h("LocalAddress", &addr(self.peer.local))
            .h("RemoteAddress", &addr(self.peer.remote))
    }
}

/// The request's ActionID when it has a non-empty one (Asterisk omits an empty one).
pub(crate) fn action_id(request: &Request) -> Option<&str> {
    non_empty(request.get_opt("ActionID"))
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

/// `EventTV` text for a wall-clock time.
pub(crate) fn event_tv(now: SystemTime) -> String {
    let micros = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    crate::clock::event_tv(micros)
}

/// `1795408806.781162` (Ping's Timestamp).
fn timestamp(now: SystemTime) -> String {
    let d = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    crate::clock::ping_timestamp(d.as_secs(), d.subsec_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a session in memory: no socket, no runtime, a fixed clock.
    struct Harness {
        pbx: Pbx,
        users: Vec<User>,
        session: ServerSession,
    }

    impl Harness {
        fn new(profile: Profile) -> Self {
            let mut session = ServerSession::new(1, profile, PeerInfo::default());
            session.set_auth_fail_delay(Duration::from_millis(1));
            Self {
                pbx: Pbx::new(profile, 1_795_408_000),
                users: User::defaults(),
                session,
            }
        }

        /// Feeds `text` (LF line ends allowed) and returns everything written, and whether
        /// the session asked to close.
        fn feed(&mut self, text: &str) -> (String, bool) {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_408_100);
            let mut ctx = Context::new(&mut self.pbx, &self.users, now);
            self.session.handle_bytes(text.as_bytes(), &mut ctx);
            let mut out = String::new();
            let mut closed = false;
            while let Some(output) = self.session.poll_output() {
                match output {
                    Output::Write(bytes) => out.push_str(&String::from_utf8_lossy(&bytes)),
                    Output::Sleep(_) => {}
                    Output::Close => closed = true,
                }
            }
            (out, closed)
        }
    }

    #[test]
    fn banner_first_then_permission_denied_before_login() {
        let mut h = Harness::new(Profile::V13);
        let (out, closed) = h.feed("Action: Ping\nActionID: 1\n\n");
        assert!(
            out.starts_with("Asterisk Call Manager/2.10.6\r\nResponse: Error\r\nActionID: 1\r\n")
        );
        assert!(out.contains("Message: Permission denied\r\n\r\n"));
        assert!(!closed);
    }

    #[test]
    fn md5_login_with_the_right_key_only() {
        let mut h = Harness::new(Profile::V22);
        let (out, _) = h.feed("Action: Challenge\nAuthType: MD5\n\n");
        let challenge = out
            .lines()
            .find_map(|l| l.strip_prefix("Challenge: "))
            .expect("challenge")
            .to_owned();
        let key = crate::md5_key(&challenge, "amp111");
        let (out, closed) = h.feed(&format!(
            "Action: Login\nAuthType: MD5\nUsername: admin\nKey: {key}\n\n"
        ));
        assert!(out.contains("Authentication accepted"), "{out}");
        assert!(!closed);

        let mut wrong = Harness::new(Profile::V22);
        wrong.feed("Action: Challenge\nAuthType: MD5\n\n");
        let (out, closed) =
            wrong.feed("Action: Login\nAuthType: MD5\nUsername: admin\nKey: 00\n\n");
        assert!(out.contains("Authentication failed"));
        assert!(closed);
    }

    #[test]
    fn write_classes_are_enforced_with_a_security_event() {
        let mut h = Harness::new(Profile::V22);
        h.feed("Action: Login\nUsername: events\nSecret: events\n\n");
        let (out, _) = h.feed("Action: Command\nActionID: c\nCommand: core show uptime\n\n");
        let denied = out.find("Message: Permission denied").expect("denied");
        let event = out
            .find("Event: RequestNotAllowed")
            .expect("security event");
        assert!(denied < event, "{out}");
        let (out, _) = h.feed("Action: Ping\nActionID: p\n\n");
        assert!(out.contains("Ping: Pong"));
    }

    #[test]
    fn core_show_uptime_seconds_prints_plain_numbers() {
        let mut h = Harness::new(Profile::V22);
        h.feed("Action: Login\nUsername: admin\nSecret: amp111\n\n");
        let (out, _) =
            h.feed("Action: Command\nActionID: c\nCommand: core show uptime seconds\n\n");
        assert!(out.contains("Output: System uptime: 0\r\n"), "{out}");
        let (out, _) = h.feed("Action: Command\nActionID: d\nCommand: core show uptime\n\n");
        assert!(!out.contains("Output: System uptime: 0\r\n"), "{out}");
    }

    #[test]
    fn own_events_follow_the_response_and_respect_the_mask() {
        let mut h = Harness::new(Profile::V11);
        h.feed("Action: Login\nUsername: admin\nSecret: amp111\n\n");
        let (out, _) = h.feed("Action: UserEvent\nActionID: u\nUserEvent: Hi\nX: 1\n\n");
        let response = out.find("Message: Event Sent").expect("response");
        let event = out.find("Event: UserEvent").expect("event");
        assert!(response < event);
        assert!(
            out.contains("UserEvent: Hi\r\nAction: UserEvent\r\nActionID: u\r\nX: 1\r\n"),
            "{out}"
        );
        h.feed("Action: Events\nEventMask: off\n\n");
        let (out, _) = h.feed("Action: UserEvent\nUserEvent: Hidden\n\n");
        assert!(!out.contains("Event: UserEvent"), "{out}");
    }

    #[test]
    fn redirect_moves_a_live_channel_and_rejects_unknown_ones() {
        let mut h = Harness::new(Profile::V22);
        h.pbx.preload_demo_calls();
        h.feed("Action: Login\nUsername: admin\nSecret: amp111\n\n");
        let (out, _) = h.feed(
            "Action: Redirect\nActionID: r\nChannel: Local/800@demo-00000004;2\nContext: demo\nExten: 100\nPriority: 1\n\n",
        );
        assert!(out.contains("Message: Redirect successful"), "{out}");
        let (out, _) =
            h.feed("Action: Redirect\nActionID: r2\nChannel: Local/nope-1;1\nExten: 100\n\n");
        assert!(
            out.contains("Message: Channel does not exist: Local/nope-1;1"),
            "{out}"
        );
    }

    #[test]
    fn status_all_variables_lists_the_channel_variables() {
        let mut h = Harness::new(Profile::V22);
        h.pbx.preload_demo_calls();
        h.feed("Action: Login\nUsername: admin\nSecret: amp111\n\n");
        let (out, _) = h.feed(
            "Action: Status\nActionID: s\nChannel: Local/800@demo-00000004;2\nAllVariables: true\n\n",
        );
        assert!(out.contains("Variable: MYVAR=hello\r\n"), "{out}");
        assert!(out.contains("Event: StatusComplete\r\nActionID: s\r\nEventList: Complete\r\nListItems: 1\r\nItems: 1\r\n"), "{out}");
    }

    /// Everything a session hands out for `text`, with adjacent writes joined.
    fn outputs(coalesce: bool, text: &str) -> Vec<Output> {
        let mut h = Harness::new(Profile::V22);
        h.session.set_coalesce_writes(coalesce);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_408_100);
        let mut ctx = Context::new(&mut h.pbx, &h.users, now);
        h.session.handle_bytes(text.as_bytes(), &mut ctx);
        let mut out: Vec<Output> = Vec::new();
        while let Some(output) = h.session.poll_output() {
            match (out.last_mut(), output) {
                (Some(Output::Write(joined)), Output::Write(bytes)) => {
                    *joined = [&joined[..], &bytes[..]].concat().into();
                }
                (_, output) => out.push(output),
            }
        }
        out
    }

    #[test]
    fn coalesced_writes_carry_the_same_bytes_pauses_and_close() {
        let text = "Action: Login\nUsername: admin\nSecret: amp111\n\n\
            Action: Ping\nActionID: 1\n\nAction: UserEvent\nUserEvent: Hi\n\n\
            Action: Nope\n\nAction: Logoff\n\nAction: Ping\n\n";
        let coalesced = outputs(true, text);
        assert_eq!(coalesced, outputs(false, text));
        assert_eq!(coalesced.last(), Some(&Output::Close));
        let text = "Action: Login\nUsername: admin\nSecret: wrong\n\nAction: Ping\n\n";
        let coalesced = outputs(true, text);
        assert_eq!(coalesced, outputs(false, text));
        assert!(coalesced.iter().any(|o| matches!(o, Output::Sleep(_))));
    }

    #[test]
    fn each_lone_blank_line_is_an_empty_packet() {
        let mut h = Harness::new(Profile::V22);
        let (out, _) = h.feed("\r\n\r\n");
        assert_eq!(
            out.matches("Message: Missing action in request").count(),
            2,
            "{out}"
        );
    }
}
