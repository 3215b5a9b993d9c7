//! Integration tests: raw TCP (and TLS) against the simulator, compared with the corpus.

mod conn;
mod corpus;
mod faults;
mod features;
mod http;
mod live;
mod shape;
