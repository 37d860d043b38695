//! A histogram whose observation is a bucket search over a handful of bounds and three relaxed
//! atomic adds: no lock, no allocation. `prometheus-client`'s own histogram takes a lock per
//! observation, too much for a put path that handles hundreds of thousands of messages a second.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};

use crate::MetricDef;
use crate::encode::Result;

/// Fixed buckets of integer observations (microseconds, bytes…), served scaled by `scale`
/// (1e-6 turns microseconds into the seconds Prometheus expects).
#[derive(Debug)]
pub struct AtomicHistogram {
    /// Upper bounds in observation units, ascending.
    bounds: Vec<u64>,
    /// The same bounds as given (served units), so `le` labels read as written.
    served: Vec<f64>,
    /// Per-bucket counts (not cumulative); the last one is `+Inf`.
    counts: Vec<AtomicU64>,
    sum: AtomicU64,
    scale: f64,
}

impl AtomicHistogram {
    /// Buckets at `bounds` (in served units, e.g. seconds), observations in served units / `scale`.
    pub fn new(bounds: &[f64], scale: f64) -> Self {
        let served = bounds.to_vec();
        let bounds: Vec<u64> = bounds.iter().map(|b| (b / scale).round() as u64).collect();
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        AtomicHistogram {
            bounds,
            served,
            counts,
            sum: AtomicU64::new(0),
            scale,
        }
    }

    /// Records one observation (in observation units).
    pub fn observe(&self, v: u64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(v, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut buckets = Vec::with_capacity(self.counts.len());
        let mut total = 0;
        for (i, c) in self.counts.iter().enumerate() {
            // Per bucket, not cumulative: the encoder accumulates.
            let n = c.load(Ordering::Relaxed);
            total += n;
            // prometheus-client writes `+Inf` for `f64::MAX` (its own histograms end so).
            let upper = self.served.get(i).copied().unwrap_or(f64::MAX);
            buckets.push((upper, n));
        }
        let sum = self.sum.load(Ordering::Relaxed) as f64 * self.scale;
        (sum, total, buckets)
    }

    /// Writes the histogram as the whole family `def`.
    pub fn encode(&self, enc: &mut DescriptorEncoder<'_>, def: &MetricDef) -> Result {
        let mut m = enc.encode_descriptor(def.name, def.help, None, def.kind.metric_type())?;
        let (sum, count, buckets) = self.snapshot();
        m.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    /// Writes the histogram as one labelled series of a family.
    pub fn encode_series<S: EncodeLabelSet>(
        &self,
        m: &mut MetricEncoder<'_>,
        labels: &S,
    ) -> Result {
        let (sum, count, buckets) = self.snapshot();
        m.encode_family(labels)?
            .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_each_observation_once() {
        let h = AtomicHistogram::new(&[0.001, 0.01], 1e-6);
        h.observe(500); // 0.5 ms
        h.observe(5_000); // 5 ms
        h.observe(50_000); // 50 ms
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 3);
        assert!((sum - 0.0555).abs() < 1e-9);
        assert_eq!(buckets.len(), 3);
        assert_eq!(buckets[0].1, 1);
        assert_eq!(buckets[1].1, 1);
        assert_eq!(buckets[2].1, 1);
        assert_eq!(buckets[2].0, f64::MAX);
        assert!((buckets[0].0 - 0.001).abs() < 1e-12);
    }
}
