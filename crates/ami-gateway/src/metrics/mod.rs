//! Metrics: the counters kept as the gateway runs ([`registry`]) apart from their Prometheus
//! text rendering ([`render`]). Which metrics `/metrics` shows, and where each value comes
//! from, is `crate::exposition`'s business; nothing here knows the gateway's state.

pub(crate) mod registry;
pub(crate) mod render;

pub(crate) use registry::ServerMetrics;
