//! The load generator's calls (`SimConfig::calls_per_second`): a steady mix of what a PBX
//! sees, so that a state kept from events meets every rule at once: plain calls, Local
//! chains (which optimise themselves away), queue calls, calls that park themselves and
//! retrievals from the lot, and bridged calls that are then transferred, blind (13+) or
//! attended, in turn.

use super::{OriginateRequest, Parent, Pbx, Timer};

/// How long after a call to transfer is placed its transfer starts (its Dial has answered).
const TRANSFER_AFTER_MS: u64 = 1_500;

/// The kinds of generated call with their weights: `(channel, weight)`.
const MIX: &[(&str, u64)] = &[
    // Answer, Playback, Wait, Hangup.
    ("Local/100@demo", 3),
    // A Local chain: 400 dials Local/500, which plays a beep (1.8, 11: a masquerade).
    ("Local/400@demo", 2),
    // 430 dials Local/400: the optimised pair's `;1` is bridged (13+: LocalOptimization).
    ("Local/430@features", 2),
    // A queue caller (two members, one of them an agent's queue).
    ("Local/600@demo", 3),
    // Parks itself in the default lot.
    ("Local/700@features", 2),
    // Retrieves the first parked call (space 701), if any.
    ("Local/701@features", 1),
    // A bridged call (900 dials Local/800) that is transferred shortly after.
    ("Local/900@demo", 3),
];

impl Pbx {
    /// Places the generated call `pick` selects (any number: it is reduced over the mix's
    /// weights), its originated channel running `Wait(seconds)`: what the clock does
    /// `SimConfig::calls_per_second` times a second, for a caller driving the PBX in memory.
    pub fn place_generated_call(&mut self, pick: u64, seconds: u64) {
        let total: u64 = MIX.iter().map(|(_, weight)| weight).sum();
        let mut at = pick % total;
        let Some(channel) = MIX.iter().find_map(|(channel, weight)| {
            if at < *weight {
                Some(*channel)
            } else {
                at -= weight;
                None
            }
        }) else {
            return;
        };
        let _ = self.originate(OriginateRequest {
            channel: channel.to_owned(),
            application: Some(("Wait".into(), seconds.to_string())),
            ..Default::default()
        });
        if channel == "Local/900@demo" {
            self.generated_transfers += 1;
            let blind = self.generated_transfers % 2 == 0 && self.profile.modern_events();
            self.schedule(TRANSFER_AFTER_MS, Timer::GeneratedTransfer { blind });
        }
    }

    /// Transfers the oldest bridged `900` caller not yet transferred: blind to `100@demo`,
    /// or attended to `500@demo`.
    pub(super) fn generated_transfer(&mut self, blind: bool) {
        let busy: Vec<u64> = self
            .pairs
            .values()
            .filter(|p| matches!(p.parent, Parent::Transfer { .. }))
            .flat_map(|p| [p.one, p.two])
            .collect();
        let Some(caller) = self
            .channels
            .values()
            .filter(|c| {
                c.name.starts_with("Local/900@demo-")
                    && c.name.ends_with(";2")
                    && self.bridged_peer(c.id).is_some()
                    && !busy.contains(&c.id)
                    && !self.transfers.iter().any(|t| t.involves(c.id))
            })
            .map(|c| c.id)
            .next()
        else {
            return;
        };
        let _ = if blind {
            self.blind_transfer(caller, "demo", "100")
        } else {
            self.attended_transfer(caller, "demo", "500")
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;

    #[test]
    fn the_mix_covers_every_kind() {
        let total: u64 = MIX.iter().map(|(_, weight)| weight).sum();
        for profile in [Profile::V22, Profile::V18] {
            let mut pbx = Pbx::new(profile, 1);
            let mut names = std::collections::BTreeSet::new();
            let mut t = 0;
            for pick in 0..3 * total {
                pbx.place_generated_call(pick, 6);
                for _ in 0..50 {
                    t += 10;
                    pbx.handle_timeout(t);
                }
                while let Some(event) = pbx.poll_event() {
                    let text = String::from_utf8_lossy(&event.bytes).into_owned();
                    if let Some(name) = text.lines().next().and_then(|l| l.strip_prefix("Event: "))
                    {
                        names.insert(name.to_owned());
                    }
                }
            }
            let expected: &[&str] = if profile == Profile::V22 {
                &[
                    "BlindTransfer",
                    "AttendedTransfer",
                    "LocalOptimizationBegin",
                    "ParkedCall",
                    "UnParkedCall",
                    "QueueCallerJoin",
                ]
            } else {
                &["Masquerade", "Rename", "ParkedCall", "UnParkedCall", "Join"]
            };
            for name in expected {
                assert!(names.contains(*name), "{profile}: {name} not in {names:?}");
            }
        }
    }
}
