//! Integration tests: raw TCP (and TLS) against the simulator, compared with the corpus.

mod conn;
mod corpus;
mod faults;
mod http;
mod features;
mod live;
mod shape;
