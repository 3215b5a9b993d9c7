//! CLI text (the output of the `Command` action) parsed into JSON records for the commands
//! integrators script most, as every Asterisk version from 1.8 to 22 prints them.
//!
//! [`parse_cli_output`] recognises the command by its words and falls back to an array of lines,
//! so any command has a JSON form.

use serde_json::{Map, Value, json};

/// Removes ANSI escape sequences (`ESC [ ... letter`), which `queue show` output carries on 13.
/// The one implementation lives in `ami-proto`, whose legacy `Queues` reply needs it too.
pub use ami_proto::session::strip_ansi;

/// The parsed form of one command's output.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedOutput {
    /// Which parser produced it: `channels_concise`, `channels_verbose`, `channels`,
    /// `queues`, `uptime`, `table` (generic fixed-width table such as `sip show peers`),
    /// `pjsip_objects` (`pjsip show endpoints|aors|contacts|auths|transports`), or `lines`.
    pub format: &'static str,
    /// Records (an array) for tables, an object for `uptime`, an array of strings for `lines`.
    pub value: Value,
}

/// Parses `text`, the output of the CLI `command`. ANSI colour codes are removed first.
pub fn parse_cli_output(command: &str, text: &str) -> ParsedOutput {
    let clean = strip_ansi(text);
    let words: Vec<String> = command
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let (format, value) = match words.as_slice() {
        ["core", "show", "channels", "concise", ..] => ("channels_concise", concise(&clean)),
        ["core", "show", "channels", "verbose", ..] => ("channels_verbose", table(&clean)),
        ["core", "show", "channels"] => ("channels", table(&clean)),
        ["queue", "show", ..] => ("queues", queues(&clean)),
        ["core", "show", "uptime", ..] => ("uptime", uptime(&clean)),
        ["pjsip", "show", _, ..] if clean.contains("=====") => ("pjsip_objects", pjsip(&clean)),
        [
            "sip" | "iax2",
            "show",
            "peers" | "users" | "registry" | "channels",
            ..,
        ]
        | ["pjsip", "show", ..] => ("table", table(&clean)),
        _ => ("lines", lines(&clean)),
    };
    ParsedOutput { format, value }
}

fn lines(text: &str) -> Value {
    Value::Array(
        text.lines()
            .map(|line| Value::String(line.to_owned()))
            .collect(),
    )
}

/// `core show channels concise`: `!`-separated, 14 fields on every version. The application
/// data may itself hold `!`, so the fields are taken from both ends.
fn concise(text: &str) -> Value {
    const HEAD: [&str; 6] = [
        "channel",
        "context",
        "extension",
        "priority",
        "state",
        "application",
    ];
    const TAIL: [&str; 7] = [
        "callerid",
        "accountcode",
        "peeraccount",
        "amaflags",
        "duration",
        "bridged",
        "uniqueid",
    ];
    let records = text
        .lines()
        .filter(|line| line.matches('!').count() >= HEAD.len() + TAIL.len() - 1)
        .map(|line| {
            let parts: Vec<&str> = line.split('!').collect();
            let data_end = parts.len() - TAIL.len();
            let mut record = Map::new();
            for (name, value) in HEAD.iter().zip(&parts) {
                record.insert((*name).to_owned(), json!(value));
            }
            record.insert(
                "data".to_owned(),
                json!(parts[HEAD.len()..data_end].join("!")),
            );
            for (name, value) in TAIL.iter().zip(&parts[data_end..]) {
                record.insert((*name).to_owned(), json!(value));
            }
            Value::Object(record)
        })
        .collect();
    Value::Array(records)
}

/// A fixed-width table: the first non-blank line names the columns, each column starting where
/// its name starts; rows follow until a blank line or a summary line (`18 active channels`,
/// `1 sip peers [...]`), which is skipped.
fn table(text: &str) -> Value {
    let mut rows = text.lines().skip_while(|line| line.trim().is_empty());
    let Some(header) = rows.next() else {
        return Value::Array(Vec::new());
    };
    let columns = column_starts(header);
    let records = rows
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| !is_summary_line(line))
        .map(|line| {
            let mut record = Map::new();
            for (index, (start, name)) in columns.iter().enumerate() {
                let end = columns.get(index + 1).map_or(usize::MAX, |(next, _)| *next);
                record.insert(name.clone(), json!(slice_columns(line, *start, end).trim()));
            }
            Value::Object(record)
        })
        .collect();
    Value::Array(records)
}

fn column_starts(header: &str) -> Vec<(usize, String)> {
    let mut columns = Vec::new();
    let mut previous_space = true;
    for (index, c) in header.char_indices() {
        if !c.is_whitespace() && previous_space {
            let name: String = header[index..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            columns.push((index, column_key(&name)));
        }
        previous_space = c.is_whitespace();
    }
    columns
}

/// `Name/username` → `name_username`, `Application(Data)` → `application_data`.
fn column_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            key.push(c.to_ascii_lowercase());
        } else if !key.ends_with('_') && !key.is_empty() {
            key.push('_');
        }
    }
    key.trim_end_matches('_').to_owned()
}

fn slice_columns(line: &str, start: usize, end: usize) -> &str {
    let len = line.len();
    let start = floor_char_boundary(line, start.min(len));
    let end = floor_char_boundary(line, end.min(len));
    &line[start..end.max(start)]
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

fn is_summary_line(line: &str) -> bool {
    let trimmed = line.trim();
    let starts_with_count = trimmed
        .split_whitespace()
        .next()
        .is_some_and(|first| first.parse::<u64>().is_ok());
    starts_with_count
        && [
            "active channel",
            "active call",
            "calls processed",
            "call processed",
            "peers",
            "users",
            "registrations",
            "objects found",
        ]
        .iter()
        .any(|marker| trimmed.to_ascii_lowercase().contains(marker))
        || trimmed.starts_with("Objects found:")
}

/// `queue show`: one block per queue; its `Members:` and `Callers:` sections.
fn queues(text: &str) -> Value {
    let mut queues: Vec<Map<String, Value>> = Vec::new();
    let mut section = "";
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            if let Some(queue) = queue_heading(trimmed) {
                queues.push(queue);
                section = "";
            }
            continue;
        }
        let Some(queue) = queues.last_mut() else {
            continue;
        };
        match trimmed {
            "Members:" => section = "members",
            "Callers:" => section = "callers",
            "No Members" => {
                queue.insert("members".into(), json!([]));
            }
            "No Callers" => {
                queue.insert("callers".into(), json!([]));
            }
            _ if section == "members" => push(queue, "members", member(trimmed)),
            _ if section == "callers" => push(queue, "callers", caller(trimmed)),
            _ => {}
        }
    }
    Value::Array(queues.into_iter().map(Value::Object).collect())
}

fn push(queue: &mut Map<String, Value>, key: &str, item: Value) {
    match queue.entry(key).or_insert_with(|| json!([])) {
        Value::Array(items) => items.push(item),
        other => *other = json!([item]),
    }
}

/// `support has 1 calls (max unlimited) in 'ringall' strategy (2s holdtime, 0s talktime), W:0, C:0, A:0, SL:0.0% within 0s`
fn queue_heading(line: &str) -> Option<Map<String, Value>> {
    let (name, rest) = line.split_once(" has ")?;
    let calls = rest.split_whitespace().next()?.parse::<u64>().ok()?;
    let mut queue = Map::new();
    queue.insert("queue".into(), json!(name));
    queue.insert("calls".into(), json!(calls));
    if let Some(max) = between(rest, "(max ", ")") {
        queue.insert(
            "max".into(),
            max.parse::<u64>().map_or_else(|_| json!(max), |n| json!(n)),
        );
    }
    if let Some(strategy) = between(rest, "in '", "'") {
        queue.insert("strategy".into(), json!(strategy));
    }
    for (key, suffix) in [("holdtime", "s holdtime"), ("talktime", "s talktime")] {
        if let Some(seconds) = number_before(rest, suffix) {
            queue.insert(key.into(), json!(seconds));
        }
    }
    for (key, label) in [
        ("waiting_completed", "W:"),
        ("completed", "C:"),
        ("abandoned", "A:"),
    ] {
        if let Some(value) = after_label(rest, label).and_then(|v| v.parse::<u64>().ok()) {
            queue.insert(key.into(), json!(value));
        }
    }
    if let Some(level) = after_label(rest, "SL:") {
        queue.insert(
            "service_level_pct".into(),
            json!(level.trim_end_matches('%')),
        );
    }
    if let Some(within) = rest.split("within ").nth(1) {
        queue.insert(
            "service_level_within_s".into(),
            json!(within.trim().trim_end_matches('s')),
        );
    }
    Some(queue)
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    Some(&text[start..start + len])
}

fn number_before(text: &str, suffix: &str) -> Option<u64> {
    let end = text.find(suffix)?;
    let digits: String = text[..end]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.chars().rev().collect::<String>().parse().ok()
}

fn after_label<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let start = text.find(label)? + label.len();
    text[start..]
        .split([',', ' '])
        .next()
        .filter(|value| !value.is_empty())
}

/// `Agent One (Local/700@demo/n from Local/700@demo/n) (ringinuse disabled) (in call) (In use) has taken 3 calls (last was 132 secs ago)`
fn member(line: &str) -> Value {
    let (description, taken) = match line.split_once(" has taken ") {
        Some((description, taken)) => (description, Some(taken)),
        None => (line, None),
    };
    let mut groups = Vec::new();
    let mut name_end = description.len();
    let mut depth = 0usize;
    let mut open = 0usize;
    for (index, c) in description.char_indices() {
        match c {
            '(' => {
                if depth == 0 {
                    open = index;
                    name_end = name_end.min(index);
                }
                depth += 1;
            }
            ')' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    groups.push(description[open + 1..index].to_owned());
                }
            }
            _ => {}
        }
    }
    let mut record = Map::new();
    record.insert("name".into(), json!(description[..name_end].trim()));
    let mut groups = groups.into_iter();
    if let Some(interface) = groups.next() {
        let interface = interface
            .split(" from ")
            .next()
            .unwrap_or(&interface)
            .to_owned();
        record.insert("interface".into(), json!(interface));
    }
    let rest: Vec<String> = groups.collect();
    if let Some((status, flags)) = rest.split_last() {
        record.insert("status".into(), json!(status));
        record.insert("flags".into(), json!(flags));
    }
    if let Some(taken) = taken {
        let calls = taken
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        record.insert("calls_taken".into(), json!(calls));
        if let Some(last) = between(taken, "last was ", " secs ago") {
            record.insert("last_call_secs_ago".into(), json!(last));
        }
    }
    Value::Object(record)
}

/// `1. Local/600@demo-00000009;2 (wait: 0:05, prio: 0)`
fn caller(line: &str) -> Value {
    let mut record = Map::new();
    let (position, rest) = line.split_once(". ").unwrap_or(("", line));
    if let Ok(position) = position.parse::<u64>() {
        record.insert("position".into(), json!(position));
    }
    let channel = rest.split(" (").next().unwrap_or(rest);
    record.insert("channel".into(), json!(channel.trim()));
    if let Some(wait) = between(rest, "wait: ", ",") {
        record.insert("wait".into(), json!(wait));
    }
    if let Some(prio) = between(rest, "prio: ", ")").and_then(|p| p.parse::<i64>().ok()) {
        record.insert("priority".into(), json!(prio));
    }
    Value::Object(record)
}

/// `System uptime: 1 hour, 2 minutes, 3 seconds` / `Last reload: ...` (or plain seconds with
/// `core show uptime seconds`).
fn uptime(text: &str) -> Value {
    let mut object = Map::new();
    for line in text.lines() {
        let Some((label, value)) = line.split_once(':') else {
            continue;
        };
        let key = column_key(label);
        let value = value.trim();
        object.insert(key.clone(), json!(value));
        if let Some(seconds) = duration_seconds(value) {
            object.insert(format!("{key}_seconds"), json!(seconds));
        }
    }
    Value::Object(object)
}

/// The seconds of a duration as the CLI prints it: plain seconds (`3723`, from `core show
/// uptime seconds`) or worded (`1 year, 2 weeks, 3 days, 4 hours, 5 minutes, 6 seconds`,
/// singular or plural, any subset in any order). `None` for anything else, and for a duration
/// too large for a `u64`: the numbers are the server's text, so the arithmetic is checked (a
/// nonsense uptime must neither panic nor give a wrong figure).
pub fn duration_seconds(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(seconds);
    }
    let mut total = 0u64;
    let mut any = false;
    for part in text.split(',') {
        let mut words = part.split_whitespace();
        // A leading `<` (as in `<1 second`) is read as the number itself.
        let count: u64 = words.next()?.trim_start_matches('<').parse().ok()?;
        let unit = words.next()?;
        let scale = match unit.trim_end_matches('s') {
            "year" => 365 * 86_400,
            "week" => 7 * 86_400,
            "day" => 86_400,
            "hour" => 3_600,
            "minute" => 60,
            "second" => 1,
            _ => return None,
        };
        total = total.checked_add(count.checked_mul(scale)?)?;
        any = true;
    }
    any.then_some(total)
}

/// The PBX's uptime in seconds from the output of `core show uptime` (either form, see
/// [`duration_seconds`]): the value of its `System uptime:` line.
pub fn system_uptime_seconds(text: &str) -> Option<u64> {
    let value = strip_ansi(text).lines().find_map(|line| {
        line.trim()
            .strip_prefix("System uptime:")
            .map(str::to_owned)
    })?;
    duration_seconds(&value)
}

/// `pjsip show endpoints` and friends: after the `=====` rule, each object starts with a line
/// whose label is the least indented (`Endpoint:`), and the indented lines below it
/// (`Aor:`, `Contact:`, `Transport:` ...) are gathered under their label.
fn pjsip(text: &str) -> Value {
    let body = text.split_once("=====").map_or(text, |(_, rest)| rest);
    let body = body.trim_start_matches('=');
    let labelled: Vec<(usize, &str, &str)> = body
        .lines()
        .filter_map(|line| {
            let indent = line.len() - line.trim_start().len();
            let (label, value) = line.trim_start().split_once(':')?;
            (!label.is_empty() && !label.contains(' ')).then_some((indent, label, value.trim()))
        })
        .filter(|(_, label, _)| *label != "Objects found")
        .collect();
    let Some(top) = labelled.iter().map(|(indent, _, _)| *indent).min() else {
        return Value::Array(Vec::new());
    };
    let mut objects: Vec<Map<String, Value>> = Vec::new();
    for (indent, label, value) in labelled {
        let key = column_key(label);
        if indent == top {
            let mut object = Map::new();
            object.insert("type".into(), json!(key));
            let mut words = value.split_whitespace();
            object.insert("name".into(), json!(words.next().unwrap_or("")));
            object.insert("detail".into(), json!(words.collect::<Vec<_>>().join(" ")));
            objects.push(object);
        } else if let Some(object) = objects.last_mut() {
            push(
                object,
                &key,
                json!(value.split_whitespace().collect::<Vec<_>>().join(" ")),
            );
        }
    }
    Value::Array(objects.into_iter().map(Value::Object).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concise_channels_take_fields_from_both_ends() {
        let text = "Local/900@demo-00000003;2!demo!900!2!Up!Dial!Local/800@demo,30!!!!3!10!a61eb919!1795408869.7\nLocal/1@x!demo!1!1!Up!Set!a!b!!!!3!1!(None)!1.2\n";
        let parsed = parse_cli_output("core show channels concise", text);
        assert_eq!(parsed.format, "channels_concise");
        let records = parsed.value.as_array().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["channel"], "Local/900@demo-00000003;2");
        assert_eq!(records[0]["data"], "Local/800@demo,30");
        assert_eq!(records[0]["duration"], "10");
        assert_eq!(records[0]["uniqueid"], "1795408869.7");
        assert_eq!(records[1]["data"], "a!b");
        assert_eq!(records[1]["bridged"], "(None)");
    }

    #[test]
    fn verbose_channels_split_on_header_columns_and_skip_summaries() {
        let text = "Channel              Context              Extension        Prio State   Application  Data                      CallerID        Duration Accountcode PeerAccount BridgedTo           \n\
Local/600@demo-00000 demo                 600                 1 Up      Wait         90                                        00:00:17                         (None)              \n\
Local/701@demo-00000 demo                 600                 1 Ringing AppQueue     (Outgoing Line)           600             00:00:02                         (None)              \n\
18 active channels\n9 active calls\n12 calls processed\n";
        let parsed = parse_cli_output("core show channels verbose", text);
        let records = parsed.value.as_array().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["prio"], "1");
        assert_eq!(records[1]["state"], "Ringing");
        assert_eq!(records[1]["data"], "(Outgoing Line)");
        assert_eq!(records[1]["callerid"], "600");
        assert_eq!(records[1]["bridgedto"], "(None)");
    }

    #[test]
    fn queue_show_with_ansi_codes_members_and_callers() {
        let text = "support has 1 calls (max unlimited) in 'ringall' strategy (2s holdtime, 0s talktime), W:0, C:3, A:4, SL:0.0% within 0s\r\n   Members: \r\n      Agent Two (Local/701@demo/n) (ringinuse disabled)\u{1b}[0m\u{1b}[0m (\u{1b}[1;32;40mIn use\u{1b}[0m) has taken no calls yet\r\n      Agent One (Local/700@demo/n from Local/700@demo/n) (ringinuse disabled) (in call) (In use) has taken 3 calls (last was 132 secs ago)\r\n   Callers: \r\n      1. Local/600@demo-00000009;2 (wait: 0:05, prio: 0)\r\n\r\nsales has 0 calls (max 5) in 'rrmemory' strategy (0s holdtime, 0s talktime), W:0, C:0, A:0, SL:0.0% within 60s\r\n   No Members\r\n   No Callers\r\n";
        let parsed = parse_cli_output("queue show", text);
        let queues = parsed.value.as_array().unwrap();
        assert_eq!(queues.len(), 2);
        assert_eq!(queues[0]["queue"], "support");
        assert_eq!(queues[0]["strategy"], "ringall");
        assert_eq!(queues[0]["holdtime"], 2);
        assert_eq!(queues[0]["completed"], 3);
        assert_eq!(queues[0]["abandoned"], 4);
        let members = queues[0]["members"].as_array().unwrap();
        assert_eq!(members[0]["name"], "Agent Two");
        assert_eq!(members[0]["interface"], "Local/701@demo/n");
        assert_eq!(members[0]["status"], "In use");
        assert_eq!(members[1]["calls_taken"], 3);
        assert_eq!(
            members[1]["flags"],
            json!(["ringinuse disabled", "in call"])
        );
        assert_eq!(
            queues[0]["callers"][0]["channel"],
            "Local/600@demo-00000009;2"
        );
        assert_eq!(queues[0]["callers"][0]["wait"], "0:05");
        assert_eq!(queues[1]["max"], 5);
        assert_eq!(queues[1]["members"], json!([]));
    }

    #[test]
    fn uptime_in_words_and_in_seconds() {
        let parsed = parse_cli_output(
            "core show uptime",
            "System uptime: 1 day, 2 hours, 3 minutes, 4 seconds\nLast reload: 5 minutes, 1 second\n",
        );
        assert_eq!(parsed.value["system_uptime_seconds"], 93_784);
        assert_eq!(parsed.value["last_reload_seconds"], 301);
        let seconds = parse_cli_output("core show uptime seconds", "System uptime: 3723\n");
        assert_eq!(seconds.value["system_uptime_seconds"], 3723);
    }

    #[test]
    fn uptime_too_large_for_seconds_keeps_only_the_text() {
        for text in [
            // Over u64 already as a number.
            "99999999999999999999 years",
            // A u64, but not once multiplied by the seconds in a year.
            "999999999999 years",
            // Each part fits; their sum does not.
            "500000000000 years, 500000000000 years",
        ] {
            let parsed = parse_cli_output("core show uptime", &format!("System uptime: {text}\n"));
            assert_eq!(parsed.value["system_uptime"], text);
            assert!(
                parsed.value.get("system_uptime_seconds").is_none(),
                "{text}: {:?}",
                parsed.value
            );
        }
        // The largest sum that fits still counts.
        let parsed = parse_cli_output(
            "core show uptime",
            "System uptime: 584942417355 years, 259199 seconds\n",
        );
        assert_eq!(
            parsed.value["system_uptime_seconds"],
            584_942_417_355u64 * 365 * 86_400 + 259_199
        );
    }

    /// Moved from the gateway, which had its own (saturating) copy of the parser.
    #[test]
    fn uptime_is_read_from_the_seconds_form() {
        assert_eq!(
            system_uptime_seconds("System uptime: 3600\nLast reload: 60\n"),
            Some(3600)
        );
        assert_eq!(system_uptime_seconds("System uptime: 1 hour\n"), Some(3600));
        assert_eq!(
            system_uptime_seconds("System uptime: 2 weeks, 1 day, 7 minutes, 16 seconds\n"),
            Some(15 * 86_400 + 436)
        );
        assert_eq!(system_uptime_seconds("System uptime: a while\n"), None);
        assert_eq!(system_uptime_seconds(""), None);
    }

    #[test]
    fn every_unit_and_overflowing_durations() {
        assert_eq!(
            duration_seconds("1 year, 2 weeks, 3 days, 4 hours, 5 minutes, 6 seconds"),
            Some(365 * 86_400 + 14 * 86_400 + 3 * 86_400 + 4 * 3_600 + 5 * 60 + 6)
        );
        assert_eq!(duration_seconds("<1 second"), Some(1));
        assert_eq!(duration_seconds("0 seconds"), Some(0));
        assert_eq!(duration_seconds("3 fortnights"), None);
        assert_eq!(duration_seconds(""), None);
        // Past u64 in the count, in the product, and in the sum: no panic, no figure.
        for text in [
            "99999999999999999999 seconds",
            "584942417356 years",
            "584942417355 years, 2271616 seconds",
            "18446744073709551615 seconds, 1 second",
        ] {
            assert_eq!(duration_seconds(text), None, "{text}");
            assert_eq!(
                system_uptime_seconds(&format!("System uptime: {text}\n")),
                None,
                "{text}"
            );
        }
        // The largest sum, to the second.
        assert_eq!(
            duration_seconds("584942417355 years, 2271615 seconds"),
            Some(u64::MAX)
        );
        assert_eq!(duration_seconds("18446744073709551615"), Some(u64::MAX));
    }

    #[test]
    fn sip_peers_table_and_pjsip_objects() {
        let peers = parse_cli_output(
            "sip show peers",
            "Name/username             Host                                    Dyn Forcerport Comedia    ACL Port     Status      Description\n100/100                   (Unspecified)                            D  Auto (No)  No             0        UNKNOWN\n1 sip peers [Monitored: 0 online, 1 offline Unmonitored: 0 online, 0 offline]\n",
        );
        assert_eq!(peers.format, "table");
        let records = peers.value.as_array().unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["name_username"], "100/100");
        assert_eq!(records[0]["status"], "UNKNOWN");

        let endpoints = parse_cli_output(
            "pjsip show endpoints",
            "\n Endpoint:  <Endpoint/CID.....................................>  <State.....>  <Channels.>\n==========================================================================================\n\n Endpoint:  100                                                  Unavailable   0 of inf\n     InAuth:  100/100\n        Aor:  100                                                1\n\n Endpoint:  101                                                  Not in use    0 of inf\n\nObjects found: 2\n",
        );
        assert_eq!(endpoints.format, "pjsip_objects");
        let objects = endpoints.value.as_array().unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0]["name"], "100");
        assert_eq!(objects[0]["detail"], "Unavailable 0 of inf");
        assert_eq!(objects[0]["inauth"], json!(["100/100"]));
        assert_eq!(objects[1]["name"], "101");
    }

    #[test]
    fn unknown_commands_give_lines() {
        let parsed = parse_cli_output("dialplan show demo", "[ Context 'demo' ]\n  '100' =>\n");
        assert_eq!(parsed.format, "lines");
        assert_eq!(parsed.value, json!(["[ Context 'demo' ]", "  '100' =>"]));
    }
}
