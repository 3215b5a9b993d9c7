//! Placeholder so the workspace manifest parses while the load benchmark is being written.
fn main() {}
