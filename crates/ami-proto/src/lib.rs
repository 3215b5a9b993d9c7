//! The Asterisk Manager Interface (AMI) protocol without IO: bytes in, packets out; actions in,
//! bytes out; and the client's protocol state on top ([`session`] pairs replies with actions,
//! [`connection`] adds login, deadlines, keepalive and a capped output buffer). No sockets, no
//! async runtime, no clock (time is passed in), so every quirk and timeout is testable in
//! memory; no serde either (the JSON form of AMI is the `ami-json` crate's).
//!
//! ```
//! use ami_proto::{Action, Decoder, Packet, encode_action};
//! use bytes::BytesMut;
//!
//! let mut decoder = Decoder::new();
//! let mut buf = BytesMut::from(
//!     &b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: 1\r\nPing: Pong\r\n\r\n"[..],
//! );
//! let Some(Packet::Banner(banner)) = decoder.decode(&mut buf)? else { panic!() };
//! assert_eq!(banner.version(), "11.0.0");
//! let Some(Packet::Message(pong)) = decoder.decode(&mut buf)? else { panic!() };
//! assert_eq!(pong.get("ping").as_deref(), Some("Pong"));
//! assert_eq!(decoder.decode(&mut buf)?, None); // nothing more yet
//!
//! let mut out = BytesMut::new();
//! encode_action(&Action::new("Ping").header("ActionID", "2"), &mut out)?;
//! assert_eq!(&out[..], b"Action: Ping\r\nActionID: 2\r\n\r\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The decoder accepts what real servers (Asterisk 1.8 to 22, and proxies) send: the banner of
//! any version, CRLF and bare LF mixed, stray blank lines, repeated and oddly cased names,
//! values holding `:`, empty values, lines without a colon, blocks with neither `Event:` nor
//! `Response:`, legacy `Response: Follows` Command bodies ended by `--END COMMAND--` (even glued
//! to the last line), modern `Output:` lines, bytes that are not UTF-8, and input cut anywhere.
//! Size and line-count [`Limits`] bound memory; a packet over a limit is a typed
//! [`DecodeError`] and decoding resumes at the next packet.

pub mod connection;
mod decode;
mod encode;
mod message;
mod scan;
pub mod session;
pub mod syntax;

pub use decode::{Banner, DecodeError, Decoder, Limits, Packet};
pub use encode::{Action, check_action, encode_action, encode_message};
pub use message::{Field, Message, MessageBuilder, MessageKind};
pub use syntax::{END_COMMAND, EncodeError, MAX_ACTION_LINES, MAX_LINE_BYTES};
