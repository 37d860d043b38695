//! Writing [`MetricDef`]s through `prometheus-client`'s encoder, for collectors that read their
//! values at scrape time (atomics, store offsets, tables) instead of keeping metric objects.

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::MetricDef;

/// The encoder's result.
pub type Result = std::result::Result<(), std::fmt::Error>;

/// A counter without labels.
pub fn counter(enc: &mut DescriptorEncoder<'_>, def: &MetricDef, v: u64) -> Result {
    let m = enc.encode_descriptor(def.name, def.help, None, def.kind.metric_type())?;
    ConstCounter::new(v).encode(m)
}

/// A gauge without labels.
pub fn gauge(enc: &mut DescriptorEncoder<'_>, def: &MetricDef, v: i64) -> Result {
    let m = enc.encode_descriptor(def.name, def.help, None, def.kind.metric_type())?;
    ConstGauge::new(v).encode(m)
}

/// A floating-point gauge without labels.
pub fn gauge_f64(enc: &mut DescriptorEncoder<'_>, def: &MetricDef, v: f64) -> Result {
    let m = enc.encode_descriptor(def.name, def.help, None, def.kind.metric_type())?;
    ConstGauge::new(v).encode(m)
}

/// A family with labels: `series` writes each labelled series with [`counter_series`],
/// [`gauge_series`] or [`crate::AtomicHistogram::encode_series`]. A family with no series is
/// still described (`# HELP` / `# TYPE`), so a scrape always names every metric.
pub fn family(
    enc: &mut DescriptorEncoder<'_>,
    def: &MetricDef,
    series: impl FnOnce(&mut MetricEncoder<'_>) -> Result,
) -> Result {
    let mut m = enc.encode_descriptor(def.name, def.help, None, def.kind.metric_type())?;
    series(&mut m)
}

/// One series of a counter family.
pub fn counter_series<S: EncodeLabelSet>(m: &mut MetricEncoder<'_>, labels: &S, v: u64) -> Result {
    ConstCounter::new(v).encode(m.encode_family(labels)?)
}

/// One series of a gauge family.
pub fn gauge_series<S: EncodeLabelSet>(m: &mut MetricEncoder<'_>, labels: &S, v: i64) -> Result {
    ConstGauge::new(v).encode(m.encode_family(labels)?)
}

/// One series of a floating-point gauge family.
pub fn gauge_series_f64<S: EncodeLabelSet>(
    m: &mut MetricEncoder<'_>,
    labels: &S,
    v: f64,
) -> Result {
    ConstGauge::new(v).encode(m.encode_family(labels)?)
}
