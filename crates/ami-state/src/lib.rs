//! The live state of an Asterisk PBX, kept exact from AMI events and list actions: channels,
//! calls, bridges, queues, agents, parked calls, device and extension states, on every
//! Asterisk era (the 12+ event family of 13 and 22, and the 1.x family of 1.8 and 11:
//! `Link`/`Unlink`, `Bridge`, `Join`/`Leave`, `Rename`, `Masquerade`). Sans-IO: events and
//! list results in, a model, a snapshot and changes out; no socket, no clock.
//!
//! The rules for each object are documented in its module: channels (creation from any
//! event, Hangup, Rename, Masquerade), bridges (both eras, `BridgeMerge`, Local channel
//! optimisation, blind and attended transfers), queues, agents, parking, devices.
//!
//! ```
//! use ami_proto::Message;
//! use ami_state::{Change, State};
//!
//! let mut state = State::new();
//! let event = Message::builder()
//!     .header("Event", "Newchannel")
//!     .header("Channel", "PJSIP/100-00000001")
//!     .header("ChannelState", "4")
//!     .header("ChannelStateDesc", "Ring")
//!     .header("Uniqueid", "1700000000.1")
//!     .header("Linkedid", "1700000000.1")
//!     .build()?;
//! state.handle_event(&event);
//! assert_eq!(state.poll_change(), Some(Change::ChannelUp("1700000000.1".into())));
//! assert_eq!(state.calls().len(), 1);
//! assert_eq!(state.channel("1700000000.1").map(|c| c.state_desc.as_str()), Some("Ring"));
//! # Ok::<(), ami_proto::EncodeError>(())
//! ```
//!
//! Keeping it exact: make the state for the server's version ([`State::for_version`], with
//! [`version_from_ami`] of the banner), start a resync ([`State::begin_resync`]) at connect,
//! after every reconnect and after every gap, send the actions of [`State::resync_plan`] and
//! hand their items to [`State::handle_list`] (or [`State::handle_list_refused`]);
//! [`State::verify`] compares the model with fresh lists.

mod agents;
mod bridges;
mod channels;
mod devices;
mod dispatch;
mod fields;
mod list;
mod model;
mod parking;
mod queues;
mod resync;
mod state;
mod verify;

pub use ami_catalog::Version;
pub use list::{ListKind, RESYNC_PLAN, resync_plan_for, version_from_ami};
pub use model::{
    Agent, Bridge, Call, Channel, ExtensionState, ParkedCall, Queue, QueueCaller, QueueMember,
    Snapshot,
};
pub use state::{Change, State};
pub use verify::Difference;
