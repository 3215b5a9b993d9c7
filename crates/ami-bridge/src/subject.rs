//! NATS subject and header naming (sans-IO): what every bridge instance and every consumer
//! agree on.
//!
//! Subjects: `ami.<server>.event.<EventName>` for events, `ami.<server>.lagged` and
//! `ami.<server>.connection` for the markers of a gap, `ami.<server>.action.<Action>` for
//! requests. Tokens are sanitised so that a name can never add a level or a wildcard.

/// The first token of every subject the bridge uses.
pub const PREFIX: &str = "ami";

/// Header: the server's configured name (unsanitised).
pub const HEADER_SERVER: &str = "Ami-Server";
/// Header: the event's name as the PBX sent it (unsanitised).
pub const HEADER_EVENT: &str = "Ami-Event";
/// Header: the connection epoch (changes on each login to the PBX).
pub const HEADER_EPOCH: &str = "Ami-Epoch";
/// Header: the sequence number within the epoch (from 1, markers included).
pub const HEADER_SEQ: &str = "Ami-Seq";
/// Header: `event`, `lagged`, `connection` or `state`.
pub const HEADER_KIND: &str = "Ami-Kind";
/// JetStream's deduplication header.
pub const HEADER_MSG_ID: &str = "Nats-Msg-Id";

/// One subject token from any text: `.`, `*`, `>`, whitespace and control characters become
/// `_` (each would add a level, be a wildcard, or break the protocol line); empty becomes `_`.
pub fn token(text: &str) -> String {
    let mut out = String::with_capacity(text.len().max(1));
    push_token(&mut out, text);
    out
}

/// Appends [`token`]`(text)` to `out` (no allocation of its own).
pub(crate) fn push_token(out: &mut String, text: &str) {
    if text.is_empty() {
        out.push('_');
        return;
    }
    out.extend(text.chars().map(|c| {
        if c == '.' || c == '*' || c == '>' || c.is_whitespace() || c.is_control() {
            '_'
        } else {
            c
        }
    }));
}

/// `ami.<server>.event.<event>`.
pub fn event(server: &str, event: &str) -> String {
    let mut subject = event_prefix(server);
    push_token(&mut subject, event);
    subject
}

/// `ami.<server>.event.`: what every event subject of a server starts with.
pub(crate) fn event_prefix(server: &str) -> String {
    format!("{PREFIX}.{}.event.", token(server))
}

/// `ami.<server>.lagged`: events were dropped here.
pub fn lagged(server: &str) -> String {
    format!("{PREFIX}.{}.lagged", token(server))
}

/// `ami.<server>.connection`: the PBX connection came up or went down here.
pub fn connection(server: &str) -> String {
    format!("{PREFIX}.{}.connection", token(server))
}

/// `ami.<server>.state`: the PBX's state (a snapshot) after a new owner logged in.
pub fn state(server: &str) -> String {
    format!("{PREFIX}.{}.state", token(server))
}

/// The key of a server's lease in the fleet's key-value bucket: its subject token (unique
/// per configuration, and made of characters a key may hold).
pub fn lease_key(server: &str) -> String {
    token(server)
}

/// `ami.<server>.action.*`: what the bridge listens on for one server's actions.
pub fn actions(server: &str) -> String {
    format!("{PREFIX}.{}.action.*", token(server))
}

/// `ami.<server>.action.<action>`: where a client sends one action.
pub fn action(server: &str, action: &str) -> String {
    format!("{PREFIX}.{}.action.{}", token(server), token(action))
}

/// The action name from a request subject `ami.<server>.action.<name>`, if it is one.
pub fn action_name(subject: &str) -> Option<&str> {
    let mut parts = subject.splitn(4, '.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(PREFIX), Some(_), Some("action"), Some(name)) if !name.contains('.') => Some(name),
        _ => None,
    }
}

/// The subjects a stream must hold for the bridge's messages: events and markers, and not
/// the action requests (a stream that captured them would answer each request with its own
/// publish acknowledgement before the bridge could).
pub fn stream_subjects() -> Vec<String> {
    vec![
        format!("{PREFIX}.*.event.>"),
        format!("{PREFIX}.*.lagged"),
        format!("{PREFIX}.*.connection"),
        format!("{PREFIX}.*.state"),
    ]
}

/// The `Nats-Msg-Id` of one message: `server/epoch/seq`, the same on every republish of it,
/// so that JetStream stores it once within its duplicate window.
pub fn msg_id(server: &str, epoch: u64, seq: u64) -> String {
    format!("{server}/{epoch}/{seq}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_add_levels_or_wildcards() {
        assert_eq!(token("Newchannel"), "Newchannel");
        assert_eq!(token("pbx.eu-1"), "pbx_eu-1");
        assert_eq!(token("a*b>c d\te\r\n"), "a_b_c_d_e__");
        assert_eq!(token(""), "_");
        assert_eq!(event("pbx.1", "Hangup"), "ami.pbx_1.event.Hangup");
        assert_eq!(event("pbx", "odd.name *"), "ami.pbx.event.odd_name__");
        assert_eq!(lagged("p"), "ami.p.lagged");
        assert_eq!(connection("p"), "ami.p.connection");
        assert_eq!(actions("p.q"), "ami.p_q.action.*");
        assert_eq!(state("p.q"), "ami.p_q.state");
        assert_eq!(lease_key("pbx.eu-1"), "pbx_eu-1");
    }

    #[test]
    fn action_names_come_only_from_action_subjects() {
        assert_eq!(action_name("ami.pbx.action.Ping"), Some("Ping"));
        assert_eq!(
            action_name(&action("pbx", "CoreStatus")),
            Some("CoreStatus")
        );
        assert_eq!(action_name("ami.pbx.event.Ping"), None);
        assert_eq!(action_name("ami.pbx.action"), None);
        assert_eq!(action_name("ami.pbx.action.a.b"), None);
        assert_eq!(action_name("other.pbx.action.Ping"), None);
    }

    #[test]
    fn message_ids_name_server_epoch_and_sequence() {
        assert_eq!(
            msg_id("pbx1", 1_700_000_000_000, 42),
            "pbx1/1700000000000/42"
        );
    }
}
