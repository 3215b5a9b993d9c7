//! Decoder throughput on a large realistic stream (the whole corpus, repeated to 32 MiB), fed
//! in 64 KiB pieces as a socket read would deliver it. `cargo bench -p ami-proto`.

use std::hint::black_box;

use ami_proto::{Decoder, Packet};
use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "../tests/it/stream.rs"]
mod stream;

/// Decodes `input` in `CHUNK` pieces; returns the number of packets and of header lines.
fn decode_stream(input: &[u8]) -> (usize, usize) {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::with_capacity(2 * stream::CHUNK);
    let (mut packets, mut fields) = (0, 0);
    for chunk in input.chunks(stream::CHUNK) {
        buf.extend_from_slice(chunk);
        while let Some(packet) = decoder.decode(&mut buf).expect("corpus within limits") {
            packets += 1;
            if let Packet::Message(message) = &packet {
                fields += message.len();
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
    (packets, fields)
}

fn bench_decode(c: &mut Criterion) {
    let input = stream::corpus_stream(32 << 20);
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.sample_size(20);
    group.bench_function("corpus_stream_64k_reads", |b| {
        b.iter(|| decode_stream(black_box(&input)))
    });
    group.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
