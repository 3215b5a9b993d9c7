//! A large realistic stream for the benchmark and the allocation count: every corpus
//! recording (banner, responses, events, legacy Command bodies, raw `Queues` text) back to
//! back, repeated. Shared with `benches/decode.rs` through `#[path]`.

use std::path::Path;

/// The corpus recordings concatenated in a fixed order, repeated until at least `min_len`
/// bytes.
pub fn corpus_stream(min_len: usize) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let mut paths = Vec::new();
    for version in std::fs::read_dir(&root).expect("tests/fixtures/corpus") {
        let version = version.expect("corpus folder").path();
        for file in std::fs::read_dir(&version).expect("corpus version folder") {
            let path = file.expect("corpus file").path();
            if path.extension().is_some_and(|ext| ext == "recv") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    let mut one = Vec::new();
    for path in paths {
        one.extend_from_slice(&std::fs::read(path).expect("corpus recording"));
    }
    assert!(!one.is_empty(), "no corpus recordings");
    let mut stream = Vec::with_capacity(min_len + one.len());
    while stream.len() < min_len {
        stream.extend_from_slice(&one);
    }
    stream
}

/// The size of a socket read.
pub const CHUNK: usize = 64 * 1024;
