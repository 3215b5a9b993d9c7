//! The connection driven in memory: bytes fed by hand, time moved by hand, no sockets, no sleeps.

use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::*;

#[derive(Debug, PartialEq, Eq)]
struct Label {
    name: String,
    gone: bool,
}

impl Caller for Label {
    fn is_gone(&self) -> bool {
        self.gone
    }
}

fn label(name: &str) -> Label {
    Label {
        name: name.into(),
        gone: false,
    }
}

const SECOND: Duration = Duration::from_secs(1);

fn config() -> ConnectionConfig {
    let mut config = ConnectionConfig::new("admin", "amp111");
    config.action_id_prefix = "c-".into();
    config.keepalive = None;
    config
}

/// A test's view of the wire: what the connection wrote, decoded.
struct Wire {
    start: Instant,
    decoder: Decoder,
    written: BytesMut,
}

impl Wire {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            decoder: Decoder::new(),
            written: BytesMut::new(),
        }
    }

    fn at(&self, seconds: f64) -> Instant {
        self.start + Duration::from_secs_f64(seconds)
    }

    /// Takes everything the connection has to write, as a peer that reads it all.
    fn take(&mut self, conn: &mut Connection<Label>) -> Vec<Message> {
        if let Some(bytes) = conn.poll_transmit() {
            let len = bytes.len();
            self.written.extend_from_slice(bytes);
            conn.handle_written(len);
        }
        let mut actions = Vec::new();
        while let Some(packet) = self
            .decoder
            .decode(&mut self.written)
            .expect("valid actions")
        {
            if let Packet::Message(message) = packet {
                actions.push(message);
            }
        }
        actions
    }

    /// The one action the connection wrote, which must be `name`.
    fn expect(&mut self, conn: &mut Connection<Label>, name: &str) -> Message {
        let actions = self.take(conn);
        assert_eq!(actions.len(), 1, "{actions:?}");
        assert!(actions[0].value_is("Action", name), "{actions:?}");
        actions.into_iter().next().expect("one action")
    }
}

fn feed(conn: &mut Connection<Label>, bytes: &str, now: Instant) {
    let mut input = BytesMut::from(bytes.as_bytes());
    conn.handle_input(&mut input, now);
    assert!(input.is_empty(), "whole packets only in these tests");
}

fn id(message: &Message) -> String {
    message.action_id().expect("an ActionID").into_owned()
}

fn answer(conn: &mut Connection<Label>, action: &Message, extra: &str, now: Instant) {
    feed(
        conn,
        &format!(
            "Response: Success\r\nActionID: {}\r\n{extra}\r\n",
            id(action)
        ),
        now,
    );
}

fn completions(conn: &mut Connection<Label>) -> Vec<Finished<Label>> {
    std::iter::from_fn(|| conn.poll_completion()).collect()
}

/// A connection logged in with a plaintext secret at `wire.at(0.0)`.
fn established(config: ConnectionConfig, wire: &mut Wire) -> Connection<Label> {
    let now = wire.at(0.0);
    let mut conn = Connection::new(config, now);
    feed(&mut conn, "Asterisk Call Manager/11.0.0\r\n", now);
    let login = wire.expect(&mut conn, "Login");
    answer(
        &mut conn,
        &login,
        "Message: Authentication accepted\r\n",
        now,
    );
    assert!(conn.is_established());
    conn
}

#[test]
fn plain_login_waits_for_the_banner_then_sends_the_secret() {
    let mut wire = Wire::new();
    let now = wire.at(0.0);
    let mut conn: Connection<Label> = Connection::new(config(), now);
    assert!(wire.take(&mut conn).is_empty(), "nothing before the banner");
    assert_eq!(
        conn.poll_timeout(),
        Some(wire.at(10.0)),
        "the banner timeout"
    );
    feed(&mut conn, "Asterisk Call Manager/11.0.0\r\n", now);
    assert_eq!(
        conn.banner().map(|b| b.version().into_owned()).as_deref(),
        Some("11.0.0")
    );
    let login = wire.expect(&mut conn, "Login");
    assert_eq!(login.get("Username").as_deref(), Some("admin"));
    assert_eq!(login.get("Secret").as_deref(), Some("amp111"));
    assert!(
        !login.contains("Events"),
        "all events is the server's default"
    );
    assert!(!conn.is_established());
    assert_eq!(
        conn.send_action(Action::new("Ping"), label("early"), SECOND, now)
            .map_err(|refused| refused.reason),
        Err(SendError::NotLoggedIn)
    );
    answer(
        &mut conn,
        &login,
        "Message: Authentication accepted\r\n",
        now,
    );
    assert!(conn.is_established());
    assert_eq!(conn.end(), None);
}

#[test]
fn md5_login_answers_the_challenge_and_never_sends_the_secret() {
    let mut wire = Wire::new();
    let now = wire.at(0.0);
    let mut config = config();
    config.auth = Auth::Md5;
    config.login_events = Some("off".into());
    let mut conn = Connection::new(config, now);
    feed(&mut conn, "Asterisk Call Manager/2.10.6\r\n", now);
    let challenge = wire.expect(&mut conn, "Challenge");
    assert_eq!(challenge.get("AuthType").as_deref(), Some("MD5"));
    answer(&mut conn, &challenge, "Challenge: 840415273\r\n", now);
    let login = wire.expect(&mut conn, "Login");
    assert!(!login.contains("Secret"));
    assert_eq!(login.get("AuthType").as_deref(), Some("MD5"));
    assert_eq!(
        login.get("Key").as_deref(),
        Some(md5_key("840415273", "amp111").as_str())
    );
    assert_eq!(login.get("Events").as_deref(), Some("off"));
    answer(&mut conn, &login, "", now);
    assert!(conn.is_established());
}

#[test]
fn a_challenge_reply_without_a_challenge_is_a_typed_login_error() {
    let mut wire = Wire::new();
    let now = wire.at(0.0);
    let mut config = config();
    config.auth = Auth::Md5;
    let mut conn = Connection::new(config, now);
    feed(&mut conn, "Asterisk Call Manager/2.10.6\r\n", now);
    let challenge = wire.expect(&mut conn, "Challenge");
    answer(&mut conn, &challenge, "", now);
    assert_eq!(conn.end(), Some(&End::LoginFailed(LoginError::NoChallenge)));
}

#[test]
fn a_bad_secret_is_auth_failed_with_the_server_message() {
    let mut wire = Wire::new();
    let now = wire.at(0.0);
    let mut conn = Connection::new(config(), now);
    feed(&mut conn, "Asterisk Call Manager/11.0.0\r\n", now);
    let login = wire.expect(&mut conn, "Login");
    feed(
        &mut conn,
        &format!(
            "Response: Error\r\nActionID: {}\r\nMessage: Authentication failed\r\n\r\n",
            id(&login)
        ),
        now,
    );
    assert_eq!(
        conn.end(),
        Some(&End::LoginFailed(LoginError::AuthFailed(
            "Authentication failed".into()
        )))
    );
    assert_eq!(
        conn.poll_timeout(),
        None,
        "an ended connection keeps no timer"
    );
}

#[test]
fn banner_and_login_timeouts_fire_at_their_deadlines() {
    let mut wire = Wire::new();
    let mut conn: Connection<Label> = Connection::new(config(), wire.at(0.0));
    conn.handle_timeout(wire.at(9.999));
    assert_eq!(conn.end(), None);
    conn.handle_timeout(wire.at(10.0));
    assert_eq!(
        conn.end(),
        Some(&End::LoginFailed(LoginError::BannerTimeout(10 * SECOND)))
    );

    // The login timeout counts from the banner.
    let mut conn: Connection<Label> = Connection::new(config(), wire.at(0.0));
    feed(&mut conn, "Asterisk Call Manager/11.0.0\r\n", wire.at(3.0));
    let _login = wire.expect(&mut conn, "Login");
    assert_eq!(conn.poll_timeout(), Some(wire.at(13.0)));
    conn.handle_timeout(wire.at(12.0));
    assert_eq!(conn.end(), None);
    conn.handle_timeout(wire.at(13.0));
    assert_eq!(
        conn.end(),
        Some(&End::LoginFailed(LoginError::Timeout(10 * SECOND)))
    );
}

#[test]
fn the_stream_ending_before_the_banner_or_during_login_is_typed() {
    let mut wire = Wire::new();
    let mut conn: Connection<Label> = Connection::new(config(), wire.at(0.0));
    conn.handle_lost(Lost::ClosedByPeer);
    assert_eq!(
        conn.end(),
        Some(&End::LoginFailed(LoginError::ClosedBeforeBanner))
    );
    let mut conn: Connection<Label> = Connection::new(config(), wire.at(0.0));
    feed(&mut conn, "Asterisk Call Manager/11.0.0\r\n", wire.at(0.0));
    let _login = wire.expect(&mut conn, "Login");
    conn.handle_lost(Lost::ClosedByPeer);
    assert_eq!(
        conn.end(),
        Some(&End::LoginFailed(LoginError::ConnectionLost))
    );
}

#[test]
fn an_action_times_out_at_its_deadline_and_its_late_reply_is_unmatched() {
    let mut wire = Wire::new();
    let mut config = config();
    // Keepalive far off, so the only timer is the actions'.
    config.keepalive = Some(3600 * SECOND);
    let mut conn = established(config, &mut wire);
    conn.send_action(
        Action::new("Ping").header("ActionID", "long"),
        label("long"),
        30 * SECOND,
        wire.at(1.0),
    )
    .expect("taken");
    conn.send_action(
        Action::new("Ping").header("ActionID", "short"),
        label("short"),
        3 * SECOND,
        wire.at(2.0),
    )
    .expect("taken");
    assert_eq!(wire.take(&mut conn).len(), 2);
    // The later action's earlier deadline moved the one timer.
    assert_eq!(conn.poll_timeout(), Some(wire.at(5.0)));
    conn.handle_timeout(wire.at(4.999));
    assert!(completions(&mut conn).is_empty());
    conn.handle_timeout(wire.at(5.0));
    let done = completions(&mut conn);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].payload, label("short"));
    assert_eq!(done[0].result, Err(ActionError::TimedOut(3 * SECOND)));
    assert_eq!(
        conn.poll_timeout(),
        Some(wire.at(31.0)),
        "the long one's, next"
    );

    feed(
        &mut conn,
        "Response: Success\r\nActionID: short\r\nPing: Pong\r\n\r\n\
         Response: Success\r\nActionID: long\r\nPing: Pong\r\n\r\n",
        wire.at(6.0),
    );
    let done = completions(&mut conn);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].payload, label("long"));
    assert!(done[0].result.is_ok());
    assert_eq!(conn.unmatched_responses(), 1);
    let late = conn.poll_event().expect("the late reply, passed on");
    assert_eq!(late.action_id().as_deref(), Some("short"));
}

#[test]
fn keepalive_pings_every_interval_and_an_unanswered_ping_ends_the_connection() {
    let mut wire = Wire::new();
    let mut config = config();
    config.keepalive = Some(30 * SECOND);
    let mut conn = established(config, &mut wire);
    assert_eq!(conn.poll_timeout(), Some(wire.at(30.0)));
    conn.handle_timeout(wire.at(30.0));
    let ping = wire.expect(&mut conn, "Ping");
    // Answered, even with an error: alive.
    feed(
        &mut conn,
        &format!(
            "Response: Error\r\nActionID: {}\r\nMessage: busy\r\n\r\n",
            id(&ping)
        ),
        wire.at(30.5),
    );
    assert!(
        completions(&mut conn).is_empty(),
        "the connection's own Ping"
    );
    assert!(matches!(
        conn.poll_notice(),
        Some(Notice::InternalFailed { action: "Ping", .. })
    ));
    assert_eq!(conn.poll_timeout(), Some(wire.at(60.0)));
    conn.handle_timeout(wire.at(60.0));
    let _unanswered = wire.expect(&mut conn, "Ping");
    conn.send_action(
        Action::new("Status"),
        label("in flight"),
        300 * SECOND,
        wire.at(61.0),
    )
    .expect("taken");
    conn.handle_timeout(wire.at(89.999));
    assert_eq!(conn.end(), None);
    conn.handle_timeout(wire.at(90.0));
    assert_eq!(conn.end(), Some(&End::Lost(Lost::KeepaliveUnanswered)));
    let done = completions(&mut conn);
    assert_eq!(done.len(), 1);
    assert_eq!(
        done[0].result,
        Err(ActionError::Failed(ActionFailure::ConnectionLost))
    );
}

#[test]
fn callers_that_went_away_are_swept_even_without_keepalive() {
    let mut wire = Wire::new();
    let mut conn = established(config(), &mut wire);
    let gone = Label {
        name: "gone".into(),
        gone: true,
    };
    conn.send_action(Action::new("Ping"), gone, 3600 * SECOND, wire.at(0.0))
        .expect("taken");
    conn.send_action(
        Action::new("Ping"),
        label("waiting"),
        3600 * SECOND,
        wire.at(0.0),
    )
    .expect("taken");
    assert_eq!(conn.pending_len(), 2);
    assert_eq!(conn.poll_timeout(), Some(wire.at(5.0)));
    conn.handle_timeout(wire.at(5.0));
    assert_eq!(conn.pending_len(), 1);
    assert!(
        wire.take(&mut conn)
            .iter()
            .all(|a| a.value_is("Action", "Ping"))
    );
    assert!(completions(&mut conn).is_empty(), "nobody to tell");
}

#[test]
fn events_and_filters_are_restored_after_a_reconnect_before_callers_are_taken() {
    let mut wire = Wire::new();
    let now = wire.at(0.0);
    let mut config = config();
    config.restore_events = Some("call,agent".into());
    config.restore_filters = vec!["Event: Hangup".into(), "!Event: VarSet".into()];
    let mut conn = Connection::new(config, now);
    feed(
        &mut conn,
        "Asterisk Call Manager/11.0.0\r\nEvent: FullyBooted\r\nStatus: Fully Booted\r\n\r\n",
        now,
    );
    let login = wire.expect(&mut conn, "Login");
    answer(&mut conn, &login, "", now);
    assert!(!conn.is_established(), "restoring first");
    let restore = wire.take(&mut conn);
    assert_eq!(restore.len(), 3, "{restore:?}");
    assert!(restore[0].value_is("Action", "Events"));
    assert_eq!(restore[0].get("EventMask").as_deref(), Some("call,agent"));
    assert!(restore[1].value_is("Action", "Filter"));
    assert_eq!(restore[1].get("Operation").as_deref(), Some("Add"));
    assert_eq!(restore[1].get("Filter").as_deref(), Some("Event: Hangup"));
    assert_eq!(restore[2].get("Filter").as_deref(), Some("!Event: VarSet"));
    answer(&mut conn, &restore[0], "", now);
    feed(
        &mut conn,
        &format!(
            "Response: Error\r\nActionID: {}\r\nMessage: Permission denied\r\n\r\n",
            id(&restore[1])
        ),
        now,
    );
    assert!(!conn.is_established());
    answer(&mut conn, &restore[2], "", now);
    assert!(
        conn.is_established(),
        "a refused filter does not stop the connection"
    );
    assert_eq!(
        conn.poll_notice(),
        Some(Notice::RestoreFailed {
            what: Restore::Filter,
            error: "server error: Permission denied".into()
        })
    );
    assert_eq!(conn.poll_notice(), None);
    // Events that came during the login are kept for the IO layer to hand out.
    assert_eq!(
        conn.poll_event()
            .and_then(|e| e.event_name().map(|n| n.into_owned()))
            .as_deref(),
        Some("FullyBooted")
    );
}

#[test]
fn restore_actions_left_unanswered_are_given_up_after_the_login_timeout() {
    let mut wire = Wire::new();
    let mut config = config();
    config.restore_filters = vec!["Event: Hangup".into()];
    let mut conn = Connection::new(config, wire.at(0.0));
    feed(&mut conn, "Asterisk Call Manager/11.0.0\r\n", wire.at(0.0));
    let login = wire.expect(&mut conn, "Login");
    answer(&mut conn, &login, "", wire.at(1.0));
    let _filter = wire.expect(&mut conn, "Filter");
    conn.handle_timeout(wire.at(11.0));
    assert!(conn.is_established());
    assert!(matches!(
        conn.poll_notice(),
        Some(Notice::RestoreFailed {
            what: Restore::Filter,
            ..
        })
    ));
}

#[test]
fn the_output_cap_holds_against_a_peer_that_never_reads() {
    let mut wire = Wire::new();
    let mut config = config();
    config.max_output = 200;
    let mut conn = established(config, &mut wire);
    let now = wire.at(1.0);
    // "Action: Ping\r\nActionID: c-N\r\n\r\n" is 32-33 bytes; the bound allows for 20 digits.
    let mut taken = Vec::new();
    let mut refused = Vec::new();
    for n in 0..40 {
        let name = format!("p{n}");
        match conn.send_action(Action::new("Ping"), label(&name), 10 * SECOND, now) {
            Ok(()) => taken.push(name),
            Err(Refused { payload, reason }) => refused.push((payload, reason)),
        }
        let pending = conn.poll_transmit().map_or(0, <[u8]>::len);
        assert!(pending <= 200, "{pending} bytes pending after action {n}");
    }
    let written_now = conn.poll_transmit().map_or(0, <[u8]>::len);
    assert!(
        written_now > 100,
        "the buffer filled up to its cap: {written_now}"
    );
    assert!(!taken.is_empty() && !refused.is_empty());
    assert!(
        refused
            .iter()
            .all(|(_, reason)| *reason == SendError::Full { limit: 200 })
    );
    assert_eq!(taken.len() + refused.len(), 40);
    let in_buffer = conn.pending_len();
    assert!(in_buffer < taken.len(), "some callers wait for room");

    // Larger than the whole buffer: never.
    let huge = Action::new("UserEvent").header("Body", vec![b'x'; 300]);
    let Err(Refused { reason, .. }) = conn.send_action(huge, label("huge"), SECOND, now) else {
        panic!("a 300-byte action fits no 200-byte buffer");
    };
    assert!(matches!(reason, SendError::TooLarge { limit: 200, .. }));

    // Nobody reads: every taken caller is told at its deadline, those waiting for room too.
    conn.handle_timeout(wire.at(11.0));
    let done = completions(&mut conn);
    assert_eq!(done.len(), taken.len());
    assert!(
        done.iter()
            .all(|d| d.result == Err(ActionError::TimedOut(10 * SECOND)))
    );
    assert_eq!(conn.poll_transmit().map_or(0, <[u8]>::len), written_now);
}

#[test]
fn actions_waiting_for_room_are_written_in_order_as_the_peer_reads() {
    let mut wire = Wire::new();
    let mut config = config();
    config.max_output = 100;
    let mut conn = established(config, &mut wire);
    let now = wire.at(1.0);
    for name in ["a", "b", "c", "d"] {
        conn.send_action(
            Action::new("Ping").header("ActionID", name),
            label(name),
            10 * SECOND,
            now,
        )
        .expect("written or waiting");
    }
    let mut order = Vec::new();
    // A peer reading 10 bytes at a time.
    for _ in 0..100 {
        let Some(bytes) = conn.poll_transmit() else {
            break;
        };
        assert!(bytes.len() <= 100);
        let chunk = bytes.len().min(10);
        wire.written.extend_from_slice(&bytes[..chunk]);
        conn.handle_written(chunk);
        while let Some(Packet::Message(action)) =
            wire.decoder.decode(&mut wire.written).expect("valid")
        {
            order.push(id(&action));
        }
    }
    assert_eq!(order, ["a", "b", "c", "d"]);
    for name in ["a", "b", "c", "d"] {
        feed(
            &mut conn,
            &format!("Response: Success\r\nActionID: {name}\r\n\r\n"),
            now,
        );
    }
    let done: Vec<_> = completions(&mut conn)
        .into_iter()
        .map(|d| d.payload.name)
        .collect();
    assert_eq!(done, ["a", "b", "c", "d"]);
}

#[test]
fn close_sends_logoff_refuses_new_actions_and_ends_on_the_reply_or_the_grace() {
    let mut wire = Wire::new();
    let mut conn = established(config(), &mut wire);
    conn.send_action(
        Action::new("Ping"),
        label("in flight"),
        30 * SECOND,
        wire.at(1.0),
    )
    .expect("taken");
    let ping = wire.expect(&mut conn, "Ping");
    conn.close(wire.at(2.0));
    let logoff = wire.expect(&mut conn, "Logoff");
    assert_eq!(
        conn.send_action(Action::new("Ping"), label("late"), SECOND, wire.at(2.0))
            .map_err(|refused| refused.reason),
        Err(SendError::Closing)
    );
    // The action in flight still gets its reply.
    answer(&mut conn, &ping, "Ping: Pong\r\n", wire.at(2.5));
    assert!(completions(&mut conn)[0].result.is_ok());
    answer(
        &mut conn,
        &logoff,
        "Message: Thanks for all the fish.\r\n",
        wire.at(2.6),
    );
    assert_eq!(conn.end(), Some(&End::Closed));

    // Without a reply, the grace ends it; what is still waiting is told `Closed`.
    let mut conn = established(config(), &mut wire);
    conn.send_action(
        Action::new("Ping"),
        label("unanswered"),
        30 * SECOND,
        wire.at(1.0),
    )
    .expect("taken");
    conn.close(wire.at(2.0));
    assert_eq!(conn.poll_timeout(), Some(wire.at(4.0)));
    conn.handle_timeout(wire.at(4.0));
    assert_eq!(conn.end(), Some(&End::Closed));
    let done = completions(&mut conn);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].result, Err(ActionError::Closed));
}

#[test]
fn a_lost_stream_keeps_whole_packets_and_fails_the_rest() {
    let mut wire = Wire::new();
    let mut conn = established(config(), &mut wire);
    conn.send_action(
        Action::new("Ping").header("ActionID", "x"),
        label("x"),
        SECOND,
        wire.at(1.0),
    )
    .expect("taken");
    let mut input = BytesMut::from(
        &b"Event: Hangup\r\nChannel: A\r\n\r\nResponse: Success\r\nActionID: x\r\nPi"[..],
    );
    conn.handle_input(&mut input, wire.at(1.1));
    conn.handle_lost(Lost::Transport("read error: reset".into()));
    assert_eq!(
        conn.end(),
        Some(&End::Lost(Lost::Transport("read error: reset".into())))
    );
    let done = completions(&mut conn);
    assert_eq!(
        done[0].result,
        Err(ActionError::Failed(ActionFailure::ConnectionLost))
    );
    assert!(
        conn.poll_event()
            .is_some_and(|e| e.value_is("Event", "Hangup"))
    );
}

#[test]
fn limited_input_stops_after_that_many_responses_but_not_for_events() {
    let mut wire = Wire::new();
    let mut conn = established(config(), &mut wire);
    let now = wire.at(1.0);
    for name in ["a", "b", "c"] {
        conn.send_action(
            Action::new("Ping").header("ActionID", name),
            label(name),
            SECOND,
            now,
        )
        .expect("taken");
    }
    let mut input = BytesMut::from(
        &b"Event: A\r\n\r\nEvent: B\r\n\r\nResponse: Success\r\nActionID: a\r\n\r\n\
           Response: Success\r\nActionID: b\r\n\r\nResponse: Success\r\nActionID: c\r\n\r\n"[..],
    );
    assert!(conn.handle_input_limited(&mut input, 2, now));
    assert_eq!(completions(&mut conn).len(), 2);
    assert!(!conn.handle_input_limited(&mut input, 2, now));
    assert_eq!(completions(&mut conn).len(), 1);
    let mut events = Vec::new();
    conn.drain_events_into(&mut events);
    assert_eq!(events.len(), 2);
}

#[test]
fn every_timeout_handled_moves_the_next_one_later_whatever_the_phase() {
    let mut wire = Wire::new();
    let mut config = config();
    config.keepalive = Some(SECOND);
    let mut conn = established(config, &mut wire);
    conn.send_action(
        Action::new("Ping"),
        label("slow"),
        10 * SECOND,
        wire.at(0.0),
    )
    .expect("taken");
    let mut handled = Vec::new();
    while let Some(at) = conn.poll_timeout() {
        assert!(handled.last().is_none_or(|last| at > *last), "{at:?} again");
        conn.handle_timeout(at);
        handled.push(at);
        // A peer that answers every keepalive Ping, and closes nothing.
        for action in wire.take(&mut conn) {
            if action.value_is("Action", "Ping") && action.action_id().as_deref() != Some("c-2") {
                answer(&mut conn, &action, "", at);
            }
        }
        if at >= wire.at(2.5) && conn.end().is_none() && conn.is_established() {
            // Closing with a keepalive tick due: only the grace is left to wait for.
            conn.close(at);
            assert_eq!(conn.poll_timeout(), at.checked_add(2 * SECOND));
        }
    }
    assert_eq!(conn.end(), Some(&End::Closed));
    assert_eq!(handled.last(), Some(&wire.at(5.0)), "{handled:?}");
}
