//! Prometheus metrics, rendered by hand in the text exposition format (a handful of counters,
//! gauges and one histogram do not need a metrics framework).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::auth::Use;
use crate::state::{AppState, Disconnect};
use crate::upstream::Upstream;

/// Label values come from requests and from the PBX: past this many distinct values a metric
/// folds the rest into `_other`, so a caller cannot grow the exposition without bound.
const MAX_LABELS: usize = 256;

/// Upper bounds of the action latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|&bound| seconds <= bound) {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Counters of one upstream server.
#[derive(Debug, Default)]
pub(crate) struct ServerMetrics {
    /// `(action, result)` -> count.
    actions: Mutex<HashMap<(String, &'static str), u64>>,
    /// action -> latency.
    latency: Mutex<HashMap<String, Histogram>>,
    /// event name -> count.
    events: Mutex<HashMap<String, u64>>,
    /// Connect attempts made by the gateway itself before the client took over reconnecting.
    pub(crate) connect_failures: AtomicU64,
    /// Events the gateway's own subscription missed (told by the client as `Lagged`).
    pub(crate) upstream_lagged: AtomicU64,
    /// Events dropped for stream clients that fell behind.
    pub(crate) stream_dropped: AtomicU64,
    /// Times a stream client was found behind (each gap told with a lag message).
    pub(crate) stream_lagged: AtomicU64,
    /// Stream clients disconnected for staying behind.
    pub(crate) stream_disconnected: AtomicU64,
    /// Stream clients currently subscribed to this server.
    pub(crate) stream_clients: AtomicU64,
}

fn fold(map_len: usize, present: bool, name: &str) -> String {
    if present || map_len < MAX_LABELS {
        name.to_owned()
    } else {
        "_other".to_owned()
    }
}

impl ServerMetrics {
    /// Counts one action with its outcome and latency.
    pub(crate) fn action(&self, action: &str, result: &'static str, elapsed: Duration) {
        {
            let mut actions = self.actions.lock().unwrap_or_else(|p| p.into_inner());
            let present = actions.contains_key(&(action.to_owned(), result));
            let key = (fold(actions.len(), present, action), result);
            *actions.entry(key).or_insert(0) += 1;
        }
        let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let present = latency.contains_key(action);
        let key = fold(latency.len(), present, action);
        latency
            .entry(key)
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// Adds a batch of per-name event counts (one lock per batch).
    pub(crate) fn events(&self, counts: &mut HashMap<String, u64>) {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        for (name, n) in counts.drain() {
            let present = events.contains_key(&name);
            let key = if present || events.len() < MAX_LABELS {
                name
            } else {
                "_other".to_owned()
            };
            *events.entry(key).or_insert(0) += n;
        }
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The whole exposition.
pub(crate) fn render(state: &AppState) -> String {
    let mut out = String::with_capacity(4096);
    let servers: Vec<&Upstream> = state.servers().collect();
    let per_server =
        |out: &mut String, name: &str, kind: &str, help: &str, value: &dyn Fn(&Upstream) -> f64| {
            header(out, name, kind, help);
            for server in &servers {
                let _ = writeln!(
                    out,
                    "{name}{{server=\"{}\"}} {}",
                    escape(server.name()),
                    value(server)
                );
            }
        };
    per_server(
        &mut out,
        "ami_gateway_upstream_connected",
        "gauge",
        "1 while the AMI connection is logged in.",
        &|s| f64::from(u8::from(s.is_connected())),
    );
    per_server(
        &mut out,
        "ami_gateway_upstream_reconnects_total",
        "counter",
        "Reconnect attempts (after a drop, and failed first connects).",
        &|s| s.reconnects() as f64,
    );
    per_server(
        &mut out,
        "ami_gateway_upstream_events_lagged_total",
        "counter",
        "Events the gateway's own subscription missed because it fell behind the AMI socket.",
        &|s| s.metrics().upstream_lagged.load(Ordering::Relaxed) as f64,
    );
    per_server(
        &mut out,
        "ami_gateway_stream_clients",
        "gauge",
        "SSE and WebSocket clients subscribed to this server's events.",
        &|s| s.metrics().stream_clients.load(Ordering::Relaxed) as f64,
    );
    per_server(
        &mut out,
        "ami_gateway_stream_lagged_total",
        "counter",
        "Lag episodes of stream clients (each told with a lag message).",
        &|s| s.metrics().stream_lagged.load(Ordering::Relaxed) as f64,
    );
    per_server(
        &mut out,
        "ami_gateway_stream_dropped_events_total",
        "counter",
        "Events dropped for stream clients that fell behind.",
        &|s| s.metrics().stream_dropped.load(Ordering::Relaxed) as f64,
    );
    per_server(
        &mut out,
        "ami_gateway_stream_disconnected_total",
        "counter",
        "Stream clients disconnected for falling too far behind.",
        &|s| s.metrics().stream_disconnected.load(Ordering::Relaxed) as f64,
    );
    per_server(
        &mut out,
        "ami_gateway_pbx_active_channels",
        "gauge",
        "Channels up on the PBX, kept current from Newchannel/Hangup events.",
        &|s| s.with_gauges(|g| g.channels() as f64),
    );

    header(
        &mut out,
        "ami_gateway_pbx_queue_calls_waiting",
        "gauge",
        "Callers waiting per queue, kept current from queue events.",
    );
    for server in &servers {
        server.with_gauges(|g| {
            for (queue, count) in g.waiting() {
                let _ = writeln!(
                    out,
                    "ami_gateway_pbx_queue_calls_waiting{{server=\"{}\",queue=\"{}\"}} {count}",
                    escape(server.name()),
                    escape(queue)
                );
            }
        });
    }
    header(
        &mut out,
        "ami_gateway_pbx_queue_members_paused",
        "gauge",
        "Paused members per queue, kept current from queue member events.",
    );
    for server in &servers {
        server.with_gauges(|g| {
            for (queue, count) in g.paused_per_queue() {
                let _ = writeln!(
                    out,
                    "ami_gateway_pbx_queue_members_paused{{server=\"{}\",queue=\"{}\"}} {count}",
                    escape(server.name()),
                    escape(queue)
                );
            }
        });
    }

    header(
        &mut out,
        "ami_gateway_actions_total",
        "counter",
        "Actions sent through the API, by name and result.",
    );
    for server in &servers {
        let actions = server
            .metrics()
            .actions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<_> = actions.iter().collect();
        rows.sort();
        for ((action, result), n) in rows {
            let _ = writeln!(
                out,
                "ami_gateway_actions_total{{server=\"{}\",action=\"{}\",result=\"{result}\"}} {n}",
                escape(server.name()),
                escape(action)
            );
        }
    }
    header(
        &mut out,
        "ami_gateway_action_duration_seconds",
        "histogram",
        "Time from the API request to the AMI reply, by action.",
    );
    for server in &servers {
        let latency = server
            .metrics()
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<_> = latency.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        for (action, histogram) in rows {
            let labels = format!(
                "server=\"{}\",action=\"{}\"",
                escape(server.name()),
                escape(action)
            );
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter()) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "ami_gateway_action_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "ami_gateway_action_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "ami_gateway_action_duration_seconds_sum{{{labels}}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "ami_gateway_action_duration_seconds_count{{{labels}}} {}",
                histogram.count
            );
        }
    }
    header(
        &mut out,
        "ami_gateway_events_total",
        "counter",
        "Events received from the PBX, by name.",
    );
    for server in &servers {
        let events = server
            .metrics()
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<_> = events.iter().collect();
        rows.sort();
        for (event, n) in rows {
            let _ = writeln!(
                out,
                "ami_gateway_events_total{{server=\"{}\",event=\"{}\"}} {n}",
                escape(server.name()),
                escape(event)
            );
        }
    }
    let disconnects = state.disconnect_counts();
    header(
        &mut out,
        "ami_gateway_stream_disconnects_total",
        "counter",
        "Stream clients gone, by reason: client_closed, write_timeout (the socket took nothing for write_timeout_ms), lagged (missed max_lagged events), shutdown, upstream_gone.",
    );
    for (reason, n) in disconnects {
        let _ = writeln!(
            out,
            "ami_gateway_stream_disconnects_total{{reason=\"{}\"}} {n}",
            reason.label()
        );
    }
    header(
        &mut out,
        "ami_gateway_stream_write_timeouts_total",
        "counter",
        "Stream clients disconnected because their socket accepted nothing for the write timeout (the same count as ami_gateway_stream_disconnects_total{reason=\"write_timeout\"}).",
    );
    let write_timeouts = disconnects
        .iter()
        .find(|(reason, _)| *reason == Disconnect::WriteTimeout)
        .map_or(0, |(_, n)| *n);
    let _ = writeln!(
        out,
        "ami_gateway_stream_write_timeouts_total {write_timeouts}"
    );
    header(
        &mut out,
        "ami_gateway_token_streams",
        "gauge",
        "Event streams open per token.",
    );
    for token in state.tokens() {
        let _ = writeln!(
            out,
            "ami_gateway_token_streams{{token=\"{}\"}} {}",
            escape(&token.name),
            token.in_use(Use::Stream)
        );
    }
    header(
        &mut out,
        "ami_gateway_token_requests_in_flight",
        "gauge",
        "Requests waiting on a server per token.",
    );
    for token in state.tokens() {
        let _ = writeln!(
            out,
            "ami_gateway_token_requests_in_flight{{token=\"{}\"}} {}",
            escape(&token.name),
            token.in_use(Use::InFlight)
        );
    }
    let connections = state.connections();
    header(
        &mut out,
        "ami_gateway_connections_open",
        "gauge",
        "Client connections open (TLS handshakes and event streams included).",
    );
    let _ = writeln!(out, "ami_gateway_connections_open {}", connections.open());
    header(
        &mut out,
        "ami_gateway_connections_refused_total",
        "counter",
        "Client connections closed at accept, by reason (per_ip: the address had max_per_ip open).",
    );
    let _ = writeln!(
        out,
        "ami_gateway_connections_refused_total{{reason=\"per_ip\"}} {}",
        connections.refused_per_ip()
    );
    header(
        &mut out,
        "ami_gateway_connections_header_timeouts_total",
        "counter",
        "Client connections closed because a request head they had started (or their first) was not complete within header_timeout_ms; keep-alive connections idle at the timeout are closed without being counted.",
    );
    let _ = writeln!(
        out,
        "ami_gateway_connections_header_timeouts_total {}",
        connections.header_timeouts()
    );
    header(
        &mut out,
        "ami_gateway_denied_requests_total",
        "counter",
        "Requests refused by access control, by reason (401, 403, 429 for the rate, stream and in-flight limits).",
    );
    for (reason, n) in state.denied_counts() {
        let _ = writeln!(
            out,
            "ami_gateway_denied_requests_total{{reason=\"{reason}\"}} {n}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_into_the_first_bucket_that_fits() {
        let mut histogram = Histogram::default();
        histogram.observe(0.0001);
        histogram.observe(0.003);
        histogram.observe(100.0);
        assert_eq!(histogram.counts[0], 1);
        assert_eq!(histogram.counts[3], 1);
        assert_eq!(histogram.count, 3);
        assert_eq!(
            histogram.counts.iter().sum::<u64>(),
            2,
            "100 s only in +Inf"
        );
    }

    #[test]
    fn labels_fold_past_the_cap_and_are_escaped() {
        let metrics = ServerMetrics::default();
        for i in 0..(MAX_LABELS + 10) {
            metrics.action(&format!("A{i}"), "success", Duration::from_millis(1));
        }
        let actions = metrics.actions.lock().expect("lock");
        assert!(actions.len() <= MAX_LABELS + 1);
        assert!(actions.contains_key(&("_other".to_owned(), "success")));
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
