//! Integration tests of the `ami` binary: the real executable, run as a user would.

mod connected;
mod decode;
mod docs;
mod gateway;
mod nats;
// The bridge's test server, shared rather than copied: a real nats-server with JetStream on a
// free loopback port, removed on drop.
#[allow(dead_code)]
#[path = "../../../ami-bridge/tests/it/nats.rs"]
mod nats_server;
