//! Integration tests of the `ami` binary: the real executable, run as a user would.

mod connected;
mod decode;
mod docs;
mod gateway;
