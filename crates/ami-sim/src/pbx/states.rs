//! Device and extension states: each device's state follows its channels (a Local device is
//! in use while one of its channels exists, as the Local driver reports it), agents and
//! parking spaces; hints map extensions to devices and send ExtensionStatus when their
//! device changes.

use super::Pbx;
use crate::perm::Perms;
use crate::profile::Profile;
use crate::wire::Packet;

/// The hints of the simulated dialplan: extension, context, device. Agents' hints
/// (`NNNN@features` -> `Agent:NNNN`) are added for the configured agents.
const HINTS: [(&str, &str, &str); 4] = [
    ("700", "demo", "Local/700@demo"),
    ("701", "demo", "Local/701@demo"),
    ("800", "demo", "Local/800@demo"),
    ("701", "parkedcalls", "park:701@parkedcalls"),
];

/// One hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hint {
    pub(crate) exten: String,
    pub(crate) context: String,
    pub(crate) device: String,
}

/// An extension state: its number and text (`ast_extension_state2str`).
pub(crate) fn extension_state(device_state: &str) -> (i32, &'static str) {
    match device_state {
        "NOT_INUSE" => (0, "Idle"),
        "INUSE" => (1, "InUse"),
        "BUSY" => (2, "Busy"),
        "RINGING" => (8, "Ringing"),
        "RINGINUSE" => (9, "InUse&Ringing"),
        "ONHOLD" => (16, "Hold"),
        _ => (4, "Unavailable"),
    }
}

impl Pbx {
    /// The hints: the fixed ones and one per agent.
    pub(crate) fn hints(&self) -> Vec<Hint> {
        let fixed = HINTS.iter().map(|(exten, context, device)| Hint {
            exten: (*exten).to_owned(),
            context: (*context).to_owned(),
            device: (*device).to_owned(),
        });
        let agents = self.agents.iter().map(|agent| Hint {
            exten: agent.number.clone(),
            context: "features".to_owned(),
            device: agent.device(),
        });
        fixed.chain(agents).collect()
    }

    /// The state of `device` as last reported (NOT_INUSE for a device never used).
    pub(crate) fn device_state(&self, device: &str) -> &'static str {
        self.device_states
            .get(device)
            .copied()
            .unwrap_or("NOT_INUSE")
    }

    /// Sets a device's state: DeviceStateChange (13+) and the ExtensionStatus of every hint
    /// on it, when it changed.
    pub(crate) fn set_device_state(&mut self, device: &str, state: &'static str) {
        if self.device_states.get(device) == Some(&state) {
            return;
        }
        self.device_states.insert(device.to_owned(), state);
        self.ev_device_state(device, state);
        for hint in self.hints().into_iter().filter(|h| h.device == device) {
            let packet =
                self.extension_status(&hint, Packet::event("ExtensionStatus", Perms::CALL));
            self.emit(Perms::CALL, packet);
        }
    }

    /// A Local device is in use while one of its channels exists.
    pub(super) fn refresh_device(&mut self, device: &str) {
        let in_use = self.channels.values().any(|c| c.device() == device);
        self.set_device_state(device, if in_use { "INUSE" } else { "NOT_INUSE" });
    }

    /// The ExtensionStatus fields of `hint` (StatusText from 13 on).
    pub(crate) fn extension_status(&self, hint: &Hint, packet: Packet) -> Packet {
        let (status, text) = extension_state(self.device_state(&hint.device));
        let packet = packet
            .h("Exten", &hint.exten)
            .h("Context", &hint.context)
            .h("Hint", &hint.device)
            .h("Status", &status.to_string());
        match self.profile {
            Profile::V22 | Profile::V13 => packet.h("StatusText", text),
            Profile::V11 | Profile::V18 => packet,
        }
    }
}
