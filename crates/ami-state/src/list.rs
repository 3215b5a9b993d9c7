//! The list actions that rebuild parts of the model, and the order a resync sends them in.

/// A part of the model that one list action rebuilds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListKind {
    /// `CoreShowChannels`: channels, and the bridges they are in.
    Channels,
    /// `QueueStatus`: queues, their members and waiting callers.
    Queues,
}

impl ListKind {
    /// The action that lists this part.
    pub fn action(self) -> &'static str {
        match self {
            ListKind::Channels => "CoreShowChannels",
            ListKind::Queues => "QueueStatus",
        }
    }
}

/// The lists a resync sends, in order.
pub const RESYNC_PLAN: &[ListKind] = &[ListKind::Channels, ListKind::Queues];
