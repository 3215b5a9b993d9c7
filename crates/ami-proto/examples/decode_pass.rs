//! Passes of the decoder over the corpus stream (the benchmark's input), for instruction counts
//! and profiles, which are stable on a shared machine where timings are not:
//!
//! ```text
//! cargo build --release -p ami-proto --example decode_pass
//! valgrind --tool=callgrind --toggle-collect='decode_pass::decode_stream*' \
//!     target/release/examples/decode_pass name 1
//! ```
//!
//! Consumers as in `benches/decode.rs`: `count` (each message's line count), `name` (kind and
//! event name), `fields` (every field and one lookup), `lookups` (three header lookups).

use std::hint::black_box;

use ami_proto::{Decoder, Message, Packet};
use bytes::BytesMut;

#[path = "../tests/it/stream.rs"]
mod stream;

#[inline(never)]
fn decode_stream(input: &[u8], visit: &dyn Fn(&Message) -> usize) -> (usize, usize) {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::with_capacity(2 * stream::CHUNK);
    let (mut packets, mut seen) = (0, 0);
    for chunk in input.chunks(stream::CHUNK) {
        buf.extend_from_slice(chunk);
        while let Ok(Some(packet)) = decoder.decode(&mut buf) {
            packets += 1;
            if let Packet::Message(message) = &packet {
                seen += visit(message);
            }
            black_box(packet);
        }
    }
    (packets, seen)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let consumer = args.next().unwrap_or_else(|| "name".to_owned());
    let passes: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let visit: &dyn Fn(&Message) -> usize = match consumer.as_str() {
        "count" => &|message| message.len(),
        "name" => &|message| {
            usize::from(message.is_event()) + message.event_name().map_or(0, |name| name.len())
        },
        "fields" => &|message| {
            let values: usize = message.fields().map(|field| field.value().len()).sum();
            values + message.get_bytes("Uniqueid").map_or(0, <[u8]>::len)
        },
        "lookups" => &|message| {
            ["Uniqueid", "Channel", "Linkedid"]
                .iter()
                .map(|name| message.get_bytes(name).map_or(0, <[u8]>::len))
                .sum()
        },
        other => {
            eprintln!("unknown consumer {other:?}: count, name, fields or lookups");
            std::process::exit(2);
        }
    };
    let input = stream::corpus_stream(32 << 20);
    let started = std::time::Instant::now();
    let mut total = (0, 0);
    for _ in 0..passes {
        total = decode_stream(black_box(&input), visit);
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{consumer}: {} packets, {} seen per pass; {passes} pass(es) of {} bytes in {elapsed:.3} s \
         = {:.2} GiB/s",
        total.0,
        total.1,
        input.len(),
        (input.len() * passes) as f64 / elapsed / f64::from(1u32 << 30)
    );
}
