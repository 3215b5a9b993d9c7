//! `--listen` for the subcommands that serve (`sim`, `gateway`): a bare port means loopback.

use std::net::{Ipv4Addr, SocketAddr};

/// Parses `--listen`: `5038` (127.0.0.1:5038, loopback as every default here), `0` (a free
/// port), or a full `ADDRESS:PORT` (`0.0.0.0:5038`, `[::1]:5038`).
pub fn parse(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    text.parse().map_err(|_| {
        "expected PORT or ADDRESS:PORT (e.g. 5038, 127.0.0.1:5038 or [::1]:5038)".into()
    })
}

/// Says how to get out of a failed bind: another port, or who holds this one.
pub fn bind_error(addr: SocketAddr, error: std::io::Error) -> anyhow::Error {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "cannot listen on {addr}: the address is in use (another process has the port)\n\
             fix: choose another port with --listen PORT (--listen 0 picks a free one)"
        ),
        std::io::ErrorKind::PermissionDenied => anyhow::anyhow!(
            "cannot listen on {addr}: permission denied\n\
             fix: use a port above 1023, e.g. --listen {}",
            addr.port().max(1024)
        ),
        _ => anyhow::Error::new(error).context(format!("cannot listen on {addr}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_port_is_loopback_and_addresses_parse_as_given() {
        assert_eq!(parse("5038"), Ok("127.0.0.1:5038".parse().expect("addr")));
        assert_eq!(parse("0"), Ok("127.0.0.1:0".parse().expect("addr")));
        assert_eq!(parse("[::1]:9"), Ok("[::1]:9".parse().expect("addr")));
        assert!(parse("localhost:x").is_err());
        assert!(parse("70000").is_err());
    }
}
