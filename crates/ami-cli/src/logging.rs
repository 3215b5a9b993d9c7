//! Diagnostics on stderr for the long-running subcommands (`gateway`, `sim`).

use std::io::IsTerminal;

/// Logs to stderr at `RUST_LOG`'s level (default `info`), coloured only when stderr is a
/// terminal and `NO_COLOR` is unset: escape codes in a log file or a journal are noise.
pub fn init() {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}
