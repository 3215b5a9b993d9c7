//! Publishes every event of a fleet of Asterisk servers to NATS JetStream, and answers AMI
//! actions sent by NATS request/reply: the engine of `ami bridge`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ami_bridge::Config::load("bridge.toml".as_ref())?;
//! let nats = ami_bridge::nats::connect("nats://127.0.0.1:4222", &config.nats).await?;
//! ami_bridge::run(&config, nats, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(())
//! # }
//! ```
//!
//! Each event goes to `ami.<server>.event.<EventName>` with the one JSON mapping
//! (`ami-json`) as its body and headers naming the server, the event, the connection epoch
//! and the sequence within it; `Nats-Msg-Id` is `server/epoch/seq`, so a republished message
//! is stored once. Gaps are marked: `ami.<server>.lagged` where messages were dropped,
//! `ami.<server>.connection` where the PBX connection came up or went down.
//!
//! Several instances given the same configuration share the PBXes: each PBX is served only by
//! the instance holding its lease in a JetStream key-value bucket ([`lease`], `[fleet]`), which
//! publishes a takeover `connection` marker and the PBX's state (`ami.<server>.state`) when it
//! takes a PBX over, and deletes its leases when it stops gracefully.
//!
//! A request on `ami.<server>.action.<Action>` (a JSON object of headers) is answered with the
//! gateway's action JSON, if the configuration's `[actions]` rules allow it (nothing by
//! default; `"*"` never reaches actions that run code or change configuration).
//!
//! Modules, and what each imports (no circles): [`subject`] (naming, a leaf) ←
//! [`publish`] (the sans-IO sequencer) ← `bridge` (the tokio tasks) → [`lease`] (the sans-IO
//! lease policy, a leaf), `actions` (request/reply), [`nats`] (connecting, the stream, the
//! lease bucket) → [`config`], `error`; [`consumer`] (reading the stream, sending actions:
//! `ami events --nats`, `ami action --nats`) → [`subject`], [`publish`];
//! [`gateway_upstream`] (the gateway's servers served through NATS: the gateway's upstream
//! seam, implemented over the consumer) → [`consumer`], [`config`], [`nats`].

mod actions;
mod bridge;
pub mod config;
pub mod consumer;
mod error;
pub mod gateway_upstream;
pub mod lease;
pub mod nats;
pub mod publish;
pub mod subject;

pub use bridge::{Bridge, Stats, run};
pub use config::{Config, ConfigError};
pub use error::Error;
