//! Arbitrary bytes, cut into arbitrary pieces, through a decoder with small limits. Checks:
//! no panic; the pieces decode exactly as the whole input does (and as 1-byte pieces do); the
//! buffer never holds more than the packet limit plus the piece just appended; no message
//! exceeds the limits; every byte is consumed.
//!
//! The limits and the cut positions are derived from a hash of the input, so the seeds (raw
//! `.recv` recordings, see `fuzz/seed.sh`) are valid inputs as they are.

#![no_main]

use ami_proto::{DecodeError, Decoder, Limits, Packet};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

type Item = Result<Packet, DecodeError>;

/// FNV-1a, then xorshift for the cut positions.
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

    fn below(&mut self, bound: u64) -> usize {
        (self.next() % bound) as usize
    }
}

fn decode(input: &[u8], cuts: &[usize], limits: Limits) -> Vec<Item> {
    let mut decoder = Decoder::with_limits(limits);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let piece = &input[start..cut];
        start = cut;
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(None) => break,
                item => items.push(item.map(|packet| packet.expect("Some"))),
            }
        }
        assert!(
            buf.len() <= limits.max_packet_bytes + piece.len(),
            "buffer {} > limit {} + piece {}",
            buf.len(),
            limits.max_packet_bytes,
            piece.len()
        );
    }
    loop {
        match decoder.decode_eof(&mut buf) {
            Ok(None) => break,
            item => items.push(item.map(|packet| packet.expect("Some"))),
        }
    }
    assert!(buf.is_empty(), "decode_eof left {} bytes", buf.len());
    assert_eq!(decoder.position(), input.len() as u64);
    for item in items.iter().flatten() {
        if let Packet::Message(message) = item {
            assert!(message.raw().len() <= limits.max_packet_bytes);
            assert!(message.len() <= limits.max_fields);
        }
    }
    items
}

fuzz_target!(|data: &[u8]| {
    let mut rng = Rng::new(data);
    let limits = Limits {
        max_packet_bytes: 2 + rng.below(512),
        max_fields: 1 + rng.below(24),
    };
    let mut cuts = Vec::new();
    let mut at = 0;
    loop {
        at += 1 + rng.below(64);
        if at >= data.len() {
            break;
        }
        cuts.push(at);
    }
    let whole = decode(data, &[], limits);
    assert_eq!(decode(data, &cuts, limits), whole, "random pieces");
    if data.len() <= 4096 {
        let bytes: Vec<usize> = (1..data.len()).collect();
        assert_eq!(decode(data, &bytes, limits), whole, "1-byte pieces");
    }
});
