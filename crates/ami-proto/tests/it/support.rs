//! Helpers shared by the test modules: the corpus fixtures and decoding with any chunking.

use std::path::{Path, PathBuf};

use ami_proto::{DecodeError, Decoder, Limits, Packet};
use bytes::BytesMut;

/// One decoded item, as the decoder returns it.
pub type Item = Result<Packet, DecodeError>;

/// ami-proto's `tests/fixtures` (written from the crate's parent, so that ami-json's tests,
/// which include this file, find them too).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ami-proto/tests/fixtures")
}

/// Every `.recv` file under `tests/fixtures/corpus`, as `(version, scenario, path)`, sorted.
pub fn corpus_files() -> Vec<(String, String, PathBuf)> {
    let mut files = Vec::new();
    let root = fixtures().join("corpus");
    for version in std::fs::read_dir(&root).unwrap() {
        let version = version.unwrap().path();
        for file in std::fs::read_dir(&version).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "recv") {
                let version = version.file_name().unwrap().to_string_lossy().into_owned();
                let scenario = path.file_stem().unwrap().to_string_lossy().into_owned();
                files.push((version, scenario, path));
            }
        }
    }
    files.sort();
    assert!(
        files.len() >= 100,
        "expected the corpus fixtures, found {} files",
        files.len()
    );
    files
}

/// Feeds `input` to a fresh decoder in pieces cut at `cuts` (sorted offsets), draining the
/// decoder after each piece, then calls `decode_eof`. Also checks, after each `Ok(None)`, that
/// the buffer holds at most `max_packet_bytes` plus the piece just appended.
pub fn decode_cut(input: &[u8], cuts: &[usize], limits: Limits) -> Vec<Item> {
    let mut decoder = Decoder::with_limits(limits);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(start, input.len());
        let piece = &input[start..cut];
        start = cut;
        buf.extend_from_slice(piece);
        let bound = limits.max_packet_bytes + piece.len();
        drain(&mut decoder, &mut buf, &mut items, false);
        assert!(
            buf.len() <= bound,
            "decoder kept {} bytes (limit {} + piece {})",
            buf.len(),
            limits.max_packet_bytes,
            piece.len()
        );
    }
    drain(&mut decoder, &mut buf, &mut items, true);
    assert!(buf.is_empty(), "decode_eof left {} bytes", buf.len());
    items
}

fn drain(decoder: &mut Decoder, buf: &mut BytesMut, items: &mut Vec<Item>, eof: bool) {
    loop {
        let next = if eof {
            decoder.decode_eof(buf)
        } else {
            decoder.decode(buf)
        };
        match next {
            Ok(None) => return,
            Ok(Some(packet)) => items.push(Ok(packet)),
            Err(error) => items.push(Err(error)),
        }
        assert!(items.len() <= 10_000_000, "decoder does not make progress");
    }
}

/// Decodes `input` given whole.
pub fn decode_whole(input: &[u8], limits: Limits) -> Vec<Item> {
    decode_cut(input, &[], limits)
}

/// Decodes `input` in pieces of `size` bytes.
pub fn decode_pieces(input: &[u8], size: usize, limits: Limits) -> Vec<Item> {
    let cuts: Vec<usize> = (size..input.len()).step_by(size.max(1)).collect();
    decode_cut(input, &cuts, limits)
}
