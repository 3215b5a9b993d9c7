//! `ami`: the Asterisk Manager Interface from the command line, as JSON. `main` parses the
//! arguments and dispatches to one module per subcommand under `cmd/`; the protocol, the client
//! and the JSON form are the library crates'.
//!
//! ```text
//! ami demo                        # a guided tour against the embedded simulator
//! ami decode session.recv         # recorded AMI bytes to NDJSON, one object per packet
//! ami action CoreShowChannels     # against AMI_HOST (see `ami --help` for the connection)
//! ```

mod cmd;
mod config;
mod conn;
mod connect;
mod filter;
mod listen;
mod logging;
mod output;

use std::process::ExitCode;
use std::time::Duration;

use ami_client::Events;

use clap::{CommandFactory, Parser, Subcommand};

use crate::connect::{Common, UsageError, connect, resolve};
use crate::output::Format;

/// AMI actions, CLI commands and events as JSON; decoding of captured traffic; a simulator.
#[derive(Debug, Parser)]
#[command(name = "ami", version, about, propagate_version = true)]
#[command(
    after_help = "Connection settings (action, command, events, shell): flags, then \
environment variables (AMI_HOST, AMI_PORT, AMI_USERNAME, AMI_SECRET, AMI_TLS), then the profile \
named by --profile (or default_profile) in the config file. The secret never has to be on the \
command line: AMI_SECRET, --secret-file, a profile's secret_env / secret_file, or a prompt on a \
terminal.\n\n\
Examples:\n  \
ami demo                                  # a guided tour, no PBX needed\n  \
ami action CoreShowChannels --profile lab -o table\n  \
ami command --json \"core show channels concise\"\n  \
ami events --filter Event=Hangup --count 5\n\n\
Exit status: 0 success (also when the reader of the output goes away, as with | head), \
1 failure (the server's error, connection or login problems), 2 invalid arguments."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send any action and print its reply (for list actions: the items and the completion).
    Action(cmd::action::Args),
    /// List the actions Asterisk documents (from the catalog; no server needed).
    Actions(cmd::actions::Args),
    /// Show an action's or event's parameters, versions and classes (and the server's own
    /// description when a server is given).
    Explain(cmd::explain::Args),
    /// Run a CLI command and print its output (--json: parsed into records).
    #[command(name = "command")]
    Cli(cmd::command::Args),
    /// Stream events as NDJSON across reconnects, until Ctrl-C, --count or --duration.
    Events(cmd::events::Args),
    /// Interactive session: history, Tab completion of action names, events as they arrive.
    Shell(cmd::shell::Args),
    /// The live state of the PBX (channels, calls, bridges, queues); --verify checks it.
    State(cmd::state::Args),
    /// A full-screen live view of the PBX (calls, queues, members), like htop.
    Top(cmd::top::Args),
    /// A guided tour against the embedded simulator: no PBX and no flags needed.
    Demo(cmd::demo::Args),
    /// Decode raw AMI bytes (as a server sent them) into NDJSON, one object per packet.
    Decode(cmd::decode::Args),
    /// Benchmark a server (the simulator by default): events/s, Pings/s and latency.
    Bench(cmd::bench::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cmd::completions::Args),
    /// Write the manual pages (ami.1, ami-action.1 ...) into a directory.
    Man(cmd::man::Args),
    /// Serve HTTP/JSON, SSE and WebSocket access to AMI servers (or an embedded simulator).
    Gateway(cmd::gateway::Args),
    /// Publish every PBX's events to NATS JetStream (gaps marked) and answer actions over NATS.
    Bridge(cmd::bridge::Args),
    /// Run an Asterisk-like AMI server (default 127.0.0.1:5038) until Ctrl-C.
    Sim(cmd::sim::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let columns = match &cli.command {
        Command::Action(args) => args.common.columns.clone(),
        Command::Cli(args) => args.common.columns.clone(),
        Command::Events(args) => args.common.columns.clone(),
        Command::Shell(args) => args.common.columns.clone(),
        Command::State(args) => args.common.columns.clone(),
        Command::Top(args) => args.common.columns.clone(),
        _ => None,
    };
    output::set_table_style(output::TableStyle {
        width: terminal_width(),
        columns,
    });
    let result = match cli.command {
        Command::Action(args) if args.nats.nats.is_some() => run_action_over_nats(args),
        Command::Action(args) => run_connected(Connected::Action(args)),
        Command::Cli(args) => run_connected(Connected::Command(args)),
        Command::Events(args) if args.nats.nats.is_some() => {
            cmd::nats::run_events(cmd::nats::EventsSettings {
                format: args.common.output.unwrap_or(Format::Ndjson),
                nats: args.nats,
                durable: args.durable,
                from: args.from,
                filters: args.filters,
                count: args.count,
                duration: args.duration,
            })
        }
        Command::Events(args) => run_connected(Connected::Events(args)),
        Command::Shell(args) => run_connected(Connected::Shell(args)),
        Command::State(args) => run_connected(Connected::State(args)),
        Command::Top(args) => run_connected(Connected::Top(args)),
        Command::Demo(args) => cmd::demo::main(args),
        Command::Actions(args) => cmd::actions::run(args),
        Command::Explain(args) => cmd::explain::run(args),
        Command::Decode(args) => cmd::decode::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Completions(args) => cmd::completions::run(args, Cli::command()),
        Command::Man(args) => cmd::man::run(args, Cli::command()),
        Command::Gateway(args) => cmd::gateway::run(args),
        Command::Bridge(args) => cmd::bridge::run(args),
        Command::Sim(args) => cmd::sim::run(args),
    };
    match result {
        Ok(code) => code,
        // `ami ... | head`: the reader has what it wanted.
        Err(error) if output::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ami: {error:#}");
            if error.is::<connect::UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The width tables fit: the terminal's, when stdout is one (`COLUMNS` wins, as with `ls`).
fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|columns| columns.parse().ok())
        .or_else(|| terminal_size::terminal_size().map(|(width, _)| usize::from(width.0)))
}

/// `ami action --nats`: the same checks of the arguments as over AMI, then the bridge.
fn run_action_over_nats(args: cmd::action::Args) -> anyhow::Result<ExitCode> {
    let headers = cmd::action::parse_headers(&args.headers)
        .map_err(|error| UsageError(format!("{error:#}")))?;
    cmd::action::build_action(&args.name, headers.clone())
        .map_err(|error| UsageError(format!("{error:#}")))?;
    for warning in cmd::action::check_against_catalog(&args.name, &headers).map_err(UsageError)? {
        eprintln!("ami: warning: {warning}");
    }
    cmd::nats::run_action(
        args.nats,
        &args.name,
        &headers,
        args.common.output.unwrap_or(Format::Json),
    )
}

/// The subcommands that talk to a server.
#[derive(Debug)]
enum Connected {
    /// `ami action`.
    Action(cmd::action::Args),
    /// `ami command`.
    Command(cmd::command::Args),
    /// `ami events`.
    Events(cmd::events::Args),
    /// `ami shell`.
    Shell(cmd::shell::Args),
    /// `ami state`.
    State(cmd::state::Args),
    /// `ami top`.
    Top(cmd::top::Args),
}

/// A subcommand whose arguments have been checked.
enum Ready {
    Action(String, ami_client::Action, Common),
    Command(cmd::command::Args, ami_client::Action),
    Events(cmd::events::Args),
    Shell(cmd::shell::Args),
    State(cmd::state::Args),
    Top(cmd::top::Args),
}

/// Checks the arguments, connects (with events only for the subcommands that show them), runs
/// the subcommand, and logs off.
fn run_connected(command: Connected) -> anyhow::Result<ExitCode> {
    // Arguments are checked before connecting: a typo should not cost a login.
    let ready = match command {
        Connected::Action(args) => {
            let headers = cmd::action::parse_headers(&args.headers)
                .map_err(|error| UsageError(format!("{error:#}")))?;
            let action = cmd::action::build_action(&args.name, headers.clone())
                .map_err(|error| UsageError(format!("{error:#}")))?;
            for warning in
                cmd::action::check_against_catalog(&args.name, &headers).map_err(UsageError)?
            {
                eprintln!("ami: warning: {warning}");
            }
            Ready::Action(args.name, action, args.common)
        }
        Connected::Command(args) => {
            let action = args.action().map_err(UsageError)?;
            Ready::Command(args, action)
        }
        Connected::Events(args) => Ready::Events(args),
        Connected::Shell(args) => Ready::Shell(args),
        Connected::State(args) => Ready::State(args),
        Connected::Top(args) => Ready::Top(args),
    };
    let wants_events = matches!(
        ready,
        Ready::Events(_) | Ready::Shell(_) | Ready::State(_) | Ready::Top(_)
    );
    let common = match &ready {
        Ready::Action(_, _, common) => common,
        Ready::Command(args, _) => &args.common,
        Ready::Events(args) => &args.common,
        Ready::Shell(args) => &args.common,
        Ready::State(args) => &args.common,
        Ready::Top(args) => &args.common,
    }
    .clone();
    let resolved = resolve(
        &common.conn,
        common.config.as_deref(),
        common.profile.as_deref(),
    )?;
    let config = resolved.config.events(if wants_events {
        Events::On
    } else {
        Events::Off
    });
    let (username, tls) = (resolved.username, resolved.tls);
    let server = config.address();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client = runtime.block_on(connect(config, &username, tls))?;
    let format = common.output;
    let result = match ready {
        Ready::Shell(args) => cmd::shell::run(args, &runtime, client.clone(), format),
        Ready::Action(name, action, _) => runtime.block_on(cmd::action::run(
            &name,
            action,
            &client,
            format.unwrap_or(Format::Json),
        )),
        Ready::Command(args, action) => {
            runtime.block_on(cmd::command::run(&args, action, &client, format))
        }
        Ready::Events(args) => runtime.block_on(cmd::events::run(
            args,
            &client,
            format.unwrap_or(Format::Ndjson),
        )),
        Ready::State(args) => runtime.block_on(cmd::state::run(
            args,
            &client,
            format.unwrap_or(Format::Table),
        )),
        Ready::Top(args) => runtime.block_on(cmd::top::run(args, &client, server, format)),
    };
    // Logging off is a courtesy: a server that does not answer must not hold up the exit.
    runtime.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(2), client.close()).await;
    });
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}
