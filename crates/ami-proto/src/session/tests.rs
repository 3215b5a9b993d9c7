use std::path::{Path, PathBuf};

use bytes::BytesMut;

use super::*;
use crate::Decoder;

fn feed(session: &mut Session<String>, bytes: &[u8]) {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(bytes);
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(packet)) => session.handle_packet(packet),
            Ok(None) => break,
            Err(_) => continue,
        }
    }
}

fn completions(session: &mut Session<String>) -> Vec<Completion<String>> {
    std::iter::from_fn(|| session.poll_completion()).collect()
}

fn start(session: &mut Session<String>, action: Action) -> String {
    let mut out = BytesMut::new();
    session
        .start_action(action, "x".into(), &mut out)
        .expect("encodable")
}

#[test]
fn responses_are_routed_by_action_id_not_by_order() {
    let mut session = Session::new("t-");
    let a = start(&mut session, Action::new("Ping"));
    let b = start(&mut session, Action::new("Getvar").header("Variable", "X"));
    feed(
        &mut session,
        format!(
            "Response: Success\r\nActionID: {b}\r\nValue: 1\r\n\r\n\
             Event: Newchannel\r\nChannel: a\r\n\r\n\
             Response: Success\r\nActionID: {a}\r\nPing: Pong\r\n\r\n"
        )
        .as_bytes(),
    );
    let done = completions(&mut session);
    assert_eq!(done.len(), 2);
    assert_eq!(done[0].action_id, b);
    assert_eq!(done[1].action_id, a);
    let Ok(Reply::Response(pong)) = &done[1].result else {
        panic!("{:?}", done[1].result)
    };
    assert!(pong.value_is("Ping", "Pong"));
    assert!(session.poll_event().is_some());
    assert_eq!(session.pending_len(), 0);
}

#[test]
fn error_response_is_typed_with_the_server_message_even_when_it_says_follows() {
    let mut session = Session::new("t-");
    let id = start(&mut session, Action::new("Status"));
    feed(
        &mut session,
        format!("Response: Error\r\nActionID: {id}\r\nMessage: Channel status will follow\r\n\r\n")
            .as_bytes(),
    );
    let done = completions(&mut session);
    match &done[0].result {
        Err(ActionFailure::Server { message, .. }) => {
            assert_eq!(message, "Channel status will follow")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(session.listing, 0);
}

#[test]
fn list_ends_on_eventlist_complete_any_case_or_on_a_complete_event() {
    for (start_line, complete) in [
        (
            "EventList: START\r\nMessage: Channels will follow",
            "Event: CoreShowChannelsComplete\r\nEventList: complete\r\nListItems: 1",
        ),
        (
            "Message: Channel status will follow",
            "Event: StatusComplete\r\nItems: 1",
        ),
    ] {
        let mut session = Session::new("t-");
        let id = start(&mut session, Action::new("X"));
        feed(
            &mut session,
            format!(
                "Response: Success\r\nActionID: {id}\r\n{start_line}\r\n\r\n\
                 Event: Item\r\nActionID: {id}\r\n\r\n\
                 Event: Other\r\n\r\n\
                 {complete}\r\nActionID: {id}\r\n\r\n"
            )
            .as_bytes(),
        );
        let done = completions(&mut session);
        let Ok(Reply::List(list)) = &done[0].result else {
            panic!("{:?}", done[0].result)
        };
        assert_eq!(list.items.len(), 1);
        assert!(list.complete.event_name().unwrap().ends_with("Complete"));
        let other = session.poll_event().expect("unrelated event passed on");
        assert_eq!(other.event_name().as_deref(), Some("Other"));
        assert!(session.poll_event().is_none());
    }
}

#[test]
fn command_output_in_both_framings_and_typed_failures() {
    let mut session = Session::new("t-");
    let legacy = start(&mut session, Action::new("Command").header("Command", "a"));
    let modern = start(&mut session, Action::new("Command").header("Command", "b"));
    let unknown = start(&mut session, Action::new("Command").header("Command", "c"));
    let modern_err = start(&mut session, Action::new("Command").header("Command", "d"));
    feed(
        &mut session,
        format!(
            "Response: Follows\r\nPrivilege: Command\r\nActionID: {legacy}\r\nUp: 1\nx\n--END COMMAND--\r\n\r\n\
             Response: Success\r\nActionID: {modern}\r\nMessage: Command output follows\r\nOutput: Up: 1\r\nOutput: x\r\n\r\n\
             Response: Follows\r\nPrivilege: Command\r\nActionID: {unknown}\r\nNo such command 'c'\n--END COMMAND--\r\n\r\n\
             Response: Error\r\nActionID: {modern_err}\r\nMessage: Command output follows\r\nOutput: No such command 'd'\r\n\r\n"
        )
        .as_bytes(),
    );
    let done = completions(&mut session);
    for index in [0, 1] {
        let Ok(Reply::Command(out)) = &done[index].result else {
            panic!("{:?}", done[index].result)
        };
        assert_eq!(out.output, "Up: 1\nx\n");
    }
    for index in [2, 3] {
        assert!(
            matches!(&done[index].result, Err(ActionFailure::Command { output, .. }) if output.starts_with("No such command")),
            "{:?}",
            done[index].result
        );
    }
}

#[test]
fn queues_text_ends_at_its_barrier_ping() {
    let mut session = Session::new("t-");
    let mut out = BytesMut::new();
    let id = session
        .start_action(Action::new("Queues"), "q".to_owned(), &mut out)
        .unwrap();
    let wire = String::from_utf8(out.to_vec()).unwrap();
    assert!(wire.contains("Action: Queues\r\nActionID: t-1\r\n\r\nAction: Ping\r\nActionID: t-2"));
    feed(
        &mut session,
        b"support has 0 calls\r\n   Members: \r\n      \x1b[1mAgent\x1b[0m\r\n\r\n\r\n\r\n\
          other has 0 calls\r\n\r\n\
          Event: X\r\n\r\n\
          Response: Success\r\nActionID: t-2\r\nPing: Pong\r\n\r\n",
    );
    let done = completions(&mut session);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].action_id, id);
    assert_eq!(
        done[0].result,
        Ok(Reply::Text(
            "support has 0 calls\n   Members: \n      Agent\n\nother has 0 calls\n".into()
        ))
    );
    assert_eq!(session.pending_len(), 0);
    assert!(session.pending.is_empty());
}

/// A caller's own ActionID that is also the session's next one (`t-1`) must not be given to
/// the barrier Ping: the Queues action would replace it and complete with the Ping's reply.
#[test]
fn queues_barrier_never_shares_the_callers_action_id() {
    let mut session = Session::new("t-");
    let mut out = BytesMut::new();
    session
        .start_action(
            Action::new("Queues").header("ActionID", "t-1"),
            "q".to_owned(),
            &mut out,
        )
        .unwrap();
    let wire = String::from_utf8(out.to_vec()).unwrap();
    assert!(
        wire.ends_with("Action: Ping\r\nActionID: t-2\r\n\r\n"),
        "{wire}"
    );
    feed(
        &mut session,
        b"support has 0 calls\r\n\r\n\r\n\r\n\
          Response: Success\r\nActionID: t-2\r\nPing: Pong\r\n\r\n",
    );
    let done = completions(&mut session);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].action_id, "t-1");
    assert_eq!(
        done[0].result,
        Ok(Reply::Text("support has 0 calls\n".into()))
    );
    assert!(session.pending.is_empty());
}

#[test]
fn queues_on_a_modern_server_is_the_servers_error() {
    let mut session = Session::new("t-");
    let id = start(&mut session, Action::new("Queues"));
    feed(
        &mut session,
        format!(
            "Response: Error\r\nActionID: {id}\r\nMessage: Invalid/unknown command: Queues.\r\n\r\n\
             Response: Success\r\nActionID: t-2\r\nPing: Pong\r\n\r\n"
        )
        .as_bytes(),
    );
    let done = completions(&mut session);
    assert!(matches!(done[0].result, Err(ActionFailure::Server { .. })));
    assert!(session.pending.is_empty());
    assert_eq!(session.stats().unmatched_responses, 0);
}

#[test]
fn close_fails_every_waiting_action_and_late_replies_are_unmatched() {
    let mut session = Session::new("t-");
    let a = start(&mut session, Action::new("Originate"));
    let b = start(&mut session, Action::new("Status"));
    feed(
        &mut session,
        format!(
            "Response: Success\r\nActionID: {b}\r\nMessage: Channel status will follow\r\n\r\n"
        )
        .as_bytes(),
    );
    session.handle_close();
    let done = completions(&mut session);
    assert_eq!(done.len(), 2);
    assert_eq!(done[0].action_id, a);
    assert!(
        done.iter()
            .all(|c| c.result == Err(ActionFailure::ConnectionLost))
    );
    feed(
        &mut session,
        format!("Response: Success\r\nActionID: {a}\r\n\r\n").as_bytes(),
    );
    assert!(completions(&mut session).is_empty());
    assert_eq!(session.stats().unmatched_responses, 1);
    // The counter continues, so a new action never reuses an old id.
    assert_eq!(start(&mut session, Action::new("Ping")), "t-3");
}

#[test]
fn cancel_and_duplicate_ids() {
    let mut session = Session::new("t-");
    let id = start(&mut session, Action::new("Ping").header("ActionID", "mine"));
    assert_eq!(id, "mine");
    let mut out = BytesMut::new();
    assert!(matches!(
        session.start_action(
            Action::new("Ping").header("ActionID", "mine"),
            String::new(),
            &mut out
        ),
        Err(StartError::DuplicateActionId(_))
    ));
    assert!(out.is_empty());
    assert!(
        session
            .start_action(
                Action::new("Ping").header("X", "a\r\nAction: Hangup"),
                String::new(),
                &mut out
            )
            .is_err()
    );
    assert!(out.is_empty());
    assert_eq!(session.cancel("mine").as_deref(), Some("x"));
    assert_eq!(session.pending_len(), 0);
}

#[test]
fn removed_actions_hand_back_their_payloads_and_late_replies_are_unmatched() {
    let mut session: Session<String> = Session::new("t-");
    let mut out = BytesMut::new();
    let mut ids = Vec::new();
    for label in ["keep", "drop-list", "drop"] {
        let id = session
            .start_action(Action::new("CoreShowChannels"), label.into(), &mut out)
            .expect("encodable");
        ids.push(id);
    }
    // The second is a list in progress when it is removed.
    feed(
        &mut session,
        format!(
            "Response: Success\r\nActionID: {}\r\nEventList: start\r\nMessage: will follow\r\n\r\n",
            ids[1]
        )
        .as_bytes(),
    );
    let mut seen = Vec::new();
    session.for_each_pending(|label| seen.push(label.clone()));
    seen.sort();
    assert_eq!(seen, ["drop", "drop-list", "keep"]);
    let mut removed = Vec::new();
    session.remove_pending_where(
        |label| label.starts_with("drop"),
        |label| removed.push(label),
    );
    removed.sort();
    assert_eq!(removed, ["drop", "drop-list"]);
    assert_eq!(session.pending_len(), 1);
    // A late reply to a removed action is an unmatched packet, never a completion.
    feed(
        &mut session,
        format!(
            "Response: Success\r\nActionID: {}\r\nEventList: start\r\n\r\n\
             Event: CoreShowChannelsComplete\r\nActionID: {}\r\nEventList: Complete\r\n\r\n",
            ids[2], ids[1]
        )
        .as_bytes(),
    );
    assert!(completions(&mut session).is_empty());
    assert_eq!(session.stats().unmatched_responses, 1);
    assert_eq!(std::iter::from_fn(|| session.poll_event()).count(), 2);
}

#[test]
fn asterisk_11_parkinglots_items_without_action_id_are_gathered_by_name() {
    let mut session = Session::new("t-");
    let id = start(&mut session, Action::new("Parkinglots"));
    // As Asterisk 11's features.c writes it: bare items, the ActionID only on the Complete.
    feed(
        &mut session,
        format!(
            "Response: Success\r\nActionID: {id}\r\nMessage: Parking lots will follow\r\n\r\n\
             Event: Parkinglot\r\nName: default\r\nStartExten: 701\r\nStopExten: 750\r\nTimeout: 45\r\n\r\n\
             Event: Newchannel\r\nPrivilege: call,all\r\nChannel: SIP/100-00000001\r\n\r\n\
             Event: Parkinglot\r\nName: vip\r\nStartExten: 801\r\nStopExten: 810\r\nTimeout: 60\r\n\r\n\
             Event: ParkinglotsComplete\r\nActionID: {id}\r\n\r\n"
        )
        .as_bytes(),
    );
    let done = completions(&mut session);
    let Ok(Reply::List(list)) = &done[0].result else {
        panic!("{:?}", done[0].result)
    };
    let names: Vec<_> = list.items.iter().filter_map(|i| i.get("Name")).collect();
    assert_eq!(names, ["default", "vip"]);
    assert!(list.complete.value_is("Event", "ParkinglotsComplete"));
    // The unrelated event is still an event, and once the list is done a bare Parkinglot is too.
    assert!(
        session
            .poll_event()
            .is_some_and(|e| e.value_is("Event", "Newchannel"))
    );
    feed(&mut session, b"Event: Parkinglot\r\nName: late\r\n\r\n");
    assert!(
        session
            .poll_event()
            .is_some_and(|e| e.value_is("Name", "late"))
    );
    assert_eq!(session.pending_len(), 0);
}

fn small_limits() -> SessionLimits {
    SessionLimits {
        max_list_items: 3,
        max_text_bytes: 40,
    }
}

#[test]
fn a_list_past_its_item_limit_fails_at_once_and_its_rest_is_discarded() {
    let mut session = Session::with_limits("t-", small_limits());
    let id = start(&mut session, Action::new("CoreShowChannels"));
    let other = start(&mut session, Action::new("Ping"));
    let mut wire = format!(
        "Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n"
    );
    for n in 0..3 {
        wire.push_str(&format!(
            "Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: c/{n}\r\n\r\n"
        ));
    }
    feed(&mut session, wire.as_bytes());
    assert!(completions(&mut session).is_empty(), "three items fit");
    // The fourth breaks the limit: the caller is told now, not at the (maybe never) Complete.
    feed(
        &mut session,
        format!("Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: c/3\r\n\r\n").as_bytes(),
    );
    let done = completions(&mut session);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].action_id, id);
    assert_eq!(done[0].result, Err(ActionFailure::ListTooLong { limit: 3 }));
    assert!(
        done[0]
            .result
            .as_ref()
            .is_err_and(ActionFailure::is_too_large)
    );
    // Later items hold nothing and reach nobody; the Complete ends the discarding.
    let mut more = String::new();
    for n in 4..1000 {
        more.push_str(&format!(
            "Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: c/{n}\r\n\r\n"
        ));
    }
    more.push_str(&format!(
        "Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\n\r\n\
         Response: Success\r\nActionID: {other}\r\nPing: Pong\r\n\r\n"
    ));
    feed(&mut session, more.as_bytes());
    let done = completions(&mut session);
    assert_eq!(done.len(), 1, "only the Ping: {done:?}");
    assert_eq!(done[0].action_id, other);
    assert!(session.poll_event().is_none());
    assert_eq!(session.pending_len(), 0);
    assert_eq!(session.listing, 0);
}

#[test]
fn bare_list_items_and_queues_text_have_limits_too() {
    let mut session = Session::with_limits("t-", small_limits());
    let id = start(&mut session, Action::new("Parkinglots"));
    let mut wire =
        format!("Response: Success\r\nActionID: {id}\r\nMessage: Parking lots will follow\r\n\r\n");
    for n in 0..5 {
        wire.push_str(&format!("Event: Parkinglot\r\nName: lot{n}\r\n\r\n"));
    }
    feed(&mut session, wire.as_bytes());
    let done = completions(&mut session);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].result, Err(ActionFailure::ListTooLong { limit: 3 }));
    assert!(
        session.poll_event().is_none(),
        "the rest is discarded, not passed on"
    );

    let mut session = Session::with_limits("t-", small_limits());
    let mut out = BytesMut::new();
    let id = session
        .start_action(Action::new("Queues"), "q".to_owned(), &mut out)
        .expect("encodable");
    feed(
        &mut session,
        b"support has 0 calls\r\n   Members: \r\n\r\n\
          other has 0 calls\r\n   Members: \r\n\r\n\
          third has 0 calls\r\n\r\n",
    );
    let done = completions(&mut session);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].action_id, id);
    assert_eq!(
        done[0].result,
        Err(ActionFailure::TextTooLong { limit: 40 })
    );
    // The barrier still ends it; nothing more is reported.
    feed(
        &mut session,
        b"Response: Success\r\nActionID: t-2\r\nPing: Pong\r\n\r\n",
    );
    assert!(completions(&mut session).is_empty());
    assert_eq!(session.pending_len(), 0);
}

// ---- the recorded corpus ------------------------------------------------------------------

fn corpus_dir() -> PathBuf {
    match std::env::var_os("AMI_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    }
}

/// The recorded client actions that carry an ActionID, in order.
fn recorded_actions(sent: &[u8]) -> Vec<Action> {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(sent);
    let mut actions = Vec::new();
    loop {
        let packet = match decoder.decode_eof(&mut buf) {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(_) => continue,
        };
        let Packet::Message(message) = packet else {
            continue;
        };
        if message.get("ActionID").is_none() {
            continue;
        }
        let mut action = Action::new(message.get("Action").unwrap_or_default().into_owned());
        for field in message.fields() {
            if !field.name_is("Action") && !field.is_text_line() {
                action.push(field.name_str().into_owned(), field.value().to_vec());
            }
        }
        actions.push(action);
    }
    actions
}

struct Replay {
    done: Vec<Completion<String>>,
    lost: Vec<Completion<String>>,
    events: usize,
    /// Recorded actions the encoder refuses as over Asterisk's limits (their recorded
    /// replies then match nothing).
    refused: Vec<String>,
}

fn replay(version: &str, scenario: &str) -> Replay {
    let dir = corpus_dir().join(format!("asterisk-{version}"));
    let sent = std::fs::read(dir.join(format!("{scenario}.sent"))).expect("sent file");
    let recv = std::fs::read(dir.join(format!("{scenario}.recv"))).expect("recv file");
    let mut session = Session::new("never-");
    let mut out = BytesMut::new();
    let mut refused = Vec::new();
    for action in recorded_actions(&sent) {
        let id = String::from_utf8_lossy(action.action_id().unwrap_or_default()).into_owned();
        let label = format!("{}:{id}", action.name());
        match session.start_action(action, label, &mut out) {
            Ok(_) => {}
            Err(StartError::Encode(error)) if error.is_too_large() => refused.push(id),
            Err(error) => panic!("{version}/{scenario}: recorded action refused: {error}"),
        }
    }
    // Cut the stream at every 1000th byte as well, to exercise packets split across reads.
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::new();
    for chunk in recv.chunks(997) {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(packet)) => session.handle_packet(packet),
                Ok(None) => break,
                Err(_) => continue,
            }
        }
    }
    // The recording stops where the server went quiet; a live server would now answer the
    // barrier Ping that follows each Queues action.
    let barriers: Vec<String> = session
        .pending
        .iter()
        .filter(|(_, p)| p.kind == Kind::Barrier)
        .map(|(id, _)| String::from_utf8_lossy(id).into_owned())
        .collect();
    for id in barriers {
        feed(
            &mut session,
            format!("Response: Success\r\nActionID: {id}\r\nPing: Pong\r\n\r\n").as_bytes(),
        );
    }
    let mut events = 0;
    while let Some(event) = session.poll_event() {
        // A response carrying an ActionID must have found its action, unless that action
        // was refused here and only the recording holds its reply.
        let refused_reply = event
            .action_id()
            .is_some_and(|id| refused.iter().any(|r| *r == id));
        assert!(
            !(event.is_response() && event.action_id().is_some()) || refused_reply,
            "{version}/{scenario}: misrouted {event:?}"
        );
        events += 1;
    }
    let done = completions(&mut session);
    session.handle_close();
    let lost = completions(&mut session);
    Replay {
        done,
        lost,
        events,
        refused,
    }
}

fn scenarios(version: &str) -> Vec<String> {
    let dir = corpus_dir().join(format!("asterisk-{version}"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus at {}: {e} (set AMI_CORPUS)", dir.display()))
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".recv")?;
            (!stem.starts_with("http_")).then(|| stem.to_owned())
        })
        .collect();
    names.sort();
    names
}

fn check_shape(version: &str, scenario: &str, completion: &Completion<String>) {
    let label = &completion.payload;
    let name = label
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let context = format!("{version}/{scenario} {label}: {:?}", completion.result);
    match (name.as_str(), &completion.result) {
        ("login", Ok(Reply::Response(_))) => {}
        ("login", Err(ActionFailure::Server { message, .. })) => {
            assert!(message.contains("Authentication failed"), "{context}")
        }
        ("command", Ok(Reply::Command(out))) => assert!(!out.output.is_empty(), "{context}"),
        ("command", Err(ActionFailure::Command { .. } | ActionFailure::Server { .. })) => {}
        ("coreshowchannels" | "status" | "queuestatus" | "queuesummary", Ok(Reply::List(list))) => {
            let expected = list
                .complete
                .get("ListItems")
                .or_else(|| list.complete.get("Items"));
            if let Some(expected) = expected {
                assert_eq!(
                    expected.parse::<usize>().ok(),
                    Some(list.items.len()),
                    "{context}"
                );
            }
        }
        ("status", Err(ActionFailure::Server { .. })) => {}
        ("queues", Ok(Reply::Text(text))) => {
            assert_ne!(version, "22", "{context}");
            assert!(text.contains("support has"), "{context}");
            assert!(!text.contains('\x1b'), "{context}");
        }
        ("queues", Err(ActionFailure::Server { message, .. })) => {
            assert_eq!(version, "22", "{context}");
            assert!(message.contains("Invalid/unknown command"), "{context}");
        }
        (
            "coreshowchannels" | "status" | "queuestatus" | "queuesummary" | "queues" | "command",
            _,
        ) => {
            panic!("wrong shape: {context}")
        }
        ("ping", result) if scenario != "action_before_login" && scenario != "huge_header" => {
            assert!(
                matches!(result, Ok(Reply::Response(r)) if r.value_is("Ping", "Pong")),
                "{context}"
            );
        }
        (_, Err(ActionFailure::ConnectionLost)) => panic!("lost: {context}"),
        _ => {}
    }
}

fn replay_version(version: &str) {
    let names = scenarios(version);
    assert!(names.len() > 25, "too few scenarios for {version}");
    let mut actions = 0;
    for scenario in &names {
        let replay = replay(version, scenario);
        // Only recordings the server ended itself may leave an action without a reply,
        // and only the ones sent after it said goodbye or shut down.
        let lost: Vec<&str> = replay.lost.iter().map(|c| c.payload.as_str()).collect();
        assert!(
            lost.is_empty(),
            "{version}/{scenario}: never completed: {lost:?}"
        );
        for completion in &replay.done {
            check_shape(version, scenario, completion);
        }
        actions += replay.done.len();
        // The one recorded action over Asterisk's line limit (a 70,000-byte header, answered
        // "line too long") is refused before it is written; every other one fits.
        let expected: &[&str] = if scenario == "huge_header" {
            &["huge-1"]
        } else {
            &[]
        };
        assert_eq!(replay.refused, expected, "{version}/{scenario}");
        if scenario.starts_with("originate") || scenario == "mixed_action_during_events" {
            assert!(replay.events > 0, "{version}/{scenario}: no events");
        }
    }
    assert!(actions > 120, "{version}: only {actions} actions replayed");
}

#[test]
fn corpus_asterisk_22_every_action_completes() {
    replay_version("22");
}

#[test]
fn corpus_asterisk_13_every_action_completes() {
    replay_version("13");
}

#[test]
fn corpus_asterisk_11_every_action_completes() {
    replay_version("11");
}

#[test]
fn corpus_asterisk_1_8_every_action_completes() {
    replay_version("1.8");
}

#[test]
fn corpus_lists_have_the_per_version_shape() {
    // 11 and 1.8: Status has no EventList and ends with a bare StatusComplete.
    for version in ["11", "1.8"] {
        let replay = replay(version, "status");
        let list = replay
            .done
            .iter()
            .find_map(|c| match &c.result {
                Ok(Reply::List(list)) if c.payload.starts_with("Status") => Some(list),
                _ => None,
            })
            .expect("a Status list");
        assert!(!list.response.contains("EventList"));
        assert!(!list.complete.contains("EventList"));
        assert!(!list.items.is_empty());
    }
    // 13: Queues answers raw text, found by the barrier.
    let replay = replay("13", "queue_summary");
    assert!(
        replay
            .done
            .iter()
            .any(|c| matches!(&c.result, Ok(Reply::Text(t)) if t.contains("Members:")))
    );
}

/// The session fuzzer's finding (fuzz/findings/session/crash-34022a31…): an ActionID that is
/// not UTF-8 went back into the pending map under its lossy copy when its list started. That
/// copy was another action's ActionID, whose entry it replaced: one action lost without a
/// completion, and the list's items and end (carrying the exact bytes) matched nothing.
#[test]
fn a_list_whose_action_id_is_not_utf8_keeps_its_own_key() {
    let mut session = Session::new("t-");
    let invalid = b"\xffid".to_vec();
    let lossy = "\u{FFFD}id";
    start(
        &mut session,
        Action::new("CoreShowChannels").header("ActionID", invalid.clone()),
    );
    start(&mut session, Action::new("Ping").header("ActionID", lossy));
    assert_eq!(session.pending_len(), 2);
    let mut reply = Vec::new();
    reply.extend_from_slice(b"Response: Success\r\nActionID: ");
    reply.extend_from_slice(&invalid);
    reply.extend_from_slice(b"\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n");
    for event in ["CoreShowChannel", "CoreShowChannelsComplete"] {
        reply.extend_from_slice(format!("Event: {event}\r\nActionID: ").as_bytes());
        reply.extend_from_slice(&invalid);
        if event.ends_with("Complete") {
            reply.extend_from_slice(b"\r\nEventList: Complete");
        }
        reply.extend_from_slice(b"\r\n\r\n");
    }
    feed(&mut session, &reply);
    let done = completions(&mut session);
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].action_id, lossy, "named by its lossy copy");
    match &done[0].result {
        Ok(Reply::List(list)) => assert_eq!(list.items.len(), 1),
        other => panic!("the list, whole: {other:?}"),
    }
    // The Ping with the lossy bytes as its real ActionID still waits, and its reply finds it.
    assert_eq!(session.pending_len(), 1);
    feed(
        &mut session,
        format!("Response: Success\r\nActionID: {lossy}\r\nPing: Pong\r\n\r\n").as_bytes(),
    );
    let done = completions(&mut session);
    assert_eq!(done.len(), 1, "{done:?}");
    assert!(matches!(done[0].result, Ok(Reply::Response(_))), "{done:?}");
    assert_eq!(session.pending_len(), 0);
}

/// The character-by-character definition `strip_ansi` must keep.
fn strip_ansi_by_chars(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn strip_ansi_removes_colour_codes_and_keeps_the_rest() {
    assert_eq!(strip_ansi("\u{1b}[1;32mready\u{1b}[0m é"), "ready é");
    assert_eq!(strip_ansi("a\u{1b}b"), "a\u{1b}b", "a lone ESC stays");
    assert_eq!(
        strip_ansi("a\u{1b}[12"),
        "a",
        "unterminated: dropped to the end"
    );
    assert_eq!(
        strip_ansi("\u{1b}[é1mx"),
        "x",
        "a non-ASCII byte inside is skipped whole"
    );
    assert_eq!(strip_ansi("\u{1b}"), "\u{1b}");
    assert_eq!(strip_ansi(""), "");
}

proptest::proptest! {
    #[test]
    fn strip_ansi_agrees_with_the_char_by_char_definition(
        text in "(\u{1b}|\\[|[0-9;]|m|é|x| ){0,40}"
    ) {
        proptest::prop_assert_eq!(strip_ansi(&text), strip_ansi_by_chars(&text));
    }
}

#[test]
fn generated_action_ids_are_the_prefix_and_every_digit() {
    let mut session: Session<()> = Session::new("p-");
    session.next_id = 99;
    let mut out = BytesMut::new();
    assert_eq!(
        session
            .start_action(Action::new("Ping"), (), &mut out)
            .unwrap(),
        "p-99"
    );
    assert_eq!(
        session
            .start_action(Action::new("Ping"), (), &mut out)
            .unwrap(),
        "p-100"
    );
}
