//! `ami sim`: an Asterisk-like AMI server on 127.0.0.1:5038, for trying things out and testing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ami_sim::{Faults, Profile, SimConfig, Stall, TlsConfig};
use anyhow::Context;

/// Arguments of `ami sim`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// PORT or ADDRESS:PORT to listen on; a bare port is loopback (Asterisk uses 5038, and
    /// 5039 for TLS; 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:5038", value_parser = crate::listen::parse)]
    listen: SocketAddr,
    /// Asterisk version to imitate: 22, 13, 11 or 1.8 (`--profile` is an old spelling).
    #[arg(
        long = "asterisk",
        alias = "profile",
        value_name = "VERSION",
        default_value = "22"
    )]
    asterisk: Profile,
    /// Accounts, in manager.conf form (one section per user, with secret/read/write). Default: admin/amp111
    /// (read and write all) and events/events (read all, write system).
    #[arg(long)]
    users: Option<PathBuf>,
    /// Start this many simulated calls per second (Local channels through the demo dialplan).
    #[arg(long, value_name = "R")]
    calls_per_second: Option<f64>,
    /// Start with the calls the corpus recordings had up (a queue caller, Local/800 ...).
    #[arg(long)]
    demo_calls: bool,
    /// Run simulated time this many times faster than real time.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Serve AMI over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve AMI over TLS with a freshly generated self-signed certificate.
    #[arg(long, conflicts_with = "tls_cert")]
    tls_self_signed: bool,
    /// Also serve AMI over HTTP here (/rawman, /mxml, /manager), as Asterisk's HTTP server does.
    #[arg(long, value_name = "ADDR")]
    http_listen: Option<std::net::SocketAddr>,
    /// An HTTP manager session ends this many seconds after its last request (httptimeout).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    http_timeout: u64,
    /// Serve this recorded transcript (a .recv file) to every connection instead of simulating.
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// Seed for the faults below (same seed, same faults).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write every packet in random small pieces.
    #[arg(long)]
    split_writes: bool,
    /// Wait this many milliseconds before every packet.
    #[arg(long, value_name = "MS")]
    delay_ms: Option<u64>,
    /// Stall once, for --stall-ms, after this many packets.
    #[arg(long, value_name = "N", requires = "stall_ms")]
    stall_after: Option<u64>,
    /// Length of the stall.
    #[arg(long, value_name = "MS")]
    stall_ms: Option<u64>,
    /// Drop each connection in the middle of its Nth packet.
    #[arg(long, value_name = "N")]
    drop_mid_packet_after: Option<u64>,
    /// Insert a garbage packet before every Nth packet.
    #[arg(long, value_name = "N")]
    garbage_every: Option<u64>,
    /// Stream this many call events to each session as soon as it logs in (load testing).
    #[arg(long, value_name = "N")]
    events_on_login: Option<u64>,
    /// Close a connection that has not logged in after this many seconds (Asterisk's
    /// authtimeout).
    #[arg(long, default_value_t = 30)]
    auth_timeout_secs: u64,
    /// Drop a session whose socket stays full this long (milliseconds).
    #[arg(long, default_value_t = 1000)]
    write_timeout_ms: u64,
}

impl Args {
    fn into_config(self) -> anyhow::Result<SimConfig> {
        let users = match &self.users {
            Some(path) => ami_sim::load_users(path)?,
            None => ami_sim::User::defaults(),
        };
        let tls = match (self.tls_cert, self.tls_key, self.tls_self_signed) {
            (Some(cert), Some(key), _) => Some(TlsConfig::Files { cert, key }),
            (_, _, true) => Some(TlsConfig::SelfSigned),
            _ => None,
        };
        let replay = match &self.replay {
            Some(path) => Some(
                std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?
                    .into(),
            ),
            None => None,
        };
        let stall = self
            .stall_after
            .zip(self.stall_ms)
            .map(|(after, ms)| Stall {
                after_packets: after,
                duration: Duration::from_millis(ms),
            });
        Ok(SimConfig {
            profile: self.asterisk,
            users,
            faults: Faults {
                seed: self.seed,
                split_writes: self.split_writes,
                delay: self.delay_ms.map(Duration::from_millis),
                stall,
                drop_mid_packet_after: self.drop_mid_packet_after,
                garbage_every: self.garbage_every,
            },
            calls_per_second: self.calls_per_second,
            tls,
            demo_calls: self.demo_calls,
            write_timeout: Duration::from_millis(self.write_timeout_ms),
            time_scale: self.time_scale,
            events_on_login: self.events_on_login,
            auth_timeout: Duration::from_secs(self.auth_timeout_secs),
            replay,
            http_listen: self.http_listen,
            http_timeout: Duration::from_secs(self.http_timeout),
            ..SimConfig::default()
        })
    }
}

/// Serves until Ctrl-C.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::logging::init();
    let listen = args.listen;
    let config = args.into_config()?;
    let profile = config.profile;
    let tls = config.tls.is_some();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|error| crate::listen::bind_error(listen, error))?;
        if !listen.ip().is_loopback() {
            tracing::warn!(%listen, "listening beyond loopback: anyone who can reach it may log in");
        }
        tracing::info!(
            "AMI{} on {} as Asterisk {} (banner {:?}); log in as admin/amp111; Ctrl-C stops",
            if tls { " over TLS" } else { "" },
            listener.local_addr().unwrap_or(listen),
            profile.asterisk_version(),
            profile.banner().trim_end()
        );
        if let Some(http) = config.http_listen {
            tracing::info!("AMI over HTTP on http://{http}/rawman (also /mxml and /manager)");
        }
        ami_sim::run(listener, config, async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("Ctrl-C: stopping");
        })
        .await
        .context("simulator failed")
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: Args,
    }

    fn config(argv: &[&str]) -> SimConfig {
        let mut full = vec!["sim"];
        full.extend_from_slice(argv);
        Wrapper::try_parse_from(full)
            .expect("arguments parse")
            .args
            .into_config()
            .expect("config")
    }

    #[test]
    fn defaults_are_loopback_asterisk_22_with_the_corpus_users() {
        let parsed = Wrapper::try_parse_from(["sim"]).expect("parse");
        assert_eq!(parsed.args.listen, "127.0.0.1:5038".parse().expect("addr"));
        let config = config(&[]);
        assert_eq!(config.profile, Profile::V22);
        assert_eq!(config.users, ami_sim::User::defaults());
        assert!(config.faults.is_none() && config.tls.is_none());
    }

    #[test]
    fn faults_profile_and_tls_flags_map_to_the_config() {
        let config = config(&[
            "--profile",
            "1.8",
            "--seed",
            "7",
            "--split-writes",
            "--stall-after",
            "3",
            "--stall-ms",
            "250",
            "--garbage-every",
            "5",
            "--tls-self-signed",
            "--calls-per-second",
            "2.5",
        ]);
        assert_eq!(config.profile, Profile::V18);
        assert_eq!(config.faults.seed, 7);
        assert!(config.faults.split_writes);
        assert_eq!(
            config.faults.stall,
            Some(Stall {
                after_packets: 3,
                duration: Duration::from_millis(250)
            })
        );
        assert_eq!(config.faults.garbage_every, Some(5));
        assert_eq!(config.tls, Some(TlsConfig::SelfSigned));
        assert_eq!(config.calls_per_second, Some(2.5));
        assert!(Wrapper::try_parse_from(["sim", "--profile", "12"]).is_err());
        assert_eq!(
            super::tests::config(&["--asterisk", "13"]).profile,
            Profile::V13
        );
        assert!(Wrapper::try_parse_from(["sim", "--tls-cert", "x.pem"]).is_err());
    }
}
