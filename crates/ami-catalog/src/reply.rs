//! Typed replies: [`AmiAction`] ties each builder of [`crate::actions`](mod@crate::actions) to the reply it gets
//! (a plain response [`Message`], a [`TypedList`], the Command's [`CommandOutput`], or the
//! legacy `Queues` text), and [`FromReply`] turns the session's [`Reply`] into it.

use std::fmt;
use std::marker::PhantomData;

use ami_proto::session::{CommandOutput, List, Reply};
use ami_proto::{Action, Message};

use crate::view::EventKind;

/// A typed action: its name, how it becomes an [`ami_proto::Action`], and its reply type.
pub trait AmiAction {
    /// The action's name as the catalog spells it.
    const NAME: &'static str;
    /// What a successful reply becomes.
    type Reply: FromReply;
    /// The action to send.
    fn into_action(self) -> Action;
}

/// A reply type built from the session's [`Reply`].
pub trait FromReply: Sized {
    /// Converts, or says what came instead.
    fn from_reply(reply: Reply) -> Result<Self, ReplyError>;
}

/// The server answered in a shape the action's reply type does not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {got}")]
pub struct ReplyError {
    /// What the reply type takes.
    pub expected: &'static str,
    /// What came.
    pub got: &'static str,
}

fn shape(reply: &Reply) -> &'static str {
    match reply {
        Reply::Response(_) => "a single response",
        Reply::List(_) => "a list",
        Reply::Command(_) => "Command output",
        Reply::Text(_) => "bare text",
        // A kind of reply newer than this crate.
        _ => "another kind of reply",
    }
}

impl FromReply for Message {
    /// The response; for a list or Command, the response that announced it.
    fn from_reply(reply: Reply) -> Result<Self, ReplyError> {
        match reply {
            Reply::Response(message) => Ok(message),
            Reply::List(list) => Ok(list.response),
            Reply::Command(command) => Ok(command.response),
            other => Err(ReplyError {
                expected: "a response",
                got: shape(&other),
            }),
        }
    }
}

impl FromReply for CommandOutput {
    fn from_reply(reply: Reply) -> Result<Self, ReplyError> {
        match reply {
            Reply::Command(output) => Ok(output),
            other => Err(ReplyError {
                expected: "Command output",
                got: shape(&other),
            }),
        }
    }
}

impl FromReply for String {
    /// The legacy `Queues` text.
    fn from_reply(reply: Reply) -> Result<Self, ReplyError> {
        match reply {
            Reply::Text(text) => Ok(text),
            other => Err(ReplyError {
                expected: "bare text",
                got: shape(&other),
            }),
        }
    }
}

/// A list action's reply with typed access: items of kind `I`, completion of kind `C`. The
/// messages are kept as received; views borrow them.
pub struct TypedList<I, C> {
    list: List,
    kinds: PhantomData<fn() -> (I, C)>,
}

impl<I: EventKind, C: EventKind> TypedList<I, C> {
    /// Wraps a gathered list.
    pub fn new(list: List) -> Self {
        Self {
            list,
            kinds: PhantomData,
        }
    }

    /// The item views, in arrival order. Items of another kind (none on the servers recorded)
    /// are skipped here and stay in [`TypedList::list`].
    pub fn items(&self) -> impl Iterator<Item = I::View<'_>> + '_ {
        self.list.items.iter().filter_map(|m| I::view(m))
    }

    /// How many item events arrived (of any kind).
    pub fn len(&self) -> usize {
        self.list.items.len()
    }

    /// Whether no item arrived.
    pub fn is_empty(&self) -> bool {
        self.list.items.is_empty()
    }

    /// The completion event's view (`None` if the server ended the list with another event).
    pub fn complete(&self) -> Option<C::View<'_>> {
        C::view(&self.list.complete)
    }

    /// The response that announced the list.
    pub fn response(&self) -> &Message {
        &self.list.response
    }

    /// The messages as received.
    pub fn list(&self) -> &List {
        &self.list
    }

    /// The messages, taken out.
    pub fn into_list(self) -> List {
        self.list
    }
}

impl<I, C> fmt::Debug for TypedList<I, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.list, f)
    }
}

impl<I, C> Clone for TypedList<I, C> {
    fn clone(&self) -> Self {
        Self {
            list: self.list.clone(),
            kinds: PhantomData,
        }
    }
}

impl<I: EventKind, C: EventKind> FromReply for TypedList<I, C> {
    fn from_reply(reply: Reply) -> Result<Self, ReplyError> {
        match reply {
            Reply::List(list) => Ok(Self::new(list)),
            other => Err(ReplyError {
                expected: "a list",
                got: shape(&other),
            }),
        }
    }
}
