//! Integration tests: the gateway on a real socket in front of the simulator.

mod api;
mod fleet;
mod resync;
mod security;
mod state;
mod streams;
mod support;
mod transport;
