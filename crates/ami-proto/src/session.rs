//! The client side of an AMI conversation, without IO: actions in, bytes out; packets in,
//! completed replies and events out.
//!
//! A [`Session`] pairs every response with the action that asked for it **by ActionID** (a map,
//! not a queue: Asterisk interleaves events, other responses and list items freely), gathers
//! list actions into one [`Reply::List`], turns Command output into text whichever framing the
//! server uses, and copes with the legacy `Queues` action, whose reply has neither `Response:`
//! nor `ActionID:`.
//!
//! Driving order, as in quinn-proto: call [`Session::start_action`] (which writes the action's
//! bytes into your output buffer), feed every decoded packet to [`Session::handle_packet`], then
//! drain [`Session::poll_completion`] and [`Session::poll_event`]. When the transport drops,
//! call [`Session::handle_close`]: every action still waiting completes with
//! [`ActionFailure::ConnectionLost`]. There is no clock here; timeouts belong to the caller,
//! who can forget an action with [`Session::cancel`] or [`Session::retain_pending`].
//!
//! ```
//! use ami_proto::session::{Reply, Session};
//! use ami_proto::{Action, Decoder, Packet};
//! use bytes::BytesMut;
//!
//! let mut session: Session<&str> = Session::new("app-");
//! let mut out = BytesMut::new();
//! let id = session.start_action(Action::new("Ping"), "my ping", &mut out)?;
//! assert_eq!(id, "app-1");
//! assert_eq!(&out[..], b"Action: Ping\r\nActionID: app-1\r\n\r\n");
//!
//! let mut decoder = Decoder::new();
//! let mut input = BytesMut::from(
//!     &b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n\
//!        Response: Success\r\nActionID: app-1\r\nPing: Pong\r\n\r\n"[..],
//! );
//! while let Some(packet) = decoder.decode(&mut input)? {
//!     session.handle_packet(packet);
//! }
//! let done = session.poll_completion().expect("the ping completed");
//! assert_eq!(done.payload, "my ping");
//! let Ok(Reply::Response(pong)) = done.result else { panic!() };
//! assert_eq!(pong.get("Ping").as_deref(), Some("Pong"));
//! assert_eq!(session.poll_event().and_then(|e| e.event_name().map(|n| n.into_owned())).as_deref(), Some("FullyBooted"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;

use bytes::BytesMut;

use crate::decode::{Banner, Packet};
use crate::encode::{Action, encode_action};
use crate::message::{Message, MessageKind};
use crate::syntax::EncodeError;

/// A completed action: whatever the caller attached to it, its ActionID, and the outcome.
#[derive(Debug)]
pub struct Completion<T> {
    /// The value given to [`Session::start_action`] (a reply channel, a test label ...).
    pub payload: T,
    /// The ActionID the action was sent with.
    pub action_id: String,
    /// The reply, or why there is none.
    pub result: Result<Reply, ActionFailure>,
}

/// What an action got back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// A single response (Ping, Getvar, Originate, Login ...).
    Response(Message),
    /// A list action: the response, the item events, and the completion event.
    List(List),
    /// A `Command` action: the CLI output as text, from either framing.
    Command(CommandOutput),
    /// The legacy `Queues` action (Asterisk 13 and older): raw `queue show` text, ANSI colour
    /// codes removed, with no response packet at all.
    Text(String),
}

impl Reply {
    /// The response packet, when there was one (every reply except [`Reply::Text`]).
    pub fn response(&self) -> Option<&Message> {
        match self {
            Self::Response(response) => Some(response),
            Self::List(list) => Some(&list.response),
            Self::Command(command) => Some(&command.response),
            Self::Text(_) => None,
        }
    }
}

/// A list action's reply gathered into one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    /// The `Response: Success` that announced the list.
    pub response: Message,
    /// The item events, in arrival order.
    pub items: Vec<Message>,
    /// The `...Complete` event that ended the list.
    pub complete: Message,
}

/// The text of a Command action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// The response packet (`Response: Success` / `Follows`).
    pub response: Message,
    /// The CLI output: the legacy body as sent, or the `Output:` lines each followed by `\n`.
    pub output: String,
}

/// Why an action has no [`Reply`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActionFailure {
    /// The server answered `Response: Error` (also when its message says "follows").
    #[error("server error: {message}")]
    Server {
        /// The `Message:` text (empty when the server sent none).
        message: String,
        /// The whole response.
        response: Message,
    },
    /// A Command whose CLI part failed: modern servers say `Response: Error` with `Output:`
    /// lines; legacy ones send a `Follows` body starting `No such command`.
    #[error("command failed: {}", output.trim_end())]
    Command {
        /// The CLI text explaining the failure.
        output: String,
        /// The whole response.
        response: Message,
    },
    /// The connection ended before the reply was complete.
    #[error("connection lost before the reply was complete")]
    ConnectionLost,
    /// A list brought more than [`SessionLimits::max_list_items`] items: the action fails
    /// there, and the rest of its items are discarded as they arrive.
    #[error("list reply has more than {limit} items")]
    ListTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A legacy `Queues` reply brought more than [`SessionLimits::max_text_bytes`] bytes of
    /// text: the action fails there, and the rest of its text is discarded.
    #[error("Queues reply has more than {limit} bytes of text")]
    TextTooLong {
        /// The limit in force.
        limit: usize,
    },
}

impl ActionFailure {
    /// The reply broke a [`SessionLimits`] bound.
    pub fn is_too_large(&self) -> bool {
        matches!(self, Self::ListTooLong { .. } | Self::TextTooLong { .. })
    }
}

/// Bounds on what one reply may gather, so a server that never ends a list (or a `Queues`
/// text) costs a bounded amount of memory instead of all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionLimits {
    /// Most items in one list reply. Default 1,000,000: far above a PBX's channels, peers or
    /// queue members, well below what exhausts memory.
    pub max_list_items: usize,
    /// Most bytes of legacy `Queues` text. Default 16 MiB, the decoder's default packet limit.
    pub max_text_bytes: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            max_list_items: 1_000_000,
            max_text_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Why [`Session::start_action`] refused an action. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A header name or value cannot be encoded (line break, bad name).
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The caller's own `ActionID` is already waiting for a reply on this session.
    #[error("ActionID {0:?} is already in use by an action waiting for its reply")]
    DuplicateActionId(String),
}

/// Counters a connection can report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Actions started.
    pub actions: u64,
    /// Responses that matched no waiting action (no ActionID, an unknown one, or a cancelled
    /// action's late reply). They are passed on as events, never dropped.
    pub unmatched_responses: u64,
    /// Events passed on to [`Session::poll_event`].
    pub events: u64,
}

/// List actions whose items some servers send without the ActionID, with the item's event
/// name: Asterisk 11's `Parkinglots` writes `Event: Parkinglot` items bare and puts the
/// ActionID only on `ParkinglotsComplete`, so its items can only be recognised by name.
const ITEMS_WITHOUT_ACTION_ID: &[(&str, &[u8])] = &[("Parkinglots", b"Parkinglot")];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Command,
    /// Legacy `Queues`: gathers unknown blocks until its barrier Ping answers.
    Queues,
    /// The Ping sent right after a `Queues`: AMI runs one session's actions in order, so its
    /// response proves the `Queues` text has all arrived. Never reported.
    Barrier,
}

#[derive(Debug)]
struct Pending<T> {
    payload: Option<T>,
    kind: Kind,
    list: Option<(Message, Vec<Message>)>,
    /// The event name of items that may come without an ActionID.
    bare_items: Option<&'static [u8]>,
    text: Vec<u8>,
    /// The reply broke a limit and its caller was told: what still comes of it is discarded.
    overflowed: bool,
}

/// The client-side protocol state of one AMI connection. `T` is carried with each action and
/// handed back on completion (the async client stores the caller's reply channel there).
pub struct Session<T> {
    prefix: String,
    next_id: u64,
    banner: Option<Banner>,
    /// Keyed by ActionID. Looked up for every reply: a fast hash with a per-process seed (the
    /// keys are our own IDs; replies only look them up, so flooding the map is not possible).
    pending: HashMap<Box<[u8]>, Pending<T>, foldhash::fast::RandomState>,
    /// ActionIDs of `Queues` actions still gathering text, oldest first.
    queues: VecDeque<Box<[u8]>>,
    /// Lists in progress; when zero, events skip the ActionID lookup.
    listing: usize,
    /// ActionIDs of lists in progress whose items may come without one, oldest first.
    bare_item_lists: Vec<Box<[u8]>>,
    completions: VecDeque<Completion<T>>,
    events: VecDeque<Message>,
    stats: SessionStats,
    limits: SessionLimits,
}

impl<T> fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("prefix", &self.prefix)
            .field("pending", &self.pending.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl<T> Session<T> {
    /// A session whose ActionIDs are `prefix` followed by a counter starting at 1.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self::with_limits(prefix, SessionLimits::default())
    }

    /// Like [`Session::new`], with these bounds on what one reply may gather.
    pub fn with_limits(prefix: impl Into<String>, limits: SessionLimits) -> Self {
        Self {
            limits,
            prefix: prefix.into(),
            next_id: 1,
            banner: None,
            pending: HashMap::default(),
            queues: VecDeque::new(),
            listing: 0,
            bare_item_lists: Vec::new(),
            completions: VecDeque::new(),
            events: VecDeque::new(),
            stats: SessionStats::default(),
        }
    }

    /// The server's banner, once received.
    pub fn banner(&self) -> Option<&Banner> {
        self.banner.as_ref()
    }

    /// Counters so far.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// Number of actions waiting for a reply.
    pub fn pending_len(&self) -> usize {
        self.pending
            .values()
            .filter(|pending| pending.kind != Kind::Barrier)
            .count()
    }

    /// Registers `action` and writes it to `out`. An `ActionID` the caller set is kept (it must
    /// not be waiting already); otherwise the next `prefix` + counter is used. Returns the
    /// ActionID. `Queues` is followed on the wire by a Ping that marks the end of its reply.
    pub fn start_action(
        &mut self,
        action: Action,
        payload: T,
        out: &mut BytesMut,
    ) -> Result<String, StartError> {
        self.try_start_action(action, payload, out)
            .map_err(|(error, _)| error)
    }

    /// Like [`Session::start_action`], but a refused action hands its payload back with the
    /// error, so a waiting caller can be told why.
    pub fn try_start_action(
        &mut self,
        action: Action,
        payload: T,
        out: &mut BytesMut,
    ) -> Result<String, (StartError, T)> {
        self.register(action, payload, out, true)
            .map(Option::unwrap_or_default)
    }

    /// Like [`Session::try_start_action`] for a caller that does not need the ActionID back:
    /// one allocation less per action, which counts at hundreds of thousands a second.
    pub fn try_send_action(
        &mut self,
        action: Action,
        payload: T,
        out: &mut BytesMut,
    ) -> Result<(), (StartError, T)> {
        self.register(action, payload, out, false).map(drop)
    }

    fn register(
        &mut self,
        mut action: Action,
        payload: T,
        out: &mut BytesMut,
        want_id: bool,
    ) -> Result<Option<String>, (StartError, T)> {
        match action.action_id() {
            Some(id) if self.pending.contains_key(id) => {
                let id = String::from_utf8_lossy(id).into_owned();
                return Err((StartError::DuplicateActionId(id), payload));
            }
            Some(_) => {}
            None => {
                let id = self.fresh_id();
                action.set("ActionID", id);
            }
        }
        let kind = if action.name().eq_ignore_ascii_case("Command") {
            Kind::Command
        } else if action.name().eq_ignore_ascii_case("Queues") {
            Kind::Queues
        } else {
            Kind::Plain
        };
        let bare_items = ITEMS_WITHOUT_ACTION_ID
            .iter()
            .find(|(name, _)| action.name().eq_ignore_ascii_case(name))
            .map(|(_, item)| *item);
        let mark = out.len();
        if let Err(error) = encode_action(&action, out) {
            return Err((error.into(), payload));
        }
        // The action is written: its ActionID value becomes the key as it is.
        let key: Box<[u8]> = action
            .take_action_id()
            .unwrap_or_default()
            .into_boxed_slice();
        let action_id = want_id.then(|| String::from_utf8_lossy(&key).into_owned());
        if kind == Kind::Queues {
            // The action itself is not in the map yet, so `fresh_id` alone could hand out the
            // caller's own ActionID (`t-1` chosen by hand): the action would then replace its
            // barrier, and the Ping's reply would complete it in place of its text.
            let barrier_id = loop {
                let id = self.fresh_id();
                if *id.as_bytes() != *key {
                    break id;
                }
            };
            let barrier = Action::new("Ping").header("ActionID", barrier_id.clone());
            if let Err(error) = encode_action(&barrier, out) {
                out.truncate(mark);
                return Err((error.into(), payload));
            }
            self.pending.insert(
                barrier_id.as_bytes().into(),
                Pending {
                    payload: None,
                    kind: Kind::Barrier,
                    list: None,
                    bare_items: None,
                    text: Vec::new(),
                    overflowed: false,
                },
            );
            self.queues.push_back(key.clone());
        }
        self.pending.insert(
            key,
            Pending {
                payload: Some(payload),
                kind,
                list: None,
                bare_items,
                text: Vec::new(),
                overflowed: false,
            },
        );
        self.stats.actions += 1;
        Ok(action_id)
    }

    /// At least as many bytes as [`Session::start_action`] would write for `action`: its own
    /// encoding, plus the ActionID the session would add and a `Queues` barrier Ping. Lets a
    /// capped output buffer refuse an action before anything is registered or written.
    pub fn encoded_len_bound(&self, action: &Action) -> usize {
        // "ActionID: " + prefix + the counter's 20 digits at most + CRLF.
        let generated_id = 10 + self.prefix.len() + 20 + 2;
        let mut bound = action.encoded_len();
        if action.action_id().is_none() {
            bound += generated_id;
        }
        if action.name().eq_ignore_ascii_case("Queues") {
            bound += "Action: Ping\r\n\r\n".len() + generated_id;
        }
        bound
    }

    fn fresh_id(&mut self) -> String {
        loop {
            // Exactly sized: the ID becomes the pending map's boxed key without a shrinking
            // reallocation (`format!` would over-allocate).
            let mut buf = itoa::Buffer::new();
            let digits = buf.format(self.next_id);
            let mut id = String::with_capacity(self.prefix.len() + digits.len());
            id.push_str(&self.prefix);
            id.push_str(digits);
            self.next_id += 1;
            if !self.pending.contains_key(id.as_bytes()) {
                return id;
            }
        }
    }

    /// Feeds one decoded packet.
    pub fn handle_packet(&mut self, packet: Packet) {
        match packet {
            Packet::Banner(banner) => self.banner = Some(banner),
            Packet::Message(message) => self.handle_message(message),
        }
    }

    fn handle_message(&mut self, message: Message) {
        match message.kind() {
            MessageKind::Response => self.handle_response(message),
            MessageKind::Event => {
                if self.listing > 0 {
                    if let Some(message) = self.take_list_item(message) {
                        self.push_event(message);
                    }
                } else {
                    self.push_event(message);
                }
            }
            MessageKind::Unknown => {
                let id = message.peek("ActionID");
                match (id, self.queues.front()) {
                    (None, Some(queues_id)) => {
                        if let Some(pending) = self.pending.get_mut(queues_id)
                            && !pending.overflowed
                        {
                            let limit = self.limits.max_text_bytes;
                            if pending.text.len().saturating_add(message.raw().len()) > limit {
                                let action_id = String::from_utf8_lossy(queues_id).into_owned();
                                overflow(
                                    pending,
                                    action_id,
                                    ActionFailure::TextTooLong { limit },
                                    &mut self.completions,
                                );
                            } else {
                                pending.text.extend_from_slice(message.raw());
                            }
                        }
                    }
                    _ => self.push_event(message),
                }
            }
        }
    }

    fn push_event(&mut self, message: Message) {
        self.stats.events += 1;
        self.events.push_back(message);
    }

    fn handle_response(&mut self, response: Message) {
        let Some((key, mut pending)) = response
            .peek("ActionID")
            .and_then(|id| self.pending.remove_entry(id))
        else {
            self.stats.unmatched_responses += 1;
            self.push_event(response);
            return;
        };
        if pending.list.is_some() {
            // A second response for a list in progress: not ours to swallow.
            self.pending.insert(key, pending);
            self.stats.unmatched_responses += 1;
            self.push_event(response);
            return;
        }
        // A response's first line is its `Response:` header: read without a scan.
        let is_error = response.first_value_bytes().eq_ignore_ascii_case(b"Error");
        let result = match pending.kind {
            Kind::Barrier => {
                self.finish_queues_for_barrier();
                return;
            }
            Kind::Queues => {
                self.queues.retain(|id| **id != *key);
                if is_error {
                    Err(server_error(response))
                } else {
                    Ok(Reply::Response(response))
                }
            }
            Kind::Command => command_result(response),
            Kind::Plain if is_error => Err(server_error(response)),
            Kind::Plain if announces_list(&response) => {
                pending.list = Some((response, Vec::new()));
                self.listing += 1;
                if pending.bare_items.is_some() {
                    self.bare_item_lists.push(key.clone());
                }
                // Back under the exact bytes it was sent with: its items and its end carry
                // those (a lossy copy of an ActionID that is not UTF-8 could be another
                // action's key).
                self.pending.insert(key, pending);
                return;
            }
            Kind::Plain => Ok(Reply::Response(response)),
        };
        self.complete(pending, action_id_of(key), result);
    }

    /// The barrier Ping answered: the oldest `Queues` has all its text.
    fn finish_queues_for_barrier(&mut self) {
        let Some(queues_id) = self.queues.pop_front() else {
            return;
        };
        if let Some(pending) = self.pending.remove(&queues_id) {
            let text = queues_text(&pending.text);
            let action_id = String::from_utf8_lossy(&queues_id).into_owned();
            self.complete(pending, action_id, Ok(Reply::Text(text)));
        }
    }

    /// Returns the event back when it is not an item of a list in progress.
    fn take_list_item(&mut self, event: Message) -> Option<Message> {
        let Some(id) = event.get_bytes("ActionID") else {
            return self.take_bare_list_item(event);
        };
        let Some(pending) = self.pending.get_mut(id) else {
            return Some(event);
        };
        let Some((_, items)) = pending.list.as_mut() else {
            return Some(event);
        };
        let ends = event
            .get_bytes("EventList")
            .is_some_and(|value| !value.eq_ignore_ascii_case(b"start"))
            || event
                .get_bytes("Event")
                .is_some_and(|name| ends_with_ignore_case(name, b"Complete"));
        if !ends {
            if pending.overflowed {
                return None;
            }
            if items.len() >= self.limits.max_list_items {
                let limit = self.limits.max_list_items;
                let action_id = String::from_utf8_lossy(id).into_owned();
                overflow(
                    pending,
                    action_id,
                    ActionFailure::ListTooLong { limit },
                    &mut self.completions,
                );
                return None;
            }
            items.push(event);
            return None;
        }
        let (key, mut pending) = self.pending.remove_entry(id)?;
        self.listing -= 1;
        if pending.bare_items.is_some() {
            self.bare_item_lists.retain(|listed| *listed != key);
        }
        if let Some((response, items)) = pending.list.take() {
            let list = List {
                response,
                items,
                complete: event,
            };
            self.complete(pending, action_id_of(key), Ok(Reply::List(list)));
        }
        None
    }

    /// An event without an ActionID is an item of the oldest list in progress that expects
    /// such items under its name; otherwise it is an event.
    fn take_bare_list_item(&mut self, event: Message) -> Option<Message> {
        if self.bare_item_lists.is_empty() {
            return Some(event);
        }
        let pending = &mut self.pending;
        // Lists cancelled or failed since they started are no longer waiting.
        self.bare_item_lists
            .retain(|id| pending.get(id).is_some_and(|p| p.list.is_some()));
        let Some(name) = event.get_bytes("Event") else {
            return Some(event);
        };
        for id in &self.bare_item_lists {
            if let Some(entry) = pending.get_mut(id)
                && let Pending {
                    list: Some((_, items)),
                    bare_items: Some(item_name),
                    overflowed,
                    ..
                } = entry
                && name.eq_ignore_ascii_case(item_name)
            {
                if *overflowed {
                    return None;
                }
                if items.len() >= self.limits.max_list_items {
                    let limit = self.limits.max_list_items;
                    let action_id = String::from_utf8_lossy(id).into_owned();
                    overflow(
                        entry,
                        action_id,
                        ActionFailure::ListTooLong { limit },
                        &mut self.completions,
                    );
                    return None;
                }
                items.push(event);
                return None;
            }
        }
        Some(event)
    }

    fn complete(
        &mut self,
        pending: Pending<T>,
        action_id: String,
        result: Result<Reply, ActionFailure>,
    ) {
        if let Some(payload) = pending.payload {
            self.completions.push_back(Completion {
                payload,
                action_id,
                result,
            });
        }
    }

    /// The connection ended: every waiting action fails with [`ActionFailure::ConnectionLost`]
    /// (a list cut short included). The banner is forgotten; the ActionID counter is kept, so
    /// a late reply from the old connection can never match a new action.
    pub fn handle_close(&mut self) {
        let mut lost: Vec<_> = self.pending.drain().collect();
        // Report in the order the actions were started where the ids say so.
        lost.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
        for (id, pending) in lost {
            let action_id = String::from_utf8_lossy(&id).into_owned();
            self.complete(pending, action_id, Err(ActionFailure::ConnectionLost));
        }
        self.queues.clear();
        self.listing = 0;
        self.bare_item_lists.clear();
        self.banner = None;
    }

    /// Forgets a waiting action (its caller gave up); a late reply is then passed on as an
    /// unmatched response. Returns its payload.
    pub fn cancel(&mut self, action_id: &str) -> Option<T> {
        let pending = self.pending.remove(action_id.as_bytes())?;
        if pending.list.is_some() {
            self.listing -= 1;
        }
        self.queues.retain(|id| **id != *action_id.as_bytes());
        pending.payload
    }

    /// Forgets every waiting action whose payload fails `keep` (for sweeping callers that have
    /// gone away).
    pub fn retain_pending(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.remove_pending_where(|payload| !keep(payload), drop);
    }

    /// Forgets every waiting action whose payload matches `remove` and hands each payload to
    /// `removed` (for timeouts: the caller is told, and a late reply is then passed on as an
    /// unmatched response).
    pub fn remove_pending_where(
        &mut self,
        mut remove: impl FnMut(&T) -> bool,
        mut removed: impl FnMut(T),
    ) {
        let mut dropped_lists = 0;
        self.pending.retain(|_, pending| {
            if !pending.payload.as_ref().is_some_and(&mut remove) {
                return true;
            }
            if pending.list.is_some() {
                dropped_lists += 1;
            }
            if let Some(payload) = pending.payload.take() {
                removed(payload);
            }
            false
        });
        self.listing -= dropped_lists;
        let pending = &self.pending;
        self.queues.retain(|id| pending.contains_key(id));
    }

    /// Calls `visit` with the payload of every action still waiting.
    pub fn for_each_pending(&self, mut visit: impl FnMut(&T)) {
        for payload in self.pending.values().filter_map(|p| p.payload.as_ref()) {
            visit(payload);
        }
    }

    /// The next completed action, in completion order.
    pub fn poll_completion(&mut self) -> Option<Completion<T>> {
        self.completions.pop_front()
    }

    /// The next event (or unmatched packet) for subscribers, in arrival order.
    pub fn poll_event(&mut self) -> Option<Message> {
        self.events.pop_front()
    }

    /// Moves every pending event into `out` at once (cheaper than one `poll_event` each).
    pub fn drain_events_into(&mut self, out: &mut Vec<Message>) {
        out.extend(self.events.drain(..));
    }
}

/// The completion's ActionID from the pending map's key: the key itself when it is UTF-8 (no
/// copy for every reply), else a lossy copy (the key stays exact for matching).
fn action_id_of(key: Box<[u8]>) -> String {
    String::from_utf8(key.into_vec())
        .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned())
}

/// Fails a reply that broke a limit: its caller is told now, what it gathered is freed, and
/// it stays pending (without a caller) only so that the rest of it is recognised and
/// discarded until it ends.
fn overflow<T>(
    pending: &mut Pending<T>,
    action_id: String,
    failure: ActionFailure,
    completions: &mut VecDeque<Completion<T>>,
) {
    pending.overflowed = true;
    if let Some((_, items)) = pending.list.as_mut() {
        *items = Vec::new();
    }
    pending.text = Vec::new();
    if let Some(payload) = pending.payload.take() {
        completions.push_back(Completion {
            payload,
            action_id,
            result: Err(failure),
        });
    }
}

fn ends_with_ignore_case(value: &[u8], suffix: &[u8]) -> bool {
    value.len() >= suffix.len() && value[value.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

/// A `Response: Success` opens a list when it says `EventList: start`, or, on servers before
/// Asterisk 13.2 that send no EventList, when its message says the items "will follow".
fn announces_list(response: &Message) -> bool {
    if response
        .peek("EventList")
        .is_some_and(|value| value.eq_ignore_ascii_case(b"start"))
    {
        return true;
    }
    response
        .peek("Message")
        .is_some_and(|message| contains_ignore_case(message, b"will follow"))
}

fn server_error(response: Message) -> ActionFailure {
    ActionFailure::Server {
        message: response.get("Message").unwrap_or_default().into_owned(),
        response,
    }
}

fn command_result(response: Message) -> Result<Reply, ActionFailure> {
    let is_error = response.value_is("Response", "Error");
    let output = match response.body() {
        Some(body) => String::from_utf8_lossy(body).into_owned(),
        None => {
            let mut text = String::new();
            for line in response.get_all("Output") {
                text.push_str(&String::from_utf8_lossy(line));
                text.push('\n');
            }
            text
        }
    };
    if is_error {
        if response.contains("Output") {
            return Err(ActionFailure::Command { output, response });
        }
        return Err(server_error(response));
    }
    // Legacy servers report an unknown CLI command inside a Follows body.
    if response.body().is_some() && output.starts_with("No such command '") {
        return Err(ActionFailure::Command { output, response });
    }
    Ok(Reply::Command(CommandOutput { response, output }))
}

/// The `Queues` text without ANSI colour codes, CRLF made LF, trailing blank lines dropped.
fn queues_text(raw: &[u8]) -> String {
    let text = strip_ansi(&String::from_utf8_lossy(raw));
    let mut text = text.trim_end_matches(['\r', '\n']).replace("\r\n", "\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// Removes ANSI escape sequences (`ESC [ ... letter`), which `queue show` output carries on 13.
pub fn strip_ansi(text: &str) -> String {
    // Byte scan: ESC, '[' and the final letter are ASCII, and UTF-8 continuation bytes are never
    // ASCII, so skipping bytes up to the letter skips whole characters, and every cut lands on
    // a character boundary. memchr finds the (rare) ESC bytes; the text between is copied whole.
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(offset) = memchr::memchr(0x1b, &bytes[from..]) {
        let escape = from + offset;
        if bytes.get(escape + 1) != Some(&b'[') {
            // A lone ESC stays.
            from = escape + 1;
            continue;
        }
        out.push_str(&text[copied..escape]);
        // Up to and including the final letter; an unterminated sequence runs to the end.
        let end = bytes[escape + 2..]
            .iter()
            .position(u8::is_ascii_alphabetic)
            .map_or(bytes.len(), |at| escape + 2 + at + 1);
        copied = end;
        from = end;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests;
