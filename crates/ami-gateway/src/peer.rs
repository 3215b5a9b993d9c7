//! What the gateway knows of its clients' connections: how many are open per address (the
//! `max_per_ip` cap and its counters) and, per connection, its peer and whether its writes
//! stalled. A leaf: the accept loop (`crate::conn`), the stall guard and the state all use
//! it, and it uses none of them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::ConnectionLimits;

/// Open connections, per client address and in total, and what happened to them.
pub(crate) struct Connections {
    limits: ConnectionLimits,
    /// Open connections per address; an address leaves the map with its last connection, so
    /// the map holds no more entries than there are open connections.
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    open: AtomicUsize,
    refused_per_ip: AtomicU64,
    header_timeouts: AtomicU64,
}

impl Connections {
    pub(crate) fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            per_ip: Mutex::new(HashMap::new()),
            open: AtomicUsize::new(0),
            refused_per_ip: AtomicU64::new(0),
            header_timeouts: AtomicU64::new(0),
        }
    }

    pub(crate) fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections closed at accept because their address had `max_per_ip` open.
    pub(crate) fn refused_per_ip(&self) -> u64 {
        self.refused_per_ip.load(Ordering::Relaxed)
    }

    /// Connections closed for not sending a complete request head in time.
    pub(crate) fn header_timeouts(&self) -> u64 {
        self.header_timeouts.load(Ordering::Relaxed)
    }

    /// Counts a connection closed for not sending a complete request head in time.
    pub(crate) fn count_header_timeout(&self) {
        self.header_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// A place for one more connection from `ip`, unless it has `max_per_ip` open.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        // An IPv4 peer on a dual-stack socket shows up as ::ffff:a.b.c.d: one address.
        let ip = ip.to_canonical();
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let open = per_ip.entry(ip).or_insert(0);
        if *open >= self.limits.max_per_ip {
            drop(per_ip);
            self.refused_per_ip.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *open += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
        Some(Admitted {
            connections: self.clone(),
            ip,
        })
    }
}

/// One admitted connection's place; given back when dropped.
pub(crate) struct Admitted {
    connections: Arc<Connections>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let connections = &self.connections;
        connections.open.fetch_sub(1, Ordering::Relaxed);
        let mut per_ip = connections.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = per_ip.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// What the handlers of a request may know about its connection (a request extension; absent
/// when the router is driven without a socket).
#[derive(Clone)]
pub(crate) struct Connection(Arc<ConnectionShared>);

/// Shared by a connection's IO (through its `crate::stall::StallGuard`) and the requests on it. Holds the
/// connection's per-address place, so an upgraded WebSocket keeps its place until its socket
/// is dropped.
pub(crate) struct ConnectionShared {
    peer: SocketAddr,
    /// Set by the stall guard when a write made no progress for the write timeout.
    stalled: AtomicBool,
    _admitted: Admitted,
}

impl ConnectionShared {
    /// A connection from `peer`, holding its place.
    pub(crate) fn new(peer: SocketAddr, admitted: Admitted) -> Self {
        Self {
            peer,
            stalled: AtomicBool::new(false),
            _admitted: admitted,
        }
    }

    /// The client's address.
    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub(crate) fn mark_stalled(&self) {
        self.stalled.store(true, Ordering::Release);
    }
}

impl Connection {
    /// What the requests on the connection `shared` may know of it.
    pub(crate) fn new(shared: Arc<ConnectionShared>) -> Self {
        Self(shared)
    }

    /// The client's address.
    pub(crate) fn peer(&self) -> SocketAddr {
        self.0.peer
    }

    /// Whether the connection's stall guard failed a write (the socket took nothing for the
    /// write timeout).
    pub(crate) fn stalled(&self) -> bool {
        self.0.stalled.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_per_address_are_capped_and_given_back() {
        let connections = Arc::new(Connections::new(ConnectionLimits {
            max_per_ip: 2,
            ..ConnectionLimits::default()
        }));
        let one: IpAddr = [10, 0, 0, 1].into();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("address");
        let other: IpAddr = [10, 0, 0, 2].into();
        let first = connections.admit(one).expect("room");
        let second = connections.admit(mapped).expect("room");
        assert!(
            connections.admit(one).is_none(),
            "the mapped form is the same address"
        );
        let third = connections.admit(other).expect("another address");
        assert_eq!((connections.open(), connections.refused_per_ip()), (3, 1));
        drop(first);
        let again = connections.admit(one).expect("a place came back");
        drop((second, third, again));
        assert_eq!(connections.open(), 0);
        assert!(
            connections.per_ip.lock().expect("lock").is_empty(),
            "addresses leave with their last connection"
        );
    }
}
