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
    /// Answers that are not a plain success (a send stored with `FLUSH_DISK_TIMEOUT`,
    /// `FLUSH_SLAVE_TIMEOUT` or `SLAVE_NOT_AVAILABLE`), by name: neither `ok` nor `failed`.
    other: Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// When the first and the latest success were recorded: the busy interval, over which TPS
    /// is computed (idle seconds before the first and after the last message do not count).
    busy: Mutex<Option<(std::time::Instant, std::time::Instant)>>,
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
            other: Mutex::new(Default::default()),
            busy: Mutex::new(None),
            hist: Mutex::new((new_hist()?, new_hist()?)),
        })
    }

    /// Records `count` successes that took `latency` together (one request).
    pub fn record_ok(&self, count: u64, latency: Duration) {
        self.add_ok(count);
        self.record_latency(latency);
    }

    /// Records `count` answers with status `name` that are not a plain success.
    pub fn record_other(&self, name: &'static str, count: u64, latency: Duration) {
        if let Ok(mut m) = self.other.lock() {
            *m.entry(name).or_insert(0) += count;
        }
        self.record_latency(latency);
    }

    /// The counts of [`record_other`](Self::record_other), by status name.
    pub fn other(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.other.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Time from the first to the latest success (zero before two of them).
    pub fn busy(&self) -> Duration {
        match self.busy.lock() {
            Ok(b) => b.map(|(first, last)| last - first).unwrap_or_default(),
            Err(_) => Duration::ZERO,
        }
    }

    /// Successes per second over the busy interval (all of them when it is too short to
    /// measure: then per `fallback`).
    pub fn busy_tps(&self, fallback: Duration) -> f64 {
        let busy = self.busy();
        let secs = if busy >= Duration::from_millis(100) {
            busy
        } else {
            fallback
        }
        .as_secs_f64()
        .max(1e-9);
        self.ok() as f64 / secs
    }

    /// Records one latency without counting.
    pub fn record_latency(&self, latency: Duration) {
        self.record_latencies(std::iter::once(latency));
    }

    /// Records latencies without counting, under one lock and each run of equal values at
    /// once: a consumer's batch of store-to-consume times (whole milliseconds) mostly repeats,
    /// and a lock and two records per message were a measurable share of the consuming
    /// client's CPU, the bound of the consume benchmark.
    pub fn record_latencies(&self, latencies: impl IntoIterator<Item = Duration>) {
        let Ok(mut h) = self.hist.lock() else {
            return;
        };
        let mut record = |us: u64, n: u64| {
            h.0.saturating_record_n(us, n);
            h.1.saturating_record_n(us, n);
        };
        let mut run: Option<(u64, u64)> = None;
        for latency in latencies {
            let us = u64::try_from(latency.as_micros())
                .unwrap_or(u64::MAX)
                .max(1);
            run = match run {
                Some((v, n)) if v == us => Some((v, n + 1)),
                Some((v, n)) => {
                    record(v, n);
                    Some((us, 1))
                }
                None => Some((us, 1)),
            };
        }
        if let Some((v, n)) = run {
            record(v, n);
        }
    }

    /// Counts successes without a latency.
    pub fn add_ok(&self, count: u64) {
        self.ok.fetch_add(count, Ordering::Relaxed);
        if count > 0
            && let Ok(mut b) = self.busy.lock()
        {
            let now = std::time::Instant::now();
            *b = Some(match *b {
                Some((first, _)) => (first, now),
                None => (now, now),
            });
        }
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

    #[test]
    fn a_batch_of_latencies_records_what_one_by_one_would() {
        let batch = BenchStats::new().unwrap();
        let single = BenchStats::new().unwrap();
        let ms = [3u64, 3, 3, 5, 5, 3, 0, 0, 900, 900, 7];
        batch.record_latencies(ms.iter().map(|&m| Duration::from_millis(m)));
        for m in ms {
            single.record_latency(Duration::from_millis(m));
        }
        let (b, s) = (batch.snapshot(), single.snapshot());
        assert_eq!(b.interval, s.interval);
        assert_eq!(batch.total(), single.total());
        assert!(
            b.interval.max >= 899.0 && b.interval.p50 > 2.0,
            "{:?}",
            b.interval
        );
    }

    #[test]
    fn other_statuses_are_not_successes_and_tps_counts_busy_time_only() {
        let s = BenchStats::new().unwrap();
        s.record_other("SLAVE_NOT_AVAILABLE", 3, Duration::from_millis(1));
        s.record_other("FLUSH_SLAVE_TIMEOUT", 1, Duration::from_millis(1));
        s.record_other("SLAVE_NOT_AVAILABLE", 2, Duration::from_millis(1));
        assert_eq!(s.ok(), 0);
        assert_eq!(s.busy(), Duration::ZERO);
        let other = s.other();
        assert_eq!(other["SLAVE_NOT_AVAILABLE"], 5);
        assert_eq!(other["FLUSH_SLAVE_TIMEOUT"], 1);
        // Idle before the first success does not count.
        let t0 = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(300));
        s.add_ok(10);
        std::thread::sleep(Duration::from_millis(200));
        s.add_ok(10);
        let busy = s.busy();
        assert!(busy >= Duration::from_millis(200), "{busy:?}");
        assert!(
            busy + Duration::from_millis(300) <= t0.elapsed(),
            "{busy:?}"
        );
        assert!((s.busy_tps(Duration::from_secs(10)) - 20.0 / busy.as_secs_f64()).abs() < 1e-6);
    }
}
