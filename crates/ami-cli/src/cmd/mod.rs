//! One module per subcommand: its clap `Args` and a `run` returning the exit code.

pub mod completions;
pub mod decode;
pub mod sim;
