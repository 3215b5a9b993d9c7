//! Integration tests: scripted peers for exact quirks, and the simulator for every profile.

mod backpressure;
mod embedding;
mod http_scripted;
mod http_sim;
mod legacy;
mod limits;
mod live;
mod peer;
mod scripted;
mod sim;
mod typed;
