//! One module per subcommand: its clap `Args` and a `run` returning the exit code.

pub mod bench;
pub mod completions;
pub mod decode;
pub mod gateway;
pub mod sim;
