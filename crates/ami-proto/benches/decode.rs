//! Decoder throughput on a large realistic stream (the whole corpus, repeated to 32 MiB), fed
//! in 64 KiB pieces as a socket read would deliver it. `cargo bench -p ami-proto`.
//!
//! Three consumers: `corpus_stream_64k_reads` counts each message's lines (as before),
//! `name_only` reads each packet's kind and event name (a counter or a name filter), and
//! `all_fields` walks every field of every message and looks one header up (a full parse).

use std::hint::black_box;

use ami_proto::{Decoder, Message, Packet};
use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "../tests/it/stream.rs"]
mod stream;

/// Decodes `input` in `CHUNK` pieces, handing each message to `visit`; returns the number of
/// packets and the sum of what `visit` returned.
fn decode_stream(input: &[u8], mut visit: impl FnMut(&Message) -> usize) -> (usize, usize) {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::with_capacity(2 * stream::CHUNK);
    let (mut packets, mut seen) = (0, 0);
    for chunk in input.chunks(stream::CHUNK) {
        buf.extend_from_slice(chunk);
        while let Some(packet) = decoder.decode(&mut buf).expect("corpus within limits") {
            packets += 1;
            if let Packet::Message(message) = &packet {
                seen += visit(message);
            }
            black_box(packet);
        }
    }
    while decoder
        .decode_eof(&mut buf)
        .expect("corpus within limits")
        .is_some()
    {
        packets += 1;
    }
    (packets, seen)
}

fn bench_decode(c: &mut Criterion) {
    let input = stream::corpus_stream(32 << 20);
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.sample_size(20);
    group.bench_function("corpus_stream_64k_reads", |b| {
        b.iter(|| decode_stream(black_box(&input), Message::len))
    });
    group.bench_function("name_only", |b| {
        b.iter(|| {
            decode_stream(black_box(&input), |message| {
                usize::from(message.is_event()) + message.event_name().map_or(0, |name| name.len())
            })
        })
    });
    group.bench_function("all_fields", |b| {
        b.iter(|| {
            decode_stream(black_box(&input), |message| {
                let values: usize = message.fields().map(|field| field.value().len()).sum();
                values + message.get_bytes("Uniqueid").map_or(0, <[u8]>::len)
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
