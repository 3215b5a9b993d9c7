//! Integration tests: scripted peers for exact quirks, and the simulator for every profile.

mod backpressure;
mod embedding;
mod limits;
mod peer;
mod scripted;
mod sim;
