//! The one JSON mapping used by the CLI and the gateway.
//!
//! - A message becomes an object whose keys are its header names as spelled on the wire, in the
//!   order each name first appears. A name seen once maps to a string; a name repeated (same
//!   spelling) maps to an array of strings in wire order.
//! - Lines without a `name:` part map to `"_text"`: an array of strings.
//! - The legacy Command body (Asterisk 13 and older) maps to `"_body"`: one string, exactly as
//!   sent, without `--END COMMAND--`.
//! - A message cut off by the end of the stream carries `"_truncated": true`.
//! - A value that is not valid UTF-8 maps to `{"latin1": "..."}`: each byte becomes the
//!   character with the same number (U+0000..U+00FF), so the original bytes are recovered by
//!   taking each character's code point as a byte. Names that are not UTF-8 (never seen in
//!   practice) are read the same way without the wrapper.
//! - The banner maps to `{"_banner": "<whole line>", "_version": "<version>"}`.
//!
//! [`message_from_json`] turns such an object back into a message, and [`action_from_json`]
//! (from a parsed value) or [`action_from_json_slice`] (from JSON text, without building a
//! tree) turns a JSON object of headers into an [`Action`], both through one mapping.
//!
//! Two ways out, one mapping: [`message_to_json`] builds the object (to inspect or extend it),
//! [`MessageJson`] writes the same text through serde without building it, taking a direct
//! path for the common event (each name once, all UTF-8), which is what event streams carry.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use ami_proto::syntax::{self, EncodeError, MAX_ACTION_LINES};
use ami_proto::{Action, Banner, Message, Packet};

/// Key holding lines without a `name:` part.
pub const TEXT_KEY: &str = "_text";
/// Key holding the legacy Command body.
pub const BODY_KEY: &str = "_body";
/// Key marking a message cut off by the end of the stream.
pub const TRUNCATED_KEY: &str = "_truncated";
/// Key holding the banner line.
pub const BANNER_KEY: &str = "_banner";
/// Key holding the banner's version.
pub const VERSION_KEY: &str = "_version";
/// Key of the wrapper object for bytes that are not UTF-8.
pub const LATIN1_KEY: &str = "latin1";

/// Why a JSON value could not be turned into AMI headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The top level was not an object.
    #[error("expected a JSON object of headers")]
    NotAnObject,
    /// A header's value had a type AMI cannot carry (null, nested arrays, other objects).
    #[error(
        "header {name:?}: expected a string, number, boolean, {{\"latin1\": ...}} or an array of those"
    )]
    BadValue {
        /// The header concerned.
        name: String,
    },
    /// A `latin1` string held a character above U+00FF.
    #[error("header {name:?}: a \"latin1\" string may only hold characters up to U+00FF")]
    NotLatin1 {
        /// The header concerned.
        name: String,
    },
    /// The header was refused by the encoder (line break, bad name, over Asterisk's limits).
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// An `Action` key: the action is named by the caller (a path, an argument), and a second
    /// `Action:` line would leave it to the server which one counts.
    #[error("the action is named apart from its headers; leave the \"Action\" key out")]
    ActionKey,
    /// The same key twice in one object: JSON readers disagree on which one counts.
    #[error("header {name:?} is given twice; give repeated headers as one array")]
    DuplicateKey {
        /// The header concerned.
        name: String,
    },
    /// The text is not JSON. The message names what was expected and where, never the input.
    #[error("not valid JSON: {message}")]
    Syntax {
        /// The parser's description, with line and column.
        message: String,
    },
}

impl JsonError {
    /// Whether the headers were refused for exceeding Asterisk's size limits (too many lines,
    /// a line too long) rather than for their content.
    pub fn is_too_large(&self) -> bool {
        matches!(self, Self::Encode(error) if error.is_too_large())
    }
}

/// Maps bytes to a JSON string, or `{"latin1": ...}` when they are not UTF-8.
pub fn bytes_to_json(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => {
            let mut wrapper = Map::with_capacity(1);
            wrapper.insert(
                LATIN1_KEY.to_owned(),
                Value::String(latin1_to_string(bytes)),
            );
            Value::Object(wrapper)
        }
    }
}

fn latin1_to_string(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn name_to_string(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => latin1_to_string(bytes),
    }
}

/// Maps a message to a JSON object (see the module docs).
pub fn message_to_json(message: &Message) -> Map<String, Value> {
    let mut object = Map::with_capacity(message.len());
    let mut text_lines = Vec::new();
    for field in message.fields() {
        let value = bytes_to_json(field.value());
        if field.is_text_line() {
            text_lines.push(value);
            continue;
        }
        let name = name_to_string(field.name());
        match object.get_mut(&name) {
            None => {
                object.insert(name, value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
    if !text_lines.is_empty() {
        object.insert(TEXT_KEY.to_owned(), Value::Array(text_lines));
    }
    if let Some(body) = message.body() {
        object.insert(BODY_KEY.to_owned(), bytes_to_json(body));
    }
    if message.is_truncated() {
        object.insert(TRUNCATED_KEY.to_owned(), Value::Bool(true));
    }
    object
}

/// Maps a banner to `{"_banner": ..., "_version": ...}`.
pub fn banner_to_json(banner: &Banner) -> Map<String, Value> {
    let mut object = Map::with_capacity(2);
    object.insert(BANNER_KEY.to_owned(), bytes_to_json(banner.line()));
    object.insert(
        VERSION_KEY.to_owned(),
        Value::String(banner.version().into_owned()),
    );
    object
}

/// Maps any decoded packet.
pub fn packet_to_json(packet: &Packet) -> Map<String, Value> {
    match packet {
        Packet::Banner(banner) => banner_to_json(banner),
        Packet::Message(message) => message_to_json(message),
    }
}

/// A message in the same mapping as [`message_to_json`], written by serde straight into the
/// output (`serde_json::to_writer(&mut out, &MessageJson(&message))`).
///
/// Two paths, one mapping: the common event (every header named once, no text lines or body,
/// not truncated, all UTF-8) is, in this mapping, just its names and values in wire order, so
/// it is written as such without building a map first (that was most of the cost of an event
/// stream); any other message goes through [`message_to_json`].
#[derive(Debug, Clone, Copy)]
pub struct MessageJson<'a>(pub &'a Message);

impl serde::Serialize for MessageJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match plain_fields(self.0) {
            Some(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (name, value) in fields {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
            None => message_to_json(self.0).serialize(serializer),
        }
    }
}

/// The names and values of a message that needs nothing of the mapping but those (see
/// [`MessageJson`]); `None` for any other.
fn plain_fields(message: &Message) -> Option<Vec<(&str, &str)>> {
    if message.body().is_some() || message.is_truncated() {
        return None;
    }
    let mut fields: Vec<(&str, &str)> = Vec::with_capacity(message.len());
    for field in message.fields() {
        if field.is_text_line() {
            return None;
        }
        let name = std::str::from_utf8(field.name()).ok()?;
        // A repeated name becomes an array: the general path's job. Events have a few dozen
        // headers at most, so a scan beats hashing.
        if fields.iter().any(|(seen, _)| *seen == name) {
            return None;
        }
        fields.push((name, std::str::from_utf8(field.value()).ok()?));
    }
    Some(fields)
}

/// Recovers the bytes of one JSON value: a string, a number or boolean (as written), or the
/// `{"latin1": ...}` wrapper.
pub fn json_to_bytes(name: &str, value: &Value) -> Result<Vec<u8>, JsonError> {
    match value {
        Value::String(text) => Ok(text.as_bytes().to_vec()),
        Value::Number(number) => Ok(number.to_string().into_bytes()),
        Value::Bool(flag) => Ok(flag.to_string().into_bytes()),
        Value::Object(wrapper) if wrapper.len() == 1 => match wrapper.get(LATIN1_KEY) {
            Some(Value::String(text)) => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| JsonError::NotLatin1 {
                    name: name.to_owned(),
                }),
            _ => Err(JsonError::BadValue {
                name: name.to_owned(),
            }),
        },
        _ => Err(JsonError::BadValue {
            name: name.to_owned(),
        }),
    }
}

/// Calls `each(name, bytes)` for every header of a JSON object, arrays expanded in order.
fn for_each_header(
    object: &Map<String, Value>,
    mut each: impl FnMut(&str, Vec<u8>) -> Result<(), JsonError>,
) -> Result<(), JsonError> {
    for (name, value) in object {
        match value {
            Value::Array(values) => {
                for value in values {
                    each(name, json_to_bytes(name, value)?)?;
                }
            }
            value => each(name, json_to_bytes(name, value)?)?,
        }
    }
    Ok(())
}

/// Builds an action from a JSON object of headers (arrays for repeated keys, see
/// [`action_from_json_slice`] for the rules).
pub fn action_from_json(name: &str, headers: &Value) -> Result<Action, JsonError> {
    let mut builder = ActionBuilder::new(name);
    let result = HeadersSeed(&mut builder).deserialize(headers);
    builder.finish(result.map_err(|error| builder_error(&error)))
}

/// Builds an action from JSON text holding an object of headers, reading the text once without
/// building a JSON tree: it stops at the first header past Asterisk's limits, so a huge array
/// costs no more memory than the text itself.
///
/// Values are strings, numbers, booleans or `{"latin1": ...}`; an array sends its key once per
/// element (an empty one sends nothing but counts as a line). Refused with a typed error: a
/// key given twice, an `Action` key (the action is `name`), line breaks and bad names, more
/// than [`MAX_ACTION_LINES`] lines once the session adds its `ActionID` (unless one is given),
/// and lines over [`syntax::MAX_LINE_BYTES`]. No error repeats a value.
pub fn action_from_json_slice(name: &str, text: &[u8]) -> Result<Action, JsonError> {
    let mut builder = ActionBuilder::new(name);
    let mut reader = serde_json::Deserializer::from_slice(text);
    let result = HeadersSeed(&mut builder)
        .deserialize(&mut reader)
        .and_then(|()| reader.end());
    builder.finish(result.map_err(|error| builder_error(&error)))
}

/// The action being built, and the first typed error (a serde error can carry only text, and
/// serde's own texts may quote the input).
struct ActionBuilder {
    action: Action,
    /// Lines so far, `Action:` included.
    lines: usize,
    /// Keys seen, for the duplicate check (at most [`MAX_ACTION_LINES`]: each counts a line).
    keys: Vec<String>,
    /// The key whose value is being read, for errors about it.
    current: Option<String>,
    failure: Option<JsonError>,
}

/// What an error from the reader means, once the builder has had its say.
enum ReadError {
    /// Refused by the builder, or a type the mapping does not take: see the builder.
    Data,
    /// The text itself is not JSON.
    Syntax(String),
}

fn builder_error(error: &serde_json::Error) -> ReadError {
    match error.classify() {
        // Syntax and end-of-input texts name what was expected and where, never the input.
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            ReadError::Syntax(error.to_string())
        }
        serde_json::error::Category::Data | serde_json::error::Category::Io => ReadError::Data,
    }
}

impl ActionBuilder {
    fn new(name: &str) -> Self {
        Self {
            action: Action::new(name),
            lines: 1,
            keys: Vec::new(),
            current: None,
            failure: None,
        }
    }

    /// Records why the input is refused, for [`ActionBuilder::finish`]; the returned serde
    /// error only stops the reader.
    fn fail<E: de::Error>(&mut self, error: JsonError) -> E {
        self.failure.get_or_insert(error);
        E::custom("refused")
    }

    fn bad_value<E: de::Error>(&mut self) -> E {
        let name = self.current.clone().unwrap_or_default();
        self.fail(JsonError::BadValue { name })
    }

    /// Counts one more line, refusing it as soon as the action cannot fit.
    fn count_line<E: de::Error>(&mut self) -> Result<(), E> {
        self.lines += 1;
        if self.lines > MAX_ACTION_LINES {
            let lines = self.lines;
            return Err(self.fail(
                EncodeError::TooManyLines {
                    lines,
                    max: MAX_ACTION_LINES,
                }
                .into(),
            ));
        }
        Ok(())
    }

    fn key<E: de::Error>(&mut self, key: &str) -> Result<(), E> {
        let checked = syntax::check_name(key).and_then(|()| syntax::check_line_len(key, 0));
        if let Err(error) = checked {
            return Err(self.fail(error.into()));
        }
        if key.eq_ignore_ascii_case("Action") {
            return Err(self.fail(JsonError::ActionKey));
        }
        if self.keys.iter().any(|seen| seen == key) {
            let name = key.to_owned();
            return Err(self.fail(JsonError::DuplicateKey { name }));
        }
        // Every key costs a line, even an empty array's: the count of keys stays bounded too.
        self.count_line()?;
        self.keys.push(key.to_owned());
        self.current = Some(key.to_owned());
        Ok(())
    }

    /// One value of the current key: checked, then appended.
    fn value<E: de::Error>(&mut self, value: &[u8], first: bool) -> Result<(), E> {
        let name = self.current.clone().unwrap_or_default();
        if !first {
            self.count_line()?;
        }
        let checked = syntax::check_line_len(&name, value.len())
            .and_then(|()| syntax::check_value(&name, value));
        if let Err(error) = checked {
            return Err(self.fail(error.into()));
        }
        self.action.push(name, value.to_vec());
        Ok(())
    }

    fn finish(mut self, read: Result<(), ReadError>) -> Result<Action, JsonError> {
        match read {
            Ok(()) => {}
            Err(ReadError::Syntax(message)) => return Err(JsonError::Syntax { message }),
            Err(ReadError::Data) => {
                // A type the visitors do not take falls through serde's defaults, whose text
                // may quote the value: say which header instead.
                return Err(self.failure.take().unwrap_or(match self.current {
                    Some(name) => JsonError::BadValue { name },
                    None => JsonError::NotAnObject,
                }));
            }
        }
        // The session adds an ActionID when the caller gave none: it needs its line too.
        let lines = self.lines + usize::from(self.action.action_id().is_none());
        if lines > MAX_ACTION_LINES {
            return Err(EncodeError::TooManyLines {
                lines,
                max: MAX_ACTION_LINES,
            }
            .into());
        }
        ami_proto::check_action(&self.action)?;
        Ok(self.action)
    }
}

/// The top level: an object of headers.
struct HeadersSeed<'a>(&'a mut ActionBuilder);

impl<'de> DeserializeSeed<'de> for HeadersSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeadersSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of headers")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(KeySeed(&mut *self.0))?.is_some() {
            map.next_value_seed(ValueSeed(&mut *self.0))?;
            self.0.current = None;
        }
        Ok(())
    }
}

/// A key: checked before it is copied, so a huge key costs nothing.
struct KeySeed<'a>(&'a mut ActionBuilder);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a header name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<(), E> {
        self.0.key(key)
    }
}

/// A header's value: one scalar, or an array of them (the key repeated).
struct ValueSeed<'a>(&'a mut ActionBuilder);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a header value or an array of them")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut first = true;
        while seq
            .next_element_seed(ScalarSeed {
                builder: &mut *self.0,
                first,
            })?
            .is_some()
        {
            first = false;
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
        self.0.value(value.as_bytes(), true)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        ScalarSeed::new(self.0).visit_bool(value)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        ScalarSeed::new(self.0).visit_i64(value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        ScalarSeed::new(self.0).visit_u64(value)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        ScalarSeed::new(self.0).visit_f64(value)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        ScalarSeed::new(self.0).visit_map(map)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.0.bad_value())
    }
}

/// One value: a string, number, boolean or `{"latin1": ...}` (nested arrays and other objects
/// are refused as soon as they start).
struct ScalarSeed<'a> {
    builder: &'a mut ActionBuilder,
    /// The key's first value, whose line the key already counted.
    first: bool,
}

impl<'a> ScalarSeed<'a> {
    fn new(builder: &'a mut ActionBuilder) -> Self {
        Self {
            builder,
            first: true,
        }
    }

    /// Numbers are written as serde_json writes them, whichever way they were read.
    fn number<E: de::Error>(self, number: serde_json::Number) -> Result<(), E> {
        self.builder
            .value(number.to_string().as_bytes(), self.first)
    }
}

impl<'de> DeserializeSeed<'de> for ScalarSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number, boolean or {\"latin1\": ...}")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
        self.builder.value(value.as_bytes(), self.first)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        let text = if value { "true" } else { "false" };
        self.builder.value(text.as_bytes(), self.first)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        self.number(value.into())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        self.number(value.into())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        match serde_json::Number::from_f64(value) {
            Some(number) => self.number(number),
            None => Err(self.builder.bad_value()),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Only the {"latin1": "..."} wrapper, exactly.
        let Some(key) = map.next_key::<LatinKey>()? else {
            return Err(self.builder.bad_value());
        };
        if !key.0 {
            return Err(self.builder.bad_value());
        }
        let text: LatinText = map.next_value()?;
        if map.next_key::<LatinKey>()?.is_some() {
            return Err(self.builder.bad_value());
        }
        match text.0 {
            Some(bytes) => self.builder.value(&bytes, self.first),
            None => {
                let name = self.builder.current.clone().unwrap_or_default();
                Err(self.builder.fail(JsonError::NotLatin1 { name }))
            }
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.builder.bad_value())
    }
}

/// Whether a wrapper's key is `latin1` (any other key is refused by the caller).
struct LatinKey(bool);

impl<'de> de::Deserialize<'de> for LatinKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = LatinKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"latin1\"")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<LatinKey, E> {
                Ok(LatinKey(key == LATIN1_KEY))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A `latin1` string's bytes, or `None` when a character is above U+00FF.
struct LatinText(Option<Vec<u8>>);

impl<'de> de::Deserialize<'de> for LatinText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = LatinText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<LatinText, E> {
                let bytes = text
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)).ok())
                    .collect();
                Ok(LatinText(bytes))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Turns an object produced by [`message_to_json`] back into a message. Header bytes are
/// recovered exactly; the interleaving of repeated names with other names is not kept by the
/// JSON form (each name's values come out together, at the name's first position).
pub fn message_from_json(object: &Map<String, Value>) -> Result<Message, JsonError> {
    let mut builder = Message::builder();
    let mut headers = object.clone();
    let text = headers.remove(TEXT_KEY);
    let body = headers.remove(BODY_KEY);
    headers.remove(TRUNCATED_KEY);
    for_each_header(&headers, |name, value| {
        builder.push(name, &value);
        Ok(())
    })?;
    if let Some(Value::Array(lines)) = text {
        for line in &lines {
            builder.push_text_line(&json_to_bytes(TEXT_KEY, line)?);
        }
    }
    if let Some(body) = body {
        builder = builder.legacy_body(json_to_bytes(BODY_KEY, &body)?);
    }
    Ok(builder.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ami_proto::Decoder;
    use bytes::BytesMut;
    use serde_json::json;

    fn decode_one(bytes: &[u8]) -> Message {
        let mut buf = BytesMut::from(bytes);
        match Decoder::new().decode(&mut buf).unwrap().unwrap() {
            Packet::Message(message) => message,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The fast path writes exactly what the general mapping gives, for messages it takes and
    /// for every kind it hands on.
    #[test]
    fn both_paths_write_the_same_text() {
        let plain = Message::builder()
            .header("Event", "Hangup")
            .header("Privilege", "call,all")
            .header("Channel", "Local/400@demo-00000001;1")
            .header("AccountCode", "")
            .header("Quoted", "a \"b\" \\ c\t\u{1}é ☎ </script>")
            .build()
            .expect("valid");
        let repeated = Message::builder()
            .header("Event", "VarSet")
            .header("Variable", "A")
            .header("Variable", "B")
            .header("variable", "c")
            .build()
            .expect("valid");
        let latin1 = Message::builder()
            .header("Event", "Odd")
            .header("Value", b"caf\xe9")
            .build()
            .expect("valid");
        let mut with_text = Message::builder().header("Event", "Text");
        with_text.push_text_line(b"a line without a name");
        let with_text = with_text.build().expect("valid");
        let with_body = Message::builder()
            .header("Response", "Follows")
            .legacy_body("output\n")
            .build()
            .expect("valid");
        let truncated = decode_eof_one(b"Event: Cut\r\nChannel: x\r\n");
        assert!(truncated.is_truncated());
        assert!(plain_fields(&plain).is_some());
        for message in [
            &plain, &repeated, &latin1, &with_text, &with_body, &truncated,
        ] {
            let general = Value::Object(message_to_json(message)).to_string();
            let fast = serde_json::to_string(&MessageJson(message)).unwrap();
            assert_eq!(fast, general);
        }
    }

    fn decode_eof_one(bytes: &[u8]) -> Message {
        let mut buf = BytesMut::from(bytes);
        match Decoder::new().decode_eof(&mut buf).unwrap().unwrap() {
            Packet::Message(message) => message,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    #[test]
    fn keys_in_wire_order_repeats_as_arrays() {
        let message = decode_one(
            b"Response: Success\r\nMessage: Command output follows\r\nOutput: a\r\nOutput: \r\nOutput: b\r\n\r\n",
        );
        let object = Value::Object(message_to_json(&message));
        assert_eq!(
            object.to_string(),
            r#"{"Response":"Success","Message":"Command output follows","Output":["a","","b"]}"#
        );
    }

    #[test]
    fn non_utf8_maps_to_latin1_wrapper_and_back() {
        let message = decode_one(b"Event: Newchannel\r\nCallerIDName: Jos\xe9 M\xfcller\r\n\r\n");
        let object = message_to_json(&message);
        assert_eq!(
            object["CallerIDName"],
            json!({"latin1": "Jos\u{e9} M\u{fc}ller"})
        );
        let back = message_from_json(&object).unwrap();
        assert_eq!(
            back.get_bytes("CallerIDName").unwrap(),
            b"Jos\xe9 M\xfcller"
        );
    }

    #[test]
    fn legacy_body_and_text_lines_have_their_own_keys() {
        let message = decode_one(
            b"Response: Follows\r\nPrivilege: Command\r\nActionID: 1\r\nline one\nkey: value\n--END COMMAND--\r\n\r\n",
        );
        let object = message_to_json(&message);
        assert_eq!(object["_body"], json!("line one\nkey: value\n"));
        let back = message_from_json(&object).unwrap();
        assert_eq!(back.body().unwrap(), b"line one\nkey: value\n");
        assert_eq!(back.action_id().unwrap(), "1");

        let text = decode_one(b"Response: Error\r\nMessage: x\r\nNo categories found\r\n\r\n");
        assert_eq!(
            message_to_json(&text)["_text"],
            json!(["No categories found"])
        );
    }

    #[test]
    fn action_from_json_expands_arrays_and_refuses_injection() {
        let action = action_from_json(
            "Originate",
            &json!({"Channel": "Local/100@demo", "Variable": ["a=1", "b=2"], "Timeout": 30000, "Async": true}),
        )
        .unwrap();
        assert_eq!(action.headers().len(), 5);
        assert_eq!(action.get("Timeout").unwrap(), b"30000");
        let error = action_from_json("Originate", &json!({"CallerID": "x\r\nAction: Command"}))
            .unwrap_err();
        assert!(matches!(error, JsonError::Encode(_)));
        assert_eq!(
            action_from_json("Ping", &json!(["x"])).unwrap_err(),
            JsonError::NotAnObject
        );
        assert!(matches!(
            action_from_json("Ping", &json!({"X": null})),
            Err(JsonError::BadValue { .. })
        ));
    }

    #[test]
    fn text_and_tree_give_the_same_action() {
        let value = json!({
            "Channel": "Local/100@demo", "Variable": ["a=1", 2, -3, 1.5, true],
            "CallerID": {"latin1": "Jos\u{e9}"}, "Empty": [], "Big": 18446744073709551615u64,
        });
        let from_tree = action_from_json("Originate", &value).unwrap();
        let from_text = action_from_json_slice("Originate", value.to_string().as_bytes()).unwrap();
        assert_eq!(from_tree, from_text);
        let values: Vec<&[u8]> = from_text
            .headers()
            .iter()
            .map(|(_, v)| v.as_slice())
            .collect();
        assert_eq!(
            values,
            [
                &b"Local/100@demo"[..],
                b"a=1",
                b"2",
                b"-3",
                b"1.5",
                b"true",
                b"Jos\xe9",
                b"18446744073709551615"
            ]
        );
    }

    #[test]
    fn an_action_key_is_refused_not_dropped() {
        for body in [
            r#"{"Action": "Command"}"#,
            r#"{"X": "1", "aCtIoN": ["Command"]}"#,
        ] {
            assert_eq!(
                action_from_json_slice("Ping", body.as_bytes()),
                Err(JsonError::ActionKey),
                "{body}"
            );
            let value: Value = serde_json::from_str(body).unwrap();
            assert_eq!(action_from_json("Ping", &value), Err(JsonError::ActionKey));
        }
    }

    /// `{"X": ["", "", ...]}` with `elements` elements.
    fn array_body(elements: usize) -> String {
        format!("{{\"X\": [{}]}}", vec!["\"\""; elements].join(","))
    }

    #[test]
    fn lines_are_counted_with_the_action_id_the_session_adds() {
        // Action: + 125 headers + the session's ActionID = 127.
        let action = action_from_json_slice("Ping", array_body(125).as_bytes()).unwrap();
        assert_eq!(action.headers().len(), 125);
        assert_eq!(
            action_from_json_slice("Ping", array_body(126).as_bytes()),
            Err(JsonError::Encode(EncodeError::TooManyLines {
                lines: 128,
                max: MAX_ACTION_LINES
            }))
        );
        // A caller that brings its own ActionID spends that line itself.
        let own = format!(
            "{{\"ActionID\": \"a\", \"X\": [{}]}}",
            vec!["\"\""; 125].join(",")
        );
        assert_eq!(
            action_from_json_slice("Ping", own.as_bytes())
                .unwrap()
                .headers()
                .len(),
            126
        );
        let value: Value = serde_json::from_str(&array_body(126)).unwrap();
        assert!(action_from_json("Ping", &value).unwrap_err().is_too_large());
        // Keys count even with nothing to send, so their number is bounded as well.
        let keys: Vec<String> = (0..200).map(|i| format!("\"K{i}\": []")).collect();
        let error = action_from_json_slice("Ping", format!("{{{}}}", keys.join(",")).as_bytes());
        assert!(error.unwrap_err().is_too_large());
    }

    #[test]
    fn reading_stops_at_the_first_line_past_the_limit() {
        // Broken JSON after element 200: reached only if the reader went on past the limit.
        let mut body = array_body(190_000);
        body.replace_range(2000..2001, "}");
        assert_eq!(
            action_from_json_slice("Ping", body.as_bytes()),
            Err(JsonError::Encode(EncodeError::TooManyLines {
                lines: 128,
                max: MAX_ACTION_LINES
            }))
        );
    }

    #[test]
    fn a_line_over_1022_bytes_is_refused_without_echoing_it() {
        let fits = format!(
            "{{\"X\": \"{}\"}}",
            "v".repeat(ami_proto::MAX_LINE_BYTES - 3)
        );
        assert!(action_from_json_slice("Ping", fits.as_bytes()).is_ok());
        let over = format!(
            "{{\"X\": \"hunter2{}\"}}",
            "v".repeat(ami_proto::MAX_LINE_BYTES - 9)
        );
        let error = action_from_json_slice("Ping", over.as_bytes()).unwrap_err();
        assert_eq!(
            error,
            JsonError::Encode(EncodeError::LineTooLong {
                name: "X".into(),
                len: ami_proto::MAX_LINE_BYTES + 1,
                max: ami_proto::MAX_LINE_BYTES
            })
        );
        assert!(error.is_too_large());
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let long_key = format!("{{\"{}\": \"\"}}", "K".repeat(5000));
        assert!(
            action_from_json_slice("Ping", long_key.as_bytes())
                .unwrap_err()
                .is_too_large()
        );
    }

    #[test]
    fn bad_text_gives_typed_errors_that_never_quote_the_input() {
        let cases: &[(&str, JsonError)] = &[
            (r#"["hunter2"]"#, JsonError::NotAnObject),
            (r#""hunter2""#, JsonError::NotAnObject),
            (r#"{"X": null}"#, JsonError::BadValue { name: "X".into() }),
            (
                r#"{"X": [["hunter2"]]}"#,
                JsonError::BadValue { name: "X".into() },
            ),
            (
                r#"{"X": {"other": "hunter2"}}"#,
                JsonError::BadValue { name: "X".into() },
            ),
            (
                r#"{"X": {"latin1": "hunter2", "more": 1}}"#,
                JsonError::BadValue { name: "X".into() },
            ),
            (
                r#"{"X": {"latin1": ["hunter2"]}}"#,
                JsonError::BadValue { name: "X".into() },
            ),
            (
                r#"{"X": {"latin1": "hunter2\u20ac"}}"#,
                JsonError::NotLatin1 { name: "X".into() },
            ),
            (
                r#"{"X": "1", "X": "hunter2"}"#,
                JsonError::DuplicateKey { name: "X".into() },
            ),
        ];
        for (body, expected) in cases {
            let error = action_from_json_slice("Ping", body.as_bytes()).unwrap_err();
            assert_eq!(&error, expected, "{body}");
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
        for body in [r#"{"X": "hunter2""#, r#"{"X": "a"} hunter2"#, "{hunter2}"] {
            let error = action_from_json_slice("Ping", body.as_bytes()).unwrap_err();
            assert!(
                matches!(error, JsonError::Syntax { .. }),
                "{body}: {error:?}"
            );
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
        let injection = action_from_json_slice("Ping", br#"{"X": "a\r\nAction: Command"}"#);
        assert!(matches!(
            injection,
            Err(JsonError::Encode(EncodeError::LineBreakInValue { .. }))
        ));
    }
}
