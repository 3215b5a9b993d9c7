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
    /// Set for events only the session with this id may see (none today: kept for
    /// session-private replies such as Asterisk's per-session RequestBadFormat).
    pub only_session: Option<u64>,
}

impl Event {
    /// An event of `class` with these bytes.
    pub fn new(class: Perms, bytes: Bytes) -> Self {
        Self {
            class,
            bytes,
            only_session: None,
        }
    }
}
