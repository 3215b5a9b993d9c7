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
//! turns a JSON object of headers into an [`Action`].

use serde_json::{Map, Value};

use crate::decode::{Banner, Packet};
use crate::encode::{Action, EncodeError};
use crate::message::Message;

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
    /// The header was refused by the encoder (line break, bad name).
    #[error(transparent)]
    Encode(#[from] EncodeError),
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

/// Builds an action from a JSON object of headers (arrays for repeated keys). The `Action`
/// key, if present in `headers`, is ignored in favour of `name`.
pub fn action_from_json(name: &str, headers: &Value) -> Result<Action, JsonError> {
    let object = headers.as_object().ok_or(JsonError::NotAnObject)?;
    let mut action = Action::new(name);
    for_each_header(object, |header, value| {
        if !header.eq_ignore_ascii_case("Action") {
            action.push(header, value);
        }
        Ok(())
    })?;
    let mut probe = bytes::BytesMut::new();
    crate::encode::encode_action(&action, &mut probe)?;
    Ok(action)
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
    use crate::decode::Decoder;
    use bytes::BytesMut;
    use serde_json::json;

    fn decode_one(bytes: &[u8]) -> Message {
        let mut buf = BytesMut::from(bytes);
        match Decoder::new().decode(&mut buf).unwrap().unwrap() {
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
}
