//! Connection settings shared by every subcommand that talks to a server: flags, with the
//! `AMI_URL`, `AMI_HOST`, `AMI_PORT`, `AMI_USERNAME`, `AMI_SECRET`, `AMI_TLS` environment variables as
//! defaults. The secret is never required on the command line (environment or file) and never
//! printed.

use std::path::PathBuf;
use std::time::Duration;

use ami_client::{Auth, Config, Tls, TlsTrust};
use anyhow::{Context, bail};

/// `--host`, `--port`, `--username`, `--secret-file`, `--tls` ... (flatten into a subcommand).
/// Global, so that a command with subcommands of its own (`ami bench events`) takes them
/// before or after its subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnArgs {
    /// The server as a URL, in place of --host/--port: `http://pbx:8088` or `https://pbx:8089`
    /// for AMI over Asterisk's HTTP server (/rawman), `tcp://pbx:5038` or `tls://pbx:5039`.
    #[arg(long, global = true, env = "AMI_URL", value_name = "URL")]
    pub url: Option<String>,
    /// AMI server host; without one, commands that can start the simulator do so.
    #[arg(long, global = true, env = "AMI_HOST")]
    pub host: Option<String>,
    /// AMI port (5038, or 5039 for TLS).
    #[arg(long, global = true, env = "AMI_PORT")]
    pub port: Option<u16>,
    /// AMI user (`[name]` in manager.conf).
    #[arg(long, global = true, env = "AMI_USERNAME")]
    pub username: Option<String>,
    /// The secret. Prefer AMI_SECRET or --secret-file: a flag is visible in the process list.
    #[arg(long, global = true, env = "AMI_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Read the secret from this file (first line).
    #[arg(long, global = true, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// MD5 challenge login: the secret never crosses the wire.
    #[arg(long, global = true)]
    pub md5: bool,
    /// AMI over TLS.
    #[arg(long, global = true, env = "AMI_TLS", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub tls: Option<bool>,
    /// Trust only the CA (or self-signed certificate) in this PEM file.
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Trust only a server certificate with this SHA-256 fingerprint (64 hex digits, `:`
    /// allowed, as `openssl x509 -noout -fingerprint -sha256 -in cert.pem` prints it).
    #[arg(long, global = true, value_name = "SHA256", value_parser = parse_pin)]
    pub tls_pin: Option<[u8; 32]>,
    /// Accept any TLS certificate (self-signed lab PBXs only: no protection against impostors).
    #[arg(long, global = true)]
    pub tls_insecure: bool,
    /// Connect + banner timeout, in seconds.
    #[arg(long, global = true, default_value_t = 10.0, value_name = "SECONDS")]
    pub connect_timeout: f64,
}

impl ConnArgs {
    /// True when no server was named: the caller may start the simulator instead.
    pub fn is_unset(&self) -> bool {
        self.host.as_deref().is_none_or(str::is_empty) && self.url().is_none()
    }

    /// The URL given, if any (an empty one counts as none).
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref().filter(|url| !url.is_empty())
    }

    /// The secret from the flag, the environment or the file.
    pub fn secret(&self) -> anyhow::Result<String> {
        if let Some(path) = &self.secret_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the secret file {}", path.display()))?;
            return Ok(text.lines().next().unwrap_or_default().to_owned());
        }
        match &self.secret {
            Some(secret) => Ok(secret.clone()),
            None => {
                bail!("no AMI secret given\nfix: export AMI_SECRET=... or pass --secret-file FILE")
            }
        }
    }

    /// A client configuration for `host` (the flag's, or the one given, such as a simulator's
    /// address) with the other settings from flags and environment.
    pub fn config(&self, host: Option<(&str, u16)>) -> anyhow::Result<Config> {
        if let (None, Some(url)) = (host, self.url()) {
            return self.url_config(url);
        }
        let tls = self.wants_tls();
        let (host, port) = match host {
            Some((host, port)) => (host.to_owned(), port),
            None => {
                let Some(host) = self.host.clone().filter(|h| !h.is_empty()) else {
                    bail!("no AMI host given\nfix: pass --host HOST or export AMI_HOST=HOST");
                };
                (host, self.port.unwrap_or(if tls { 5039 } else { 5038 }))
            }
        };
        let username = self.username.clone().unwrap_or_else(|| "admin".to_owned());
        let mut config = Config::new(host, username, self.secret()?)
            .port(port)
            .connect_timeout(Duration::from_secs_f64(self.connect_timeout.max(0.001)));
        if self.md5 {
            config = config.auth(Auth::Md5);
        }
        if tls {
            config = config.tls(Tls {
                trust: self.trust(),
                server_name: None,
            });
        }
        Ok(config)
    }

    /// The configuration a URL names; --port, when given, replaces the URL's port, and the
    /// TLS options set what an `https://` or `tls://` URL trusts.
    fn url_config(&self, url: &str) -> anyhow::Result<Config> {
        let username = self.username.clone().unwrap_or_else(|| "admin".to_owned());
        let mut config = Config::from_url(url, username, self.secret()?)
            .map_err(|error| anyhow::anyhow!("{error}\nfix: --url http://HOST:8088, https://HOST:8089, tcp://HOST:5038 or tls://HOST:5039"))?
            .connect_timeout(Duration::from_secs_f64(self.connect_timeout.max(0.001)));
        if let Some(port) = self.port {
            config = config.port(port);
        }
        if self.md5 {
            config = config.auth(Auth::Md5);
        }
        if url_is_tls(url) || self.wants_tls() {
            config = config.tls(Tls {
                trust: self.trust(),
                server_name: None,
            });
        }
        Ok(config)
    }

    /// Whether TLS is asked for, by `--tls` or by any option that only TLS uses.
    pub fn wants_tls(&self) -> bool {
        self.tls.unwrap_or(false)
            || self.tls_ca.is_some()
            || self.tls_pin.is_some()
            || self.tls_insecure
    }

    /// What the TLS connection trusts: `--tls-insecure` over `--tls-pin` over `--tls-ca` over
    /// the system's roots.
    pub fn trust(&self) -> TlsTrust {
        match (self.tls_insecure, self.tls_pin, &self.tls_ca) {
            (true, _, _) => TlsTrust::InsecureAcceptAny,
            (false, Some(pin), _) => TlsTrust::Sha256Pins(vec![pin]),
            (false, None, Some(path)) => TlsTrust::CaFile(path.clone()),
            (false, None, None) => TlsTrust::SystemRoots,
        }
    }
}

/// Whether a URL's scheme is a TLS one (`https://`, `tls://`).
pub fn url_is_tls(url: &str) -> bool {
    let scheme = url.split("://").next().unwrap_or_default();
    scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("tls")
}

/// `--tls-pin` / a profile's `tls_pin`.
pub fn parse_pin(text: &str) -> Result<[u8; 32], String> {
    ami_client::parse_sha256_pin(text).ok_or_else(|| {
        "expected a SHA-256 fingerprint: 64 hex digits, `:` allowed (openssl x509 -noout \
         -fingerprint -sha256 -in cert.pem)"
            .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        conn: ConnArgs,
    }

    #[test]
    fn flags_make_a_config_and_the_secret_stays_out_of_debug() {
        let cli = Cli::parse_from([
            "x",
            "--host",
            "pbx",
            "--port",
            "6000",
            "--username",
            "ops",
            "--secret",
            "hunter2",
            "--md5",
        ]);
        let config = cli.conn.config(None).expect("config");
        assert_eq!(config.address(), "pbx:6000");
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn a_url_names_the_server_and_its_transport() {
        let cli = Cli::parse_from([
            "x",
            "--url",
            "https://pbx:9000/asterisk",
            "--secret",
            "s",
            "--tls-insecure",
        ]);
        assert!(!cli.conn.is_unset());
        let config = cli.conn.config(None).expect("config");
        assert!(config.is_http());
        assert_eq!(config.address(), "pbx:9000");
        // A simulator's address given by the command wins over the URL.
        let local = cli.conn.config(Some(("127.0.0.1", 5038))).expect("config");
        assert!(!local.is_http());
        let cli = Cli::parse_from(["x", "--url", "ftp://pbx", "--secret", "s"]);
        let error = cli.conn.config(None).expect_err("bad scheme").to_string();
        assert!(error.contains("fix:"), "{error}");
    }

    #[test]
    fn missing_secret_says_how_to_fix_it() {
        let cli = Cli::parse_from(["x", "--host", "pbx"]);
        if std::env::var_os("AMI_SECRET").is_none() {
            let error = cli.conn.config(None).expect_err("no secret").to_string();
            assert!(error.contains("AMI_SECRET"), "{error}");
        }
    }
}
