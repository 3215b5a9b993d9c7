//! `ami bridge`: publishes every PBX's events to NATS JetStream (crate `ami-bridge`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `ami bridge`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    ami bridge --nats nats://127.0.0.1:4222 --config bridge.toml\n\n\
    FILE has the gateway's [[servers]] entries, plus optional [nats] (credentials from files\n\
    or environment variables, TLS), [stream], [publish], [fleet] and [actions] tables. Events go\n\
    to ami.<server>.event.<Event>; gaps are marked on ami.<server>.lagged and\n\
    ami.<server>.connection, and a new owner publishes the PBX's state on ami.<server>.state.\n\
    Several instances given the same FILE share the PBXes: each PBX is served by the one holding\n\
    its lease (JetStream key-value bucket [fleet] bucket, TTL [fleet] lease_ttl_ms, 5 s).\n\
    Actions: request ami.<server>.action.<Action> with a JSON object of headers; only what\n\
    [actions] allows (nothing by default). Stops on Ctrl-C or SIGTERM, handing its PBXes over.")]
pub struct Args {
    /// NATS server URL(s), comma-separated (default: the config's `nats.url`). Credentials
    /// are refused here: they belong in the config's `[nats]` table.
    #[arg(long, value_name = "URL", env = "AMI_NATS_URL")]
    nats: Option<String>,
    /// The bridge's configuration (TOML).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::logging::init();
    let config = ami_bridge::Config::load(&args.config)
        .map_err(|error| crate::connect::UsageError(error.to_string()))?;
    let url = args
        .nats
        .or_else(|| config.nats.url.clone())
        .ok_or_else(|| {
            crate::connect::UsageError(
                "no NATS server: give --nats URL or `url` in the config's [nats] table".into(),
            )
        })?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let nats = ami_bridge::nats::connect(&url, &config.nats).await?;
        println!(
            "ami bridge: {} server(s) to stream {} on NATS",
            config.servers.len(),
            config.stream.name
        );
        ami_bridge::run(&config, nats, super::gateway::wait_for_signal()).await
    })?;
    Ok(ExitCode::SUCCESS)
}
