//! Connecting for the subcommands that talk to a server, with errors a user can act on: each
//! names the problem and the fix.

use std::io::{self, IsTerminal};

use ami_client::{Client, Config, Tls};

use crate::config::{self, AuthMethod};
use crate::conn::ConnArgs;
use crate::output::Format;

/// Options of every subcommand that talks to a server: output format, profile, connection.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// How the result is printed [default: json; ndjson for events; the CLI's own text for
    /// command unless --json; tables in shell].
    #[arg(long, short = 'o', value_enum, value_name = "FORMAT")]
    pub output: Option<Format>,
    /// Table columns to show, in this order (comma-separated, any case), e.g.
    /// `--columns Channel,ChannelStateDesc,Duration`.
    #[arg(long, value_delimiter = ',', value_name = "A,B,...")]
    pub columns: Option<Vec<String>>,
    /// Config file with connection profiles [default: ~/.config/amikit/config.toml].
    #[arg(long, env = "AMI_CONFIG", value_name = "PATH")]
    pub config: Option<std::path::PathBuf>,
    /// Connection profile: a [profiles.NAME] table of the config file; flags and environment
    /// variables override its settings.
    #[arg(long, env = "AMI_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Everything needed to connect, from flags, environment and profile.
pub struct Resolved {
    /// The client's settings (its Debug output hides the secret).
    pub config: Config,
    /// The AMI user, for messages.
    pub username: String,
    /// Whether TLS is on, for messages.
    pub tls: bool,
}

/// Fills what flags and environment left unset from the selected profile (flags and
/// environment win), asks for the secret on a terminal when none is configured, and builds
/// the client's settings.
pub fn resolve(
    conn: &ConnArgs,
    config_path: Option<&std::path::Path>,
    profile: Option<&str>,
) -> anyhow::Result<Resolved> {
    // Argument and configuration problems exit 2, as documented, not 1 like a failed login.
    let usage = |error: anyhow::Error| UsageError(format!("{error:#}"));
    let selected = config::select(config_path, profile).map_err(usage)?;
    let mut conn = conn.clone();
    if let Some(selected) = &selected {
        let profile = &selected.profile;
        // A server named by flags or environment (host or URL) replaces the profile's.
        if conn.url().is_none() && conn.host.as_deref().is_none_or(str::is_empty) {
            conn.url = profile.url.clone();
            conn.host = profile.host.clone();
        }
        conn.port = conn.port.or(profile.port);
        conn.username = conn.username.or_else(|| profile.username.clone());
        conn.tls = conn.tls.or(profile.tls);
        conn.tls_ca = conn.tls_ca.or_else(|| selected.tls_ca());
        if conn.tls_pin.is_none()
            && let Some(pin) = &profile.tls_pin
        {
            let pin = crate::conn::parse_pin(pin)
                .map_err(|why| UsageError(format!("profile's tls_pin: {why}")))?;
            conn.tls_pin = Some(pin);
        }
        conn.tls_insecure |= profile.tls_insecure.unwrap_or(false);
        conn.md5 |= profile.auth == Some(AuthMethod::Md5);
        if conn.secret.is_none() && conn.secret_file.is_none() {
            conn.secret = selected
                .read_secret()
                .map_err(usage)?
                .map(|secret| secret.expose().to_owned());
        }
    }
    let tls = conn.wants_tls() || conn.url().is_some_and(crate::conn::url_is_tls);
    let username = conn.username.clone().unwrap_or_else(|| "admin".to_owned());
    if conn.is_unset() {
        return Err(UsageError(
            "no AMI host given\nfix: pass --host HOST or --url URL, export AMI_HOST=HOST or \
             AMI_URL=URL, or name a profile with --profile NAME; `ami demo` needs no PBX"
                .into(),
        )
        .into());
    }
    if conn.secret.is_none() && conn.secret_file.is_none() && io::stdin().is_terminal() {
        let host = conn.url().or(conn.host.as_deref()).unwrap_or_default();
        let prompt = format!("AMI secret for {username}@{host}: ");
        let secret = rpassword::prompt_password(prompt)?;
        conn.secret = Some(secret);
    }
    if conn.secret.is_none() && conn.secret_file.is_none() {
        return Err(UsageError(format!(
            "no AMI secret for user {username:?}\nfix: export AMI_SECRET=..., pass --secret-file \
             FILE, or use a profile with secret_env or secret_file (--profile NAME); on a \
             terminal ami asks for it"
        ))
        .into());
    }
    let mut config = conn.config(None)?;
    let server_name = selected
        .as_ref()
        .and_then(|selected| selected.profile.tls_server_name.clone());
    if let (true, Some(server_name)) = (tls, server_name) {
        // The shared flags have no server-name option; a profile's replaces the host's.
        config = config.tls(Tls {
            trust: conn.trust(),
            server_name: Some(server_name),
        });
    }
    Ok(Resolved {
        config,
        username,
        tls,
    })
}

/// Connects and logs in; on failure the error says what went wrong and what to change.
/// `address` is `host:port`, `username` the AMI user, both for the message only.
pub async fn connect(config: Config, username: &str, tls: bool) -> anyhow::Result<Client> {
    let address = config.address();
    Client::connect(config)
        .await
        .map_err(|error| explain(&error, &address, username, tls))
}

/// Turns a connect/login error into a message with a `fix:` line.
pub fn explain(
    error: &ami_client::Error,
    address: &str,
    username: &str,
    tls: bool,
) -> anyhow::Error {
    // The error and its causes (a TLS or configuration error keeps its cause as `source`).
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        let said = inner.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = inner.source();
    }
    let io_kind = io_kind(error);
    let message = if error.is_auth_failed() {
        format!(
            "{address} refused the login of user {username:?}: {}\n\
             fix: check the username and the secret (AMI_USERNAME / --username, and AMI_SECRET or \
             the profile's secret_env / secret_file) against manager.conf on the PBX",
            error.server_message().unwrap_or("authentication failed")
        )
    } else if error.kind() == ami_client::ErrorKind::Tls
        || (tls
            && error.is_io()
            && !matches!(
                io_kind,
                Some(io::ErrorKind::ConnectionRefused | io::ErrorKind::TimedOut)
            ))
    {
        format!(
            "the TLS connection to {address} failed: {text}\n\
             fix: for a self-signed or private-CA certificate pass --tls-ca FILE (or tls_ca in \
             the profile), or pin the server's certificate with --tls-pin SHA256 (tls_pin); \
             check that {address} is the TLS port (5039 by default); if the server \
             does not speak TLS, leave out --tls / AMI_TLS"
        )
    } else if error.is_timeout() {
        if text.starts_with("login") {
            format!(
                "{address} accepted the connection but did not finish the login in time: {text}\n\
                 fix: check that {address} is an AMI port and the PBX is not overloaded"
            )
        } else {
            format!(
                "no answer from {address}: {text}\n\
                 fix: check the host and port (--host/--port, AMI_HOST/AMI_PORT), that the AMI is \
                 enabled (manager.conf: enabled = yes, bindaddr) and that no firewall drops port \
                 {}{}",
                address.rsplit(':').next().unwrap_or("5038"),
                if tls {
                    ""
                } else {
                    "; a TLS-only port needs --tls"
                }
            )
        }
    } else if io_kind == Some(io::ErrorKind::ConnectionRefused) {
        format!(
            "cannot connect to {address}: connection refused\n\
             fix: is Asterisk running with the AMI enabled (manager.conf: enabled = yes, \
             port = 5038)? Check --host/--port (AMI_HOST/AMI_PORT); `ami demo` runs without a PBX"
        )
    } else if text.contains("lookup") || text.contains("resolve") || text.contains("not known") {
        format!(
            "cannot resolve the host of {address}: {text}\n\
             fix: check the host name (--host / AMI_HOST / the profile's host)"
        )
    } else if text.contains("before the banner") || text.contains("banner") {
        format!(
            "{address} is not speaking AMI: {text}\n\
             fix: check the port (5038 for plain AMI, 5039 for TLS with --tls)"
        )
    } else {
        format!(
            "cannot connect to {address} as {username:?}: {text}\n\
             fix: check the connection settings (ami --help lists the flags and variables)"
        )
    };
    anyhow::anyhow!(message)
}

fn io_kind(error: &ami_client::Error) -> Option<io::ErrorKind> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        source = cause.source();
    }
    None
}

/// A mistake in the arguments found after clap's parsing (a malformed `Key=Value`): exit 2,
/// as for clap's own usage errors.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}
