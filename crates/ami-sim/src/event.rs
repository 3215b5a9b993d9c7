//! Events as they travel to sessions: encoded once, shared by every session that may see them.

use bytes::Bytes;

use crate::perm::Perms;

/// One event, already encoded (`Event: ...` to the blank line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The class a session must be allowed to read (`read =`) and have switched on.
    pub class: Perms,
    /// The wire bytes.
    pub bytes: Bytes,
    /// The session whose action caused the event. That session has already received it in
    /// line with its responses (as Asterisk queues it), so it skips the broadcast copy.
    pub origin: Option<u64>,
}

impl Event {
    /// An event of `class` with these bytes.
    pub fn new(class: Perms, bytes: Bytes) -> Self {
        Self {
            class,
            bytes,
            origin: None,
        }
    }
}
