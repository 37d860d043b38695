//! The description of a metric, shared by the code that serves it and the generated reference.

use prometheus_client::metrics::MetricType;

/// A metric's type as Prometheus knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (restarts reset it); served with a `_total` suffix.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations in buckets; served as `_bucket`, `_sum` and `_count`.
    Histogram,
}

impl Kind {
    /// The `prometheus-client` type.
    pub fn metric_type(self) -> MetricType {
        match self {
            Kind::Counter => MetricType::Counter,
            Kind::Gauge => MetricType::Gauge,
            Kind::Histogram => MetricType::Histogram,
        }
    }

    /// Lower-case name, as in `# TYPE` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric: what `# HELP` says, and what the reference lists.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    /// The family name without the `_total` suffix a counter gets when served.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// One sentence: what is counted, in which unit.
    pub help: &'static str,
    /// Label names, in the order they are written.
    pub labels: &'static [&'static str],
}

impl MetricDef {
    /// The name a scrape shows for the family's main series (`_total` for a counter).
    pub fn exposed_name(&self) -> String {
        match self.kind {
            Kind::Counter => format!("{}_total", self.name),
            _ => self.name.to_string(),
        }
    }
}

/// A markdown table of `defs` (name, type, labels, meaning), for `docs/metrics.md`.
pub fn markdown_table(defs: &[MetricDef]) -> String {
    let mut md = String::from("| metric | type | labels | meaning |\n|---|---|---|---|\n");
    for d in defs {
        let labels = if d.labels.is_empty() {
            "—".to_string()
        } else {
            d.labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        md.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            d.exposed_name(),
            d.kind.as_str(),
            labels,
            d.help.replace('|', "\\|")
        ));
    }
    md
}
