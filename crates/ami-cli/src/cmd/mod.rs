//! One module per subcommand: its clap `Args` and a `run` returning the exit code.

pub mod action;
pub mod actions;
pub mod bench;
pub mod bridge;
pub mod command;
pub mod completions;
pub mod decode;
pub mod demo;
pub mod events;
pub mod explain;
pub mod gateway;
pub mod man;
pub mod nats;
pub mod shell;
pub mod sim;
pub mod state;
pub mod top;
