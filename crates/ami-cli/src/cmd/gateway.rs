//! `ami gateway`: the HTTP/JSON, SSE and WebSocket gateway (crate `ami-gateway`), from a
//! config file or in front of an embedded simulator (`--sim`).

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use ami_gateway::auth::{TokenPolicy, generate_token, hash_token_hex};
use ami_gateway::{AppState, Config, ConnectionLimits, ServerConfig, StreamLimits};
use anyhow::Context;

/// The environment variable holding the admin token of `--sim` without a config file.
const TOKEN_ENV: &str = "AMI_GATEWAY_TOKEN";

/// Arguments of `ami gateway`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    ami gateway --sim                      # try it: a simulator named `sim`, token printed\n  \
    ami gateway --config gateway.toml\n  \
    printf %s \"$TOKEN\" | ami gateway --hash-token   # the sha256 to put in the config\n\n\
    API: POST /v1/servers/{name}/actions/{Action}, POST /v1/servers/{name}/command,\n\
    GET /v1/servers, GET /v1/events (SSE), GET /v1/events/ws, GET /metrics, /healthz,\n\
    /readyz, /v1/openapi.json; the browser console is at /.")]
pub struct Args {
    /// The gateway's configuration (TOML: servers, tokens, CORS, TLS, stream and connection
    /// limits; a `[nats]` table serves the servers without `host` or `url` through NATS, from
    /// `ami bridge`).
    #[arg(long, value_name = "FILE", required_unless_present_any = ["sim", "hash_token"])]
    config: Option<PathBuf>,
    /// Also front an embedded simulator, named `sim`. Without --config, the admin token is
    /// $AMI_GATEWAY_TOKEN, or a fresh one printed once.
    #[arg(long)]
    sim: bool,
    /// Asterisk version the embedded simulator imitates: 22, 13, 11 or 1.8 (`--sim-profile`
    /// is an old spelling).
    #[arg(
        long = "asterisk",
        alias = "sim-profile",
        value_name = "VERSION",
        default_value = "22",
        requires = "sim"
    )]
    asterisk: ami_sim::Profile,
    /// Calls per second the embedded simulator starts (live activity for the console).
    #[arg(long, default_value_t = 0.5, requires = "sim")]
    sim_calls_per_second: f64,
    /// PORT or ADDRESS:PORT to listen on; a bare port is loopback (default: the config's
    /// `listen`, else 127.0.0.1:8080).
    #[arg(long, value_parser = crate::listen::parse)]
    listen: Option<SocketAddr>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key. Overrides the tls table of the config file.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Read a token from standard input and print its SHA-256 (for `sha256` in the config).
    #[arg(long, exclusive = true)]
    hash_token: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.hash_token {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the token from standard input")?;
        let token = line.trim_end_matches(['\r', '\n']);
        anyhow::ensure!(!token.is_empty(), "no token on standard input");
        println!("{}", hash_token_hex(token));
        return Ok(ExitCode::SUCCESS);
    }
    crate::logging::init();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let mut announce_token = None;
    let sim = if args.sim {
        Some(
            ami_sim::spawn(ami_sim::SimConfig {
                profile: args.asterisk,
                demo_calls: true,
                calls_per_second: (args.sim_calls_per_second > 0.0)
                    .then_some(args.sim_calls_per_second),
                ..ami_sim::SimConfig::default()
            })
            .await
            .context("cannot start the embedded simulator")?,
        )
    } else {
        None
    };
    // The simulator is a server like any other: a configuration file's tokens may name it
    // `sim`, and the file needs no [[servers]] of its own.
    let extra: Vec<ServerConfig> = sim
        .iter()
        .map(|handle| ServerConfig {
            name: "sim".into(),
            host: handle.addr().ip().to_string(),
            url: None,
            port: handle.addr().port(),
            username: "admin".into(),
            secret: Some("amp111".into()),
            secret_env: None,
            md5: false,
            tls: false,
            tls_ca: None,
            tls_pin: None,
            action_timeout_ms: 10_000,
        })
        .collect();
    let mut config = match &args.config {
        // A configuration problem exits 2, like a bad argument.
        Some(path) => Config::load_with_servers(path, extra)
            .map_err(|error| crate::connect::UsageError(error.to_string()))?,
        None => Config {
            listen: ami_gateway::config::DEFAULT_LISTEN
                .parse()
                .context("default address")?,
            cors_origins: Vec::new(),
            tls: None,
            streams: StreamLimits::default(),
            connections: ConnectionLimits::default(),
            servers: extra,
            tokens: Vec::new(),
            nats: None,
        },
    };
    if sim.is_some() && args.config.is_none() {
        let token = match std::env::var(TOKEN_ENV) {
            Ok(token) if !token.trim().is_empty() => token.trim().to_owned(),
            _ => {
                let token = generate_token();
                announce_token = Some(token.clone());
                token
            }
        };
        config
            .tokens
            .push(TokenPolicy::simulator_admin("admin", &token, 0.0));
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let tls = match (&args.tls_cert, &args.tls_key, &config.tls) {
        (Some(cert), Some(key), _) => Some(ami_gateway::tls::server_config(cert, key)?),
        (_, _, Some(files)) => Some(ami_gateway::tls::server_config(&files.cert, &files.key)?),
        _ => None,
    };
    if config.tokens.is_empty() {
        tracing::warn!("no [[tokens]] configured: every API request will get 401");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| crate::listen::bind_error(config.listen, error))?;
    let addr = listener.local_addr().unwrap_or(config.listen);
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "listening beyond loopback");
    }
    let remotes = nats_remotes(&config).await?;
    let state = AppState::start_with_remotes(&config, remotes)
        .map_err(|error| crate::connect::UsageError(error.to_string()))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // stdout, not the log: the one place the generated token is ever shown.
    println!("ami gateway listening on {scheme}://{addr}/");
    if let Some(token) = &announce_token {
        println!("admin token (shown once): {token}");
        println!("console: {scheme}://{addr}/#token={token}");
    }
    let shutdown = async {
        wait_for_signal().await;
    };
    ami_gateway::serve(listener, tls, state, shutdown).await?;
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    Ok(())
}

/// With a `[nats]` table, the servers that name no AMI address are served through NATS:
/// one connection (credentials from the table's files or environment variables), one
/// JetStream reader and request/reply sender per server, from `ami-bridge`.
async fn nats_remotes(config: &Config) -> anyhow::Result<Vec<(String, ami_gateway::Remote)>> {
    let Some(table) = &config.nats else {
        return Ok(Vec::new());
    };
    // A problem in the table exits 2, like any configuration problem.
    let nats = ami_bridge::gateway_upstream::GatewayNats::from_table(table)
        .map_err(|error| crate::connect::UsageError(error.to_string()))?;
    let remote: Vec<&str> = config
        .servers
        .iter()
        .filter(|server| server.is_remote())
        .map(|server| server.name.as_str())
        .collect();
    if remote.is_empty() {
        tracing::warn!("a [nats] table, but every server names a host or url: NATS is not used");
        return Ok(Vec::new());
    }
    let client = nats.connect().await?;
    tracing::info!(servers = remote.len(), stream = %nats.stream, "serving servers through NATS");
    Ok(remote
        .into_iter()
        .map(|name| {
            (
                name.to_owned(),
                ami_bridge::gateway_upstream::open(client.clone(), &nats, name),
            )
        })
        .collect())
}

/// Ctrl-C or SIGTERM (what a service manager sends).
pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
