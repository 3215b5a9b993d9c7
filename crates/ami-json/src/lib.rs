//! The one JSON form of the Asterisk Manager Interface: messages and banners to JSON objects
//! and back, JSON objects of headers to actions, and the text of CLI commands (the `Command`
//! action's output) to JSON records. The CLI, the gateway and any bridge present AMI through
//! this crate, so `ami-proto` stays a codec without serde.
//!
//! ```
//! use ami_json::{MessageJson, action_from_json_slice, message_to_json};
//! use ami_proto::{Decoder, Packet};
//! use bytes::BytesMut;
//!
//! let mut buf = BytesMut::from(&b"Event: Hangup\r\nChannel: PJSIP/100-0001\r\nCause: 16\r\n\r\n"[..]);
//! let Some(Packet::Message(event)) = Decoder::new().decode(&mut buf)? else { panic!() };
//! let object = message_to_json(&event);
//! assert_eq!(object["Cause"], "16");
//! // The same mapping written straight out by serde, without building the object first.
//! assert_eq!(
//!     serde_json::to_string(&MessageJson(&event))?,
//!     r#"{"Event":"Hangup","Channel":"PJSIP/100-0001","Cause":"16"}"#
//! );
//!
//! let action = action_from_json_slice("Originate", br#"{"Channel": "Local/100@demo", "Variable": ["a=1", "b=2"]}"#)?;
//! assert_eq!(action.headers().len(), 3);
//!
//! let uptime = ami_json::cli_output::parse_cli_output(
//!     "core show uptime",
//!     "System uptime: 1 hour, 2 minutes, 3 seconds\n",
//! );
//! assert_eq!(uptime.value["system_uptime_seconds"], 3723);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cli_output;
pub mod mapping;

pub use mapping::{
    BANNER_KEY, BODY_KEY, JsonError, LATIN1_KEY, MessageJson, TEXT_KEY, TRUNCATED_KEY, VERSION_KEY,
    action_from_json, action_from_json_slice, banner_to_json, bytes_to_json, json_to_bytes,
    message_from_json, message_to_json, packet_to_json,
};
