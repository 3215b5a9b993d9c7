//! `ami`: the Asterisk Manager Interface from the command line, as JSON.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// AMI actions, CLI commands and events as JSON; decoding of captured traffic; a simulator.
#[derive(Debug, Parser)]
#[command(name = "ami", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode raw AMI bytes (as a server sent them) into NDJSON, one object per packet.
    Decode(cmd::decode::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decode(args) => cmd::decode::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ami: {error:#}");
            ExitCode::FAILURE
        }
    }
}
