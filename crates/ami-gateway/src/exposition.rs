//! `GET /metrics`: which metrics the gateway exposes and where each value comes from (the
//! servers' counters and gauges, the streams', tokens' and connections' counts), written in
//! the Prometheus text format by `crate::metrics::render`.

use std::sync::atomic::Ordering;

use crate::auth::Use;
use crate::metrics::render::{Exposition, Kind};
use crate::state::{AppState, Disconnect};
use crate::upstream::Upstream;

/// One gauge or counter per server.
struct PerServer {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    value: fn(&Upstream) -> f64,
}

const PER_SERVER: &[PerServer] = &[
    PerServer {
        name: "ami_gateway_upstream_connected",
        kind: Kind::Gauge,
        help: "1 while the AMI connection is logged in.",
        value: |s| f64::from(u8::from(s.is_connected())),
    },
    PerServer {
        name: "ami_gateway_upstream_reconnects_total",
        kind: Kind::Counter,
        help: "Reconnect attempts (after a drop, and failed first connects).",
        value: |s| s.reconnects() as f64,
    },
    PerServer {
        name: "ami_gateway_upstream_events_lagged_total",
        kind: Kind::Counter,
        help: "Events the gateway's own subscription missed because it fell behind the AMI socket.",
        value: |s| s.metrics().upstream_lagged.load(Ordering::Relaxed) as f64,
    },
    PerServer {
        name: "ami_gateway_stream_clients",
        kind: Kind::Gauge,
        help: "SSE and WebSocket clients subscribed to this server's events.",
        value: |s| s.metrics().stream_clients.load(Ordering::Relaxed) as f64,
    },
    PerServer {
        name: "ami_gateway_stream_lagged_total",
        kind: Kind::Counter,
        help: "Lag episodes of stream clients (each told with a lag message).",
        value: |s| s.metrics().stream_lagged.load(Ordering::Relaxed) as f64,
    },
    PerServer {
        name: "ami_gateway_stream_dropped_events_total",
        kind: Kind::Counter,
        help: "Events dropped for stream clients that fell behind.",
        value: |s| s.metrics().stream_dropped.load(Ordering::Relaxed) as f64,
    },
    PerServer {
        name: "ami_gateway_stream_disconnected_total",
        kind: Kind::Counter,
        help: "Stream clients disconnected for falling too far behind.",
        value: |s| s.metrics().stream_disconnected.load(Ordering::Relaxed) as f64,
    },
];

/// A PBX gauge: name, help, and how it is counted from one object of the live state.
type PbxGauge<T> = (&'static str, &'static str, fn(&T) -> usize);

/// The PBX gauges, per server, read from its live state.
const PBX_PER_SERVER: &[PbxGauge<ami_state::Snapshot>] = &[
    (
        "ami_gateway_pbx_active_channels",
        "Channels up on the PBX, from the gateway's live state of it.",
        |s| s.channels.len(),
    ),
    (
        "ami_gateway_pbx_calls",
        "Calls on the PBX (channels grouped by Linkedid, or by bridge on servers without one), from the live state.",
        |s| s.calls.len(),
    ),
    (
        "ami_gateway_pbx_bridges",
        "Bridges on the PBX, from the live state.",
        |s| s.bridges.len(),
    ),
];

/// The PBX gauges, per queue, read from its live state.
const PBX_PER_QUEUE: &[PbxGauge<ami_state::Queue>] = &[
    (
        "ami_gateway_pbx_queue_calls_waiting",
        "Callers waiting per queue, from the live state.",
        |q| q.callers.len(),
    ),
    (
        "ami_gateway_pbx_queue_members",
        "Members per queue, from the live state.",
        |q| q.members.len(),
    ),
    (
        "ami_gateway_pbx_queue_members_paused",
        "Paused members per queue, from the live state.",
        |q| q.members.values().filter(|m| m.paused).count(),
    ),
];

/// The whole exposition.
pub(crate) fn render(state: &AppState) -> String {
    let mut out = Exposition::new();
    let servers: Vec<&Upstream> = state.servers().collect();
    for metric in PER_SERVER {
        out.family(metric.name, metric.kind, metric.help);
        for server in &servers {
            out.sample(
                metric.name,
                &[("server", server.name())],
                (metric.value)(server),
            );
        }
    }

    // One copy of each state per scrape, read by every PBX gauge: the gauges of one server
    // are of one moment, and the fan-out waits on the state's lock once per server.
    let snapshots: Vec<ami_state::Snapshot> = servers
        .iter()
        .map(|server| server.with_state(ami_state::State::snapshot))
        .collect();
    for (name, help, value) in PBX_PER_SERVER {
        out.family(name, Kind::Gauge, help);
        for (server, snapshot) in servers.iter().zip(&snapshots) {
            out.sample(name, &[("server", server.name())], value(snapshot));
        }
    }
    for (name, help, value) in PBX_PER_QUEUE {
        out.family(name, Kind::Gauge, help);
        for (server, snapshot) in servers.iter().zip(&snapshots) {
            for (queue, state) in &snapshot.queues {
                out.sample(
                    name,
                    &[("server", server.name()), ("queue", queue)],
                    value(state),
                );
            }
        }
    }

    out.family(
        "ami_gateway_actions_total",
        Kind::Counter,
        "Actions sent through the API, by name and result.",
    );
    for server in &servers {
        for ((action, result), n) in server.metrics().action_counts() {
            out.sample(
                "ami_gateway_actions_total",
                &[
                    ("server", server.name()),
                    ("action", &action),
                    ("result", result),
                ],
                n,
            );
        }
    }
    out.family(
        "ami_gateway_action_duration_seconds",
        Kind::Histogram,
        "Time from the API request to the AMI reply, by action.",
    );
    for server in &servers {
        for (action, histogram) in server.metrics().latencies() {
            out.histogram(
                "ami_gateway_action_duration_seconds",
                &[("server", server.name()), ("action", &action)],
                &histogram,
            );
        }
    }
    out.family(
        "ami_gateway_events_total",
        Kind::Counter,
        "Events received from the PBX, by name.",
    );
    for server in &servers {
        for (event, n) in server.metrics().event_counts() {
            out.sample(
                "ami_gateway_events_total",
                &[("server", server.name()), ("event", &event)],
                n,
            );
        }
    }
    let disconnects = state.disconnect_counts();
    out.family(
        "ami_gateway_stream_disconnects_total",
        Kind::Counter,
        "Stream clients gone, by reason: client_closed, write_timeout (the socket took nothing for write_timeout_ms), lagged (missed max_lagged events), shutdown, upstream_gone.",
    );
    for (reason, n) in disconnects {
        out.sample(
            "ami_gateway_stream_disconnects_total",
            &[("reason", reason.label())],
            n,
        );
    }
    out.family(
        "ami_gateway_stream_write_timeouts_total",
        Kind::Counter,
        "Stream clients disconnected because their socket accepted nothing for the write timeout (the same count as ami_gateway_stream_disconnects_total{reason=\"write_timeout\"}).",
    );
    let write_timeouts = disconnects
        .iter()
        .find(|(reason, _)| *reason == Disconnect::WriteTimeout)
        .map_or(0, |(_, n)| *n);
    out.sample(
        "ami_gateway_stream_write_timeouts_total",
        &[],
        write_timeouts,
    );
    out.family(
        "ami_gateway_token_streams",
        Kind::Gauge,
        "Event streams open per token.",
    );
    for token in state.tokens() {
        out.sample(
            "ami_gateway_token_streams",
            &[("token", &token.name)],
            token.in_use(Use::Stream),
        );
    }
    out.family(
        "ami_gateway_token_requests_in_flight",
        Kind::Gauge,
        "Requests waiting on a server per token.",
    );
    for token in state.tokens() {
        out.sample(
            "ami_gateway_token_requests_in_flight",
            &[("token", &token.name)],
            token.in_use(Use::InFlight),
        );
    }
    let connections = state.connections();
    out.family(
        "ami_gateway_connections_open",
        Kind::Gauge,
        "Client connections open (TLS handshakes and event streams included).",
    );
    out.sample("ami_gateway_connections_open", &[], connections.open());
    out.family(
        "ami_gateway_connections_refused_total",
        Kind::Counter,
        "Client connections closed at accept, by reason (per_ip: the address had max_per_ip open).",
    );
    out.sample(
        "ami_gateway_connections_refused_total",
        &[("reason", "per_ip")],
        connections.refused_per_ip(),
    );
    out.family(
        "ami_gateway_connections_header_timeouts_total",
        Kind::Counter,
        "Client connections closed because a request head they had started (or their first) was not complete within header_timeout_ms; keep-alive connections idle at the timeout are closed without being counted.",
    );
    out.sample(
        "ami_gateway_connections_header_timeouts_total",
        &[],
        connections.header_timeouts(),
    );
    out.family(
        "ami_gateway_denied_requests_total",
        Kind::Counter,
        "Requests refused by access control, by reason (401, 403, 429 for the rate, stream and in-flight limits).",
    );
    for (reason, n) in state.denied_counts() {
        out.sample(
            "ami_gateway_denied_requests_total",
            &[("reason", reason)],
            n,
        );
    }
    out.finish()
}
