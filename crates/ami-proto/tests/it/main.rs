//! Integration tests of ami-proto: golden files over the real-traffic corpus, property tests
//! (any cut of the input decodes the same, round trips, limits), and the allocation count.

mod alloc;
mod golden;
mod props;
mod regressions;
mod stream;
mod support;

/// Counts allocations per thread, so the allocation test is not disturbed by tests running
/// in parallel on other threads.
#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;
