//! An AMI server that behaves like Asterisk, for tests, demos and load.
//!
//! It answers as the recorded Asterisk 22, 13, 11 and 1.8 servers did (same headers, same order,
//! same list framing, same error texts), runs a small simulated PBX whose calls produce the
//! events Asterisk would, and can inject faults, stream events at full speed, replay a recorded
//! transcript, and serve TLS and AMI over HTTP (`/rawman`, `/mxml`, `/manager`, with
//! `SimConfig::http_listen`).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use ami_sim::{Profile, SimConfig};
//!
//! let sim = ami_sim::spawn(SimConfig { profile: Profile::V13, ..SimConfig::default() }).await?;
//! println!("AMI on {}", sim.addr()); // log in as admin / amp111
//! sim.emit_events(10_000); // every logged-in session gets 10,000 call events
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! The protocol is sans-IO: [`ServerSession`] takes bytes and events through `handle_*` and
//! gives bytes, pauses and the close through `poll_output`; [`Pbx`] takes time through
//! `handle_timeout` and gives events through `poll_event`. The tokio layer ([`run`],
//! [`spawn`]) only moves bytes and clocks.

#![warn(missing_docs)]

mod actions;
mod clock;
mod config;
mod event;
mod faults;
mod filter;
mod http;
mod pbx;
mod perm;
mod profile;
mod replay;
mod request;
mod server;
mod session;
mod stream;
#[cfg(feature = "tls")]
mod tls;
mod user;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub use actions::md5_key;
pub use config::{AgentSpec, SimConfig, TlsConfig};
pub use event::Event;
pub use faults::{FaultInjector, FaultStep, Faults, Rng, Stall};
pub use filter::Filters;
pub use pbx::Pbx;
pub use perm::{Perms, UnknownClass};
pub use profile::{Profile, UnknownProfile};
pub use replay::split_packets;
pub use request::{Input, MAX_HEADER_LINES, MAX_LINE_BYTES, Request, RequestReader};
pub use session::{Context, Output, PeerInfo, ServerSession};
#[cfg(feature = "tls")]
pub use tls::TlsError;
pub use user::{User, UsersError, load_users, parse_users};

/// Serves AMI on `listener` until `shutdown` completes; then every connection is dropped.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let http = match config.http_listen {
        Some(addr) => Some(http::bind(addr)?),
        None => None,
    };
    let shared = server::Shared::new(config);
    let http = http.map(|listener| {
        tokio::spawn(http::serve(
            listener,
            shared.clone(),
            shared.control.subscribe(),
        ))
    });
    let result = server::serve(listener, shared, shutdown).await;
    if let Some(task) = http {
        let _ = task.await;
    }
    result
}

/// Binds `127.0.0.1:0` and serves in a tokio task; the handle controls the run.
pub async fn spawn(config: SimConfig) -> std::io::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    spawn_on(listener, config).await
}

/// Like [`spawn`], on a listener of the caller's choosing.
pub async fn spawn_on(
    listener: tokio::net::TcpListener,
    config: SimConfig,
) -> std::io::Result<SimHandle> {
    let addr = listener.local_addr()?;
    #[cfg(feature = "tls")]
    let (config, tls_cert_pem) = match &config.tls {
        // Generate once here so the handle can hand the certificate to the client under test.
        Some(config::TlsConfig::SelfSigned) => {
            let dir = std::env::temp_dir().join(format!(
                "ami-sim-{}-{}",
                std::process::id(),
                addr.port()
            ));
            let (cert, key) = write_self_signed(&dir)?;
            let pem = std::fs::read_to_string(&cert)?;
            (
                SimConfig {
                    tls: Some(config::TlsConfig::Files { cert, key }),
                    ..config
                },
                Some(pem),
            )
        }
        Some(config::TlsConfig::Files { cert, .. }) => {
            let pem = std::fs::read_to_string(cert)?;
            (config, Some(pem))
        }
        None => (config, None),
    };
    #[cfg(not(feature = "tls"))]
    let tls_cert_pem = None;
    let (http_addr, http_listener) = match config.http_listen {
        Some(addr) => {
            let listener = http::bind(addr)?;
            (Some(listener.local_addr()?), Some(listener))
        }
        None => (None, None),
    };
    let shared = server::Shared::new(config);
    // Subscribed before either task runs, so a stop sent at once is not missed.
    let http_task = http_listener.map(|listener| {
        tokio::spawn(http::serve(
            listener,
            shared.clone(),
            shared.control.subscribe(),
        ))
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(listener, shared.clone(), async move {
        let _ = stopped.await;
    }));
    Ok(SimHandle {
        addr,
        shared,
        stop,
        task,
        tls_cert_pem,
        http: http_addr
            .zip(http_task)
            .map(|(addr, task)| Box::new(HttpSide { addr, task })),
    })
}

#[cfg(feature = "tls")]
fn write_self_signed(
    dir: &std::path::Path,
) -> std::io::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(std::io::Error::other)?;
    std::fs::create_dir_all(dir)?;
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, generated.cert.pem())?;
    std::fs::write(&key, generated.key_pair.serialize_pem())?;
    Ok((cert, key))
}

/// A running simulator (see [`spawn`]).
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<server::Shared>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    tls_cert_pem: Option<String>,
    /// The HTTP side, boxed: most handles have none, and the handle stays small.
    http: Option<Box<HttpSide>>,
}

/// The HTTP listener's address and task.
struct HttpSide {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl SimHandle {
    /// Where AMI over HTTP is served (`SimConfig::http_listen`), if it is.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|http| http.addr)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, drops every connection and waits for the server task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        if let Some(http) = self.http {
            let _ = http.task.await;
        }
    }

    /// Drops every connection and reboots the PBX (as an Asterisk restart); new connections
    /// get a fresh banner.
    pub fn restart(&self) {
        self.shared.restart();
    }

    /// Pushes `n` realistic call events to every logged-in session, as fast as each socket
    /// takes them (pre-encoded once, shared by all sessions).
    pub fn emit_events(&self, n: u64) {
        let _ = self.shared.control.send(server::Control::Stream(n));
    }

    /// Connections currently open.
    pub fn open_connections(&self) -> u64 {
        self.shared.open.load(Ordering::Relaxed)
    }

    /// Sessions dropped so far because their socket stayed full past the write timeout.
    pub fn slow_reader_drops(&self) -> u64 {
        self.shared.slow_drops.load(Ordering::Relaxed)
    }

    /// The PEM certificate served over TLS, so a test client can trust it.
    pub fn tls_cert_pem(&self) -> Option<&str> {
        self.tls_cert_pem.as_deref()
    }

    /// The profile being served.
    pub fn profile(&self) -> Profile {
        self.shared.config.profile
    }
}
