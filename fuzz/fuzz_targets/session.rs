//! A client `Session` driven by arbitrary actions and arbitrary server bytes. Checks: no panic;
//! after every step the session's pending count and pending payloads are exactly the actions
//! started and not yet completed, cancelled or removed; a completion only ever comes for such
//! an action, once, with its ActionID; `ConnectionLost` only on close, for every waiting
//! action; refused actions register nothing; the counters agree with what came out.
//!
//! Input: client bytes (a `.sent` recording: the actions, decoded as AMI packets), the
//! separator `\0SERVER\0`, then server bytes (the matching `.recv`), fed through a decoder in
//! pieces. Without the separator everything is server bytes. Cut positions and the extra
//! operations between pieces (cancel, remove, start again, close) come from a hash of the
//! input, so the recordings are valid seeds as they are (see `fuzz/seed.sh`).

#![no_main]

use std::collections::HashMap;

use ami_proto::session::{ActionFailure, Session, StartError};
use ami_proto::{Action, Decoder, Limits, Packet};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use memchr::memmem;

const SEPARATOR: &[u8] = b"\0SERVER\0";
const PREFIX: &str = "fz-";

/// FNV-1a, then xorshift.
struct Rng(u64);

impl Rng {
    fn new(data: &[u8]) -> Self {
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        for &byte in data {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        Self(hash | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// An order-independent fingerprint of a set of payloads: the sum and the xor of a 64-bit mix
/// (splitmix64's finaliser) of each.
#[derive(Default, PartialEq, Eq, Debug)]
struct Fingerprint {
    sum: u64,
    xor: u64,
}

impl Fingerprint {
    fn add(&mut self, payload: u64) {
        let mut z = payload.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        self.sum = self.sum.wrapping_add(z);
        self.xor ^= z.rotate_left(17);
    }
}

/// The session and what it must agree with: payload -> the ActionID bytes it was sent with
/// (`None` when the session chose it and did not say).
struct Harness {
    session: Session<u64>,
    waiting: HashMap<u64, Option<Vec<u8>>>,
    next_payload: u64,
    started: u64,
    events: u64,
    out: BytesMut,
}

impl Harness {
    fn start(&mut self, action: &Action, rng: &mut Rng) {
        let payload = self.next_payload;
        self.next_payload += 1;
        let before = self.session.pending_len();
        let own_id = action.action_id().map(<[u8]>::to_vec);
        let written = self.out.len();
        let result = if own_id.is_some() && rng.below(2) == 0 {
            // The path that does not hand the ActionID back.
            self.session
                .try_send_action(action.clone(), payload, &mut self.out)
                .map(|()| own_id.clone())
        } else {
            self.session
                .try_start_action(action.clone(), payload, &mut self.out)
                .map(|id| {
                    if let Some(own) = &own_id {
                        assert_eq!(id, String::from_utf8_lossy(own), "the caller's ActionID");
                    } else {
                        assert!(id.starts_with(PREFIX), "a fresh ActionID: {id:?}");
                    }
                    // The bytes it was sent with (the returned String is lossy).
                    Some(own_id.clone().unwrap_or_else(|| id.into_bytes()))
                })
        };
        match result {
            Ok(id) => {
                assert!(self.out.len() > written, "an accepted action is written");
                self.waiting.insert(payload, id);
                self.started += 1;
            }
            Err((error, back)) => {
                assert_eq!(back, payload, "a refused action hands its payload back");
                assert_eq!(self.out.len(), written, "a refused action writes nothing");
                assert_eq!(self.session.pending_len(), before);
                if let StartError::DuplicateActionId(id) = error {
                    let own = own_id.expect("only a caller's ActionID can be a duplicate");
                    assert_eq!(id, String::from_utf8_lossy(&own));
                    // Waiting for an action of ours, or the session's own barrier Ping.
                    assert!(
                        self.waiting
                            .values()
                            .any(|w| w.as_deref() == Some(&own[..]))
                            || own.starts_with(PREFIX.as_bytes()),
                        "duplicate of an ActionID nobody waits for: {id:?}"
                    );
                }
            }
        }
        // Nobody reads the output; keep memory flat.
        self.out.clear();
    }

    /// Drains completions and events and checks every invariant. `closing`: completions must
    /// be exactly the waiting actions, each `ConnectionLost`.
    fn check(&mut self, closing: bool) {
        let waiting_before = self.waiting.len();
        let mut completed = 0;
        while let Some(done) = self.session.poll_completion() {
            let id = self
                .waiting
                .remove(&done.payload)
                .unwrap_or_else(|| panic!("completion for an action not waiting: {done:?}"));
            if let Some(id) = id {
                assert_eq!(done.action_id, String::from_utf8_lossy(&id));
            }
            assert_eq!(
                matches!(done.result, Err(ActionFailure::ConnectionLost)),
                closing,
                "ConnectionLost exactly on close: {:?}",
                done.result
            );
            completed += 1;
        }
        if closing {
            assert_eq!(
                completed, waiting_before,
                "close completes every waiting action"
            );
        }
        while self.session.poll_event().is_some() {
            self.events += 1;
        }
        let stats = self.session.stats();
        assert_eq!(stats.events, self.events);
        assert_eq!(stats.actions, self.started);
        assert_eq!(self.session.pending_len(), self.waiting.len());
        // The same set of payloads, compared by count and an order-independent fingerprint
        // (this runs after every piece of input; building two sets each time halved the
        // fuzzer's speed). A payload pending twice, or one swapped for another, changes the
        // fingerprint unless two 64-bit mixes collide.
        let mut count = 0;
        let mut fingerprint = Fingerprint::default();
        self.session.for_each_pending(|payload| {
            count += 1;
            fingerprint.add(*payload);
        });
        let mut expected = Fingerprint::default();
        for payload in self.waiting.keys() {
            expected.add(*payload);
        }
        assert_eq!(count, self.waiting.len(), "the pending payloads' count");
        assert_eq!(fingerprint, expected, "the pending payloads");
    }

    fn cancel(&mut self, rng: &mut Rng) {
        let ids: Vec<(u64, Option<Vec<u8>>)> = self
            .waiting
            .iter()
            .map(|(p, id)| (*p, id.clone()))
            .collect();
        let target = match ids.get(rng.below(ids.len() + 1)) {
            Some((payload, Some(id))) => match std::str::from_utf8(id) {
                Ok(id) => Some((*payload, id.to_owned())),
                Err(_) => None,
            },
            // An ActionID nobody waits for (or one only the session knows).
            _ => Some((u64::MAX, format!("{PREFIX}{}", rng.below(8)))),
        };
        let Some((payload, id)) = target else {
            return;
        };
        match self.session.cancel(&id) {
            Some(back) => {
                let known = self.waiting.remove(&back);
                assert!(known.is_some(), "cancel gave back {back}, not waiting");
                if payload != u64::MAX {
                    assert_eq!(back, payload);
                }
            }
            None => assert!(
                !self
                    .waiting
                    .values()
                    .any(|w| w.as_deref() == Some(id.as_bytes())),
                "cancel({id:?}) found nothing, yet it waits"
            ),
        }
    }

    fn remove(&mut self, rng: &mut Rng) {
        let modulus = 1 + rng.below(4) as u64;
        let mut removed = Vec::new();
        self.session
            .remove_pending_where(|p| p % modulus == 0, |p| removed.push(p));
        for payload in removed {
            assert_eq!(payload % modulus, 0, "removed what it was not asked to");
            assert!(
                self.waiting.remove(&payload).is_some(),
                "removed {payload}, not waiting"
            );
        }
        assert!(
            self.waiting.keys().all(|p| p % modulus != 0),
            "an action to remove is still waiting"
        );
    }
}

/// The client part, decoded as AMI packets, as actions; the ActionID is dropped from some so
/// the session picks one.
fn actions(client: &[u8], rng: &mut Rng) -> Vec<Action> {
    let mut decoder = Decoder::with_limits(Limits {
        max_packet_bytes: 64 * 1024,
        max_fields: 256,
    });
    let mut buf = BytesMut::from(client);
    let mut actions = Vec::new();
    loop {
        let message = match decoder.decode_eof(&mut buf) {
            Ok(Some(Packet::Message(message))) => message,
            Ok(Some(Packet::Banner(_))) | Err(_) => continue,
            Ok(None) => break,
        };
        let keep_id = rng.below(4) != 0;
        let mut action = Action::new(message.get("Action").unwrap_or_default().into_owned());
        for field in message.fields() {
            if field.name_is("Action") || field.is_text_line() {
                continue;
            }
            if field.name_is("ActionID") && !keep_id {
                continue;
            }
            action.push(field.name_str().into_owned(), field.value().to_vec());
        }
        actions.push(action);
    }
    actions
}

fuzz_target!(|data: &[u8]| {
    let mut rng = Rng::new(data);
    let (client, server) = match memmem::find(data, SEPARATOR) {
        Some(at) => (&data[..at], &data[at + SEPARATOR.len()..]),
        None => (&data[..0], data),
    };
    let actions = actions(client, &mut rng);
    let mut harness = Harness {
        session: Session::new(PREFIX),
        waiting: HashMap::new(),
        next_payload: 0,
        started: 0,
        events: 0,
        out: BytesMut::new(),
    };
    for action in &actions {
        harness.start(action, &mut rng);
        harness.check(false);
    }
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::new();
    let mut start = 0;
    while start < server.len() {
        let end = (start + 1 + rng.below(64)).min(server.len());
        buf.extend_from_slice(&server[start..end]);
        start = end;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(packet)) => harness.session.handle_packet(packet),
                Ok(None) => break,
                // The bad packet is skipped; what follows still counts.
                Err(_) => {}
            }
        }
        // Completions of this piece first: the model only forgets an action once its
        // completion is polled, and cancel/remove must see the same set as the session.
        harness.check(false);
        match rng.below(64) {
            0 => harness.cancel(&mut rng),
            1 => harness.remove(&mut rng),
            2 if !actions.is_empty() => {
                let again = &actions[rng.below(actions.len())];
                harness.start(again, &mut rng);
            }
            3 if rng.below(8) == 0 => {
                harness.session.handle_close();
                harness.check(true);
                assert!(harness.session.banner().is_none());
                // A new connection: its bytes start a new stream.
                decoder = Decoder::new();
                buf.clear();
                for action in &actions {
                    harness.start(action, &mut rng);
                }
            }
            _ => {}
        }
        harness.check(false);
    }
    loop {
        match decoder.decode_eof(&mut buf) {
            Ok(Some(packet)) => harness.session.handle_packet(packet),
            Ok(None) => break,
            Err(_) => {}
        }
        harness.check(false);
    }
    harness.session.handle_close();
    harness.check(true);
    assert_eq!(harness.session.pending_len(), 0);
});
