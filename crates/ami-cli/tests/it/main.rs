//! Integration tests of the `ami` binary: the real executable, run as a user would.

mod decode;
mod gateway;
