//! `verify`: the model built from events against one built from fresh lists, difference by
//! difference (what an operator wants when a wallboard looks wrong).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::list::ListKind;
use crate::state::State;

/// One way the model differs from the PBX's own lists.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Difference {
    /// The lists show a channel the model lacks.
    MissingChannel {
        /// Uniqueid.
        uniqueid: String,
        /// Channel name.
        name: String,
    },
    /// The model has a channel the lists do not show.
    ExtraChannel {
        /// Uniqueid.
        uniqueid: String,
        /// Channel name.
        name: String,
    },
    /// A channel's field differs.
    ChannelField {
        /// Uniqueid.
        uniqueid: String,
        /// Which field.
        field: &'static str,
        /// The model's value.
        model: String,
        /// The lists' value.
        lists: String,
    },
    /// A queue's waiting callers differ (channel names in order).
    QueueCallers {
        /// Queue name.
        queue: String,
        /// The model's callers.
        model: Vec<String>,
        /// The lists' callers.
        lists: Vec<String>,
    },
    /// A queue's members differ (interface, paused).
    QueueMembers {
        /// Queue name.
        queue: String,
        /// The model's members.
        model: Vec<String>,
        /// The lists' members.
        lists: Vec<String>,
    },
    /// An agent's status or login channel differs (`None`: absent on that side).
    Agent {
        /// Agent id.
        agent: String,
        /// The model's `status [channel]`.
        model: Option<String>,
        /// The lists' `status [channel]`.
        lists: Option<String>,
    },
    /// A parking space holds a different channel (`None`: free on that side).
    Parked {
        /// `lot:space`.
        space: String,
        /// The model's parked channel.
        model: Option<String>,
        /// The lists' parked channel.
        lists: Option<String>,
    },
    /// A device's state differs.
    DeviceState {
        /// Device name.
        device: String,
        /// The model's state.
        model: Option<String>,
        /// The lists' state.
        lists: Option<String>,
    },
    /// An extension's state differs.
    ExtensionState {
        /// `exten@context`.
        extension: String,
        /// The model's status text.
        model: Option<String>,
        /// The lists' status text.
        lists: Option<String>,
    },
    /// A bridge exists on one side only (12 and later, where `BridgeList` lists them).
    Bridge {
        /// BridgeUniqueid.
        bridge: String,
        /// The model's bridge type, if it has the bridge.
        model: Option<String>,
        /// The lists' bridge type, if they have it.
        lists: Option<String>,
    },
}

/// `Some(value)` as the value, `None` as "none".
fn shown(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("none")
}

/// Each key whose value differs between two maps, with both values.
fn compare<V>(
    model: &BTreeMap<String, V>,
    lists: &BTreeMap<String, V>,
    view: impl Fn(&V) -> String,
) -> Vec<(String, Option<String>, Option<String>)> {
    let keys: BTreeSet<&String> = model.keys().chain(lists.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let ours = model.get(key).map(&view);
            let theirs = lists.get(key).map(&view);
            (ours != theirs).then(|| (key.clone(), ours, theirs))
        })
        .collect()
}

/// A device whose state Asterisk sends in `DeviceStateChange` but never keeps in the cache
/// `DeviceStateList` reads: Local channels' devices (`Local/600@demo`), which Asterisk 12+
/// publishes as not cachable. Seen on the live 22 and 13 after queue calls through Local
/// members: the events said `NOT_INUSE`, the list had no such device. Its absence from the
/// list is no difference.
fn is_uncached_device(device: &str) -> bool {
    device
        .get(..6)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("Local/"))
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::MissingChannel { uniqueid, name } => {
                write!(
                    f,
                    "channel {name} ({uniqueid}) is up but missing from the model"
                )
            }
            Difference::ExtraChannel { uniqueid, name } => {
                write!(f, "channel {name} ({uniqueid}) is in the model but not up")
            }
            Difference::ChannelField {
                uniqueid,
                field,
                model,
                lists,
            } => write!(
                f,
                "channel {uniqueid}: {field} is {model:?} in the model, {lists:?} on the PBX"
            ),
            Difference::QueueCallers {
                queue,
                model,
                lists,
            } => {
                write!(
                    f,
                    "queue {queue}: callers {model:?} in the model, {lists:?} on the PBX"
                )
            }
            Difference::QueueMembers {
                queue,
                model,
                lists,
            } => {
                write!(
                    f,
                    "queue {queue}: members {model:?} in the model, {lists:?} on the PBX"
                )
            }
            Difference::Agent {
                agent,
                model,
                lists,
            } => write!(
                f,
                "agent {agent}: {} in the model, {} on the PBX",
                shown(model),
                shown(lists)
            ),
            Difference::Parked {
                space,
                model,
                lists,
            } => write!(
                f,
                "parking space {space}: {} in the model, {} on the PBX",
                shown(model),
                shown(lists)
            ),
            Difference::DeviceState {
                device,
                model,
                lists,
            } => write!(
                f,
                "device {device}: {} in the model, {} on the PBX",
                shown(model),
                shown(lists)
            ),
            Difference::ExtensionState {
                extension,
                model,
                lists,
            } => write!(
                f,
                "extension {extension}: {} in the model, {} on the PBX",
                shown(model),
                shown(lists)
            ),
            Difference::Bridge {
                bridge,
                model,
                lists,
            } => write!(
                f,
                "bridge {bridge}: {} in the model, {} on the PBX",
                shown(model),
                shown(lists)
            ),
        }
    }
}

impl State {
    /// A model made only from list results (`items` of each list of the plan), to compare
    /// with one kept from events.
    pub fn from_lists(lists: &[(crate::ListKind, Vec<ami_proto::Message>)]) -> State {
        let mut state = State::new();
        for (kind, items) in lists {
            state.handle_list(*kind, items);
        }
        state
    }

    /// Every difference between this model and `lists` (built with [`State::from_lists`]
    /// from fresh list actions): channels present on one side only, a channel's name, state
    /// or bridge peers, a queue's callers or members and their pause; and, for each of these
    /// parts that `lists` has a list of: agents (status and login channel), parked calls
    /// (the channel in each space), device states, extension states, and 12+ bridges.
    pub fn verify(&self, lists: &State) -> Vec<Difference> {
        let mut differences = Vec::new();
        for (uniqueid, channel) in &lists.channels {
            let Some(ours) = self.channels.get(uniqueid) else {
                differences.push(Difference::MissingChannel {
                    uniqueid: uniqueid.clone(),
                    name: channel.name.clone(),
                });
                continue;
            };
            let mut field = |field: &'static str, model: String, listed: String| {
                if model != listed {
                    differences.push(Difference::ChannelField {
                        uniqueid: uniqueid.clone(),
                        field,
                        model,
                        lists: listed,
                    });
                }
            };
            field("name", ours.name.clone(), channel.name.clone());
            field("state", ours.state.to_string(), channel.state.to_string());
            // Bridges are compared by who is in them with the channel: ids are not
            // comparable across eras, membership is.
            field(
                "bridged with",
                self.peers(uniqueid).join(","),
                lists.peers(uniqueid).join(","),
            );
        }
        for (uniqueid, channel) in &self.channels {
            if !lists.channels.contains_key(uniqueid) {
                differences.push(Difference::ExtraChannel {
                    uniqueid: uniqueid.clone(),
                    name: channel.name.clone(),
                });
            }
        }
        let names: BTreeSet<&String> = self.queues.keys().chain(lists.queues.keys()).collect();
        for name in names {
            let callers = |state: &State| -> Vec<String> {
                state
                    .queues
                    .get(name)
                    .map(|q| q.callers.iter().map(|c| c.channel.clone()).collect())
                    .unwrap_or_default()
            };
            let members = |state: &State| -> Vec<String> {
                state
                    .queues
                    .get(name)
                    .map(|q| {
                        q.members
                            .values()
                            .map(|m| {
                                format!(
                                    "{}{}",
                                    m.interface,
                                    if m.paused { " (paused)" } else { "" }
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let (model, listed) = (callers(self), callers(lists));
            if model != listed {
                differences.push(Difference::QueueCallers {
                    queue: name.clone(),
                    model,
                    lists: listed,
                });
            }
            let (model, listed) = (members(self), members(lists));
            if model != listed {
                differences.push(Difference::QueueMembers {
                    queue: name.clone(),
                    model,
                    lists: listed,
                });
            }
        }
        self.verify_listed(lists, &mut differences);
        differences
    }

    /// The parts only some versions list: compared when `lists` has their list.
    fn verify_listed(&self, lists: &State, differences: &mut Vec<Difference>) {
        let has = |kind: ListKind| lists.listed.contains(&kind);
        if has(ListKind::Agents) {
            let view = |a: &crate::model::Agent| match &a.channel {
                Some(channel) => format!("{} on {channel}", a.status),
                None => a.status.clone(),
            };
            for (agent, model, lists) in compare(&self.agents, &lists.agents, view) {
                differences.push(Difference::Agent {
                    agent,
                    model,
                    lists,
                });
            }
        }
        if has(ListKind::Parked) {
            let view = |p: &crate::model::ParkedCall| p.channel.clone();
            for (space, model, lists) in compare(&self.parked, &lists.parked, view) {
                differences.push(Difference::Parked {
                    space,
                    model,
                    lists,
                });
            }
        }
        if has(ListKind::Devices) {
            for (device, model, lists) in compare(&self.devices, &lists.devices, String::clone) {
                if lists.is_none() && is_uncached_device(&device) {
                    continue;
                }
                differences.push(Difference::DeviceState {
                    device,
                    model,
                    lists,
                });
            }
        }
        if has(ListKind::Extensions) {
            let view = |e: &crate::model::ExtensionState| e.status_text.clone();
            for (extension, model, lists) in compare(&self.extensions, &lists.extensions, view) {
                differences.push(Difference::ExtensionState {
                    extension,
                    model,
                    lists,
                });
            }
        }
        if has(ListKind::Bridges) {
            // 1.x bridges (named `a+b`) are not in any BridgeList.
            let modern = |state: &State| -> BTreeMap<String, String> {
                state
                    .bridges
                    .values()
                    .filter(|b| !b.id.contains('+'))
                    .map(|b| (b.id.clone(), b.bridge_type.clone()))
                    .collect()
            };
            for (bridge, model, lists) in compare(&modern(self), &modern(lists), String::clone) {
                differences.push(Difference::Bridge {
                    bridge,
                    model,
                    lists,
                });
            }
        }
    }

    /// The Uniqueids in the same bridge as `uniqueid`, sorted.
    fn peers(&self, uniqueid: &str) -> Vec<String> {
        let Some(bridge) = self
            .channels
            .get(uniqueid)
            .and_then(|c| c.bridge.as_ref())
            .and_then(|id| self.bridges.get(id))
        else {
            return Vec::new();
        };
        let mut peers: Vec<String> = bridge
            .channels
            .iter()
            .filter(|c| c.as_str() != uniqueid)
            .cloned()
            .collect();
        peers.sort();
        peers
    }
}
