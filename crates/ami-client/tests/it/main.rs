//! Integration tests: scripted peers for exact quirks, and the simulator for every profile.

mod peer;
mod scripted;
mod sim;
