//! Publishes every event of a fleet of Asterisk servers to NATS JetStream: the engine of
//! `ami bridge`.

pub mod subject;
