//! `ami`: the Asterisk Manager Interface from the command line, as JSON.

mod cmd;
mod conn;
// Used by the connection subcommands (action, command, events, shell, demo) as they land.
#[allow(dead_code)]
mod config;
#[allow(dead_code)]
mod filter;
#[allow(dead_code)]
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

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
    /// Benchmark a server (the simulator by default): events/s, Pings/s and latency.
    Bench(cmd::bench::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cmd::completions::Args),
    /// Serve HTTP/JSON, SSE and WebSocket access to AMI servers (or an embedded simulator).
    Gateway(cmd::gateway::Args),
    /// Run an Asterisk-like AMI server (default 127.0.0.1:5038) until Ctrl-C.
    Sim(cmd::sim::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decode(args) => cmd::decode::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Completions(args) => cmd::completions::run(args, Cli::command()),
        Command::Gateway(args) => cmd::gateway::run(args),
        Command::Sim(args) => cmd::sim::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ami: {error:#}");
            ExitCode::FAILURE
        }
    }
}
