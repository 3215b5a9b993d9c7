//! What the generated event views share: the [`EventKind`] trait that names a view type, the
//! [`ChannelState`] enum, and the zero-copy header readers.

use ami_proto::Message;

/// An event kind with a zero-copy view: implemented by every view of [`crate::events`](mod@crate::events) (for its
/// `'static` instance, so that `Hangup` names the kind) and by
/// [`TypedEvent`](crate::events::TypedEvent) for any event.
pub trait EventKind {
    /// The `Event:` names this kind accepts; empty when it accepts any event.
    const NAMES: &'static [&'static str];
    /// The view over one message.
    type View<'a>: Copy;
    /// The view of `message` without looking at its name: for a message already known to be of
    /// this kind (a list item, a typed subscription's event).
    fn wrap(message: &Message) -> Self::View<'_>;
    /// The view of `message`, when it is an event of this kind.
    fn view(message: &Message) -> Option<Self::View<'_>> {
        (Self::NAMES.is_empty() || Self::NAMES.iter().any(|name| is_event(message, name)))
            .then(|| Self::wrap(message))
    }
}

/// A channel's state, from a `ChannelState` field (Asterisk's `ast_channel_state` numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChannelState {
    /// 0: down and available.
    Down,
    /// 1: down but reserved.
    Reserved,
    /// 2: off hook.
    OffHook,
    /// 3: digits dialled.
    Dialing,
    /// 4: the line is ringing (outbound).
    Ring,
    /// 5: the remote end is ringing.
    Ringing,
    /// 6: answered.
    Up,
    /// 7: busy.
    Busy,
    /// 8: digits dialled while off hook.
    DialingOffHook,
    /// 9: the channel detected an incoming call and is waiting for the ring.
    PreRing,
    /// Any other number (10 is `Unknown` in Asterisk).
    Other(i64),
}

impl ChannelState {
    /// The state for Asterisk's number.
    pub fn from_code(code: i64) -> Self {
        match code {
            0 => Self::Down,
            1 => Self::Reserved,
            2 => Self::OffHook,
            3 => Self::Dialing,
            4 => Self::Ring,
            5 => Self::Ringing,
            6 => Self::Up,
            7 => Self::Busy,
            8 => Self::DialingOffHook,
            9 => Self::PreRing,
            other => Self::Other(other),
        }
    }

    /// Asterisk's number for the state.
    pub fn code(self) -> i64 {
        match self {
            Self::Down => 0,
            Self::Reserved => 1,
            Self::OffHook => 2,
            Self::Dialing => 3,
            Self::Ring => 4,
            Self::Ringing => 5,
            Self::Up => 6,
            Self::Busy => 7,
            Self::DialingOffHook => 8,
            Self::PreRing => 9,
            Self::Other(code) => code,
        }
    }
}

/// The header's value as an integer (surrounding blanks allowed); `None` when absent, empty or
/// not a number. Reads the received bytes in place.
pub(crate) fn number(message: &Message, name: &str) -> Option<i64> {
    std::str::from_utf8(message.get_bytes(name)?)
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether `message` is an event called `name` (case-insensitive).
pub(crate) fn is_event(message: &Message, name: &str) -> bool {
    message.is_event()
        && message
            .get_bytes("Event")
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_state_codes_round_trip() {
        for code in 0..12 {
            assert_eq!(ChannelState::from_code(code).code(), code);
        }
        assert_eq!(ChannelState::from_code(6), ChannelState::Up);
    }

    #[test]
    fn numbers_are_read_in_place() {
        let message = Message::builder()
            .header("Event", "Hangup")
            .header("Cause", " 16 ")
            .header("Exten", "h")
            .build()
            .unwrap();
        assert_eq!(number(&message, "cause"), Some(16));
        assert_eq!(number(&message, "Exten"), None);
        assert_eq!(number(&message, "Missing"), None);
        assert!(is_event(&message, "HANGUP"));
        assert!(!is_event(&message, "Hangup2"));
    }
}
