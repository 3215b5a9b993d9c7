//! The counters of one upstream server, kept as the gateway runs: plain atomics, and maps
//! under a lock for the labelled ones (a handful of counters and one histogram do not need a
//! metrics framework).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// Label values come from requests and from the PBX: past this many distinct values a metric
/// folds the rest into `_other`, so a caller cannot grow the exposition without bound.
const MAX_LABELS: usize = 256;

/// Upper bounds of the action latency buckets, in seconds.
pub(crate) const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Observations counted into [`BUCKETS`] (each in the first that fits; past the last, in
/// none but `+Inf`).
#[derive(Debug, Default, Clone)]
pub(crate) struct Histogram {
    pub(crate) counts: [u64; BUCKETS.len()],
    pub(crate) count: u64,
    pub(crate) sum: f64,
}

impl Histogram {
    pub(crate) fn observe(&mut self, seconds: f64) {
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

    /// `((action, result), count)` rows, sorted.
    pub(crate) fn action_counts(&self) -> Vec<((String, &'static str), u64)> {
        let actions = self.actions.lock().unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<_> = actions.iter().map(|(k, n)| (k.clone(), *n)).collect();
        rows.sort();
        rows
    }

    /// `(action, latency)` rows, sorted by action.
    pub(crate) fn latencies(&self) -> Vec<(String, Histogram)> {
        let latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<_> = latency
            .iter()
            .map(|(k, h)| (k.clone(), h.clone()))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    }

    /// `(event, count)` rows, sorted.
    pub(crate) fn event_counts(&self) -> Vec<(String, u64)> {
        let events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<_> = events.iter().map(|(k, n)| (k.clone(), *n)).collect();
        rows.sort();
        rows
    }
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
    fn labels_fold_past_the_cap() {
        let metrics = ServerMetrics::default();
        for i in 0..(MAX_LABELS + 10) {
            metrics.action(&format!("A{i}"), "success", Duration::from_millis(1));
        }
        let actions = metrics.actions.lock().expect("lock");
        assert!(actions.len() <= MAX_LABELS + 1);
        assert!(actions.contains_key(&("_other".to_owned(), "success")));
    }
}
