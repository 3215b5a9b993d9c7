//! Every AMI action and event that Asterisk 22, 13, 11 and 1.8 document or were seen sending, as
//! static data: action parameters, list replies, write privilege classes, event classes and
//! fields, and what the 1.x event families became.
//!
//! ```
//! use ami_catalog::{Version, action, closest_action, event};
//!
//! let originate = action("originate").unwrap(); // names match case-insensitively, as in Asterisk
//! assert!(originate.param("Channel").unwrap().is_required());
//! assert!(originate.param("Variable").unwrap().repeatable);
//! assert_eq!(originate.classes(Version::V22), Some(&["originate"][..]));
//!
//! let list = action("CoreShowChannels").unwrap().list.as_ref().unwrap();
//! assert_eq!((list.items, list.complete), (&["CoreShowChannel"][..], "CoreShowChannelsComplete"));
//!
//! assert!(event("DialBegin").unwrap().field("DestChannel").is_some());
//! assert_eq!(closest_action("Orignate").map(|a| a.name), Some("Originate"));
//! ```
//!
//! The typed surface over the tables: a builder per action in [`mod@actions`] (implementing
//! [`reply::AmiAction`], which names its reply type), a zero-copy view per event and the
//! [`TypedEvent`](events::TypedEvent) enum in [`mod@events`].
//!
//! The tables in `generated.rs` are written by `cargo run -p ami-catalog-gen` from
//! `../shared/asterisk-docs` (Asterisk's documentation XML), `../shared/corpus` (recorded sessions)
//! and the generator's hand-written rules; each list reply and event says which of the three it
//! comes from ([`Source`]).

pub mod actions;
pub mod events;
mod generated;
pub mod reply;
mod view;

use std::cmp::Ordering;
use std::fmt;

/// An Asterisk release line the catalog has documentation and recordings for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// Asterisk 1.8 (AMI 1.1).
    V1_8,
    /// Asterisk 11 (AMI 1.3).
    V11,
    /// Asterisk 13 (AMI 2.x).
    V13,
    /// Asterisk 22 (AMI 11.x).
    V22,
}

impl Version {
    /// All versions, oldest first.
    pub const ALL: [Version; 4] = [Version::V1_8, Version::V11, Version::V13, Version::V22];

    /// `"1.8"`, `"11"`, `"13"` or `"22"`.
    pub const fn label(self) -> &'static str {
        match self {
            Version::V1_8 => "1.8",
            Version::V11 => "11",
            Version::V13 => "13",
            Version::V22 => "22",
        }
    }

    /// The inverse of [`Version::label`].
    pub fn from_label(label: &str) -> Option<Version> {
        Version::ALL.into_iter().find(|v| v.label() == label)
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A set of [`Version`]s.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Versions(pub(crate) u8);

impl Versions {
    /// The empty set.
    pub const NONE: Versions = Versions(0);

    /// Whether `version` is in the set.
    pub const fn contains(self, version: Version) -> bool {
        self.0 & version.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The versions in the set, oldest first.
    pub fn iter(self) -> impl Iterator<Item = Version> {
        Version::ALL.into_iter().filter(move |v| self.contains(*v))
    }
}

impl fmt::Debug for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Version::label))
            .finish()
    }
}

/// Where a fact comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Asterisk's documentation XML of at least one version.
    Documented,
    /// Only the recorded sessions of real servers.
    Recorded,
    /// Neither: a hand-written rule in the generator, with a note saying where it comes from.
    Rule,
}

/// A manager action.
#[derive(Debug)]
#[non_exhaustive]
pub struct Action {
    /// The name as the newest documenting version spells it.
    pub name: &'static str,
    /// Versions whose documentation has the action.
    pub documented: Versions,
    /// Parameters of every documenting version, the newest version's order first.
    pub params: &'static [Param],
    /// For list actions, the events that carry the items and end the list.
    pub list: Option<ListReply>,
    /// Write privilege classes per version, from the recorded `ListCommands` answers. Known only
    /// for the actions the recorded servers had loaded (channel drivers, voicemail, ... were not).
    pub privileges: &'static [Privilege],
}

impl Action {
    /// The parameter called `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&'static Param> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The parameter whose name is nearest to `name` (for "did you mean ...?"), on the same
    /// terms as [`closest_action`].
    pub fn closest_param(&self, name: &str) -> Option<&'static Param> {
        closest(self.params, name, |p| p.name)
    }

    /// The parameters the newest documenting version marks required, in order.
    pub fn required_params(&self) -> impl Iterator<Item = &'static Param> {
        self.params.iter().filter(|p| p.is_required())
    }

    /// Whether `version` has the action as far as the sources tell: its documentation lists it,
    /// or its recorded `ListCommands` answer did (1.8 runs `MuteAudio` without documenting it).
    pub fn known_on(&self, version: Version) -> bool {
        self.documented.contains(version) || self.classes(version).is_some()
    }

    /// The write privilege classes `version` asks for (`all` left out; empty when none is
    /// needed), or `None` when that version's server did not list the action.
    pub fn classes(&self, version: Version) -> Option<&'static [&'static str]> {
        self.privileges
            .iter()
            .find(|p| p.version == version)
            .map(|p| p.classes)
    }
}

/// A parameter (header) of an action.
#[derive(Debug)]
#[non_exhaustive]
pub struct Param {
    /// The header name.
    pub name: &'static str,
    /// Versions whose documentation lists the parameter.
    pub versions: Versions,
    /// Versions whose documentation marks the parameter required. A few changed over time
    /// (`AOCMessage`'s `Channel` is required up to 13, not in 22); see [`Param::is_required`].
    pub required: Versions,
    /// May be given more than once: marked `multiple`, or a `Variable` header, all of which
    /// Asterisk reads although the documentation does not say so.
    pub repeatable: bool,
    /// The documented default value.
    pub default: Option<&'static str>,
    /// The documented enumerated values; empty when the value is free.
    pub values: &'static [&'static str],
}

impl Param {
    /// Whether the newest version documenting the parameter marks it required.
    pub fn is_required(&self) -> bool {
        self.versions
            .iter()
            .last()
            .is_some_and(|newest| self.required.contains(newest))
    }
}

/// How a list action answers: an acknowledgement, item events, then a completion event.
#[derive(Debug)]
#[non_exhaustive]
pub struct ListReply {
    /// The item events (some lists have several kinds, e.g. QueueStatus).
    pub items: &'static [&'static str],
    /// The event that ends the list.
    pub complete: &'static str,
    /// Where the item and completion names come from.
    pub source: Source,
    /// Versions on which the corpus recorded this list.
    pub recorded: Versions,
    /// Versions whose recorded acknowledgement carried `EventList: start`. A recorded version
    /// missing here ended the list only by the completion event (pre-13 behaviour).
    pub eventlist: Versions,
    /// For [`Source::Rule`], where the rule comes from.
    pub note: &'static str,
}

/// The write privilege classes one version asks for an action.
#[derive(Debug)]
#[non_exhaustive]
pub struct Privilege {
    /// The version whose `ListCommands` answer listed the action.
    pub version: Version,
    /// The classes, lower-case, without `all`; empty for `(Priv: <none>)`.
    pub classes: &'static [&'static str],
}

/// A manager event.
#[derive(Debug)]
#[non_exhaustive]
pub struct Event {
    /// The name as documented, else as first recorded.
    pub name: &'static str,
    /// Documented, only recorded, or added by a rule (a list event or a 1.x event named by the
    /// generator's rules but neither documented nor recorded).
    pub source: Source,
    /// Versions whose documentation has the event.
    pub documented: Versions,
    /// Versions whose recordings contain the event.
    pub recorded: Versions,
    /// Lower-case classes: documented `managerEventInstance` classes, else the recorded
    /// `Privilege:` classes (without `all`). Empty for list items, which carry no Privilege.
    pub classes: &'static [&'static str],
    /// Documented fields with snapshot placeholders expanded (`<channel_snapshot prefix="Dest"/>`
    /// gives `DestChannel`, `DestUniqueid`, ...); for an undocumented event, the recorded headers.
    pub fields: &'static [Field],
    /// The headers each version's recordings showed, newest version first.
    pub seen: &'static [Seen],
    /// Set for the 1.x events that Asterisk 12 replaced or dropped.
    pub legacy: Option<Legacy>,
}

impl Event {
    /// The field called `name` (case-insensitive).
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// Whether `version` documents the event or was recorded sending it (`Dial` on 1.8 and 11).
    pub fn known_on(&self, version: Version) -> bool {
        self.documented.contains(version) || self.recorded.contains(version)
    }

    /// The headers recorded for this event on `version`, if it was recorded there.
    pub fn seen_on(&self, version: Version) -> Option<&'static [&'static str]> {
        self.seen
            .iter()
            .find(|s| s.version == version)
            .map(|s| s.fields)
    }
}

/// A field (header) of an event.
#[derive(Debug)]
#[non_exhaustive]
pub struct Field {
    /// The header name.
    pub name: &'static str,
    /// Versions that document the field, or for an undocumented event, that recorded it. Empty
    /// for fields a rule states.
    pub versions: Versions,
    /// Documented enumerated values; empty when free.
    pub values: &'static [&'static str],
}

/// The headers of one event seen in one version's recordings, in order of first appearance
/// (`Event` and `Privilege` left out).
#[derive(Debug)]
#[non_exhaustive]
pub struct Seen {
    /// The recorded version.
    pub version: Version,
    /// Header names.
    pub fields: &'static [&'static str],
}

/// What became of a 1.x event.
#[derive(Debug)]
#[non_exhaustive]
pub struct Legacy {
    /// The modern events it corresponds to; empty when it has none.
    pub replaced_by: &'static [Replacement],
    /// Why, in a few words.
    pub note: &'static str,
}

impl Legacy {
    /// The modern event a given instance corresponds to; `header` returns the instance's value of
    /// a header (e.g. `SubEvent` for `Dial`).
    pub fn modern<'h>(&self, header: impl Fn(&str) -> Option<&'h str>) -> Option<&'static str> {
        self.replaced_by
            .iter()
            .find(|r| match r.when {
                None => true,
                Some((name, value)) => header(name).is_some_and(|v| v.eq_ignore_ascii_case(value)),
            })
            .map(|r| r.event)
    }
}

/// One modern counterpart of a 1.x event.
#[derive(Debug)]
#[non_exhaustive]
pub struct Replacement {
    /// The header and value that select this counterpart; `None` when the whole event maps.
    pub when: Option<(&'static str, &'static str)>,
    /// The modern event name.
    pub event: &'static str,
}

/// Every action, sorted by lower-case name.
pub fn actions() -> &'static [Action] {
    generated::ACTIONS
}

/// Every event, sorted by lower-case name.
pub fn events() -> &'static [Event] {
    generated::EVENTS
}

/// The action called `name`, compared case-insensitively as Asterisk does.
pub fn action(name: &str) -> Option<&'static Action> {
    // Looked up for every action a client sends (its required-parameter check): a hash of the
    // lower-cased name, made on the stack, rather than a binary search comparing byte by byte;
    // foldhash rather than SipHash, which was most of the check's cost (the keys are the
    // catalog's own names, so there is nothing to flood).
    type Index = std::collections::HashMap<Box<[u8]>, &'static Action, foldhash::fast::RandomState>;
    static INDEX: std::sync::OnceLock<Index> = std::sync::OnceLock::new();
    let index = INDEX.get_or_init(|| {
        generated::ACTIONS
            .iter()
            .map(|a| {
                (
                    a.name.to_ascii_lowercase().into_bytes().into_boxed_slice(),
                    a,
                )
            })
            .collect()
    });
    let mut lower = [0u8; MAX_ACTION_NAME];
    let lower = lower.get_mut(..name.len())?;
    lower.copy_from_slice(name.as_bytes());
    lower.make_ascii_lowercase();
    index.get(&*lower).copied()
}

/// Longer than any catalogued action name (a test checks): a longer name is simply unknown.
const MAX_ACTION_NAME: usize = 64;

/// The event called `name`, compared case-insensitively.
pub fn event(name: &str) -> Option<&'static Event> {
    let table = generated::EVENTS;
    table
        .binary_search_by(|e| cmp_ignore_case(e.name, name))
        .ok()
        .map(|i| &table[i])
}

/// The actions `version`'s documentation has.
pub fn actions_documented_in(version: Version) -> impl Iterator<Item = &'static Action> {
    actions()
        .iter()
        .filter(move |a| a.documented.contains(version))
}

/// The events `version`'s documentation has.
pub fn events_documented_in(version: Version) -> impl Iterator<Item = &'static Event> {
    events()
        .iter()
        .filter(move |e| e.documented.contains(version))
}

/// The action whose name is nearest to `name` (for "did you mean ...?"), if one is close enough:
/// at most a third of the name's letters (and at least one) inserted, removed or changed.
pub fn closest_action(name: &str) -> Option<&'static Action> {
    closest(actions(), name, |a| a.name)
}

/// The event whose name is nearest to `name`, on the same terms as [`closest_action`].
pub fn closest_event(name: &str) -> Option<&'static Event> {
    closest(events(), name, |e| e.name)
}

fn closest<T>(items: &'static [T], name: &str, key: impl Fn(&T) -> &str) -> Option<&'static T> {
    let limit = (name.chars().count() / 3).max(1);
    items
        .iter()
        .map(|item| (edit_distance(key(item), name), item))
        .filter(|(distance, _)| *distance <= limit)
        // min_by_key keeps the first of equals: the alphabetically first name wins a tie.
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, item)| item)
}

/// Levenshtein distance over ASCII-lower-cased characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

fn cmp_ignore_case(a: &str, b: &str) -> Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests;
