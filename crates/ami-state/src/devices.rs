//! Device and extension states.
//!
//! - `DeviceStateChange` (12+; also each item of `DeviceStateList`, 13+) sets a device's
//!   state (`NOT_INUSE`, `INUSE`, `BUSY`, `UNAVAILABLE`, `RINGING`, `ONHOLD` …).
//! - `ExtensionStatus` (every era; also each item of `ExtensionStateList`, 13+) sets the
//!   state of `exten@context`: its hint, `Status` number and `StatusText` (1.8 and 11 send
//!   no text: it is derived from the number with Asterisk's own names). Status `-1` (the
//!   hint was removed) and `-2` (the extension was removed) remove it.

use ami_proto::Message;

use crate::fields::{present, text};
use crate::model::ExtensionState;
use crate::state::{Change, State};

/// Asterisk's names of the extension states (what `StatusText` says on 13+).
fn status_text(status: i32) -> &'static str {
    match status {
        0 => "Idle",
        1 => "InUse",
        2 => "Busy",
        4 => "Unavailable",
        8 => "Ringing",
        9 => "InUse&Ringing",
        16 => "Hold",
        17 => "InUse&Hold",
        _ => "Unknown",
    }
}

impl State {
    pub(crate) fn device_state_change(&mut self, event: &Message) {
        let (Some(device), Some(state)) = (present(event, "Device"), event.get("State")) else {
            return;
        };
        self.devices.insert(device.clone(), state.into_owned());
        self.push_change(Change::DeviceState(device));
    }

    pub(crate) fn extension_status(&mut self, event: &Message) {
        let (exten, context) = (text(event, "Exten"), text(event, "Context"));
        if exten.is_empty() {
            return;
        }
        let key = format!("{exten}@{context}");
        let Some(status) = event
            .get("Status")
            .and_then(|s| s.trim().parse::<i32>().ok())
        else {
            return;
        };
        if status < 0 {
            if self.extensions.remove(&key).is_some() {
                self.push_change(Change::ExtensionState(key));
            }
            return;
        }
        let status_text =
            present(event, "StatusText").unwrap_or_else(|| status_text(status).to_owned());
        self.extensions.insert(
            key.clone(),
            ExtensionState {
                exten,
                context,
                hint: text(event, "Hint"),
                status,
                status_text,
            },
        );
        self.push_change(Change::ExtensionState(key));
    }

    /// Replaces the device states by a `DeviceStateList` result.
    pub(crate) fn replace_devices(&mut self, items: &[Message]) {
        self.devices.clear();
        for item in items {
            self.device_state_change(item);
        }
        self.push_change(Change::Resynced);
    }

    /// Replaces the extension states by an `ExtensionStateList` result.
    pub(crate) fn replace_extensions(&mut self, items: &[Message]) {
        self.extensions.clear();
        for item in items {
            self.extension_status(item);
        }
        self.push_change(Change::Resynced);
    }
}
