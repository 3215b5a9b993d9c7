//! Integration tests of ami-json: the golden files (every recording of the real-traffic corpus
//! in the JSON mapping, as `ami decode` prints it) and round trips of generated packets through
//! JSON. The corpus, its decoding helpers and the packet generators are ami-proto's, included
//! by path so both crates test the same inputs.

mod golden;
mod ndjson;
mod props;

// The expected decodings are ami-proto's concern; here only the bytes are used.
#[allow(dead_code)]
#[path = "../../../ami-proto/tests/it/generate.rs"]
mod generate;
// Only part of the helpers is used here (the chunked decoding is ami-proto's concern).
#[allow(dead_code)]
#[path = "../../../ami-proto/tests/it/support.rs"]
mod support;
