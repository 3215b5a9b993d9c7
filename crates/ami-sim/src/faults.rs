//! Faults for tests and benchmarks, seeded so a failing run can be replayed exactly.
//!
//! The injector is sans-IO: it turns each outgoing packet into a list of steps (write these
//! bytes, sleep, close) that the connection task carries out.

use std::time::Duration;

use bytes::Bytes;

/// Which faults to inject, per connection. All off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Seed of the per-connection random generator (mixed with the session id).
    pub seed: u64,
    /// Write every packet in random pieces (1 to 64 bytes), each its own write.
    pub split_writes: bool,
    /// Wait this long before every packet after the banner.
    pub delay: Option<Duration>,
    /// Stop writing for `duration` once, before packet number `after_packets`.
    pub stall: Option<Stall>,
    /// After this many packets (banner included), write part of the next one and drop the
    /// connection.
    pub drop_mid_packet_after: Option<u64>,
    /// Insert a garbage packet (non-`Key: Value` lines, bytes that are not UTF-8) before every
    /// Nth packet.
    pub garbage_every: Option<u64>,
}

impl Faults {
    /// True when no fault is selected.
    pub fn is_none(&self) -> bool {
        !self.split_writes
            && self.delay.is_none()
            && self.stall.is_none()
            && self.drop_mid_packet_after.is_none()
            && self.garbage_every.is_none()
    }
}

/// A one-time stall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// Packets written before the stall.
    pub after_packets: u64,
    /// How long nothing is written.
    pub duration: Duration,
}

/// One thing the connection must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultStep {
    /// Write these bytes.
    Write(Bytes),
    /// Wait.
    Sleep(Duration),
    /// Drop the connection now.
    Close,
}

/// A small, fast, seedable generator (xorshift64*): reproducible across platforms, no crate.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is remapped, xorshift must not start at 0).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }
}

/// Applies [`Faults`] to one connection's packets.
#[derive(Debug)]
pub struct FaultInjector {
    faults: Faults,
    rng: Rng,
    packets: u64,
    stalled: bool,
    dropped: bool,
}

impl FaultInjector {
    /// An injector for the connection with this session id.
    pub fn new(faults: &Faults, session_id: u64) -> Self {
        Self {
            faults: faults.clone(),
            rng: Rng::new(faults.seed ^ session_id.wrapping_mul(0xD6E8_FEB8_6659_FD93)),
            packets: 0,
            stalled: false,
            dropped: false,
        }
    }

    /// The steps that send `packet` (one whole packet or the banner).
    pub fn plan(&mut self, packet: Bytes) -> Vec<FaultStep> {
        let mut steps = Vec::new();
        if self.dropped {
            return steps;
        }
        let index = self.packets;
        self.packets += 1;
        if let Some(stall) = self.faults.stall {
            if !self.stalled && index >= stall.after_packets {
                self.stalled = true;
                steps.push(FaultStep::Sleep(stall.duration));
            }
        }
        if index > 0 {
            if let Some(delay) = self.faults.delay {
                steps.push(FaultStep::Sleep(delay));
            }
        }
        if let Some(every) = self.faults.garbage_every.filter(|n| *n > 0) {
            if index > 0 && index % every == 0 {
                steps.push(FaultStep::Write(self.garbage()));
            }
        }
        if self.faults.drop_mid_packet_after == Some(index) && packet.len() > 1 {
            let cut = self.rng.range(1, packet.len() as u64 - 1) as usize;
            steps.push(FaultStep::Write(packet.slice(..cut)));
            steps.push(FaultStep::Close);
            self.dropped = true;
            return steps;
        }
        if self.faults.split_writes {
            let mut at = 0;
            while at < packet.len() {
                let len = (self.rng.range(1, 64) as usize).min(packet.len() - at);
                steps.push(FaultStep::Write(packet.slice(at..at + len)));
                at += len;
            }
        } else {
            steps.push(FaultStep::Write(packet));
        }
        steps
    }

    fn garbage(&mut self) -> Bytes {
        let mut out = b"this is not a header line\r\n".to_vec();
        let n = self.rng.range(4, 40);
        for _ in 0..n {
            // Printable noise with some bytes that are not UTF-8, never a line break.
            let byte = match self.rng.range(0, 9) {
                0 => 0xff,
                1 => 0xc3,
                _ => self.rng.range(0x21, 0x7e) as u8,
            };
            out.push(byte);
        }
        out.extend_from_slice(b"\r\n\r\n");
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(steps: &[FaultStep]) -> Vec<u8> {
        steps
            .iter()
            .filter_map(|s| match s {
                FaultStep::Write(b) => Some(b.to_vec()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn split_writes_keep_the_bytes_and_are_reproducible() {
        let faults = Faults {
            seed: 7,
            split_writes: true,
            ..Faults::default()
        };
        let packet = Bytes::from_static(b"Response: Success\r\nActionID: 1\r\nPing: Pong\r\n\r\n");
        let a = FaultInjector::new(&faults, 1).plan(packet.clone());
        let b = FaultInjector::new(&faults, 1).plan(packet.clone());
        assert_eq!(a, b);
        assert!(a.len() > 1);
        assert_eq!(written(&a), packet.to_vec());
    }

    #[test]
    fn drop_mid_packet_cuts_and_closes() {
        let faults = Faults {
            drop_mid_packet_after: Some(1),
            ..Faults::default()
        };
        let mut injector = FaultInjector::new(&faults, 3);
        let banner = injector.plan(Bytes::from_static(b"Asterisk Call Manager/11.0.0\r\n"));
        assert_eq!(banner.len(), 1);
        let packet = Bytes::from_static(b"Response: Success\r\n\r\n");
        let steps = injector.plan(packet.clone());
        assert_eq!(steps.last(), Some(&FaultStep::Close));
        assert!(written(&steps).len() < packet.len());
        assert!(injector.plan(packet).is_empty());
    }

    #[test]
    fn garbage_and_stall() {
        let faults = Faults {
            garbage_every: Some(2),
            stall: Some(Stall {
                after_packets: 1,
                duration: Duration::from_millis(5),
            }),
            ..Faults::default()
        };
        let mut injector = FaultInjector::new(&faults, 0);
        let p = Bytes::from_static(b"Event: X\r\n\r\n");
        assert_eq!(injector.plan(p.clone()).len(), 1);
        assert_eq!(
            injector.plan(p.clone())[0],
            FaultStep::Sleep(Duration::from_millis(5))
        );
        let third = injector.plan(p);
        assert_eq!(third.len(), 2, "{third:?}");
    }
}
