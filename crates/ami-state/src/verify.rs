//! `verify`: the model built from events against one built from fresh lists, difference by
//! difference (what an operator wants when a wallboard looks wrong).

use std::collections::BTreeSet;
use std::fmt;

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
    /// or bridge peers, a queue's callers or members and their pause.
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
        differences
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
