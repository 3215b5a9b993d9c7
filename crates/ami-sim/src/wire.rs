//! Writing packets the way Asterisk does: `Name: value\r\n` lines, a blank line to end.
//!
//! Values written here come from the simulator itself or from the client's own header lines,
//! which cannot hold CR or LF (the reader splits on them), so no escaping is needed.

use bytes::{BufMut, Bytes, BytesMut};

use crate::perm::Perms;

/// Room reserved when a packet starts: enough for a short response or event, so most packets
/// are written with one allocation instead of growing line by line.
const INITIAL_CAPACITY: usize = 128;

/// One outgoing packet being written.
#[derive(Debug)]
pub struct Packet {
    buf: BytesMut,
}

impl Default for Packet {
    fn default() -> Self {
        Self {
            buf: BytesMut::with_capacity(INITIAL_CAPACITY),
        }
    }
}

impl Packet {
    /// A packet starting with `Response: value`.
    pub fn response(value: &str) -> Self {
        Self::default().h("Response", value)
    }

    /// A response carrying the request's ActionID, if it had one: Asterisk writes it second.
    pub fn response_to(value: &str, action_id: Option<&str>) -> Self {
        Self::response(value).h_opt("ActionID", action_id)
    }

    /// An event with its `Privilege:` line (`call,all`).
    pub fn event(name: &str, class: Perms) -> Self {
        Self::default()
            .h("Event", name)
            .h("Privilege", &class.privilege())
    }

    /// An event without `Privilege:` (list items such as CoreShowChannel).
    pub fn list_item(name: &str) -> Self {
        Self::default().h("Event", name)
    }

    /// Appends `name: value`.
    pub fn h(mut self, name: &str, value: &str) -> Self {
        self.push(name, value);
        self
    }

    /// Appends `name: value` when there is a value.
    pub fn h_opt(mut self, name: &str, value: Option<&str>) -> Self {
        if let Some(value) = value {
            self.push(name, value);
        }
        self
    }

    /// Appends `name: value` in place.
    pub fn push(&mut self, name: &str, value: &str) {
        put_header(&mut self.buf, name, value);
    }

    /// Appends a line exactly as given (UserEvent echoes the client's lines verbatim).
    pub fn raw_line(mut self, line: &[u8]) -> Self {
        self.buf.put_slice(line);
        self.buf.put_slice(b"\r\n");
        self
    }

    /// Appends every `(name, value)`.
    pub fn headers<'a>(mut self, headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        for (name, value) in headers {
            self.push(name, value);
        }
        self
    }

    /// Appends a legacy Command body (bare-LF text) and its `--END COMMAND--` marker; the packet
    /// must then be finished with [`Packet::finish`].
    pub fn legacy_body(mut self, text: &str) -> Self {
        self.buf.put_slice(text.as_bytes());
        if !text.is_empty() && !text.ends_with('\n') {
            self.buf.put_u8(b'\n');
        }
        self.buf.put_slice(ami_proto::END_COMMAND);
        self.buf.put_slice(b"\r\n");
        self
    }

    /// Ends the packet with the blank line.
    pub fn finish(mut self) -> Bytes {
        self.buf.put_slice(b"\r\n");
        self.buf.freeze()
    }
}

/// Appends `name: value` and its CRLF to `buf`.
pub(crate) fn put_header(buf: &mut BytesMut, name: &str, value: &str) {
    buf.reserve(name.len() + value.len() + 4);
    buf.put_slice(name.as_bytes());
    buf.put_slice(b": ");
    buf.put_slice(value.as_bytes());
    buf.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_then_action_id_then_headers() {
        let bytes = Packet::response_to("Success", Some("7"))
            .h("Ping", "Pong")
            .finish();
        assert_eq!(
            &bytes[..],
            b"Response: Success\r\nActionID: 7\r\nPing: Pong\r\n\r\n"
        );
        let bytes = Packet::response_to("Success", None).finish();
        assert_eq!(&bytes[..], b"Response: Success\r\n\r\n");
    }

    #[test]
    fn legacy_body_is_bare_lf_then_marker() {
        let bytes = Packet::response("Follows")
            .h("Privilege", "Command")
            .legacy_body("a\nb")
            .finish();
        assert_eq!(
            &bytes[..],
            b"Response: Follows\r\nPrivilege: Command\r\na\nb\n--END COMMAND--\r\n\r\n"
        );
    }
}
