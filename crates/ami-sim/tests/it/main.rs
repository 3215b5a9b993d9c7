//! Integration tests: raw TCP (and TLS) against the simulator, compared with the corpus.

mod corpus;
mod shape;
