//! Rendering of results as JSON, NDJSON, aligned tables or YAML. Every subcommand prints
//! through here, so the formats are the same everywhere and `main` never formats anything.
//!
//! A result is a [`Document`]: one JSON value (what `--output json` prints) plus, for results
//! that are a list of records (a list action's items, parsed CLI tables), those records, which
//! `--output ndjson` prints one per line and `--output table` prints as aligned columns.
//! Streams (events) are printed value by value with [`write_stream_item`], flushed each time.

use std::io::{self, Write};

use ami_json::cli_output::ParsedOutput;
use ami_json::message_to_json;
use ami_proto::Message;
use ami_proto::session::{List, Reply};
use serde_json::{Map, Value, json};

/// `--output`: how results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON document, indented.
    Json,
    /// One compact JSON value per line: the records of a list, or the single result.
    Ndjson,
    /// Aligned columns for lists; `name  value` lines for a single result.
    Table,
    /// YAML (a `---` document per streamed item).
    Yaml,
    /// One line per event or record: its name and the few headers that tell a call's story
    /// (channel, state, extension, application, cause …), as `ami demo` shows events.
    Summary,
}

/// A result to print.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The whole result.
    pub value: Value,
    /// Its records, when it is a list of them.
    pub records: Option<Vec<Value>>,
}

impl Document {
    /// A single value with no records.
    pub fn single(value: Value) -> Self {
        Self {
            value,
            records: None,
        }
    }
}

/// The document for an action's reply: the response object; for a list action
/// `{"response": ..., "items": [...], "complete": ...}` with the items as records.
pub fn reply_document(reply: &Reply) -> Document {
    match reply {
        Reply::Response(response) => Document::single(message_value(response)),
        Reply::List(list) => list_document(list),
        Reply::Command(command) => Document::single(message_value(&command.response)),
        // The legacy `Queues` action answers with bare text and no response at all.
        Reply::Text(text) => Document::single(json!({ "_body": text })),
        // A newer kind of reply: its response, when it has one.
        other => Document::single(other.response().map(message_value).unwrap_or(Value::Null)),
    }
}

/// `{"response": ..., "items": [...], "complete": ...}`, the items being the records.
pub fn list_document(list: &List) -> Document {
    let items: Vec<Value> = list.items.iter().map(message_value).collect();
    Document {
        value: json!({
            "response": message_value(&list.response),
            "items": items,
            "complete": message_value(&list.complete),
        }),
        records: Some(items),
    }
}

/// A CLI output parsed by `ami_json::cli_output`: arrays are records (table rows or lines).
pub fn parsed_document(parsed: ParsedOutput) -> Document {
    let records = parsed.value.as_array().cloned();
    Document {
        value: parsed.value,
        records,
    }
}

/// A message in the one JSON mapping of `ami_json`.
pub fn message_value(message: &Message) -> Value {
    Value::Object(message_to_json(message))
}

/// Writes a whole document in `format`, then flushes.
pub fn write_document(out: &mut impl Write, format: Format, document: &Document) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &document.value)?;
            out.write_all(b"\n")?;
        }
        Format::Ndjson => match &document.records {
            Some(records) => {
                for record in records {
                    write_compact_line(out, record)?;
                }
            }
            None => write_compact_line(out, &document.value)?,
        },
        Format::Table => match &document.records {
            Some(records) => write_table(out, records)?,
            None => write_pairs(out, &document.value)?,
        },
        Format::Yaml => write_yaml(out, &document.value)?,
        Format::Summary => match &document.records {
            Some(records) => {
                for record in records {
                    writeln!(out, "{}", story_line(record))?;
                }
            }
            None => writeln!(out, "{}", story_line(&document.value))?,
        },
    }
    out.flush()
}

/// Writes one item of a stream (an event, a connection marker) and flushes, so a reader
/// downstream sees it at once.
pub fn write_stream_item(out: &mut impl Write, format: Format, value: &Value) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, value)?;
            out.write_all(b"\n")?;
        }
        Format::Ndjson => write_compact_line(out, value)?,
        Format::Table => {
            out.write_all(summary_line(value).as_bytes())?;
            out.write_all(b"\n")?;
        }
        Format::Yaml => {
            out.write_all(b"---\n")?;
            write_yaml(out, value)?;
        }
        Format::Summary => writeln!(out, "{}", story_line(value))?,
    }
    out.flush()
}

/// The headers worth reading in a one-line summary, in this order; the rest are left out.
const STORY_HEADERS: [&str; 13] = [
    "Channel",
    "DestChannel",
    "ChannelStateDesc",
    "Exten",
    "Application",
    "AppData",
    "Variable",
    "Value",
    "UserEvent",
    "Response",
    "Message",
    "DialStatus",
    "Cause-txt",
];

/// `Event  Name=value ...` with the headers of [`STORY_HEADERS`] a message has (an event, a
/// list item or a response); a stream marker (`_lagged`, `_connection`) is shown whole.
pub fn story_line(value: &Value) -> String {
    let Some(object) = value.as_object() else {
        return cell(value);
    };
    let Some(name) = object
        .get("Event")
        .or_else(|| object.get("Response"))
        .and_then(Value::as_str)
    else {
        return summary_line(value);
    };
    let mut line = format!("{name:<18}");
    // A response is already named by its Response value; an event's Response header
    // (OriginateResponse) is part of its story.
    let is_event = object.contains_key("Event");
    for header in STORY_HEADERS {
        if let Some(found) = object
            .get(header)
            .filter(|_| is_event || header != "Response")
        {
            line.push_str(&format!(
                " {header}={}",
                cell(found).replace(['\r', '\n'], " ")
            ));
        }
    }
    line
}

/// True when `error` comes from writing to a reader that went away (`ami ... | head`): the
/// normal end of a pipeline, to be met with a quiet exit 0.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn write_compact_line(out: &mut impl Write, value: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// A cell's text: strings as they are, repeated headers joined with `, `, `{"latin1": s}` as
/// `s`, other objects as `key=value` pairs.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        Value::Object(map) if is_latin1(map) => map.get("latin1").map(cell).unwrap_or_default(),
        // Never JSON text in a cell: `key=value` pairs.
        Value::Object(map) => map
            .iter()
            .map(|(key, value)| format!("{key}={}", cell(value)))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// Columns shared by every row of an AMI list carry no information (`ActionID`, and `Event`
/// when every item is the same event), so a table leaves them out.
fn is_constant_noise(key: &str, rows: &[&Map<String, Value>]) -> bool {
    if key.eq_ignore_ascii_case("ActionID") {
        return true;
    }
    if !key.eq_ignore_ascii_case("Event") || rows.len() < 2 {
        return false;
    }
    let first = rows[0].get(key);
    rows.iter().all(|row| row.get(key) == first)
}

/// How tables are laid out beyond their records: set once by `main` from the command line
/// and the terminal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableStyle {
    /// Fit this many columns of text (stdout is a terminal this wide): long cells are cut and
    /// the columns that do not fit are left out, with a note saying so.
    pub width: Option<usize>,
    /// Only these columns, in this order (`--columns`; names compare case-insensitively).
    pub columns: Option<Vec<String>>,
}

static TABLE_STYLE: std::sync::OnceLock<TableStyle> = std::sync::OnceLock::new();

/// Sets how tables are laid out for the rest of the process (the first call wins).
pub fn set_table_style(style: TableStyle) {
    let _ = TABLE_STYLE.set(style);
}

/// Longest cell shown when a table is fitted to a terminal.
const MAX_CELL_CHARS: usize = 40;

/// Records as aligned columns, laid out as [`set_table_style`] says. The columns are every
/// key, in first-seen order, nested values flattened (`members.0.name`); a list of several
/// item types (QueueStatus: QueueParams, QueueMember, QueueEntry) gets one table per type;
/// records that are not objects (lines of CLI text) are printed one per line; an empty list
/// says so.
pub fn write_table(out: &mut impl Write, records: &[Value]) -> io::Result<()> {
    write_table_styled(
        out,
        records,
        TABLE_STYLE.get().unwrap_or(&TableStyle::default()),
    )
}

fn write_table_styled(
    out: &mut impl Write,
    records: &[Value],
    style: &TableStyle,
) -> io::Result<()> {
    if records.is_empty() {
        return out.write_all(b"(no items)\n");
    }
    if records.iter().any(|record| !record.is_object()) {
        for record in records {
            out.write_all(cell(record).as_bytes())?;
            out.write_all(b"\n")?;
        }
        return Ok(());
    }
    let flat: Vec<Map<String, Value>> = records.iter().map(flatten).collect();
    // One table per item type, in the order the types first appear.
    let mut kinds: Vec<Option<&Value>> = Vec::new();
    for record in &flat {
        let kind = record.get("Event");
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if kinds.len() < 2 {
        let rows: Vec<&Map<String, Value>> = flat.iter().collect();
        return write_one_table(out, &rows, style, false);
    }
    for (index, kind) in kinds.iter().enumerate() {
        let rows: Vec<&Map<String, Value>> = flat
            .iter()
            .filter(|row| row.get("Event") == *kind)
            .collect();
        if index > 0 {
            out.write_all(b"\n")?;
        }
        let name = kind.map(cell).unwrap_or_else(|| "(no Event)".to_owned());
        writeln!(out, "{name} ({})", rows.len())?;
        // The heading names the type: no Event column under it.
        write_one_table(out, &rows, style, true)?;
    }
    Ok(())
}

/// A record with nested objects and arrays of objects spread into `parent.child` keys, so
/// no cell ever holds JSON text.
fn flatten(record: &Value) -> Map<String, Value> {
    fn spread(prefix: &str, value: &Value, out: &mut Map<String, Value>) {
        match value {
            Value::Object(map) if !is_latin1(map) => {
                for (key, inner) in map {
                    spread(&format!("{prefix}.{key}"), inner, out);
                }
            }
            Value::Array(items) if items.iter().any(Value::is_object) => {
                for (index, inner) in items.iter().enumerate() {
                    spread(&format!("{prefix}.{index}"), inner, out);
                }
            }
            other => {
                out.insert(prefix.to_owned(), other.clone());
            }
        }
    }
    let mut out = Map::new();
    match record.as_object() {
        Some(map) => {
            for (key, value) in map {
                spread(key, value, &mut out);
            }
        }
        None => {
            out.insert("value".to_owned(), record.clone());
        }
    }
    out
}

fn is_latin1(map: &Map<String, Value>) -> bool {
    map.len() == 1 && map.get("latin1").is_some_and(Value::is_string)
}

fn write_one_table(
    out: &mut impl Write,
    objects: &[&Map<String, Value>],
    style: &TableStyle,
    under_heading: bool,
) -> io::Result<()> {
    let mut columns: Vec<&str> = Vec::new();
    for object in objects {
        for key in object.keys() {
            if !columns.contains(&key.as_str()) {
                columns.push(key);
            }
        }
    }
    let named_by_heading = |key: &str| under_heading && key == "Event";
    columns.retain(|key| !(is_constant_noise(key, objects) || named_by_heading(key)));
    if let Some(chosen) = &style.columns {
        columns = chosen
            .iter()
            .filter_map(|name| {
                columns
                    .iter()
                    .find(|c| c.eq_ignore_ascii_case(name))
                    .copied()
            })
            .collect();
    }
    if columns.is_empty() {
        return out.write_all(b"(no columns)\n");
    }
    let fit = |text: String| match style.width {
        Some(_) if width(&text) > MAX_CELL_CHARS => {
            let mut cut: String = text.chars().take(MAX_CELL_CHARS - 1).collect();
            cut.push('…');
            cut
        }
        _ => text,
    };
    let rows: Vec<Vec<String>> = objects
        .iter()
        .map(|object| {
            columns
                .iter()
                .map(|key| object.get(*key).map(cell).unwrap_or_default())
                .map(|text| fit(text.replace(['\r', '\n', '\t'], " ")))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(index, name)| {
            rows.iter()
                .map(|row| width(&row[index]))
                .chain([width(name)])
                .max()
                .unwrap_or(0)
        })
        .collect();
    // On a terminal, the columns that fit, left to right (always at least the first).
    let shown = match style.width {
        Some(limit) => {
            let mut used = 0usize;
            widths
                .iter()
                .take_while(|w| {
                    let next = used + **w + usize::from(used > 0) * 2;
                    let fits = used == 0 || next <= limit;
                    used = next;
                    fits
                })
                .count()
        }
        None => columns.len(),
    };
    widths.truncate(shown);
    let header: Vec<String> = columns[..shown]
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    write_row(out, &header, &widths)?;
    for row in &rows {
        write_row(out, &row[..shown], &widths)?;
    }
    if shown < columns.len() {
        writeln!(
            out,
            "({} more columns: {} …; choose with --columns A,B or see all with -o json)",
            columns.len() - shown,
            columns[shown..]
                .iter()
                .take(4)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    Ok(())
}

fn width(text: &str) -> usize {
    text.chars().count()
}

fn write_row(out: &mut impl Write, cells: &[String], widths: &[usize]) -> io::Result<()> {
    let mut line = String::new();
    for (index, (text, width)) in cells.iter().zip(widths).enumerate() {
        if index + 1 == cells.len() {
            // No padding after the last column: no trailing blanks.
            line.push_str(text);
        } else {
            line.push_str(text);
            line.extend(std::iter::repeat_n(' ', width - self::width(text) + 2));
        }
    }
    out.write_all(line.trim_end().as_bytes())?;
    out.write_all(b"\n")
}

/// A single object as `name  value` lines with the names aligned; anything else as a cell.
fn write_pairs(out: &mut impl Write, value: &Value) -> io::Result<()> {
    let Some(object) = value.as_object() else {
        out.write_all(cell(value).as_bytes())?;
        return out.write_all(b"\n");
    };
    let name_width = object.keys().map(|key| width(key)).max().unwrap_or(0);
    for (key, value) in object {
        let mut line = format!("{key}{}", " ".repeat(name_width - width(key) + 2));
        line.push_str(&cell(value));
        out.write_all(line.trim_end().as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// One line for a streamed item in table mode: the event name, then `Name=value` pairs.
fn summary_line(value: &Value) -> String {
    let Some(object) = value.as_object() else {
        return cell(value);
    };
    let mut parts: Vec<String> = Vec::with_capacity(object.len());
    for (key, value) in object {
        let text = cell(value).replace(['\r', '\n'], " ");
        if key == "Event" {
            parts.insert(0, text);
        } else {
            parts.push(format!("{key}={text}"));
        }
    }
    parts.join("  ")
}

/// Writes `value` as a YAML block document. Hand-written (about 80 lines) rather than a
/// dependency: the values are plain JSON, and strings that a YAML reader could take for
/// something else are written as JSON strings, which are valid YAML double-quoted scalars.
pub fn write_yaml(out: &mut impl Write, value: &Value) -> io::Result<()> {
    let mut text = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => yaml_map(&mut text, map, 0),
        Value::Array(items) if !items.is_empty() => yaml_seq(&mut text, items, 0),
        scalar => {
            text.push_str(&yaml_scalar(scalar));
            text.push('\n');
        }
    }
    out.write_all(text.as_bytes())
}

fn yaml_map(text: &mut String, map: &Map<String, Value>, indent: usize) {
    for (index, (key, value)) in map.iter().enumerate() {
        // The first key of a map inside a sequence item shares the `- ` line.
        if index > 0 || indent == 0 {
            push_indent(text, indent);
        }
        text.push_str(&yaml_string(key));
        text.push(':');
        yaml_value_after_key(text, value, indent);
    }
}

fn yaml_value_after_key(text: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            text.push('\n');
            push_indent(text, indent + 2);
            yaml_map(text, map, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            text.push('\n');
            yaml_seq(text, items, indent);
        }
        scalar => {
            text.push(' ');
            text.push_str(&yaml_scalar(scalar));
            text.push('\n');
        }
    }
}

fn yaml_seq(text: &mut String, items: &[Value], indent: usize) {
    for item in items {
        push_indent(text, indent);
        text.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => yaml_map(text, map, indent + 2),
            Value::Array(inner) if !inner.is_empty() => {
                text.push('\n');
                yaml_seq(text, inner, indent + 2);
            }
            scalar => {
                text.push_str(&yaml_scalar(scalar));
                text.push('\n');
            }
        }
    }
}

fn push_indent(text: &mut String, indent: usize) {
    text.extend(std::iter::repeat_n(' ', indent));
}

fn yaml_scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => yaml_string(text),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// A string plain when no YAML reader could misread it, double-quoted otherwise.
fn yaml_string(text: &str) -> String {
    if is_plain_safe(text) {
        text.to_owned()
    } else {
        Value::String(text.to_owned()).to_string()
    }
}

fn is_plain_safe(text: &str) -> bool {
    const RESERVED: [&str; 12] = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", "nan", "inf",
    ];
    let Some(first) = text.chars().next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_' || first == '/')
        && !text.ends_with(' ')
        && !RESERVED.iter().any(|word| text.eq_ignore_ascii_case(word))
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.ends_with(':')
        && text.chars().all(|c| {
            // Flow indicators (`[]{},`) are left out: they end a plain scalar in some readers.
            c.is_ascii_alphanumeric() || " _-./@:()+=;*<>'$%&!?|^~".contains(c)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(format: Format, document: &Document) -> String {
        let mut out = Vec::new();
        write_document(&mut out, format, document).expect("writing to a Vec never fails");
        String::from_utf8(out).expect("renderers write UTF-8")
    }

    fn table(records: &[Value], style: &TableStyle) -> String {
        let mut out = Vec::new();
        write_table_styled(&mut out, records, style).expect("writing to a Vec never fails");
        String::from_utf8(out).expect("renderers write UTF-8")
    }

    #[test]
    fn an_empty_list_says_so() {
        assert_eq!(table(&[], &TableStyle::default()), "(no items)\n");
    }

    #[test]
    fn several_item_types_get_a_table_each() {
        let records = vec![
            json!({"Event": "QueueParams", "Queue": "support", "Calls": "2"}),
            json!({"Event": "QueueMember", "Queue": "support", "Name": "Alice", "Paused": "0"}),
            json!({"Event": "QueueMember", "Queue": "support", "Name": "Bob", "Paused": "1"}),
            json!({"Event": "QueueEntry", "Queue": "support", "Position": "1"}),
        ];
        let text = table(&records, &TableStyle::default());
        assert_eq!(
            text,
            "QueueParams (1)\nQueue    Calls\nsupport  2\n\n\
             QueueMember (2)\nQueue    Name   Paused\nsupport  Alice  0\nsupport  Bob    1\n\n\
             QueueEntry (1)\nQueue    Position\nsupport  1\n"
        );
    }

    #[test]
    fn nested_values_are_columns_not_json_text() {
        let records = vec![
            json!({"queue": "support", "members": [{"name": "Alice", "paused": false}], "uptime": {"seconds": 5}}),
        ];
        let text = table(&records, &TableStyle::default());
        assert!(!text.contains('{') && !text.contains('"'), "{text}");
        assert!(
            text.contains("members.0.name") && text.contains("uptime.seconds"),
            "{text}"
        );
    }

    #[test]
    fn a_terminal_table_cuts_long_cells_and_leaves_out_what_does_not_fit() {
        let long = "x".repeat(100);
        let records = vec![json!({"A": long, "B": "b", "C": "c".repeat(30), "D": "d"})];
        let text = table(
            &records,
            &TableStyle {
                width: Some(50),
                columns: None,
            },
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines.iter().take(2).all(|line| line.chars().count() <= 50),
            "{text}"
        );
        assert!(lines[1].contains('…'), "{text}");
        assert!(lines[2].starts_with("(2 more columns: C, D"), "{text}");
        // Piped (no width): everything, whole.
        assert!(table(&records, &TableStyle::default()).contains(&long));
    }

    #[test]
    fn columns_are_chosen_in_the_order_given() {
        let records = vec![json!({"Channel": "PJSIP/1", "State": "Up", "Duration": "00:01"})];
        let style = TableStyle {
            width: None,
            columns: Some(vec!["duration".into(), "Channel".into()]),
        };
        assert_eq!(
            table(&records, &style),
            "Duration  Channel\n00:01     PJSIP/1\n"
        );
    }

    fn peers() -> Document {
        let items = vec![
            json!({"Event": "PeerEntry", "ActionID": "a1", "ObjectName": "100", "Status": "OK (5 ms)"}),
            json!({"Event": "PeerEntry", "ActionID": "a1", "ObjectName": "2000", "Status": "UNKNOWN", "Extra": ["x", "y"]}),
        ];
        Document {
            value: json!({"items": items.clone()}),
            records: Some(items),
        }
    }

    #[test]
    fn table_aligns_columns_and_drops_constant_noise() {
        let text = render(Format::Table, &peers());
        assert_eq!(
            text,
            "ObjectName  Status     Extra\n\
             100         OK (5 ms)\n\
             2000        UNKNOWN    x, y\n"
        );
    }

    #[test]
    fn table_splits_by_event_when_events_differ() {
        let records = vec![
            json!({"Event": "A", "X": "1"}),
            json!({"Event": "B", "X": "2"}),
        ];
        let text = render(
            Format::Table,
            &Document {
                value: Value::Null,
                records: Some(records),
            },
        );
        assert_eq!(text, "A (1)\nX\n1\n\nB (1)\nX\n2\n");
    }

    #[test]
    fn table_of_lines_prints_each_line() {
        let document = parsed_document(ParsedOutput {
            format: "lines",
            value: json!(["one", "two"]),
        });
        assert_eq!(render(Format::Table, &document), "one\ntwo\n");
    }

    #[test]
    fn table_of_a_single_object_aligns_names() {
        let document = Document::single(
            json!({"Response": "Success", "Ping": "Pong", "Name": {"latin1": "Fran\u{e7}ois"}}),
        );
        assert_eq!(
            render(Format::Table, &document),
            "Response  Success\nPing      Pong\nName      Fran\u{e7}ois\n"
        );
    }

    #[test]
    fn ndjson_prints_records_one_per_line_or_the_single_value() {
        let text = render(Format::Ndjson, &peers());
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is JSON"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["ObjectName"], "2000");
        let single = render(Format::Ndjson, &Document::single(json!({"a": "b"})));
        assert_eq!(single, "{\"a\":\"b\"}\n");
    }

    #[test]
    fn json_is_one_document() {
        let text = render(Format::Json, &peers());
        let value: Value = serde_json::from_str(&text).expect("one JSON document");
        assert_eq!(value["items"][0]["Status"], "OK (5 ms)");
    }

    #[test]
    fn yaml_quotes_what_a_reader_could_misread() {
        let value = json!({
            "Response": "Success",
            "Port": "5038",
            "Empty": "",
            "Flag": "yes",
            "Colon": "a: b",
            "Channel": "SIP/100-00000001",
            "Output": ["line one", "  indented"],
            "Nested": {"k": "v", "list": []},
        });
        let mut out = Vec::new();
        write_yaml(&mut out, &value).expect("Vec");
        let text = String::from_utf8(out).expect("UTF-8");
        assert_eq!(
            text,
            "Response: Success\n\
             Port: \"5038\"\n\
             Empty: \"\"\n\
             Flag: \"yes\"\n\
             Colon: \"a: b\"\n\
             Channel: SIP/100-00000001\n\
             Output:\n\
             - line one\n\
             - \"  indented\"\n\
             Nested:\n  k: v\n  list: []\n"
        );
    }

    #[test]
    fn yaml_sequence_of_maps_shares_the_dash_line() {
        let mut out = Vec::new();
        write_yaml(
            &mut out,
            &json!({"items": [{"a": "x", "b": "w"}, {"a": "z"}]}),
        )
        .expect("Vec");
        assert_eq!(
            String::from_utf8(out).expect("UTF-8"),
            "items:\n- a: x\n  b: w\n- a: z\n"
        );
    }

    #[test]
    fn yaml_escapes_line_breaks() {
        let mut out = Vec::new();
        write_yaml(&mut out, &json!({"_body": "a\nb\n"})).expect("Vec");
        assert_eq!(
            String::from_utf8(out).expect("UTF-8"),
            "_body: \"a\\nb\\n\"\n"
        );
    }

    #[test]
    fn stream_items_in_table_mode_are_one_line_each() {
        let mut out = Vec::new();
        let event = json!({"Privilege": "call,all", "Event": "Hangup", "Channel": "SIP/1\r\nx"});
        write_stream_item(&mut out, Format::Table, &event).expect("Vec");
        assert_eq!(
            String::from_utf8(out).expect("UTF-8"),
            "Hangup  Privilege=call,all  Channel=SIP/1  x\n"
        );
    }

    #[test]
    fn broken_pipe_is_recognised_through_context() {
        let error = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe))
            .context("cannot write the output");
        assert!(is_broken_pipe(&error));
        let other = anyhow::Error::from(io::Error::from(io::ErrorKind::NotFound));
        assert!(!is_broken_pipe(&other));
    }
}
