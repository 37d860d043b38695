//! Counters and latency histograms shared by the bench commands: workers record, the reporter
//! prints one line a second and a summary.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::error::{CliError, Result};

/// Latency percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            p50: ms(h.value_at_quantile(0.50)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }

    /// `p50 0.412 p99 1.830 p999 4.100 max 9.200` (ms).
    pub fn line(&self) -> String {
        format!(
            "p50 {:.3} p99 {:.3} p999 {:.3} max {:.3}",
            self.p50, self.p99, self.p999, self.max
        )
    }
}

/// Shared counters of one bench run.
pub struct BenchStats {
    ok: AtomicU64,
    failed: AtomicU64,
    // (since the last report, whole run); latencies in microseconds.
    hist: Mutex<(Histogram<u64>, Histogram<u64>)>,
}

/// What the reporter takes each second.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    /// Successes so far.
    pub ok: u64,
    /// Failures so far.
    pub failed: u64,
    /// Latencies since the previous snapshot.
    pub interval: Percentiles,
}

fn new_hist() -> Result<Histogram<u64>> {
    // 1 µs .. 1 h, 3 significant digits; `saturating_record` clamps anything beyond.
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .map_err(|e| CliError::Usage(format!("cannot make a latency histogram: {e}")))
}

impl BenchStats {
    /// Zero counters, empty histograms.
    pub fn new() -> Result<Self> {
        Ok(BenchStats {
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            hist: Mutex::new((new_hist()?, new_hist()?)),
        })
    }

    /// Records `count` successes that took `latency` together (one request).
    pub fn record_ok(&self, count: u64, latency: Duration) {
        self.ok.fetch_add(count, Ordering::Relaxed);
        self.record_latency(latency);
    }

    /// Records one latency without counting.
    pub fn record_latency(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        if let Ok(mut h) = self.hist.lock() {
            h.0.saturating_record(us);
            h.1.saturating_record(us);
        }
    }

    /// Counts successes without a latency.
    pub fn add_ok(&self, count: u64) {
        self.ok.fetch_add(count, Ordering::Relaxed);
    }

    /// Records `count` failures.
    pub fn record_failed(&self, count: u64) {
        self.failed.fetch_add(count, Ordering::Relaxed);
    }

    /// Successes so far.
    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Counters now and the latencies since the previous call.
    pub fn snapshot(&self) -> Snapshot {
        let interval = match self.hist.lock() {
            Ok(mut h) => {
                let p = Percentiles::of(&h.0);
                h.0.reset();
                p
            }
            Err(_) => Percentiles::default(),
        };
        Snapshot {
            ok: self.ok.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            interval,
        }
    }

    /// Latencies of the whole run.
    pub fn total(&self) -> Percentiles {
        match self.hist.lock() {
            Ok(h) => Percentiles::of(&h.1),
            Err(_) => Percentiles::default(),
        }
    }
}

/// `[  3s  30%]` (the share only when the run has a known length).
pub fn progress(elapsed: Duration, done: Option<f64>) -> String {
    match done {
        Some(f) => format!(
            "[{:>4}s {:>3.0}%]",
            elapsed.as_secs(),
            (f * 100.0).min(100.0)
        ),
        None => format!("[{:>4}s]", elapsed.as_secs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_snapshots() {
        let s = BenchStats::new().unwrap();
        for ms in 1..=1000u64 {
            s.record_ok(1, Duration::from_millis(ms));
        }
        s.record_failed(2);
        let snap = s.snapshot();
        assert_eq!((snap.ok, snap.failed), (1000, 2));
        assert!(
            (snap.interval.p50 - 500.0).abs() < 2.0,
            "{:?}",
            snap.interval
        );
        assert!((snap.interval.p99 - 990.0).abs() < 2.0);
        assert!(snap.interval.max >= 999.0);
        // The interval resets, the total does not.
        assert_eq!(s.snapshot().interval, Percentiles::default());
        assert!(s.total().p999 > 990.0);
        assert_eq!(progress(Duration::from_secs(3), Some(0.3)), "[   3s  30%]");
    }
}
