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

use crate::list::{ListKind, RESYNC_PLAN, resync_plan_for};
use crate::state::{Resync, State};

impl State {
    /// The list actions to send for a resync, in order: [`resync_plan_for`] the state's
    /// version ([`State::for_version`]), or [`RESYNC_PLAN`] when it has none.
    pub fn resync_plan(&self) -> &'static [ListKind] {
        self.version.map_or(RESYNC_PLAN, resync_plan_for)
    }

    /// Starts a resync: events from now on are journaled until every list of the plan has
    /// been handed to [`State::handle_list`]. Starting again restarts it.
    pub fn begin_resync(&mut self) {
        self.boot_resync = false;
        self.resync = Some(Resync {
            awaited: self.resync_plan().to_vec(),
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
            ListKind::Bridges => self.replace_bridges(items),
            ListKind::Queues => self.replace_queues(items),
            ListKind::Agents => self.replace_agents(items),
            ListKind::Parked => self.replace_parked(items),
            ListKind::Devices => self.replace_devices(items),
            ListKind::Extensions => self.replace_extensions(items),
        }
        if !self.listed.contains(&kind) {
            self.listed.push(kind);
        }
        self.list_done(kind);
    }

    /// The server refused a list of the plan (`Response: Error`: the module that answers it
    /// is not loaded, or the user may not run it). That part of the model is kept from
    /// events alone, and the resync does not wait for it.
    pub fn handle_list_refused(&mut self, kind: ListKind) {
        self.list_done(kind);
    }

    fn list_done(&mut self, kind: ListKind) {
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
