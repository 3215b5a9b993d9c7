//! Facts from one version's recordings (`X.sent` / `X.recv`): the events a real server sent with
//! the headers seen in them, the list replies of the actions sent (items, completion event, whether
//! `EventList: start` marked them), and the privilege classes listed by `ListCommands`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::GenError;
use crate::docs::push_unique;

type Packet = Vec<(String, String)>;

#[derive(Debug, Clone, Default)]
pub(crate) struct RecEvent {
    /// The name as the server spelled it first.
    pub name: String,
    /// Header names in order of first appearance, `Event` and `Privilege` left out.
    pub fields: Vec<String>,
    /// Lower-case classes from `Privilege:` (without `all`); list items carry none.
    pub classes: Vec<String>,
    /// Values seen per header, for the headers that tell legacy event variants apart
    /// (see `rules::LEGACY`).
    pub values: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct RecList {
    pub action: String,
    pub items: Vec<String>,
    pub complete: Option<String>,
    /// The acknowledgement carried `EventList: start`.
    pub eventlist: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Recorded {
    pub events: BTreeMap<String, RecEvent>,
    pub lists: BTreeMap<String, RecList>,
    /// Lower-case action name to (name, classes) from `ListCommands`; `(Priv: <none>)` is empty.
    pub privileges: BTreeMap<String, (String, Vec<String>)>,
}

/// Actions whose replies carry their ActionID on events without being lists: `WaitEvent` hands
/// back the session's queued events and ends with `WaitEventComplete` (no `EventList`).
const NOT_LISTS: &[&str] = &["waitevent"];

pub(crate) fn read(dir: &Path) -> Result<Recorded, GenError> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|source| GenError::io(dir, source))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".recv"))
        .collect();
    // Sorted, so that the order of first appearance (and thus the output) is stable.
    names.sort();
    let mut recorded = Recorded::default();
    for name in &names {
        let recv = read_packets(&dir.join(name))?;
        for packet in &recv {
            if let Some(event) = header(packet, "Event") {
                note_event(&mut recorded, event, packet);
            }
        }
        let scenario = name.trim_end_matches(".recv");
        // HTTP scenarios send a request line, not AMI packets; their events are counted above.
        let sent_path = dir.join(format!("{scenario}.sent"));
        if scenario.starts_with("http_") || !sent_path.exists() {
            continue;
        }
        let sent = read_packets(&sent_path)?;
        note_lists(&mut recorded, &sent, &recv);
        if scenario == "list_commands" {
            note_privileges(&mut recorded, &sent, &recv);
        }
    }
    Ok(recorded)
}

fn note_event(recorded: &mut Recorded, name: &str, packet: &Packet) {
    let entry = recorded
        .events
        .entry(name.to_ascii_lowercase())
        .or_insert_with(|| RecEvent {
            name: name.to_owned(),
            ..RecEvent::default()
        });
    for (field, value) in packet {
        if field.eq_ignore_ascii_case("Event") {
            continue;
        }
        if field.eq_ignore_ascii_case("Privilege") {
            for class in classes(value) {
                push_unique(&mut entry.classes, class);
            }
            continue;
        }
        push_unique(&mut entry.fields, field.clone());
        // Values are kept only for the headers that select the modern event of a legacy one.
        if crate::rules::discriminates(name, field) {
            push_unique(
                entry.values.entry(field.clone()).or_default(),
                value.clone(),
            );
        }
    }
}

/// Pairs events with the action whose ActionID they carry. An action is a list when its
/// acknowledgement says `EventList: start` or a `...Complete` event answers it.
fn note_lists(recorded: &mut Recorded, sent: &[Packet], recv: &[Packet]) {
    let mut actions: BTreeMap<&str, &str> = BTreeMap::new();
    for packet in sent {
        if let (Some(action), Some(id)) = (header(packet, "Action"), header(packet, "ActionID")) {
            actions.insert(id, action);
        }
    }
    let mut seen: BTreeMap<&str, RecList> = BTreeMap::new();
    for packet in recv {
        let Some(action) = header(packet, "ActionID").and_then(|id| actions.get(id)) else {
            continue;
        };
        if NOT_LISTS.contains(&action.to_ascii_lowercase().as_str()) {
            continue;
        }
        let list = seen.entry(action).or_insert_with(|| RecList {
            action: (*action).to_owned(),
            ..RecList::default()
        });
        match header(packet, "Event") {
            None => {
                if header(packet, "EventList").is_some_and(|v| v.eq_ignore_ascii_case("start")) {
                    list.eventlist = true;
                }
            }
            Some(event) => {
                let completes = header(packet, "EventList")
                    .is_some_and(|v| v.eq_ignore_ascii_case("complete"))
                    || event.ends_with("Complete");
                if completes {
                    list.complete = Some(event.to_owned());
                } else {
                    push_unique(&mut list.items, event.to_owned());
                }
            }
        }
    }
    for (action, list) in seen {
        if list.complete.is_none() && !list.eventlist {
            // Events without a list shape (OriginateResponse, UserEvent echoes).
            continue;
        }
        let entry = recorded
            .lists
            .entry(action.to_ascii_lowercase())
            .or_insert_with(|| RecList {
                action: list.action.clone(),
                ..RecList::default()
            });
        for item in list.items {
            push_unique(&mut entry.items, item);
        }
        if entry.complete.is_none() {
            entry.complete = list.complete;
        }
        entry.eventlist |= list.eventlist;
    }
}

/// `ListCommands` answers one packet of `Name: synopsis  (Priv: a,b,all)` lines; only the name and
/// the classes are kept.
fn note_privileges(recorded: &mut Recorded, sent: &[Packet], recv: &[Packet]) {
    let ids: Vec<&str> = sent
        .iter()
        .filter(|p| header(p, "Action").is_some_and(|a| a.eq_ignore_ascii_case("ListCommands")))
        .filter_map(|p| header(p, "ActionID"))
        .collect();
    for packet in recv {
        if !header(packet, "ActionID").is_some_and(|id| ids.contains(&id)) {
            continue;
        }
        for (name, value) in packet {
            let Some(privs) = value
                .rfind("(Priv: ")
                .map(|at| &value[at + "(Priv: ".len()..])
                .and_then(|rest| rest.strip_suffix(')'))
            else {
                continue;
            };
            recorded
                .privileges
                .insert(name.to_ascii_lowercase(), (name.clone(), classes(privs)));
        }
    }
}

/// `call,all` → `["call"]`; `<none>` → `[]`. `all` is implied by every class, so it says nothing.
fn classes(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    for class in value.split(',') {
        let class = class.trim().to_ascii_lowercase();
        if !class.is_empty() && class != "all" && class != "<none>" {
            push_unique(&mut out, class);
        }
    }
    out
}

fn header<'p>(packet: &'p Packet, name: &str) -> Option<&'p str> {
    packet
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Splits a recording into `Name: value` packets at blank lines. Lines without a colon (the
/// banner, legacy Command bodies, HTTP status lines) are skipped: only headers matter here.
fn read_packets(path: &Path) -> Result<Vec<Packet>, GenError> {
    let bytes = std::fs::read(path).map_err(|source| GenError::io(path, source))?;
    Ok(packets(&String::from_utf8_lossy(&bytes)))
}

fn packets(text: &str) -> Vec<Packet> {
    let text = text.replace("\r\n", "\n");
    text.split("\n\n")
        .map(|block| {
            block
                .lines()
                .filter(|line| !line.starts_with("Asterisk Call Manager/"))
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| {
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    (name.to_owned(), value.to_owned())
                })
                .collect::<Packet>()
        })
        .filter(|packet| !packet.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_reply_is_paired_by_action_id() {
        let sent = packets(
            "Action: QueueStatus\r\nActionID: q1\r\n\r\nAction: Originate\r\nActionID: o1\r\n\r\n",
        );
        let recv = packets(concat!(
            "Asterisk Call Manager/1.1\r\nResponse: Success\r\nActionID: q1\r\nMessage: Queue status will follow\r\n\r\n",
            "Event: QueueParams\r\nQueue: support\r\nActionID: q1\r\n\r\n",
            "Event: QueueMember\r\nQueue: support\r\nActionID: q1\r\n\r\n",
            "Event: QueueStatusComplete\r\nActionID: q1\r\n\r\n",
            "Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: o1\r\nResponse: Success\r\n\r\n",
        ));
        let mut recorded = Recorded::default();
        for packet in &recv {
            if let Some(event) = header(packet, "Event") {
                note_event(&mut recorded, event, packet);
            }
        }
        note_lists(&mut recorded, &sent, &recv);
        let list = &recorded.lists["queuestatus"];
        assert_eq!(list.items, ["QueueParams", "QueueMember"]);
        assert_eq!(list.complete.as_deref(), Some("QueueStatusComplete"));
        assert!(!list.eventlist);
        assert!(!recorded.lists.contains_key("originate"));
        let response = &recorded.events["originateresponse"];
        assert_eq!(response.classes, ["call"]);
        assert_eq!(response.fields, ["ActionID", "Response"]);
    }

    #[test]
    fn privileges_keep_names_and_classes_only() {
        let sent = packets("Action: ListCommands\r\nActionID: lc\r\n\r\n");
        let recv = packets(
            "Response: Success\r\nActionID: lc\r\nPing: Keepalive command.  (Priv: <none>)\r\nDialplanExtensionAdd: Add an extension  (Priv: system,all)\r\n\r\n",
        );
        let mut recorded = Recorded::default();
        note_privileges(&mut recorded, &sent, &recv);
        assert_eq!(recorded.privileges["ping"], ("Ping".into(), vec![]));
        assert_eq!(
            recorded.privileges["dialplanextensionadd"],
            ("DialplanExtensionAdd".into(), vec!["system".into()])
        );
        assert_eq!(recorded.privileges.len(), 2);
    }
}
