//! Prometheus metrics for every binary of the workspace (`namesrv`, `broker`, `operator`).
//!
//! # Layout
//! - [`catalogue`]: [`MetricDef`], the name, type, help and labels of one metric. Each binary
//!   keeps its metrics in one `&[MetricDef]` table that both its collector and the generated
//!   `docs/metrics.md` read, so the reference cannot drift from what is served.
//! - [`encode`]: helpers that write a [`MetricDef`] through `prometheus-client`'s encoder (no
//!   hand-written exposition: the crate escapes, names counters `_total` and writes `# EOF`).
//! - [`histogram`]: a fixed-bucket histogram of atomics, for hot paths (a put records a latency
//!   without a lock).
//! - [`process`]: `process_resident_memory_bytes`, `process_cpu_seconds_total` and friends, read
//!   from `/proc/self` at scrape time.
//! - [`exporter`]: the `metricsExporterType` / `metricsPromExporterHost` /
//!   `metricsPromExporterPort` settings (Java 5's keys) and the HTTP endpoint that serves
//!   `/metrics` (plus `/healthz` and `/readyz` for the operator) with hyper.
//! - [`scrape`]: reading an endpoint back (tests, tools) and linting the text with the reference
//!   parser.

pub mod catalogue;
pub mod encode;
pub mod exporter;
pub mod histogram;
pub mod process;
pub mod scrape;

pub use catalogue::{Kind, MetricDef};
pub use exporter::{Endpoint, ExporterType, bind, serve};
pub use histogram::AtomicHistogram;
pub use prometheus_client;

/// What can go wrong starting an exporter.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The metrics port could not be bound.
    #[error("cannot bind the metrics endpoint {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A setting does not parse.
    #[error("invalid value {value:?} for key {key}: {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The raw value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
}
