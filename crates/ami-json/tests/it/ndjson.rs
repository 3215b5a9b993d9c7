//! Decoded items as the NDJSON lines `ami decode` prints.

use ami_json::packet_to_json;
use serde_json::{Value, json};

use crate::support::Item;

/// One NDJSON line exactly as `ami decode` prints it.
pub fn item_to_json(item: &Item) -> Value {
    match item {
        Ok(packet) => Value::Object(packet_to_json(packet)),
        Err(error) => json!({"_error": {
            "code": error.code(),
            "offset": error.offset(),
            "message": error.to_string(),
        }}),
    }
}

/// The whole NDJSON output for `items`.
pub fn to_ndjson(items: &[Item]) -> String {
    let mut out = String::new();
    for item in items {
        out.push_str(&item_to_json(item).to_string());
        out.push('\n');
    }
    out
}
