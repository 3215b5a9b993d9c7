//! Integration tests: the bridge between simulated PBXes and a real NATS server.

mod actions;
mod consumer;
mod fleet;
mod gateway;
mod nats;
mod publish;
mod server;
