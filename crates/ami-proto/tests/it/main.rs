//! Integration tests of ami-proto: the real-traffic corpus, property tests (any cut of the
//! input decodes the same, round trips, limits), and the allocation count. The golden files
//! (the corpus in the JSON mapping) are ami-json's.

mod alloc;
mod corpus;
mod generate;
mod props;
mod regressions;
mod stream;
mod support;

/// Counts allocations per thread, so the allocation test is not disturbed by tests running
/// in parallel on other threads.
#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;
