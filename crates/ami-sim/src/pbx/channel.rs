//! Channels and their snapshot headers, in each version's field set.

use crate::profile::Profile;
use crate::wire::Packet;

/// Asterisk's channel states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChanState {
    Down,
    Ring,
    Ringing,
    Up,
}

impl ChanState {
    pub(crate) fn code(self) -> &'static str {
        match self {
            ChanState::Down => "0",
            ChanState::Ring => "4",
            ChanState::Ringing => "5",
            ChanState::Up => "6",
        }
    }

    pub(crate) fn desc(self) -> &'static str {
        match self {
            ChanState::Down => "Down",
            ChanState::Ring => "Ring",
            ChanState::Ringing => "Ringing",
            ChanState::Up => "Up",
        }
    }
}

/// One channel of the simulated PBX.
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) uniqueid: String,
    pub(crate) linkedid: String,
    pub(crate) state: ChanState,
    pub(crate) cid_num: String,
    pub(crate) cid_name: String,
    pub(crate) conn_num: String,
    pub(crate) conn_name: String,
    pub(crate) context: String,
    pub(crate) exten: String,
    pub(crate) priority: u32,
    pub(crate) app: String,
    pub(crate) app_data: String,
    pub(crate) vars: Vec<(String, String)>,
    pub(crate) bridge: Option<String>,
    /// The other channel of a Local pair (`;1` <-> `;2`), or the peer a Dial connected to.
    pub(crate) peer: Option<u64>,
    pub(crate) created_ms: u64,
    pub(crate) answered_ms: Option<u64>,
}

impl Channel {
    pub(crate) fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn set_var(&mut self, name: &str, value: &str) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.vars.push((name.to_owned(), value.to_owned())),
        }
    }

    /// `Local/100@demo` for `Local/100@demo-0000000e;1`: the device whose state changes.
    pub(crate) fn device(&self) -> &str {
        self.name
            .rsplit_once('-')
            .map_or(self.name.as_str(), |(device, _)| device)
    }

    pub(crate) fn duration_secs(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.created_ms) / 1000
    }

    /// `<unknown>` for empty caller fields, as Asterisk writes them in snapshots.
    fn or_unknown(value: &str) -> &str {
        if value.is_empty() { "<unknown>" } else { value }
    }

    /// Appends the channel snapshot (13+: `Channel` ... `Linkedid`, with a name prefix such as
    /// `Dest` or `LocalOne`). Only meaningful for the modern event family.
    pub(crate) fn snapshot(&self, profile: Profile, prefix: &str, mut packet: Packet) -> Packet {
        let field = |name: &str| format!("{prefix}{name}");
        packet.push(&field("Channel"), &self.name);
        packet.push(&field("ChannelState"), self.state.code());
        packet.push(&field("ChannelStateDesc"), self.state.desc());
        packet.push(&field("CallerIDNum"), Self::or_unknown(&self.cid_num));
        packet.push(&field("CallerIDName"), Self::or_unknown(&self.cid_name));
        packet.push(&field("ConnectedLineNum"), Self::or_unknown(&self.conn_num));
        packet.push(
            &field("ConnectedLineName"),
            Self::or_unknown(&self.conn_name),
        );
        packet.push(&field("Language"), "en");
        packet.push(&field("AccountCode"), "");
        packet.push(&field("Context"), &self.context);
        packet.push(&field("Exten"), &self.exten);
        packet.push(&field("Priority"), &self.priority.to_string());
        packet.push(&field("Uniqueid"), &self.uniqueid);
        packet.push(&field("Linkedid"), &self.linkedid);
        let _ = profile;
        packet
    }
}
