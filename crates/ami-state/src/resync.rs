//! Resynchronisation: the list actions that rebuild the model, and how events that arrive
//! while their answers are on the way are reconciled.
//!
//! At connect, after every reconnect and after every gap (`Lagged`), the caller starts a resync
//! ([`State::begin_resync`]), sends the actions of [`State::resync_plan`] and hands each
//! result to [`State::handle_list`]. From the start of the resync every event is also kept in
//! a journal. A list replaces its part of the model; when the last list has arrived, the
//! journal is applied again on top. A list is built by Asterisk at some moment during the
//! resync, so an event in the journal may or may not be reflected in it: applying it again is
//! right in both cases because every handler sets values (a `Hangup` of a channel the list
//! still showed removes it; a `Newstate` the list already had sets the same state again).
//! Nothing is lost and nothing counts twice.

use ami_proto::Message;

use crate::list::{ListKind, RESYNC_PLAN};
use crate::state::{Resync, State};

impl State {
    /// The list actions to send for a resync, in order.
    pub fn resync_plan(&self) -> &'static [ListKind] {
        RESYNC_PLAN
    }

    /// Starts a resync: events from now on are journaled until every list of the plan has
    /// been handed to [`State::handle_list`]. Starting again restarts it.
    pub fn begin_resync(&mut self) {
        self.resync = Some(Resync {
            awaited: RESYNC_PLAN.to_vec(),
            ..Resync::default()
        });
    }

    /// Whether a resync is in progress.
    pub fn is_resyncing(&self) -> bool {
        self.resync.is_some()
    }

    /// Whether the last resync could not reconcile (more events arrived during it than the
    /// journal keeps): the caller should start another.
    pub fn needs_resync(&self) -> bool {
        self.resync.as_ref().is_some_and(|r| r.overflowed)
    }

    /// Hands over the items of one list action (the list items, without the response and
    /// the completion event). It replaces that part of the model; after the last list of a
    /// resync the journaled events are applied again on top.
    pub fn handle_list(&mut self, kind: ListKind, items: &[Message]) {
        match kind {
            ListKind::Channels => self.replace_channels(items),
            ListKind::Queues => self.replace_queues(items),
        }
        let done = match &mut self.resync {
            Some(resync) => {
                resync.awaited.retain(|k| *k != kind);
                resync.awaited.is_empty() && !resync.overflowed
            }
            None => false,
        };
        if done && let Some(resync) = self.resync.take() {
            for event in &resync.journal {
                self.apply(event);
            }
        }
    }
}
